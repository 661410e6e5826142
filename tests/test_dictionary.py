"""dicomize's own table of tags and VRs agrees with pydicom's dictionary, the source of truth."""

from __future__ import annotations

import ast
from pathlib import Path

from pydicom.datadict import dictionary_VM, dictionary_VR, tag_for_keyword

from dicomize.dicom.dictionary import ENTRIES, lookup

SOURCE = Path(__file__).parent.parent / "src" / "dicomize"


def test_every_entry_is_pydicoms() -> None:
    wrong = {
        keyword: entry
        for keyword, entry in ENTRIES.items()
        if entry != (tag_for_keyword(keyword), dictionary_VR(entry[0]), dictionary_VM(entry[0]))
    }
    assert wrong == {}
    assert len(ENTRIES) > 400  # the IODs' attributes at least


def test_every_keyword_dicomize_names_is_in_the_table() -> None:
    # A keyword added to the source without regenerating the table would make that
    # path import pydicom again: run scripts/dictionary.py.
    named = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and text and tag_for_keyword(text) is not None:
                named.add(text)
    assert sorted(named - set(ENTRIES)) == []


def test_other_keywords_are_looked_up_in_pydicoms_dictionary() -> None:
    assert "ReferencedWaveformChannels" not in ENTRIES
    assert lookup("ReferencedWaveformChannels") == (0x0040A0B0, "US", "2-2n")
    assert lookup("NotAKeyword") is None

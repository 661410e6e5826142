"""The manual's tables of IODs, made from the registry (dicomize.iods.IODS) at build time.

A page marks where a table goes with ``<!-- iods:storage -->`` (the Conformance
Statement's Storage SOP Classes) or ``<!-- iods:contents -->`` (each IOD, its name
for ``--iod``, its Modality and what it is for). A new row in the registry is then a
new row in the manual, with nothing to edit here.
"""

from __future__ import annotations

from pydicom.uid import UID

from dicomize.iods import IODS


def storage_rows() -> str:
    """Return the Storage SOP Classes dicomize writes, as rows of the SCU/SCP table."""
    return "\n".join(
        f"| {UID(uid).name} | {uid} | Yes | No |"
        for iod in IODS.values()
        for uid in iod.sop_classes
    )


def contents_table() -> str:
    """Return one row per IOD: its name, how it is chosen, its Modality and its use."""
    lines = ["| IOD (PS3.3) | `--iod`, manifest `iod` | Modality | for |", "|---|---|---|---|"]
    for iod in IODS.values():
        chosen = f"`{iod.name}`" if iod.chosen else "by the file's format"
        modality = f"`{iod.modality}`" + ("" if iod.fixed else ", or the worklist's or user's")
        lines.append(f"| {iod.title} ({iod.section}) | {chosen} | {modality} | {iod.summary} |")
    return "\n".join(lines)


_MARKERS = {"<!-- iods:storage -->": storage_rows, "<!-- iods:contents -->": contents_table}


def on_page_markdown(markdown: str, **_: object) -> str:
    """Replace each marker with its table (an MkDocs hook)."""
    for marker, make in _MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown

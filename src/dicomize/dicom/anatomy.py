"""Body parts and Laterality: Body Part Examined codes, and where Laterality is not required.

Two tables, both data files beside the package:

* ``data/body_parts.json``: PS3.16 Annex L, each Body Part Examined Defined Term
  (PS3.3 C.7.3.1) with the SNOMED CT code an Anatomic Region Sequence item holds
  (``scripts/body_parts.py`` makes it);
* ``data/laterality.json``: where the pinned dciodvfy does not require General Series
  Laterality, and refuses one present: the Body Part Examined terms and Anatomic Region
  codes it calls unpaired, the Modalities it exempts, and a specimen
  (``scripts/laterality.py`` asks dciodvfy itself, and a test asks again).

>>> body_part_code("COLON")
('71854001', 'SCT', 'Colon')
>>> laterality_not_required({"BodyPartExamined": "CHEST"}), laterality_not_required({})
(True, False)
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = ["body_part_code", "laterality_not_required"]

_DATA = Path(__file__).parent.parent / "data"


@functools.cache
def _body_parts() -> dict[str, list[str]]:
    return json.loads((_DATA / "body_parts.json").read_text("utf-8"))  # type: ignore[no-any-return]


@functools.cache
def _laterality() -> dict[str, Any]:
    found = json.loads((_DATA / "laterality.json").read_text("utf-8"))
    return {
        key: frozenset(value) if isinstance(value, list) else value for key, value in found.items()
    }


def body_part_code(term: str) -> tuple[str, str, str] | None:
    """Return the SNOMED CT code of a Body Part Examined term (PS3.16 Annex L), or None.

    >>> body_part_code("hand"), body_part_code("ELBOWS")
    (('85562004', 'SCT', 'Hand'), None)
    """
    found = _body_parts().get(term.strip().upper())
    return (found[0], "SCT", found[1]) if found else None


def laterality_not_required(values: Mapping[str, Any]) -> bool:
    """Tell whether the pinned dciodvfy requires no General Series Laterality for `values`.

    It requires none (and refuses one present) when Body Part Examined or an Anatomic
    Region names a region it calls unpaired (a region counts by its SNOMED CT code), when
    the Modality is one it exempts (waveforms: ``ECG``, ...), or when a Specimen
    Description Sequence says the subject is a specimen. A region coded otherwise, or a
    term outside PS3.16 Annex L, is not known to be unpaired.

    >>> laterality_not_required({"Modality": "ECG"}), laterality_not_required({"Modality": "OT"})
    (True, False)
    """
    table = _laterality()
    if values.get("SpecimenDescriptionSequence") and table["SpecimenDescriptionSequence"]:
        return True
    if str(values.get("Modality") or "") in table["Modality"]:
        return True
    if str(values.get("BodyPartExamined") or "").strip().upper() in table["BodyPartExamined"]:
        return True
    return any(
        str(item.get("CodingSchemeDesignator") or "") == "SCT"
        and str(item.get("CodeValue") or "") in table["AnatomicRegionSequence"]
        for item in values.get("AnatomicRegionSequence") or ()
    )

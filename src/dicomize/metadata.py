"""The metadata a user can give, as a typed object or as a mapping of DICOM keywords.

Both forms resolve to one validated ``{keyword: value}`` mapping:

>>> meta = Metadata(patient_name="Doe^Jane", patient_birth_date="1980-01-31")
>>> resolve_metadata(meta, {"AccessionNumber": "A778"})
{'PatientName': 'Doe^Jane', 'PatientBirthDate': '19800131', 'AccessionNumber': 'A778'}

Later sources win over earlier ones. Every value is checked against its VR
before anything is written (see :func:`dicomize.dicom.vr.validate_attribute`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any, TypeAlias

    from dicomize.dicom.vr import Value

# Aliases made at run time, as the annotations that use them are read by typing.get_type_hints.
_Date: TypeAlias = str | dt.date | None
_Time: TypeAlias = str | dt.time | None
_Int: TypeAlias = str | int | None

__all__ = ["Metadata", "MetadataLike", "resolve_metadata"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Metadata:
    """Common attributes of the objects dicomize writes, with Python names.

    Each field is the snake_case form of a DICOM keyword (``patient_id`` is
    ``PatientID``), but for ``laterality``: Image Laterality, the same meaning
    as the ``--laterality`` flag and a manifest's ``laterality`` column.
    ``None`` means "not given": dicomize then writes its default (empty for
    unknown Type 2 attributes). Any other attribute goes in `extra`, keyed by
    DICOM keyword.

    Examples
    --------
    >>> Metadata(patient_name="Doe^Jane", patient_sex="F").to_keywords()
    {'PatientName': 'Doe^Jane', 'PatientSex': 'F'}
    """

    # Patient (C.7.1.1)
    patient_name: str | None = None
    patient_id: str | None = None
    issuer_of_patient_id: str | None = None
    patient_birth_date: _Date = None
    patient_sex: str | None = None
    patient_comments: str | None = None
    # Veterinary patients (C.7.1.1, C.7.2.2)
    patient_species_description: str | None = None
    patient_breed_description: str | None = None
    responsible_person: str | None = None
    responsible_person_role: str | None = None
    responsible_organization: str | None = None
    patient_sex_neutered: str | None = None
    # Patient Study (C.7.2.2)
    patient_age: str | None = None
    # General Study (C.7.2.1)
    study_instance_uid: str | None = None
    study_date: _Date = None
    study_time: _Time = None
    study_id: str | None = None
    accession_number: str | None = None
    study_description: str | None = None
    referring_physician_name: str | None = None
    # General Series (C.7.3.1)
    series_instance_uid: str | None = None
    series_number: _Int = None
    series_description: str | None = None
    modality: str | None = None
    body_part_examined: str | None = None
    # General Image (C.7.6.1), SC Equipment (C.8.6.1), SOP Common (C.12.1)
    sop_instance_uid: str | None = None
    instance_number: _Int = None
    image_type: str | list[str] | None = None
    #: Image Laterality (R, L, B or U), as ``--laterality`` and a manifest's ``laterality``
    #: column: the one every image carries (C.7.6.1). A series' Laterality goes in `extra`.
    laterality: str | None = None
    image_comments: str | None = None
    patient_orientation: str | list[str] | None = None
    content_date: _Date = None
    content_time: _Time = None
    burned_in_annotation: str | None = None
    recognizable_visual_features: str | None = None
    conversion_type: str | None = None
    #: Any other attribute, by DICOM keyword.
    extra: Mapping[str, object] = field(default_factory=dict)

    def to_keywords(self) -> dict[str, object]:
        """Return the given fields as ``{keyword: value}``, `extra` last."""
        out: dict[str, object] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name != "extra" and value is not None:
                out[keyword_for_field(item.name)] = value
        out.update(self.extra)
        return out


#: Fields whose keyword is not their name in CamelCase.
_FIELD_KEYWORDS = {"laterality": "ImageLaterality"}

#: What the API accepts as metadata.
MetadataLike: TypeAlias = Metadata | Mapping[str, object] | None


def keyword_for_field(name: str) -> str:
    """Map a :class:`Metadata` field name to its DICOM keyword.

    >>> keyword_for_field("study_instance_uid")
    'StudyInstanceUID'
    """
    if name in _FIELD_KEYWORDS:
        return _FIELD_KEYWORDS[name]
    special = {"id": "ID", "uid": "UID", "sop": "SOP"}
    return "".join(special.get(part, part.capitalize()) for part in name.split("_"))


def resolve_metadata(*sources: MetadataLike) -> dict[str, Value]:
    """:func:`dicomize.resolve_metadata`, for dicomize's own callers."""
    # The VR rules need pydicom's data dictionary: loaded here, not when the CLI
    # only reads the flag table.
    from dicomize.dicom.vr import validate_attribute

    merged: dict[str, Any] = {}
    for source in sources:
        if source is None:
            continue
        merged.update(source.to_keywords() if isinstance(source, Metadata) else source)
    return {keyword: validate_attribute(keyword, value) for keyword, value in merged.items()}

"""The values some attributes may take: Enumerated Values and the Defined Terms accepted.

Kept apart from the VR rules (:mod:`dicomize.dicom.vr`, which checks a value's form
and asks this table for its vocabulary): which Modality or Conversion Type a value
may be is a fact of PS3.3's attribute descriptions, not of the value's VR.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Final

__all__ = ["ENUMERATED"]

#: Enumerated values (E) and the defined terms dicomize accepts (D), by keyword.
ENUMERATED: Final[dict[str, frozenset[str]]] = {
    "PatientSex": frozenset({"M", "F", "O"}),  # C.7.1.1: U is not allowed; empty is unknown
    "BurnedInAnnotation": frozenset({"YES", "NO"}),
    "RecognizableVisualFeatures": frozenset({"YES", "NO"}),
    "QualityControlImage": frozenset({"YES", "NO", "BOTH"}),
    "QualityControlSubject": frozenset({"YES", "NO"}),
    "PatientIdentityRemoved": frozenset({"YES", "NO"}),
    "SyntheticData": frozenset({"YES", "NO"}),
    "LossyImageCompression": frozenset({"00", "01"}),
    "ImageLaterality": frozenset({"R", "L", "U", "B"}),
    "Laterality": frozenset({"R", "L"}),
    "PatientSexNeutered": frozenset({"ALTERED", "UNALTERED"}),
    "AnatomicalOrientationType": frozenset({"BIPED", "QUADRUPED"}),
    "ResponsiblePersonRole": frozenset(
        {
            "OWNER",
            "PARENT",
            "CHILD",
            "SPOUSE",
            "SIBLING",
            "RELATIVE",
            "GUARDIAN",
            "CUSTODIAN",
            "AGENT",
            "INVESTIGATOR",
            "VETERINARIAN",
        }
    ),
    # C.8.6.1 defined terms; anything else makes dciodvfy warn.
    "ConversionType": frozenset({"DV", "DI", "DF", "WSD", "SD", "SI", "DRW", "SYN"}),
    # C.7.3.1.1.1 defined terms (2024c) that the pinned dciodvfy recognises in an image
    # IOD; non-image terms (ASMT, CTPROTOCOL, EEG, RTINTENT, ...) draw its warning.
    # "SC" is deliberately absent: it is not a modality.
    "Modality": frozenset(
        {
            "ANN",
            "AR",
            "AU",
            "BDUS",
            "BI",
            "BMD",
            "CR",
            "CT",
            "DG",
            # Dermoscopy (C.8.12.1, CID 33): the one Modality of Dermoscopic Photography,
            # missing from the pinned dciodvfy's list, which warns of it.
            "DMS",
            "DOC",
            "DX",
            "ECG",
            "EPS",
            "ES",
            "FID",
            "GM",
            "HC",
            "HD",
            "IO",
            "IOL",
            "IVOCT",
            "IVUS",
            "KER",
            "KO",
            "LEN",
            "LS",
            "MG",
            "MR",
            "M3D",
            "NM",
            "OAM",
            "OCT",
            "OP",
            "OPM",
            "OPT",
            "OPTBSV",
            "OPTENF",
            "OPV",
            "OT",
            "PA",
            "PLAN",
            "PR",
            "PT",
            "PX",
            "REG",
            "RESP",
            "RF",
            "RG",
            "RTDOSE",
            "RTIMAGE",
            "RTPLAN",
            "RTRECORD",
            "RTSTRUCT",
            "RWV",
            "SEG",
            "SM",
            "SMR",
            "SR",
            "SRF",
            "STAIN",
            "TEXTUREMAP",
            "TG",
            "US",
            "VA",
            "XA",
            "XC",
        }
    ),
}

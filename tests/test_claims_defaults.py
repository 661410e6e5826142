"""What dicomize does not know, it does not claim (issue 30, points 4, 6 and 8).

* Image Laterality is written only when given: ``U`` says the part is unpaired. The
  series' Laterality (Type 2C) is then present and empty, "unknown", or left out where
  dciodvfy's own rules (data/laterality.json) require none: an unpaired region, a
  waveform Modality, a specimen.
* A clip's Anatomic Region (Type 1C for every clip) is the user's, never "Entire body".
* Study ID is empty unless given: a constant identifies no study.

The warnings dciodvfy then gives (an empty Laterality, an empty Study ID for a DICOMDIR)
are the only ones a default object carries besides an empty Patient ID's; each is
explained in docs/attributes.md, whose table this file also holds to the objects.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.datadict import dictionary_description

import dicomize
from clips import make_clip
from conftest import (
    FULL_METADATA,
    LATERALITY_UNKNOWN,
    STUDY_ID_UNKNOWN,
    assert_conforms,
    gradient,
    run_dciodvfy,
)
from dicomize._convert import encode_series
from dicomize._write import write_object
from dicomize.dicom.part10 import Part10Object
from dicomize.errors import MetadataError
from dicomize.iods import chosen
from dicomize.options import ConvertOptions
from dicomize.service.web.visits import LATERALITIES
from slides import write_svs
from test_documents import make_pdf
from test_models import IODS as MODEL_IODS
from test_models import MODELS
from test_specialty_iods import KNOWN_WARNINGS, NEEDS

ROOT = Path(__file__).resolve().parent.parent
#: The patient, without a Study ID (nor a laterality or body part).
PATIENT = {k: v for k, v in FULL_METADATA.items() if k != "StudyID"}
#: The picture IODs, by --iod name, and dciodvfy's name for each.
PICTURE_IODS = {
    "sc": "SCImage",
    "vl-photo": "VLPhotographicImage",
    "vl-endoscopic": "VLEndoscopicImage",
    "vl-microscopic": "VLMicroscopicImage",
    "dermoscopic": "DermoscopicPhotographyImage",
}
VIDEO_IODS = {
    "video-photo": "VideoPhotographicImage",
    "video-endoscopic": "VideoEndoscopicImage",
    "video-microscopic": "VideoMicroscopicImage",
}
#: What dciodvfy says of Laterality, whatever it finds wrong.
LATERALITY = re.compile(r"<Laterality>|attribute <Laterality>")


def _clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "clip.mp4", "libx264", (64, 48), 25)


def _write(tmp_path: Path, name: str, source: Any, metadata: dict[str, Any], iod: str) -> Path:
    """Convert and write as the command line does (no pydicom Dataset on the way)."""
    output = tmp_path / f"{name}.dcm"
    ((_, made),) = encode_series([source], metadata, options=ConvertOptions(iod=iod))
    assert isinstance(made, Part10Object), made
    write_object(made, output)
    return output


def _laterality_messages(path: Path) -> list[str]:
    verdict = run_dciodvfy(path)
    return [line for line in verdict.errors + verdict.warnings if LATERALITY.search(line)]


# --- 4. Image Laterality -----------------------------------------------------------------


def _laterality_script() -> ModuleType:
    path = ROOT / "scripts" / "laterality.py"
    spec = importlib.util.spec_from_file_location("laterality", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_where_laterality_is_not_required_is_the_pinned_dciodvfys_own_rule() -> None:
    """The data file is what dciodvfy says today, term by term, code by code, Modality by Modality.

    Proves what decides between an empty and an absent Laterality cannot drift from the
    validator silently: a new dciodvfy that judges one case otherwise fails here (rerun
    scripts/laterality.py). It holds the unpaired terms conformance.md 10.2 names.
    """
    stored = json.loads((ROOT / "src/dicomize/data/laterality.json").read_text("utf-8"))
    assert _laterality_script().derive() == stored
    assert {"CHEST", "ABDOMEN", "HEAD", "HEART", "WHOLEBODY"} <= set(stored["BodyPartExamined"])
    assert "HAND" not in stored["BodyPartExamined"]
    assert stored["SpecimenDescriptionSequence"] is True


@pytest.mark.parametrize("iod", [*PICTURE_IODS, "sc-frames"])
def test_no_image_laterality_is_claimed_and_laterality_says_unknown(
    iod: str, tmp_path: Path
) -> None:
    """A picture of unknown side has no Image Laterality and an empty Laterality.

    Proves dicomize no longer writes Image Laterality ``U`` (unpaired), which it cannot
    know (before this change it was written, and this failed), for each picture IOD,
    single- and multi-frame SC; and that the one warning the empty Laterality draws is
    dciodvfy's "only permitted to be empty when actually unknown", besides Study ID's.
    """
    pixels = np.stack([gradient(), gradient()]) if iod == "sc-frames" else gradient()
    name = "sc" if iod == "sc-frames" else iod
    output = _write(tmp_path, iod, pixels, {**PATIENT, **NEEDS.get(name, {})}, name)
    ds = pydicom.dcmread(output)
    assert "ImageLaterality" not in ds
    assert ds.Laterality == ""
    assert "AnatomicRegionSequence" not in ds  # C.8.12.1: one frame needs none
    expected = "MultiframeTrueColorSCImage" if iod == "sc-frames" else PICTURE_IODS[name]
    verdict = assert_conforms(
        output,
        iod=expected,
        allowed_warnings=(LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN, *KNOWN_WARNINGS.get(name, ())),
    )
    assert any(LATERALITY_UNKNOWN in w for w in verdict.warnings)


@pytest.mark.parametrize(
    ("given", "kind"),
    [
        ({"BodyPartExamined": "CHEST"}, "term"),
        ({"BodyPartExamined": "ABDOMEN"}, "term"),
        ({"BodyPartExamined": "head"}, "term"),
        ({"BodyPartExamined": "HEART"}, "term"),
        ({"BodyPartExamined": "WHOLEBODY"}, "term"),
        # A waveform Modality: dciodvfy asks no Laterality of it.
        ({"Modality": "ECG"}, "modality"),
        # dciodvfy calls the lung's code unpaired, though not the term LUNG.
        (
            {
                "AnatomicRegionSequence": [
                    {
                        "CodeValue": "39607008",
                        "CodingSchemeDesignator": "SCT",
                        "CodeMeaning": "Lung",
                    }
                ]
            },
            "code",
        ),
    ],
)
def test_where_dciodvfy_requires_no_laterality_it_is_left_out(
    given: dict[str, Any], kind: str, tmp_path: Path
) -> None:
    """An unpaired region or a waveform Modality: Laterality is absent, and nothing said of it.

    Proves an empty Laterality is not written where it would be "present when condition
    unsatisfied" (an error), for a body part term, a region's code and a Modality; before,
    these objects claimed Image Laterality ``U`` instead.
    """
    output = _write(tmp_path, kind, gradient(), {**FULL_METADATA, **given}, "sc")
    ds = pydicom.dcmread(output)
    assert "Laterality" not in ds
    assert "ImageLaterality" not in ds
    assert _laterality_messages(output) == []
    assert_conforms(output)


def test_a_paired_body_part_of_unknown_side_says_unknown(tmp_path: Path) -> None:
    """A hand of unknown side: Laterality empty, as C.7.3.1 asks of a paired part."""
    output = _write(
        tmp_path, "hand", gradient(), {**FULL_METADATA, "BodyPartExamined": "HAND"}, "sc"
    )
    ds = pydicom.dcmread(output)
    assert (ds.Laterality, "ImageLaterality" in ds) == ("", False)
    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN,))


@pytest.mark.parametrize("side", ["R", "L", "B", "U"])
def test_a_given_side_is_the_image_laterality_and_laterality_is_left_out(
    side: str, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    """--laterality still takes U (the user says the part is unpaired), and R, L, B."""
    picture = tmp_path / "p.png"
    Image.fromarray(gradient()).save(picture)
    output = tmp_path / f"{side}.dcm"
    subprocess.run(
        [*dicomize_cli, "convert", str(picture), "-o", str(output), "--laterality", side,
         "--patient-id", "12345", "--study-id", "S1"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    ds = pydicom.dcmread(output)
    assert (ds.ImageLaterality, "Laterality" in ds) == (side, False)
    assert_conforms(output)


def test_a_specimens_series_has_no_laterality(tmp_path: Path) -> None:
    """A slide (and a VL Microscopic picture of a specimen) images no body part's side.

    dciodvfy refuses Laterality when a Specimen Description Sequence is present: the
    whole-slide levels leave it out (the autouse check judges every level).
    """
    source = write_svs(tmp_path / "s.svs", width=512, height=384, downsamples=(1,))
    folder = tmp_path / "slide"
    dicomize.write_slide(source, folder, {**FULL_METADATA, "ManufacturerModelName": "AT2"})
    for path in sorted(folder.glob("*.dcm")):
        assert "Laterality" not in pydicom.dcmread(path, stop_before_pixels=True)
        assert _laterality_messages(path) == []


def test_the_web_page_offers_unpaired_but_gives_no_side_by_default() -> None:
    """The station's laterality choice starts at "not given"; U stays a choice of its own.

    Before, the page's empty choice was labelled "not paired" and written U.
    """
    assert LATERALITIES[0] == ("", "not given")
    assert ("U", "not paired") in LATERALITIES


# --- 6. A clip's Anatomic Region -----------------------------------------------------------


@pytest.mark.parametrize("iod", VIDEO_IODS)
def test_a_clip_without_a_region_is_refused_on_one_line_naming_the_flags(
    iod: str, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    """No clip is filed as "Entire body": without --body-part or --anatomic-region, exit 2.

    Proves the invented default 38266002 "Entire body" is gone for every video IOD
    (before, each converted with it and exit 0): the IOD requires the sequence (C.8.12.1,
    Type 1C for every clip), so the user is asked, on one line naming both flags, and
    nothing is written.
    """
    output = tmp_path / "clip.dcm"
    done = subprocess.run(
        [*dicomize_cli, "convert", str(_clip(tmp_path)), "-o", str(output), "--iod", iod,
         "--patient-id", "12345"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "AnatomicRegionSequence" in lines[0]
    assert "--body-part" in lines[0]
    assert "--anatomic-region" in lines[0]
    assert not output.exists()


def test_the_api_refuses_a_clip_without_a_region_and_a_body_part_without_a_code(
    tmp_path: Path,
) -> None:
    """The same rule for the API, and for a body part PS3.16 Annex L gives no code."""
    clip = _clip(tmp_path)
    with pytest.raises(MetadataError) as refused:
        dicomize.convert(clip, PATIENT)
    assert (refused.value.keyword, refused.value.option) == (
        "AnatomicRegionSequence",
        "anatomic_region",
    )
    with pytest.raises(MetadataError) as unknown:
        dicomize.convert(clip, {**PATIENT, "BodyPartExamined": "ELBOWS"})
    assert unknown.value.keyword == "BodyPartExamined"


def test_pictures_joined_into_a_clip_are_refused_before_they_are_encoded() -> None:
    """--video's pictures are refused before the encoder runs (a clip can take minutes)."""
    with pytest.raises(MetadataError):
        dicomize.convert_video([gradient(), gradient()], PATIENT, fps=5)


@pytest.mark.parametrize("iod", VIDEO_IODS)
def test_a_clip_holds_the_region_the_user_gives(iod: str, tmp_path: Path) -> None:
    """The region is the body part's Annex L code, or the user's own; Laterality follows it."""
    clip = _clip(tmp_path)
    hand = _write(tmp_path, "hand", clip, {**PATIENT, "BodyPartExamined": "HAND"}, iod)
    ds = pydicom.dcmread(hand, stop_before_pixels=True)
    item = ds.AnatomicRegionSequence[0]
    assert (item.CodeValue, item.CodingSchemeDesignator) == ("85562004", "SCT")
    assert ds.Laterality == ""  # a hand is paired; its side is not known
    assert_conforms(
        hand, iod=VIDEO_IODS[iod], allowed_warnings=(LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN)
    )
    colon = {"CodeValue": "71854001", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Colon"}
    given = _write(
        tmp_path, "colon", clip, {**FULL_METADATA, "AnatomicRegionSequence": [colon]}, iod
    )
    ds = pydicom.dcmread(given, stop_before_pixels=True)
    assert ds.AnatomicRegionSequence[0].CodeMeaning == "Colon"
    assert "Laterality" not in ds  # dciodvfy calls the colon unpaired
    assert_conforms(given, iod=VIDEO_IODS[iod])


# --- 8. Study ID --------------------------------------------------------------------------


def test_study_id_is_empty_unless_given(tmp_path: Path, dicomize_cli: list[str]) -> None:
    """Study ID (Type 2) is present and empty by default, and the user's when given.

    Proves the constant ``1`` is gone (before, every study was "1"); the warning an empty
    one draws ("needed to build DICOMDIR - Study ID") is the only one besides Laterality's.
    """
    default = _write(tmp_path, "default", gradient(), PATIENT, "sc")
    assert pydicom.dcmread(default).StudyID == ""
    verdict = assert_conforms(default, allowed_warnings=(LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN))
    assert sum(STUDY_ID_UNKNOWN in w for w in verdict.warnings) == 1
    picture = tmp_path / "p.png"
    Image.fromarray(gradient()).save(picture)
    given = tmp_path / "given.dcm"
    subprocess.run(
        [*dicomize_cli, "convert", str(picture), "-o", str(given), "--study-id", "ST-7",
         "--patient-id", "12345"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert pydicom.dcmread(given).StudyID == "ST-7"
    assert not any(STUDY_ID_UNKNOWN in w for w in run_dciodvfy(given).warnings)


@pytest.mark.parametrize("kind", ["pdf", "stl"])
def test_a_documents_study_id_is_empty_too(kind: str, tmp_path: Path) -> None:
    """Encapsulated documents share the rule: no constant Study ID."""
    source = tmp_path / f"d.{kind}"
    source.write_bytes(make_pdf() if kind == "pdf" else MODELS[kind])
    output = _write(tmp_path, kind, source, PATIENT, "sc")
    assert pydicom.dcmread(output).StudyID == ""
    iod = "EncapsulatedPDF" if kind == "pdf" else MODEL_IODS[kind]
    assert_conforms(output, iod=iod, allowed_warnings=(STUDY_ID_UNKNOWN,))


# --- The documentation's table --------------------------------------------------------------


def _default_objects(tmp_path: Path) -> dict[str, list[Path]]:
    """One default object of each IOD family dicomize writes (pixels, clip, documents, slide)."""
    made: dict[str, list[Path]] = {}
    for iod in (*PICTURE_IODS, "ophthalmic"):
        made[iod] = [_write(tmp_path, iod, gradient(), {**PATIENT, **NEEDS.get(iod, {})}, iod)]
    made["sc-frames"] = [
        _write(tmp_path, "frames", np.stack([gradient()[..., 0]] * 2), PATIENT, "sc")
    ]
    clip = _clip(tmp_path)
    for iod in VIDEO_IODS:
        made[iod] = [_write(tmp_path, iod, clip, {**PATIENT, "BodyPartExamined": "HAND"}, iod)]
    for kind in ("stl", "obj", "mtl", "pdf"):
        source = tmp_path / f"d.{kind}"
        source.write_bytes(make_pdf() if kind == "pdf" else MODELS[kind])
        made[kind] = [_write(tmp_path, kind, source, PATIENT, "sc")]
    folder = tmp_path / "slide"
    source = write_svs(tmp_path / "s.svs", width=512, height=384, downsamples=(1,))
    dicomize.write_slide(source, folder, {**PATIENT, "ManufacturerModelName": "AT2"})
    made["wsm"] = sorted(folder.glob("*.dcm"))
    return made


def test_the_attributes_page_names_every_attribute_of_every_default_object(
    tmp_path: Path,
) -> None:
    """docs/attributes.md names each attribute a default object holds, by its PS3.6 name.

    Proves the table of where each value comes from cannot leave an attribute out: a new
    default fails here until the page says where its value comes from.
    """
    page = (ROOT / "docs" / "attributes.md").read_text(encoding="utf-8")
    missing: dict[str, set[str]] = {}
    for family, paths in _default_objects(tmp_path).items():
        for path in paths:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            for element in ds:
                if element.tag.is_private or element.keyword == "PixelData":
                    continue
                name = dictionary_description(element.tag)
                if name not in page:
                    missing.setdefault(name, set()).add(family)
    assert missing == {}


def test_every_picture_and_video_iod_is_judged_here() -> None:
    """The IODs this file converts are the registry's: none is left unjudged."""
    assert {row.name for row in chosen("picture")} == {*PICTURE_IODS, "ophthalmic"}
    assert {row.name for row in chosen("video")} == set(VIDEO_IODS)

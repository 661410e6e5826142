"""dicomize's own Part 10 encoder writes exactly the bytes pydicom's dcmwrite writes.

pydicom is the oracle: for each kind of object dicomize makes (and for datasets it did
not make), the fast encoder's output is compared byte for byte with ``dcmwrite``'s.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset

import dicomize
from clips import make_clip
from dicomize._convert import _encoded, _Plan, _read_for, encode_series
from dicomize._write import write_object
from dicomize.dicom.part10 import (
    _ENCODED,
    _PIXEL_DATA,
    _REMEMBERED,
    _REMEMBERED_TAGS,
    Part10Object,
    PixelStrips,
    write_part10,
)

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "wound-photo.jpg"


def _dcmwrite_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def _part10_bytes(dataset: Dataset | Part10Object) -> bytes:
    buffer = io.BytesIO()
    write_part10(buffer, dataset)
    return buffer.getvalue()


def _png(pixels: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


CASES: dict[str, tuple[Any, dict[str, Any], dict[str, Any]]] = {
    "passed-through JPEG": (SAMPLE, {"PatientName": "Doe^Jane"}, {}),
    "UTF-8 text": (SAMPLE, {"PatientName": "Dœ^Jané", "InstitutionName": "Zürich"}, {}),
    # pydicom leaves out a name's trailing empty group (PS3.5 6.2.1.1 lets it go).
    "a name with an empty group": (SAMPLE, {"PatientName": "Doe^Jane="}, {}),
    "veterinary sequences": (
        np.zeros((5, 7), np.uint8),
        {"PatientSpeciesDescription": "dog", "PatientBreedDescription": "beagle"},
        {},
    ),
    "odd-length 8-bit pixels": (np.arange(35, dtype=np.uint8).reshape(5, 7), {}, {}),
    "16-bit pixels": (np.arange(35, dtype=np.uint16).reshape(5, 7), {}, {}),
    "1-bit frames": (np.eye(8, dtype=bool)[None].repeat(3, 0), {}, {}),
    "signed frames": (np.full((3, 4, 6), -5, np.int16), {}, {}),
    "RLE frames with an offset table": (
        np.arange(96, dtype=np.uint8).reshape(3, 4, 8),
        {},
        {"transfer_syntax": "rle"},
    ),
    "VL Photographic": (SAMPLE, {}, {"iod": "vl-photo"}),
    "deflated": (np.zeros((6, 6, 3), np.uint8), {}, {"transfer_syntax": "deflated"}),
    # Pillow packs the pixels as they are written (PixelStrips), in 1 MiB pieces.
    "PNG of several pieces": (_png(np.indices((1001, 1600, 3)).sum(0).astype(np.uint8)), {}, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_encoder_writes_what_dcmwrite_writes(case: str, tmp_path: Path) -> None:
    source, metadata, options = CASES[case]
    plan = _Plan({**metadata, "SOPInstanceUID": "1.2.3.4"}, dicomize.ConvertOptions(**options))
    picture = _encoded(_read_for(source, plan.options), plan.options)
    if case == "PNG of several pieces":
        assert isinstance(picture.pixels, PixelStrips)
    dataset = plan.build(picture, 0)
    expected = _dcmwrite_bytes(dataset)
    # The Dataset path and the element path (batch, CLI) both give pydicom's bytes.
    assert _part10_bytes(dataset) == expected
    assert _part10_bytes(plan.one(picture, 0)) == expected
    # And as a file, which the suite's fixture judges with dciodvfy and dcmdump.
    write_object(plan.one(picture, 0), tmp_path / "case.dcm")


def test_text_remembered_from_file_to_file_gives_the_same_bytes_in_bounded_memory() -> None:
    plan = _Plan({"PatientName": "Dœ^Jané", "SOPInstanceUID": "1.2.3.4"}, dicomize.ConvertOptions())
    picture = _encoded(_read_for(SAMPLE, plan.options), plan.options)
    _ENCODED.clear()
    first = _part10_bytes(plan.one(picture, 0))
    assert (0x00080060, "CS", "OT", "utf-8") in _ENCODED  # Modality
    # The second object takes its constant text elements from what the first left.
    assert _part10_bytes(plan.one(picture, 0)) == first == _dcmwrite_bytes(plan.build(picture, 0))
    meta = plan.one(picture, 0).meta
    for number in range(3 * _REMEMBERED):  # a new value per file: the cache does not grow
        maker = f"maker {number}"
        encoded = _part10_bytes(Part10Object(meta=meta, body=[(0x00080070, "LO", maker, False)]))
        value = maker.encode() + b" " * (len(maker) % 2)
        assert encoded.endswith(b"\x08\x00\x70\x00LO" + len(value).to_bytes(2, "little") + value)
        assert len(_ENCODED) <= _REMEMBERED


#: Values a process that converts for months (serve, watch) must not keep after the job.
IDENTITY = {
    "PatientName": "Zyxwvut^Qponm",
    "PatientID": "PID-98765",
    "PatientBirthDate": "19020304",
    "OtherPatientIDs": "OTHER-2468",
    "AccessionNumber": "ACC-13579",
    "StudyDescription": "Qzx wound review",
    "ReferringPhysicianName": "Rqpon^Mlkj",
    "InstitutionName": "Wvuts Clinic",
    "StudyInstanceUID": "1.2.826.0.1.3680043.2.1143.975310",
}


def test_patient_data_is_not_kept_in_the_encoder_after_its_object(tmp_path: Path) -> None:
    _ENCODED.clear()
    # Other Patient IDs is not in the SC IOD: a user may still add it.
    options = dicomize.ConvertOptions(allow_extra=True)
    ((_, encoded),) = encode_series([SAMPLE], IDENTITY, options=options)
    assert isinstance(encoded, Part10Object)
    write_object(encoded, tmp_path / "identified.dcm")
    written = (tmp_path / "identified.dcm").read_bytes()
    kept = b"".join(_ENCODED.values()) + "".join(key[2] for key in _ENCODED).encode()
    for value in IDENTITY.values():
        assert value.encode() in written
        assert value.encode() not in kept
    # What makes a batch fast stays: the constants of the IOD, the equipment and the encoding.
    kept_keywords = {pydicom.datadict.keyword_for_tag(key[0]) for key in _ENCODED}
    assert {"SOPClassUID", "TransferSyntaxUID", "Modality", "PhotometricInterpretation"} <= (
        kept_keywords
    )


#: What dicomize writes that PS3.15 Table E.1-1 lists (removed or replaced to de-identify),
#: and the free text a user may fill with anything.
E_1_1_WRITTEN = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "OtherPatientIDs",
    "AccessionNumber", "ReferringPhysicianName", "StudyID", "StudyDescription",
    "SeriesDescription", "DerivationDescription", "InstitutionName", "DeviceSerialNumber",
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "MediaStorageSOPInstanceUID",
    "FrameOfReferenceUID", "StudyDate", "StudyTime", "SeriesDate", "SeriesTime", "ContentDate",
    "ContentTime", "AcquisitionDateTime", "InstanceCreationDate", "InstanceCreationTime",
    "DateOfSecondaryCapture", "TimeOfSecondaryCapture", "TimezoneOffsetFromUTC",
    "DocumentTitle", "ContentDescription",
)  # fmt: skip


def test_no_identifying_attribute_is_remembered() -> None:
    identifying = {pydicom.datadict.tag_for_keyword(keyword) for keyword in E_1_1_WRITTEN}
    assert None not in identifying
    assert identifying.isdisjoint(_REMEMBERED_TAGS)


def test_datasets_from_elsewhere_fall_back_to_pydicom_where_needed() -> None:
    dataset = dicomize.convert(np.zeros((4, 4), np.uint8))
    dataset.SpecificCharacterSet = "ISO_IR 100"  # Latin-1: not encoded here
    dataset.PatientName = "Müller^Jörg"
    dataset.SmallestImagePixelValue = 0  # 'US or SS': resolved from the whole dataset
    dataset.add_new(0x00091010, "LO", "private")
    assert _part10_bytes(dataset) == _dcmwrite_bytes(dataset)
    assert "Müller" in str(pydicom.dcmread(io.BytesIO(_part10_bytes(dataset))).PatientName)


def test_a_dataset_given_a_new_sop_instance_uid_names_it_in_its_meta(tmp_path: Path) -> None:
    dataset = dicomize.convert(np.zeros((4, 4), np.uint8))
    dataset.SOPInstanceUID = "1.2.826.0.1.3680043.2.1143.42"  # after the meta was made
    dicomize.write(dataset, tmp_path / "renamed.dcm")
    # PS3.10 7.1: the Media Storage SOP Instance UID is that of the dataset in the file.
    written = pydicom.dcmread(tmp_path / "renamed.dcm")
    assert written.file_meta.MediaStorageSOPInstanceUID == "1.2.826.0.1.3680043.2.1143.42"
    assert _part10_bytes(dataset) == _dcmwrite_bytes(dataset)


def test_large_pixel_data_is_written_from_the_callers_buffer() -> None:
    pixels = np.zeros((512, 512), np.uint8)
    dataset = dicomize.convert(pixels)
    written: list[object] = []

    class Recorder(io.BytesIO):
        def write(self, chunk: Any) -> int:
            written.append(chunk)
            return super().write(chunk)

        def writelines(self, chunks: Any) -> None:  # a run of buffers, one writev on a file
            for chunk in chunks:
                self.write(chunk)

    write_part10(Recorder(), dataset)
    # The frame went out as a view of the array, not as a copy joined into the header.
    big = [chunk for chunk in written if len(chunk) == pixels.nbytes]  # type: ignore[arg-type]
    assert len(big) == 1
    assert isinstance(big[0], memoryview)
    assert np.shares_memory(np.asarray(big[0]), pixels)


@pytest.mark.parametrize("pages", [1, 3])
def test_documents_and_their_pages_encode_as_dcmwrite_does(pages: int, tmp_path: Path) -> None:
    # A document has an empty Concept Name Code Sequence; pages have a Frame Increment Pointer.
    pictures = [Image.new("L", (40, 30), 255 - 40 * n) for n in range(pages)]
    pictures[0].save(tmp_path / "doc.pdf", save_all=True, append_images=pictures[1:])
    for options in (dicomize.ConvertOptions(), dicomize.ConvertOptions(pdf_as_images=True)):
        ((_, encoded),) = encode_series([tmp_path / "doc.pdf"], {}, options=options)
        assert isinstance(encoded, Part10Object)
        assert _part10_bytes(encoded) == _dcmwrite_bytes(encoded.to_dataset())
        # As files too, which the suite's fixture judges with dciodvfy and dcmdump.
        write_object(encoded, tmp_path / f"doc-{options.pdf_as_images}.dcm")


def _binary_stl() -> bytes:
    """A tetrahedron as a binary STL (tests/test_models.py has the model tests)."""
    corners = [(0.0, 0.0, 0.0), (10.5, 0.0, 0.0), (0.0, 20.25, 0.0), (0.0, 0.0, -30.125)]
    facets = b"".join(
        struct.pack("<3f", 0, 0, 1)
        + b"".join(struct.pack("<3f", *corners[i]) for i in face)
        + b"\0\0"
        for face in [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)]
    )
    return b"segmented by hand".ljust(80) + struct.pack("<I", 4) + facets


MODELS = {
    "stl": _binary_stl(),
    "obj": b"mtllib tetra.mtl\no tetra\nv 0 0 0\nv 10.5 0 0\nv 0 20.25 0\nv 0 0 -30.125\n"
    b"usemtl bone\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n",
    "mtl": b"newmtl bone\nKd 0.9 0.85 0.8\n",
}


@pytest.mark.parametrize("kind", ["video", "stl", "obj", "mtl"])
def test_video_and_model_objects_are_written_as_dcmwrite_writes_them(
    kind: str, tmp_path: Path
) -> None:
    if kind == "video":
        source = make_clip(tmp_path / "clip.mp4", "libx264", (320, 240), 25, frames=3)
    else:
        source = tmp_path / f"tetra.{kind}"
        source.write_bytes(MODELS[kind])
    region = {"BodyPartExamined": "ABDOMEN"} if kind == "video" else {}
    ((_, encoded),) = encode_series(
        [source], {"PatientName": "Dœ^Jané", "PatientID": "7", **region}
    )
    assert isinstance(encoded, Part10Object)
    if kind == "video":
        # The stream is read from its file as the object is written, never held whole.
        (pixels,) = [value for tag, _, value, _ in encoded.body if tag == _PIXEL_DATA]
        assert isinstance(pixels, PixelStrips)
    # The whole file, as written (streamed), against dcmwrite of the same dataset.
    write_object(encoded, tmp_path / f"{kind}.dcm")
    assert (tmp_path / f"{kind}.dcm").read_bytes() == _dcmwrite_bytes(encoded.to_dataset())

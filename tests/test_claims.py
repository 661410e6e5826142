"""What the attributes claim must be true (issue 30, points 3 and 15)."""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image


def _jpeg_444() -> bytes:
    ramp = (np.indices((64, 80)).sum(0) % 256).astype("uint8")
    out = io.BytesIO()
    Image.fromarray(np.dstack([ramp, 255 - ramp, ramp // 2])).save(
        out, "JPEG", quality=90, subsampling=0
    )
    return out.getvalue()


def _convert(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "photo.jpg"
    source.write_bytes(_jpeg_444())
    command = [sys.executable, "-m", "dicomize", "convert", str(source), "-o"]
    command += [str(tmp_path / "out.dcm"), "--patient-name", "X", "--patient-id", "1", *extra]
    return subprocess.run(command, capture_output=True, text=True, check=True)


def test_a_jpeg2000_request_on_a_kept_jpeg_is_told_on_one_note_line(tmp_path: Path) -> None:
    """Point 15: passthrough wins over -t, and stderr says so once, naming both syntaxes."""
    done = _convert(tmp_path, "-t", "jpeg2000")
    notes = [line for line in done.stderr.splitlines() if line.startswith("dicomize: note:")]
    assert len(notes) == 1, done.stderr
    assert "jpeg2000" in notes[0]
    assert "jpeg-baseline" in notes[0]
    assert "--" not in notes[0].split(": ", 3)[-1]  # the library names no flags


def test_the_default_syntax_adds_no_note(tmp_path: Path) -> None:
    """Point 15: nothing was asked, so keeping the codestream is not worth a line."""
    assert "note:" not in _convert(tmp_path).stderr


def test_a_444_jpeg_stays_ybr_full_422_because_the_judge_refuses_ybr_full(
    tmp_path: Path,
) -> None:
    """Point 3: YBR_FULL with JPEG Baseline fails dciodvfy, so 4:4:4 keeps YBR_FULL_422.

    PS3.5 8.2.1 as the pinned dciodvfy reads it: JPEG lossy colour is YBR_FULL_422
    whatever the SOF's sampling. If a later dciodvfy accepts YBR_FULL, this test fails
    and 4:4:4 should be relabelled.
    """
    _convert(tmp_path)
    ds = pydicom.dcmread(tmp_path / "out.dcm")
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    # Outside tmp_path: the suite checks every object a test leaves there is valid.
    with tempfile.TemporaryDirectory() as folder:
        relabelled = Path(folder) / "full.dcm"
        ds.PhotometricInterpretation = "YBR_FULL"
        ds.save_as(relabelled)
        verdict = subprocess.run(
            ["dciodvfy", str(relabelled)], check=False, capture_output=True, text=True
        )
    assert "Unrecognized enumerated value <YBR_FULL>" in verdict.stdout + verdict.stderr

"""What starting the command line loads: the light paths stay light (issue 17).

Each command runs in a fresh interpreter under ``-X importtime``, which names
every module imported. A JPEG passed through needs neither numpy, Pillow nor
pydicom (whose configuration loads numpy and every pixel decoder); ``--help``
needs none of them either. A later change that brings one back fails here, not
in a benchmark nobody ran.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import encode, gradient

HEAVY = ("numpy", "PIL", "pydicom", "imagecodecs", "av", "pypdfium2", "pynetdicom", "httpx")
#: Standard modules that cost 3-15 ms each on this project's 2-core machine and that the
#: type checker or a log configuration needs, not the work: ``typing`` names are imported
#: under ``TYPE_CHECKING`` only, and ``--help`` configures no logging. (Records are
#: dataclasses, for their readers: ``dataclasses`` and ``inspect`` load with the options.)
SLOW_STDLIB = ("typing", "logging")


def _loaded(*args: str, cwd: Path) -> set[str]:
    """Run ``python -X importtime -m dicomize ARGS``; return the top-level packages it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dicomize", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "dicomize" in names  # the parse saw the imports at all
    return names


@pytest.mark.parametrize("args", [["--help"], ["convert", "--help"], ["--version"]])
def test_help_loads_no_heavy_package(tmp_path: Path, args: list[str]) -> None:
    # Paths are for the work: flags are parsed as text. (datetime loads with the metadata
    # model, whose date fields are datetime types: typing.get_type_hints resolves them.)
    unneeded = {*HEAVY, *SLOW_STDLIB, "pathlib"}
    assert sorted(_loaded(*args, cwd=tmp_path) & unneeded) == []


def test_a_jpeg_passed_through_loads_no_pixel_stack(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(encode(Image.fromarray(gradient()), "JPEG", quality=90))
    loaded = _loaded("convert", "photo.jpg", "-o", "photo.dcm", "--patient-id", "1", cwd=tmp_path)
    # jpegtran (subprocess) and ICC profile repair (hashlib) are for other JPEGs.
    unneeded = {*HEAVY, "typing", "subprocess", "hashlib"}
    assert sorted(loaded & unneeded) == []
    assert (tmp_path / "photo.dcm").exists()


def test_an_rgb_png_loads_pillow_to_decode_and_nothing_else_heavy(tmp_path: Path) -> None:
    (tmp_path / "small.png").write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    loaded = _loaded("convert", "small.png", "-o", "small.dcm", "--patient-id", "1", cwd=tmp_path)
    assert "PIL" in loaded  # the check sees what a path does load
    # Pillow's raw rows are DICOM's native layout: no array is made, no pydicom needed.
    assert sorted(loaded & set(HEAVY) - {"PIL"}) == []


@pytest.mark.parametrize(
    ("flags", "unneeded"),
    [
        # The document's bytes are stored as they are: no pixels anywhere.
        ((), {"pydicom", "numpy", "PIL"}),
        # Pages are pixels, but dicomize encodes the multi-frame object itself.
        (("--pdf-as-images",), {"pydicom"}),
    ],
    ids=["encapsulated", "as-images"],
)
def test_a_pdf_loads_pydicom_for_neither_kind_of_object(
    flags: tuple[str, ...], unneeded: set[str], tmp_path: Path
) -> None:
    pages = [Image.fromarray(gradient()), Image.fromarray(gradient()[::-1])]
    pages[0].save(tmp_path / "report.pdf", save_all=True, append_images=pages[1:])
    loaded = _loaded(
        "convert", "report.pdf", *flags, "-o", "report.dcm", "--patient-id", "1", cwd=tmp_path
    )
    assert "pypdfium2" in loaded  # the check sees what the path does load
    assert sorted(loaded & unneeded) == []
    assert (tmp_path / "report.dcm").exists()

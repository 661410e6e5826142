"""A document whose pages differ in size: one object per page; a GIF frame past its screen.

Viewers show every page of a multi-page TIFF whatever their sizes, so each page
becomes an object of its own, in one series and in page order, written into a folder
named after the file. A GIF frame reaching past the logical screen is clipped to it,
as a viewer shows it.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
import tifffile
from PIL import Image

import dicomize
from conftest import LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN, assert_conforms

RGB = np.random.default_rng(3).integers(0, 256, (40, 60, 3), dtype=np.uint8)
GREY = np.random.default_rng(4).integers(0, 256, (80, 30), dtype=np.uint8)


def _mixed(path: Path) -> Path:
    with tifffile.TiffWriter(path) as tif:
        tif.write(RGB, photometric="rgb")
        tif.write(GREY)
    return path


def test_pages_of_different_sizes_become_one_object_each_in_one_series(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = _mixed(tmp_path / "scan.tif")
    done = subprocess.run(
        [*dicomize_cli, "convert", str(source), "-o", f"{tmp_path / 'out'}/", "--patient-id", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pages = [tmp_path / "out" / "scan" / f"page-{n}.dcm" for n in (1, 2)]
    for page in pages:
        assert_conforms(
            page, iod="SCImage", allowed_warnings=(LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN)
        )
    first, second = (pydicom.dcmread(page) for page in pages)
    assert np.array_equal(first.pixel_array, RGB)  # lossless, bit for bit
    assert np.array_equal(second.pixel_array, GREY)
    assert first.SeriesInstanceUID == second.SeriesInstanceUID
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert (int(first.InstanceNumber), int(second.InstanceNumber)) == (1, 2)  # page order


def test_a_batch_writes_the_pages_folder_and_skips_nothing_it_did_not_write(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    _mixed(scans / "scan.tif")
    Image.fromarray(RGB).save(scans / "photo.png")
    for _ in range(2):  # a rerun finds the pages' folder its own and replaces it whole
        done = subprocess.run(
            [*dicomize_cli, "batch", str(scans), "-o", str(tmp_path / "out"), "-q"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    names = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.dcm")
    )
    assert names == ["photo.dcm", "scan/page-1.dcm", "scan/page-2.dcm"]


def test_frames_to_be_joined_must_still_agree_in_size(tmp_path: Path) -> None:
    small, large = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(RGB).save(small)
    Image.fromarray(GREY).save(large)
    with pytest.raises(dicomize.UnsupportedInput, match="frames must agree in size"):
        dicomize.convert_frames([small, large])


def test_the_library_writes_the_pages_with_write_slide_and_convert_says_so(
    tmp_path: Path,
) -> None:
    source = _mixed(tmp_path / "scan.tif")
    with pytest.raises(dicomize.UnsupportedInput, match="becomes several objects"):
        dicomize.convert(source)
    paths = dicomize.write_slide(source, tmp_path / "out" / "scan", {"PatientID": "1"})
    assert [Path(p).name for p in paths] == ["page-1.dcm", "page-2.dcm"]


def _gif(frames: list[tuple[int, int, int]], screen: tuple[int, int]) -> bytes:
    """A GIF89a of solid frames at (0, 0): (width, height, colour index), by hand.

    Pillow cannot write a frame larger than the screen; the spec allows the file.
    """
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", *screen, 0xF1, 0, 0))
    out += bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])  # four colours
    for width, height, colour in frames:
        out += b"!\xf9\x04\x00\x0a\x00\x00\x00"  # 100 ms a frame
        out += b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
        bits = count = 0
        data = bytearray()
        # Code size 3 (minimum 2): a clear code before each pixel keeps the table empty.
        for code in [*((4, colour) * (width * height)), 5]:
            bits |= code << count
            count += 3
            while count >= 8:
                data.append(bits & 0xFF)
                bits >>= 8
                count -= 8
        if count:
            data.append(bits)
        out += b"\x02" + b"".join(
            bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255)
        )
        out += b"\x00"
    return bytes(out + b";")


def test_a_gif_frame_past_its_screen_is_clipped_to_the_screen(tmp_path: Path) -> None:
    source = tmp_path / "over.gif"
    source.write_bytes(_gif([(20, 20, 1), (30, 25, 2)], (20, 20)))
    ds = dicomize.convert(source)
    dicomize.write(ds, tmp_path / "over.dcm")
    assert (ds.Rows, ds.Columns, int(ds.NumberOfFrames)) == (20, 20, 2)
    frames = ds.pixel_array
    assert (frames[0] == (255, 0, 0)).all()
    assert (frames[1] == (0, 255, 0)).all()  # the frame, clipped: no row or column of it lost
    assert "clipped to the 20x20 screen" in ds.DerivationDescription

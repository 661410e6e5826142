"""Bad input: a one-line error naming the file and the cause, a non-zero exit, no file written."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

import dicomize
from conftest import encode, gradient


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int, extra: bytes = b"") -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + extra
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _ztxt_bomb() -> bytes:
    """A valid PNG whose zTXt chunk inflates to 64 MiB (Pillow caps text chunks)."""
    bomb = b"Comment\x00\x00" + zlib.compress(b"\x00" * (64 << 20), 9)
    good = encode(Image.fromarray(gradient(8, 8)), "PNG")
    return good[:33] + _png_chunk(b"zTXt", bomb) + good[33:]


def _j2k_zero_height() -> bytes:
    """A JPEG 2000 codestream whose SIZ says 0 rows (Ysiz = YOsiz = 0), otherwise whole."""
    import openjpeg

    stream = bytearray(openjpeg.encode(gradient(), photometric_interpretation=1))
    stream[12:16] = (0).to_bytes(4, "big")  # SOC, SIZ, Lsiz, Rsiz, Xsiz, then Ysiz
    return bytes(stream)


PNG = encode(Image.fromarray(gradient()), "PNG")
JPEG = encode(Image.fromarray(gradient(96, 128)), "JPEG", quality=90)

BAD_FILES: dict[str, tuple[bytes, type[dicomize.InputError], str]] = {
    "empty": (b"", dicomize.CorruptImage, "file is empty"),
    "text": (
        b"hello, this is not a picture\n",
        dicomize.UnsupportedInput,
        "not a recognised picture format",
    ),
    "dicom": (
        b"\x00" * 128 + b"DICM" + b"\x00" * 64,
        dicomize.UnsupportedInput,
        "already a DICOM file",
    ),
    "png_truncated": (PNG[: len(PNG) // 2], dicomize.CorruptImage, "PNG"),
    "png_header_damaged": (PNG[:16] + b"\xff" * 40, dicomize.CorruptImage, "PNG"),
    "png_bad_crc": (PNG[:30] + bytes([PNG[30] ^ 0xFF]) + PNG[31:], dicomize.CorruptImage, "PNG"),
    "jpeg_truncated": (JPEG[: len(JPEG) // 2], dicomize.CorruptImage, "JPEG"),
    "jpeg_only_header": (JPEG[:300], dicomize.CorruptImage, "JPEG"),
    "png_bomb_dimensions": (
        _png_claiming(30000, 30000),
        dicomize.ImageTooLarge,
        "exceeds the limit of 150000000 pixels",
    ),
    "png_too_wide_for_dicom": (
        _png_claiming(70000, 1),
        dicomize.UnsupportedInput,
        "rows and columns are 1 to 65535",
    ),
    "png_text_bomb": (_ztxt_bomb(), dicomize.CorruptImage, "PNG"),
    "gif_bomb": (
        b"GIF89a"
        + struct.pack("<HH", 65535, 65535)
        + b"\x00\x00\x00"
        + b"\x2c"
        + struct.pack("<HHHH", 0, 0, 65535, 65535)
        + b"\x00\x02\x02\x44\x01\x00;",
        dicomize.ImageTooLarge,
        "exceeds the limit",
    ),
    "pgm_truncated": (b"P5\n64 48\n255\n" + b"\x00" * 100, dicomize.CorruptImage, "truncated"),
    "pgm_header_garbage": (b"P5\nxx yy\n255\n", dicomize.CorruptImage, "Netpbm header"),
    "pgm_sample_over_maxval": (b"P2\n2 1\n10\n5 11\n", dicomize.CorruptImage, "exceeds maxval"),
    "pfm_nan": (
        b"Pf\n2 2\n-1\n" + struct.pack("<4f", 0, float("nan"), 0, 0),
        dicomize.UnsupportedInput,
        "PFM pixels include NaN",
    ),
    "bmp_truncated": (
        encode(Image.fromarray(gradient()), "BMP")[:500],
        dicomize.CorruptImage,
        "BMP",
    ),
    "tiff_garbage": (b"II*\x00" + b"\xff" * 60, dicomize.CorruptImage, "TIFF"),
    # 15444-1 A.5.1 requires Ysiz > YOsiz: no rows is a damaged header, not a small picture.
    "j2k_zero_height": (_j2k_zero_height(), dicomize.CorruptImage, "breaks ISO 15444-1 A.5.1"),
    "webp_truncated": (
        encode(Image.fromarray(gradient()), "WEBP")[:60],
        dicomize.CorruptImage,
        "WEBP",
    ),
}


def test_pillow_text_chunk_guard_is_what_stops_the_text_bomb() -> None:
    assert PngImagePlugin.MAX_TEXT_CHUNK < 64 << 20


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_raises_a_one_line_error_naming_the_file(name: str, tmp_path: Path) -> None:
    data, expected_type, cause = BAD_FILES[name]
    source = tmp_path / f"{name}.img"
    source.write_bytes(data)

    with pytest.raises(dicomize.InputError) as caught:
        dicomize.convert(source)

    assert type(caught.value) is expected_type, str(caught.value)
    message = str(caught.value)
    assert message.startswith(f"{source}: "), message
    assert cause in message
    assert "\n" not in message


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_cli_reports_bad_file_on_one_line_exits_1_and_writes_nothing(
    name: str, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = tmp_path / f"{name}.img"
    source.write_bytes(BAD_FILES[name][0])
    out = tmp_path / "out"

    result = subprocess.run(
        [*dicomize_cli, "convert", str(source), "-o", f"{out}/"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(source) in lines[0]
    assert "Traceback" not in result.stderr
    assert list(out.iterdir()) == []  # no output, no temporary file


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path, dicomize_cli: list[str]) -> None:
    good_a, bad, good_b = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    good_a.write_bytes(PNG)
    bad.write_bytes(PNG[:100])
    good_b.write_bytes(PNG)

    result = subprocess.run(
        [*dicomize_cli, "convert", str(good_a), str(bad), str(good_b), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.dcm", "c.dcm"]
    assert "converted 2 of 3, 1 failed" in result.stderr
    assert sum(str(bad) in line for line in result.stderr.splitlines()) == 1


def test_missing_file_and_directory_are_reported(tmp_path: Path) -> None:
    with pytest.raises(dicomize.InputError, match="No such file"):
        dicomize.convert(tmp_path / "missing.png")
    with pytest.raises(dicomize.UnsupportedInput, match="is a directory"):
        dicomize.convert(tmp_path)


def test_pixel_limit_can_be_lowered_and_raised(tmp_path: Path) -> None:
    source = tmp_path / "p.png"
    source.write_bytes(PNG)  # 64 x 48 = 3072 pixels
    with pytest.raises(dicomize.ImageTooLarge, match="exceeds the limit of 3071 pixels"):
        dicomize.convert(source, options=dicomize.ConvertOptions(max_pixels=3071))
    assert dicomize.convert(source, options=dicomize.ConvertOptions(max_pixels=3072)).Rows == 48


@pytest.mark.parametrize(
    ("array", "cause"),
    [
        (np.zeros((4, 4), np.float32), "pixel type float32 is not supported"),
        (np.zeros((4, 4), np.int32), "pixel type int32 is not supported"),
        (np.zeros((2, 4, 4, 5), np.uint8), "array shape (4, 4, 5) is not supported"),
        (np.zeros((4, 4, 3), np.int16), "colour pixels must be unsigned"),
        (np.zeros((0, 4), np.uint8), "DICOM rows and columns are 1 to 65535"),
        (np.zeros((2, 2, 2, 2, 2), np.uint8), "array shape (2, 2, 2, 2, 2) is not supported"),
        (np.zeros((0, 4, 4), np.int32), "pixel type int32 is not supported"),
    ],
)
def test_unsupported_array_is_refused_with_the_reason(array: np.ndarray, cause: str) -> None:
    with pytest.raises(dicomize.UnsupportedInput) as caught:
        dicomize.convert(array)
    assert cause in str(caught.value)


def test_unconvertible_object_is_refused() -> None:
    with pytest.raises(dicomize.UnsupportedInput, match="cannot convert a dict"):
        dicomize.convert({"not": "a picture"})

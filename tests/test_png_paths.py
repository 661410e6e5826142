"""The PNG paths that skip work (issue 26): each still gives the pixels and metadata it did."""

from __future__ import annotations

import io
import struct
import zlib

import imagecodecs
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageFile

import dicomize
from conftest import gradient

#: EXIF (TIFF little-endian, one IFD entry) saying Orientation 6: turn 90 degrees clockwise.
_EXIF_ORIENTATION_6 = (
    b"II*\0"
    + struct.pack("<L", 8)
    + struct.pack("<H", 1)
    + struct.pack("<HHLHH", 0x0112, 3, 1, 6, 0)
) + struct.pack("<L", 0)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">L", len(body)) + kind + body + struct.pack(">L", zlib.crc32(kind + body))


def _with_chunk(png: bytes, kind: bytes, body: bytes, *, after_pixels: bool) -> bytes:
    """Insert a chunk just before the first IDAT, or just before IEND."""
    at = png.rindex(b"IEND") - 4 if after_pixels else png.index(b"IDAT") - 4
    return png[:at] + _chunk(kind, body) + png[at:]


def _rgb16() -> npt.NDArray[np.uint16]:
    return gradient().astype(np.uint16) * 251 + 3


@pytest.mark.parametrize("after_pixels", [False, True])
def test_deep_colour_png_exif_before_or_after_the_pixels(after_pixels: bool) -> None:
    pixels = _rgb16()
    data = _with_chunk(
        bytes(imagecodecs.png_encode(pixels)),
        b"eXIf",
        _EXIF_ORIENTATION_6,
        after_pixels=after_pixels,
    )
    picture = dicomize.read_picture(data)
    turned = np.rot90(pixels, -1)
    assert (picture.rows, picture.columns) == turned.shape[:2]
    assert bytes(picture.native()) == turned.astype("<u2").tobytes()
    assert any("Orientation 6" in note for note in picture.derivation)


def test_deep_colour_png_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # libpng decodes the 16-bit samples; Pillow's decoder (8 bits) must not run as well.
    def refuse(_image: ImageFile.ImageFile) -> None:
        raise AssertionError("Pillow decoded a 16-bit colour PNG")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    pixels = _rgb16()
    picture = dicomize.read_picture(bytes(imagecodecs.png_encode(pixels)))
    assert bytes(picture.native()) == pixels.astype("<u2").tobytes()


@pytest.mark.parametrize(("largest", "bits_stored"), [(4095, 12), (4096, 16)])
def test_png_sbit_holds_only_when_no_sample_exceeds_it(largest: int, bits_stored: int) -> None:
    pixels = (gradient(channels=1).astype(np.uint16) * 16) % 4096
    pixels[0, 0] = largest
    png = Image.fromarray(pixels)
    buffer = io.BytesIO()
    png.save(buffer, "PNG")
    data = _with_chunk(buffer.getvalue(), b"sBIT", bytes([12]), after_pixels=False)
    picture = dicomize.read_picture(data)
    assert (picture.bits_allocated, picture.bits_stored) == (16, bits_stored)
    assert bytes(picture.native()) == pixels.astype("<u2").tobytes()

"""Every input kind becomes a conforming SC image whose pixels equal what the source decodes to.

Each case generates its own source, converts it through the public API, and
proves three things: dciodvfy reports zero errors and zero warnings (the
metadata is complete), dcmtk parses the file, and the stored pixels equal
the source's decoded pixels after the documented policies.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import numpy.typing as npt
import pydicom
import pytest
import tifffile
from PIL import Image

import dicomize
from conftest import FULL_METADATA, LATERALITY_UNKNOWN, assert_conforms, dcmdump, encode, gradient

Case = Callable[[], tuple[bytes, npt.NDArray[Any], dict[str, Any]]]


def _pillow_decoded(data: bytes, mode: str | None = None) -> npt.NDArray[Any]:
    image = Image.open(io.BytesIO(data))
    return np.asarray(image.convert(mode) if mode else image)


def png_rgb8() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = gradient()
    return encode(Image.fromarray(pixels), "PNG"), pixels, {"PhotometricInterpretation": "RGB"}


def png_rgb8_many_strips() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    """Larger than the 1 MiB pieces Pillow packs pixels in, and not a multiple of them."""
    rows = np.random.default_rng(5).integers(0, 256, (1, 1600, 3), dtype=np.uint8)
    pixels = np.repeat(rows, 1001, axis=0) ^ np.arange(1001, dtype=np.uint8)[:, None, None]
    return encode(Image.fromarray(pixels), "PNG"), pixels, {"PhotometricInterpretation": "RGB"}


def png_gray8() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = gradient(channels=1)
    return encode(Image.fromarray(pixels), "PNG"), pixels, {"BitsStored": 8}


def png_gray16() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = (gradient(channels=1).astype(np.uint16) * 257) ^ 0x0F0F
    data = bytes(imagecodecs.png_encode(pixels))
    return data, pixels, {"BitsAllocated": 16, "BitsStored": 16, "HighBit": 15}


def png_rgb16() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = gradient().astype(np.uint16) * 251 + 3
    data = bytes(imagecodecs.png_encode(pixels))
    return data, pixels, {"BitsAllocated": 16, "BitsStored": 16, "SamplesPerPixel": 3}


def png_gray12_sbit() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = (gradient(channels=1).astype(np.uint16) * 16 + 5) % 4096
    return _png_with_sbit(pixels, 12), pixels, {"BitsStored": 12, "HighBit": 11}


def _png_with_sbit(pixels: npt.NDArray[np.uint16], bits: int) -> bytes:
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    height, width = pixels.shape
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"sBIT", bytes([bits]))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg_colour() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    data = encode(Image.fromarray(gradient()), "JPEG", quality=92)
    return (
        data,
        _pillow_decoded(data, "RGB"),
        {
            "TransferSyntaxUID": pydicom.uid.JPEGBaseline8Bit,
            "PhotometricInterpretation": "YBR_FULL_422",
            "LossyImageCompression": "01",
            "LossyImageCompressionMethod": "ISO_10918_1",
        },
    )


def jpeg_gray() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    data = encode(Image.fromarray(gradient(channels=1)), "JPEG", quality=92)
    return (
        data,
        _pillow_decoded(data),
        {
            "TransferSyntaxUID": pydicom.uid.JPEGBaseline8Bit,
            "PhotometricInterpretation": "MONOCHROME2",
            "LossyImageCompression": "01",
        },
    )


def bmp_rgb() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = gradient()
    return encode(Image.fromarray(pixels), "BMP"), pixels, {"PhotometricInterpretation": "RGB"}


def bmp_rle8() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    """An RLE8-compressed BMP written by hand (Pillow reads but does not write RLE)."""
    indices = (gradient(channels=1) // 32).astype(np.uint8)  # 8 palette entries, long runs
    palette = [((i * 30) % 256, (255 - i * 30) % 256, (i * 77) % 256) for i in range(256)]
    height, width = indices.shape
    body = bytearray()
    for row in indices[::-1]:  # BMP rows are stored bottom-up
        start = 0
        while start < width:
            end = start
            while end < width and row[end] == row[start] and end - start < 255:
                end += 1
            body += bytes([end - start, int(row[start])])
            start = end
        body += b"\x00\x00"
    body += b"\x00\x01"
    colour_table = b"".join(bytes([b, g, r, 0]) for r, g, b in palette)
    offset = 14 + 40 + len(colour_table)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(body), 2835, 2835, 256, 0)
    data = b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset) + info + colour_table
    expected = np.array(palette, dtype=np.uint8)[indices]
    return data + bytes(body), expected, {"PhotometricInterpretation": "RGB"}


def gif_palette() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    data = encode(Image.fromarray(gradient()).quantize(64), "GIF")
    return data, _pillow_decoded(data, "RGB"), {"PhotometricInterpretation": "RGB"}


def tiff_rgb8_lzw() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = gradient()
    return encode(Image.fromarray(pixels), "TIFF", compression="tiff_lzw"), pixels, {}


def tiff_gray16() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = gradient(channels=1).astype(np.uint16) * 200
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels)
    return buffer.getvalue(), pixels, {"BitsAllocated": 16, "PixelRepresentation": 0}


def tiff_rgb16() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = gradient().astype(np.uint16) * 257 + 1
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, photometric="rgb", compression="zlib")
    return buffer.getvalue(), pixels, {"BitsAllocated": 16, "SamplesPerPixel": 3}


def tiff_int16() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = gradient(channels=1).astype(np.int16) * 100 - 12000
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels)
    return buffer.getvalue(), pixels, {"PixelRepresentation": 1, "BitsStored": 16}


def webp_lossless() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = gradient()
    data = encode(Image.fromarray(pixels), "WEBP", lossless=True)
    return data, pixels, {"LossyImageCompression": "00"}


def webp_lossy() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    data = encode(Image.fromarray(gradient()), "WEBP", quality=80)
    return data, _pillow_decoded(data, "RGB"), {"LossyImageCompression": "01"}


def pgm_12bit() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = (gradient(channels=1).astype(np.uint16) * 16 + 7) % 4096
    data = b"P5\n# comment\n64 48\n4095\n" + pixels.astype(">u2").tobytes()
    return data, pixels, {"BitsStored": 12, "HighBit": 11, "BitsAllocated": 16}


def pgm_plain() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = gradient(channels=1)
    text = " ".join(str(v) for v in pixels.ravel())
    return f"P2\n64 48\n255\n{text}\n".encode(), pixels, {"BitsStored": 8}


def ppm_16bit() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    pixels = gradient().astype(np.uint16) * 257
    return b"P6 64 48 65535\n" + pixels.astype(">u2").tobytes(), pixels, {"SamplesPerPixel": 3}


def pbm_bitmap() -> tuple[bytes, npt.NDArray[Any], dict[str, Any]]:
    ink = gradient(channels=1) % 2 == 1  # PBM: 1 is black
    data = b"P4\n64 48\n" + np.packbits(ink, axis=1).tobytes()
    return data, np.where(ink, 0, 255).astype(np.uint8), {"BitsStored": 8}


CASES: dict[str, Case] = {
    case.__name__: case
    for case in (
        png_rgb8,
        png_rgb8_many_strips,
        png_gray8,
        png_gray16,
        png_rgb16,
        png_gray12_sbit,
        jpeg_colour,
        jpeg_gray,
        bmp_rgb,
        bmp_rle8,
        gif_palette,
        tiff_rgb8_lzw,
        tiff_gray16,
        tiff_rgb16,
        tiff_int16,
        webp_lossless,
        webp_lossy,
        pgm_12bit,
        pgm_plain,
        ppm_16bit,
        pbm_bitmap,
    )
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_picture_converts_to_a_conforming_sc_image_with_source_pixels(
    name: str, tmp_path: Path
) -> None:
    data, expected, attributes = CASES[name]()
    # A misleading extension proves the format is detected from the content.
    source = tmp_path / f"{name}.dat"
    source.write_bytes(data)
    output = tmp_path / f"{name}.dcm"

    dicomize.write(dicomize.convert(source, FULL_METADATA), output)

    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN,))
    dump = dcmdump(output)
    assert "SecondaryCaptureImageStorage" in dump
    ds = pydicom.dcmread(output)
    syntax = attributes.pop("TransferSyntaxUID", pydicom.uid.ExplicitVRLittleEndian)
    assert ds.file_meta.TransferSyntaxUID == syntax
    for keyword, value in attributes.items():
        assert ds[keyword].value == value, keyword
    assert ds.HighBit == ds.BitsStored - 1
    if syntax == pydicom.uid.JPEGBaseline8Bit:
        # Same decoder as the expectation: JPEG decoders may differ in their last bit.
        ds.pixel_array_options(decoding_plugin="pillow")
    stored = ds.pixel_array
    assert stored.dtype.itemsize == expected.dtype.itemsize
    assert stored.shape == expected.shape
    np.testing.assert_array_equal(stored, expected)


ARRAYS: dict[str, tuple[npt.NDArray[Any], npt.NDArray[Any]]] = {
    "bool": (gradient(channels=1) > 100, np.where(gradient(channels=1) > 100, 255, 0)),
    "uint8_gray": (gradient(channels=1), gradient(channels=1)),
    "uint8_rgb": (gradient(), gradient()),
    "uint16_gray": (gradient(channels=1).astype(np.uint16) * 250, None),  # type: ignore[dict-item]
    "uint16_rgb": (gradient().astype(np.uint16) * 250, None),  # type: ignore[dict-item]
    "int16_gray": (gradient(channels=1).astype(np.int16) * -100, None),  # type: ignore[dict-item]
    "big_endian_uint16": (gradient(channels=1).astype(">u2") * 3, None),  # type: ignore[dict-item]
    "fortran_order_rgb": (np.asfortranarray(gradient()), None),  # type: ignore[dict-item]
}


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_array_converts_to_a_conforming_sc_image_bit_exact(name: str, tmp_path: Path) -> None:
    array, expected = ARRAYS[name]
    expected = array if expected is None else expected
    output = tmp_path / "array.dcm"

    dicomize.write(dicomize.convert(array, FULL_METADATA), output)

    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN,))
    dcmdump(output)
    ds = pydicom.dcmread(output)
    np.testing.assert_array_equal(ds.pixel_array, expected)
    assert ds.PixelRepresentation == (1 if array.dtype.kind == "i" else 0)


@pytest.mark.parametrize("name", ["png_rgb8", "jpeg_colour"])
def test_a_picture_from_a_pipe_converts_like_the_file(name: str, tmp_path: Path) -> None:
    # A shell's <(...) hands over /dev/fd/N, a pipe: it cannot seek, so it is read whole.
    data, _, _ = CASES[name]()
    source = tmp_path / "picture"
    source.write_bytes(data)
    read, write = os.pipe()

    def feed() -> None:
        with os.fdopen(write, "wb") as stream:
            stream.write(data)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        piped = dicomize.convert(f"/dev/fd/{read}", {"SOPInstanceUID": "1.2.3"})
    finally:
        feeder.join()
        os.close(read)
    direct = dicomize.convert(source, {"SOPInstanceUID": "1.2.3"})
    assert piped.PixelData == direct.PixelData
    assert piped.PhotometricInterpretation == direct.PhotometricInterpretation

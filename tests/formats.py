"""Pictures in every format dicomize reads, made here: nothing is downloaded.

Pillow writes most of them. The formats Pillow only reads (PSD, XPM, Sun raster,
FITS, CUR) are written by hand from their specifications, as small as they can be.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import Any

import imagecodecs
import numpy as np
import numpy.typing as npt
import pillow_heif
from PIL import Image

from conftest import encode, gradient

pillow_heif.register_heif_opener()

RGB = gradient()
SIGNED = (np.arange(48 * 64).reshape(48, 64) * 13 % 60000 - 30000).astype(np.int16)


def psd(rgb: npt.NDArray[np.uint8]) -> bytes:
    """An 8-bit RGB Photoshop file: header, empty sections, raw planar composite."""
    height, width, _ = rgb.shape
    header = b"8BPS" + struct.pack(">H6sHIIHH", 1, bytes(6), 3, height, width, 8, 3)
    empty_sections = struct.pack(">III", 0, 0, 0)  # colour mode, resources, layers
    return header + empty_sections + struct.pack(">H", 0) + np.moveaxis(rgb, -1, 0).tobytes()


def xpm(bits: npt.NDArray[np.uint8]) -> bytes:
    """A two-colour X PixMap (C source text)."""
    height, width = bits.shape
    rows = ",\n".join('"' + "".join(".#"[v] for v in row) + '"' for row in bits)
    return (
        f'/* XPM */\nstatic char *p[] = {{\n"{width} {height} 2 1",\n". c #000000",\n'
        f'"# c #FFFFFF",\n{rows}\n}};\n'
    ).encode()


def sun_raster(rgb: npt.NDArray[np.uint8]) -> bytes:
    """A 24-bit standard Sun raster: BGR samples, rows padded to 16 bits."""
    height, width, _ = rgb.shape
    rows = rgb[..., ::-1].reshape(height, width * 3)
    if (width * 3) % 2:
        rows = np.pad(rows, ((0, 0), (0, 1)))
    data = rows.tobytes()
    return struct.pack(">8I", 0x59A66A95, width, height, 24, len(data), 1, 0, 0) + data


def fits(array: npt.NDArray[Any], bitpix: int) -> bytes:
    """A single-HDU FITS file: 2880-byte header blocks, big-endian data."""
    height, width = array.shape
    cards = [
        "SIMPLE  =                    T",
        f"BITPIX  = {bitpix:>20}",
        "NAXIS   =                    2",
        f"NAXIS1  = {width:>20}",
        f"NAXIS2  = {height:>20}",
        "END",
    ]
    header = "".join(card.ljust(80) for card in cards).ljust(2880).encode()
    kind = {16: ">i2", 8: "u1", -32: ">f4"}[bitpix]
    data = array.astype(kind).tobytes()
    return header + data + bytes(-len(data) % 2880)


def cur(rgb: npt.NDArray[np.uint8]) -> bytes:
    """A Windows cursor: an icon directory of type 2 with a bitmap image."""
    icon = encode(Image.fromarray(rgb), "ICO", sizes=[(48, 48)], bitmap_format="bmp")
    return icon[:2] + struct.pack("<H", 2) + icon[4:]


def heic(
    array: npt.NDArray[Any],
    *,
    exif: bytes | None = None,
    icc: bytes | None = None,
    depth: int = 10,
) -> bytes:
    """A HEIC file from 8-bit RGB, or 10/12-bit RGB given as 16-bit values of that depth."""
    buffer = io.BytesIO()
    params: dict[str, Any] = {"quality": 92}
    if exif is not None:
        params["exif"] = exif
    if icc is not None:
        params["icc_profile"] = icc
    if array.dtype == np.uint16:
        height, width, _ = array.shape
        # pillow-heif takes deep samples scaled to 16 bits and stores 10 or, asked, 12 of them.
        scaled = (array << (16 - depth)).astype(np.uint16)
        picture = pillow_heif.from_bytes(mode="RGB;16", size=(width, height), data=scaled.tobytes())
        pillow_heif.options.SAVE_HDR_TO_12_BIT = depth == 12
        try:
            picture.save(buffer, **params)
        finally:
            pillow_heif.options.SAVE_HDR_TO_12_BIT = False
    else:
        Image.fromarray(array).save(buffer, format="HEIF", **params)
    return buffer.getvalue()


def avif(array: npt.NDArray[Any], *, depth: int = 8, exif: bytes | None = None) -> bytes:
    """An AVIF file: 8-bit through Pillow (with EXIF), 10/12-bit through libavif."""
    if depth == 8:
        params: dict[str, Any] = {"quality": 92}
        if exif is not None:
            params["exif"] = exif
        return encode(Image.fromarray(array), "AVIF", **params)
    return bytes(imagecodecs.avif_encode(array, level=92, bitspersample=depth))


def jxl(array: npt.NDArray[Any], *, lossless: bool, depth: int = 8) -> bytes:
    """A JPEG XL codestream, lossless or lossy, of 8 or more bits."""
    if lossless:
        return bytes(imagecodecs.jpegxl_encode(array, lossless=True, bitspersample=depth))
    return bytes(imagecodecs.jpegxl_encode(array, level=90, bitspersample=depth))


#: The long tail: name -> (make the file, the pixels it should decode to, or None when
#: the format itself changes them: resampled icons, palettes, 1-bit).
LONG_TAIL: dict[str, tuple[Callable[[], bytes], npt.NDArray[Any] | None]] = {
    "TGA": (lambda: encode(Image.fromarray(RGB), "TGA"), RGB),
    "TGA-RLE": (lambda: encode(Image.fromarray(RGB), "TGA", compression="tga_rle"), RGB),
    "PSD": (lambda: psd(RGB), RGB),
    "ICO": (lambda: encode(Image.fromarray(RGB), "ICO", sizes=[(16, 16), (48, 48)]), None),
    "CUR": (lambda: cur(RGB), None),
    "ICNS": (lambda: encode(Image.fromarray(RGB).resize((64, 64)), "ICNS"), None),
    "PCX": (lambda: encode(Image.fromarray(RGB), "PCX"), RGB),
    "SGI": (lambda: encode(Image.fromarray(RGB), "SGI"), RGB),
    "QOI": (lambda: encode(Image.fromarray(RGB), "QOI"), RGB),
    "DDS": (lambda: encode(Image.fromarray(RGB), "DDS"), RGB),
    "XBM": (lambda: encode(Image.fromarray(RGB[..., 0] > 128), "XBM"), None),
    "XPM": (lambda: xpm((RGB[..., 0] > 128).astype(np.uint8)), None),
    "SUN": (lambda: sun_raster(RGB), RGB),
    # FITS stores the bottom row first; signed samples stay signed.
    "FITS": (lambda: fits(SIGNED, 16), SIGNED[::-1]),
}

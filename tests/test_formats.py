"""Phone formats (HEIC, AVIF, JPEG XL) and the long tail Pillow reads: converted, clean, upright."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from PIL import Image, ImageCms

import dicomize
from conftest import FULL_METADATA, LATERALITY_UNKNOWN, assert_conforms, encode, gradient
from formats import LONG_TAIL, avif, fits, heic, jxl

VL = "VLPhotographicImage"


def _camera_exif(orientation: int = 1, gps: bool = False) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif[0x0110] = "iPhone 15 Pro"
    exif[0x0112] = orientation
    if gps:
        exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 22.0, 0.0), 3: "E", 4: (4.0, 53.0, 0.0)})
    return exif.tobytes()


def _convert(tmp_path: Path, data: bytes, name: str, **options: Any) -> pydicom.Dataset:
    source = tmp_path / name
    source.write_bytes(data)
    output = tmp_path / (name + ".dcm")
    dataset = dicomize.convert(source, FULL_METADATA, options=dicomize.ConvertOptions(**options))
    dicomize.write(dataset, output)
    iod = VL if options.get("iod") == "vl-photo" else "SCImage"
    assert_conforms(output, iod=iod, allowed_warnings=(LATERALITY_UNKNOWN,))
    return pydicom.dcmread(output)


def _close(decoded: npt.NDArray[Any], expected: npt.NDArray[Any], tolerance: float) -> None:
    assert decoded.shape == expected.shape
    assert np.abs(decoded.astype(int) - expected.astype(int)).mean() < tolerance


def test_rotated_heic_with_exif_and_icc_is_upright_lossy_hevc_with_its_profile(
    tmp_path: Path,
) -> None:
    # A display-class profile, as cameras embed: DICOM keeps it as an Input-class one.
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    ds = _convert(tmp_path, heic(gradient(), exif=_camera_exif(6), icc=icc), "photo.heic")
    # Orientation 6: the stored rows are the scene turned left; upright is a right turn.
    _close(ds.pixel_array, np.rot90(gradient(), -1), 12)
    assert (ds.Rows, ds.Columns) == (64, 48)
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "ISO_23008_2"
    assert bytes(ds.ICCProfile)[12:16] == b"scnr"


def test_heic_exif_feeds_vl_photographic_and_gps_only_when_asked(tmp_path: Path) -> None:
    data = heic(gradient(), exif=_camera_exif(1, gps=True))
    ds = _convert(tmp_path, data, "a.heic", iod="vl-photo")
    assert (ds.Manufacturer, ds.ManufacturerModelName) == ("Apple", "iPhone 15 Pro")
    assert "GPSLatitude" not in ds
    kept = _convert(tmp_path, data, "b.heic", iod="vl-photo", keep_gps=True)
    assert [float(v) for v in kept.GPSLatitude] == [52, 22, 0]


@pytest.mark.parametrize("depth", [10, 12])
def test_deep_heic_keeps_its_depth(depth: int, tmp_path: Path) -> None:
    deep = gradient().astype(np.uint16) << (depth - 8)
    ds = _convert(tmp_path, heic(deep, depth=depth), "deep.heic")
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, depth, depth - 1)
    assert int(ds.pixel_array.max()) < 1 << depth
    _close(ds.pixel_array, deep, 12 * 2 ** (depth - 8))


def test_rotated_avif_is_upright_and_lossy_without_a_method_term(tmp_path: Path) -> None:
    ds = _convert(tmp_path, avif(gradient(), exif=_camera_exif(6)), "photo.avif")
    _close(ds.pixel_array, np.rot90(gradient(), -1), 12)
    assert ds.LossyImageCompression == "01"
    assert "LossyImageCompressionMethod" not in ds  # AV1 has no defined term (C.7.6.1.1.5)


@pytest.mark.parametrize("depth", [10, 12])
def test_deep_avif_keeps_its_depth(depth: int, tmp_path: Path) -> None:
    deep = gradient().astype(np.uint16) << (depth - 8)
    ds = _convert(tmp_path, avif(deep, depth=depth), "deep.avif")
    assert (ds.BitsAllocated, ds.BitsStored) == (16, depth)
    _close(ds.pixel_array, deep, 2 ** (depth - 8) * 12)


@pytest.mark.parametrize(
    ("pixels", "depth"),
    [
        (gradient(), 8),
        (gradient().astype(np.uint16) * 4, 10),
        (gradient(channels=1).astype(np.uint16) * 200, 16),
    ],
)
def test_lossless_jpeg_xl_decodes_bit_exact(
    pixels: npt.NDArray[Any], depth: int, tmp_path: Path
) -> None:
    ds = _convert(tmp_path, jxl(pixels, lossless=True, depth=depth), "ll.jxl")
    np.testing.assert_array_equal(ds.pixel_array, pixels)
    assert ds.BitsStored == depth
    assert ds.LossyImageCompression == "00"


def test_lossy_jpeg_xl_is_recorded_as_iso_18181(tmp_path: Path) -> None:
    ds = _convert(tmp_path, jxl(gradient(), lossless=False), "lossy.jxl")
    _close(ds.pixel_array, gradient(), 12)
    assert (ds.LossyImageCompression, ds.LossyImageCompressionMethod) == ("01", "ISO_18181_1")


@pytest.mark.parametrize("name", sorted(LONG_TAIL))
def test_long_tail_format_converts_cleanly(name: str, tmp_path: Path) -> None:
    make, expected = LONG_TAIL[name]
    ds = _convert(tmp_path, make(), f"picture.{name.lower()}")
    assert name.split("-", maxsplit=1)[0] in ds.DerivationDescription or name == "SUN"
    if expected is not None:
        np.testing.assert_array_equal(ds.pixel_array, expected)


def test_an_icon_gives_its_largest_image(tmp_path: Path) -> None:
    ds = _convert(tmp_path, LONG_TAIL["ICO"][0](), "icon.ico")
    assert max(ds.Rows, ds.Columns) == 48


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (fits(np.ones((4, 4)), -32), "floating-point FITS data (BITPIX -32)"),
        (encode(Image.new("I", (8, 8), 1 << 20), "TIFF"), "32-bit integer pixels outside"),
    ],
)
def test_pixel_modes_without_a_mapping_are_refused_naming_the_mode(
    data: bytes, message: str, tmp_path: Path
) -> None:
    source = tmp_path / "picture.bin"
    source.write_bytes(data)
    with pytest.raises(dicomize.UnsupportedInput, match=re.escape(message)):
        dicomize.convert(source)


def test_heic_without_the_extra_names_the_extra_to_install(tmp_path: Path) -> None:
    source = tmp_path / "photo.heic"
    source.write_bytes(heic(gradient()))
    code = (
        "import sys; sys.modules['pillow_heif'] = None\n"
        "import dicomize\n"
        f"dicomize.convert({str(source)!r})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert "pip install 'dicomize[heif]'" in result.stderr
    assert "UnsupportedInput" in result.stderr  # the documented error, not an ImportError


def test_big_endian_sixteen_bit_pixels_keep_their_values(tmp_path: Path) -> None:
    import io

    import tifffile

    pixels = (np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 13).astype(">u2")
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, byteorder=">")
    assert Image.open(io.BytesIO(buffer.getvalue())).mode == "I;16B"
    ds = _convert(tmp_path, buffer.getvalue(), "big-endian.tif")
    np.testing.assert_array_equal(ds.pixel_array, pixels.astype(np.uint16))

"""Pictures a viewer shows that DICOM has no direct place for: floats, CIELAB, 16-bit CMYK, layers.

Every file is made here (float TIFFs by tifffile, PFM, CIELAB and 16-bit CMYK TIFFs, a CMYK
ICC profile and a two-layer PSD written by hand from their specifications). Each output
passes dciodvfy; where the conversion is not exact, the values are checked against the
promise (floats within half the recorded step) or an independent reference (CIELAB by
the CIE formulas, CMYK by the formula or by Pillow's own LittleCMS conversion).
"""

from __future__ import annotations

import io
import itertools
import re
import struct
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
import tifffile
from PIL import Image, ImageCms

import dicomize
from conftest import FULL_METADATA, LATERALITY_UNKNOWN, assert_conforms

GRAY_WORD = "MultiframeGrayscaleWordSCImage"
#: Values from -12.5 to 18.21, every one distinct: negatives and fractions both.
FLOATS = np.arange(48 * 64, dtype=np.float64).reshape(48, 64) / 100 - 12.5


def _convert(
    tmp_path: Path, data: bytes, name: str, iod: str = "SCImage", **options: Any
) -> pydicom.Dataset:
    source = tmp_path / name
    source.write_bytes(data)
    output = tmp_path / f"{name}.dcm"
    opts = dicomize.ConvertOptions(**options)
    dicomize.write(dicomize.convert(source, FULL_METADATA, options=opts), output)
    assert_conforms(output, iod=iod, allowed_warnings=(LATERALITY_UNKNOWN,))
    return pydicom.dcmread(output)


def _tiff(array: npt.NDArray[Any], **options: Any) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **options)
    return buffer.getvalue()


def _pfm(array: npt.NDArray[Any], *, little_endian: bool) -> bytes:
    """A Portable Float Map: 'PF' RGB or 'Pf' gray; the scale's sign is the byte order."""
    height, width = array.shape[:2]
    magic = b"PF" if array.ndim == 3 else b"Pf"
    scale = b"-1.0" if little_endian else b"1.0"
    rows = array[::-1].astype("<f4" if little_endian else ">f4")  # bottom row first
    return magic + b"\n%d %d\n" % (width, height) + scale + b"\n" + rows.tobytes()


def _rescaled(ds: pydicom.Dataset) -> npt.NDArray[np.float64]:
    slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    return np.asarray(ds.pixel_array, np.float64) * slope + intercept


def _assert_within_half_a_step(
    decoded: npt.NDArray[np.float64], source: npt.NDArray[Any], step: float
) -> None:
    error = np.abs(decoded - source.astype(np.float64))
    # Half a step, and the last bits of double arithmetic.
    assert error.max() <= step / 2 * (1 + 1e-9), (error.max(), step)


# Floating-point pictures


@pytest.mark.parametrize(
    "dtype",
    [
        "<f4",  # Pillow opens it (mode F)
        ">f4",  # Pillow opens it too, big-endian
        "<f2",  # Pillow cannot: tifffile reads it
        "<f8",  # Pillow cannot: tifffile reads it
    ],
)
def test_float_tiff_with_negative_values_keeps_them_within_half_the_recorded_step(
    dtype: str, tmp_path: Path
) -> None:
    source = FLOATS.astype(dtype)
    ds = _convert(tmp_path, _tiff(source), "float.tif")
    assert (ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation) == (16, 16, 0)
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert ds.RescaleType == "US"
    # The whole range is used: the lowest value is stored as 0, the highest near 65535.
    assert int(ds.pixel_array.min()) == 0
    assert int(ds.pixel_array.max()) >= 65534
    assert float(ds.RescaleIntercept) <= float(source.min())
    _assert_within_half_a_step(_rescaled(ds), source, float(ds.RescaleSlope))
    # Derivation Description says how, and records the step as written in Rescale Slope.
    assert "floating-point pixels" in ds.DerivationDescription
    assert f"quantisation step {ds.RescaleSlope}" in ds.DerivationDescription
    assert ds.LossyImageCompression == "00"


@pytest.mark.parametrize("little_endian", [True, False])
def test_gray_pfm_with_negative_values_keeps_them_within_half_the_recorded_step(
    little_endian: bool, tmp_path: Path
) -> None:
    source = FLOATS.astype(np.float32)
    ds = _convert(tmp_path, _pfm(source, little_endian=little_endian), "gray.pfm")
    assert (ds.Rows, ds.Columns) == source.shape
    assert ds.DerivationDescription.startswith("converted from PFM")
    # Rows run bottom to top in the file: the first stored row is the picture's top.
    _assert_within_half_a_step(_rescaled(ds), source, float(ds.RescaleSlope))


def test_spider_float_picture_keeps_its_negative_values(tmp_path: Path) -> None:
    source = FLOATS.astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(source).save(buffer, "SPIDER")  # a format with no magic: Pillow finds it
    ds = _convert(tmp_path, buffer.getvalue(), "picture.spi")
    assert "SPIDER" in ds.DerivationDescription
    _assert_within_half_a_step(_rescaled(ds), source, float(ds.RescaleSlope))


def test_constant_float_picture_is_stored_as_zeros_with_its_value_as_intercept(
    tmp_path: Path,
) -> None:
    value = np.float32(-0.1)  # not a short decimal: the intercept is its nearest 10 digits
    ds = _convert(tmp_path, _tiff(np.full((8, 8), value)), "flat.tif")
    assert float(ds.RescaleSlope) == 1
    assert not ds.pixel_array.any()
    assert float(ds.RescaleIntercept) == pytest.approx(float(value), rel=1e-9)
    assert "constant floating-point picture" in ds.DerivationDescription


def test_float_pages_share_one_rescale_in_one_multiframe_object(tmp_path: Path) -> None:
    pages = np.stack([FLOATS, FLOATS * 4 - 100]).astype(np.float32)
    ds = _convert(tmp_path, _tiff(pages), "pages.tif", iod=GRAY_WORD)
    assert ds.NumberOfFrames == 2
    decoded = _rescaled(ds)
    _assert_within_half_a_step(decoded, pages, float(ds.RescaleSlope))
    # One scale for both: the lowest of all pages (on page 2) is stored as 0 and the
    # highest (on page 1) near 65535.
    assert int(ds.pixel_array[1].min()) == 0
    assert int(ds.pixel_array[0].max()) >= 65534


def test_colour_float_tiff_maps_to_16_bit_rgb_with_the_mapping_written_down(
    tmp_path: Path,
) -> None:
    # Mostly 0 to 1, as float colour is shown, with a highlight above 1 and a value below 0.
    source = np.stack([FLOATS / 20, FLOATS / 25 + 0.5, FLOATS / 40 + 0.3], axis=-1)
    source = source.astype(np.float32)
    ds = _convert(tmp_path, _tiff(source, photometric="rgb"), "colour.tif")
    assert (ds.PhotometricInterpretation, ds.BitsAllocated) == ("RGB", 16)
    # No Modality LUT for colour: the mapping is in Derivation Description instead.
    assert "RescaleSlope" not in ds
    found = re.search(r"value = stored \* (\S+) ([-+]) ([^,]+),", ds.DerivationDescription)
    assert found is not None, ds.DerivationDescription
    step = float(found[1])
    offset = float(found[3]) * (-1 if found[2] == "-" else 1)
    assert offset == pytest.approx(float(source.min()))
    decoded = np.asarray(ds.pixel_array, np.float64) * step + offset
    _assert_within_half_a_step(decoded, source, step)


def test_colour_pfm_within_0_and_1_keeps_black_at_0_and_white_at_65535(tmp_path: Path) -> None:
    source = np.stack([FLOATS * 0 + 1, (FLOATS + 12.5) / 30.71, FLOATS * 0], axis=-1)
    ds = _convert(tmp_path, _pfm(source, little_endian=False), "colour.pfm")
    assert (ds.PhotometricInterpretation, ds.BitsAllocated) == ("RGB", 16)
    pixels = ds.pixel_array
    assert int(pixels[..., 0].min()) == 65535  # 1.0 is white
    assert int(pixels[..., 2].max()) == 0  # 0.0 is black
    assert "value = stored * 1.52590219e-05 + 0," in ds.DerivationDescription


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda bad: _tiff(np.where(FLOATS > 0, bad, FLOATS).astype(np.float32)), "f32.tif"),
        (lambda bad: _tiff(np.where(FLOATS > 0, bad, FLOATS).astype(np.float16)), "f16.tif"),
        (lambda bad: _pfm(np.where(FLOATS > 0, bad, FLOATS), little_endian=True), "x.pfm"),
    ],
)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_pixels_are_refused_on_one_line_naming_the_reason(
    make: Any, name: str, bad: float, tmp_path: Path
) -> None:
    source = tmp_path / name
    source.write_bytes(make(bad))
    with pytest.raises(dicomize.UnsupportedInput) as caught:
        dicomize.convert(source)
    message = str(caught.value)
    assert message.startswith(f"{source}: ")
    assert "NaN or infinity" in message
    assert "\n" not in message


def test_cli_refuses_a_nan_pfm_with_exit_1_one_line_and_nothing_written(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = tmp_path / "nan.pfm"
    source.write_bytes(_pfm(np.full((4, 4), np.nan), little_endian=True))
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
    assert "NaN or infinity" in lines[0]
    assert list(out.iterdir()) == []  # no output, no temporary file


def test_an_iod_without_a_modality_lut_refuses_float_pixels_and_names_sc(tmp_path: Path) -> None:
    # Ophthalmic Photography 16 Bit holds 16-bit gray but has no Modality LUT: stored
    # integers without their rescale would be read as the values.
    fundus = {"CodeValue": "409898007", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Fundus"}
    eye = {
        "ImageLaterality": "L",
        "AcquisitionDateTime": "20261204101500",
        "AcquisitionDeviceTypeCodeSequence": [fundus],
    }
    source = tmp_path / "float.tif"
    source.write_bytes(_tiff(FLOATS.astype(np.float32)))
    with pytest.raises(dicomize.UnsupportedInput, match=r"no Modality LUT.*Secondary Capture"):
        dicomize.convert(source, eye, options=dicomize.ConvertOptions(iod="ophthalmic"))


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (_tiff(FLOATS.astype(np.float16))[:-1000], "cut.tif"),
        (_pfm(FLOATS, little_endian=True)[:-10], "cut.pfm"),
        (b"Pf\n64 48\n0\n" + bytes(64 * 48 * 4), "zero-scale.pfm"),
    ],
)
def test_damaged_float_files_are_still_refused_as_corrupt(
    data: bytes, name: str, tmp_path: Path
) -> None:
    source = tmp_path / name
    source.write_bytes(data)
    with pytest.raises(dicomize.CorruptImage):
        dicomize.convert(source)


# CIELAB


def _cie_lab_to_srgb(lab: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """CIE L*a*b* (D50) to 8-bit sRGB by the CIE formulas and a Bradford adaptation to D65."""
    white = np.array([0.9642, 1.0, 0.8249])
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    delta = 6 / 29
    xyz = white * np.where(f > delta, f**3, 3 * delta**2 * (f - 4 / 29))
    bradford = np.array(
        [
            [0.9555766, -0.0230393, 0.0631636],
            [-0.0282895, 1.0099416, 0.0210077],
            [0.0122982, -0.0204830, 1.3299098],
        ]
    )
    to_rgb = np.array(
        [
            [3.2404542, -1.5371385, -0.4985314],
            [-0.9692660, 1.8760108, 0.0415560],
            [0.0556434, -0.2040259, 1.0572252],
        ]
    )
    linear = np.clip(xyz @ bradford.T @ to_rgb.T, 0, 1)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.asarray(255 * encoded, np.float64)


def test_cielab_tiff_becomes_srgb_as_littlecms_and_the_cie_formulas_convert_it(
    tmp_path: Path,
) -> None:
    # TIFF CIELAB: L* 0-100 as 0-255, a* and b* as signed bytes (TIFF 6.0 section 23).
    lightness = np.linspace(20, 90, 8)
    chroma = np.linspace(-40, 40, 8)
    lab = np.array([[(el, a, b) for a in chroma for b in chroma] for el in lightness])
    stored = np.empty(lab.shape, np.uint8)
    stored[..., 0] = np.round(lab[..., 0] * 255 / 100)
    stored[..., 1:] = np.round(lab[..., 1:]).astype(np.int8).view(np.uint8)
    data = _tiff(stored, photometric="cielab")
    ds = _convert(tmp_path, data, "lab.tif")
    assert (ds.PhotometricInterpretation, ds.BitsAllocated) == ("RGB", 8)
    assert "CIELAB converted to sRGB through LittleCMS" in ds.DerivationDescription
    assert ds.LossyImageCompression == "00"  # a colour conversion, not a compression
    assert ds.ColorSpace == "SRGB"
    # Pillow's own LittleCMS conversion of the same file, pixel by pixel: the same values.
    with Image.open(io.BytesIO(data)) as image:
        transform = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"),
            ImageCms.createProfile("sRGB"),
            "LAB",
            "RGB",
            flags=ImageCms.Flags.NOOPTIMIZE,
        )
        np.testing.assert_array_equal(ds.pixel_array, np.asarray(transform.apply(image)))
    # And independently, the CIE formulas from the values the file stands for.
    exact = np.concatenate(
        [stored[..., :1] * (100 / 255), stored[..., 1:].view(np.int8).astype(np.float64)], axis=-1
    )
    reference = _cie_lab_to_srgb(exact)
    # Within rounding, out-of-gamut colours (strong chroma at L* 20) included.
    assert np.abs(ds.pixel_array - reference).max() <= 1


# 16-bit CMYK


def _cmyk_profile() -> bytes:
    """A CMYK output profile (ICC v2): a 2-point lut16 A2B0 to Lab, far from the naive formula."""
    grid = []
    for c, m, y, k in itertools.product((0, 1), repeat=4):  # the first ink varies slowest
        lightness = 100 * (1 - k) * (1 - 0.25 * c - 0.35 * m - 0.1 * y)
        a, b = 70 * m - 40 * c - 10 * y, 80 * y - 50 * c - 30 * m
        # lut16 Lab encoding: L* 100 is 0xFF00, a* and b* 0 are 0x8000.
        grid += [round(lightness / 100 * 0xFF00), round((a + 128) * 256), round((b + 128) * 256)]
    identity = (65536, 0, 0, 0, 65536, 0, 0, 0, 65536)
    lut = (
        b"mft2"
        + bytes(4)
        + bytes([4, 3, 2, 0])  # 4 inputs, 3 outputs, 2 grid points
        + struct.pack(">9i", *identity)
        + struct.pack(">HH", 2, 2)  # input and output table entries
        + struct.pack(">8H", *([0, 65535] * 4))
        + struct.pack(f">{len(grid)}H", *grid)
        + struct.pack(">6H", *([0, 65535] * 3))
    )
    name = b"test CMYK\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(name)) + name + bytes(4 + 4 + 2 + 1 + 67)
    d50 = struct.pack(">3i", *(round(v * 65536) for v in (0.9642, 1.0, 0.8249)))
    tags = [(b"desc", desc), (b"wtpt", b"XYZ " + bytes(4) + d50), (b"A2B0", lut)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        padded = data + bytes(-len(data) % 4)
        table += struct.pack(">4sII", signature, offset + len(body), len(padded))
        body += padded
    header = (
        struct.pack(">I4sI", offset + len(body), b"lcms", 0x02100000)
        + b"prtrCMYKLab "  # output device, CMYK data, Lab connection space
        + bytes(12)
        + b"acsp"
        + bytes(28)
        + d50
        + bytes(48)
    )
    return header + struct.pack(">I", len(tags)) + table + body


#: 16-bit inks whose low bytes are not copies of their high bytes, as 8 bits widened would be.
CMYK16 = np.random.default_rng(26).integers(0, 65536, (48, 64, 4), dtype=np.uint16)


def test_16_bit_cmyk_tiff_becomes_16_bit_rgb_by_pillows_formula_without_a_profile(
    tmp_path: Path,
) -> None:
    ds = _convert(tmp_path, _tiff(CMYK16, photometric="separated"), "cmyk16.tif")
    assert (ds.PhotometricInterpretation, ds.BitsAllocated, ds.BitsStored) == ("RGB", 16, 16)
    assert "16-bit CMYK converted to 16-bit RGB (no usable ICC profile)" in (
        ds.DerivationDescription
    )
    # R = (1 - C)(1 - K), and so on, at 16 bits, rounded to nearest.
    white = 65535 - CMYK16.astype(np.int64)
    expected = (white[..., :3] * white[..., 3:] + 32767) // 65535
    np.testing.assert_array_equal(ds.pixel_array, expected)


def test_16_bit_cmyk_tiff_with_a_profile_converts_through_it_as_the_8_bit_path_does(
    tmp_path: Path,
) -> None:
    profile = _cmyk_profile()
    # 16-bit inks that 8 bits hold too (x 257), so Pillow's 8-bit conversion can judge them.
    inks = (CMYK16 >> 8).astype(np.uint8)
    data = _tiff(inks.astype(np.uint16) * 257, photometric="separated", iccprofile=profile)
    ds = _convert(tmp_path, data, "cmyk16-icc.tif")
    assert "through the embedded ICC profile" in ds.DerivationDescription
    assert ds.ColorSpace == "SRGB"  # converted into sRGB, and labelled so
    # What Pillow's LittleCMS makes of the same inks at 8 bits, with the same profile.
    eight = Image.frombytes("CMYK", (64, 48), inks.tobytes())
    reference = ImageCms.profileToProfile(
        eight,
        ImageCms.ImageCmsProfile(io.BytesIO(profile)),
        ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")),
        outputMode="RGB",
    )
    assert reference is not None
    expected = np.asarray(reference, np.float64)
    assert np.abs(ds.pixel_array / 257 - expected).max() <= 1
    # The profile was used: the naive formula gives colours far from these.
    white = 1 - inks / 255
    naive = 255 * white[..., :3] * white[..., 3:]
    assert np.abs(ds.pixel_array / 257 - naive).mean() > 20


# Layered PSD


def _layered_psd(composite: npt.NDArray[np.uint8], layers: list[tuple[int, int, Any]]) -> bytes:
    """An 8-bit RGB Photoshop file with layers (top, left, RGB) and the merged composite.

    Adobe Photoshop File Formats Specification: header, colour mode data, image
    resources, layer and mask information (layer records, then each layer's channels:
    transparency -1 and R, G, B, raw), then the composite's planes, raw.
    """
    height, width, _ = composite.shape
    header = b"8BPS" + struct.pack(">H6sHIIHH", 1, bytes(6), 3, height, width, 8, 3)
    records, channels = b"", b""
    for index, (top, left, rgb) in enumerate(layers):
        rows, columns, _ = rgb.shape
        planes = [np.full((rows, columns), 255, np.uint8), *np.moveaxis(rgb, -1, 0)]
        records += struct.pack(">iiiiH", top, left, top + rows, left + columns, len(planes))
        for channel, plane in zip((-1, 0, 1, 2), planes, strict=True):
            records += struct.pack(">hI", channel, 2 + plane.size)
            channels += struct.pack(">H", 0) + plane.tobytes()  # compression 0: raw
        name = f"Layer {index + 1}".encode()
        pascal = bytes([len(name)]) + name
        pascal += bytes(-len(pascal) % 4)  # padded to a multiple of 4
        extra = struct.pack(">II", 0, 0) + pascal  # no mask, no blending ranges, the name
        records += b"8BIMnorm" + bytes([255, 0, 0, 0]) + struct.pack(">I", len(extra)) + extra
    info = struct.pack(">h", len(layers)) + records + channels
    info += bytes(len(info) % 2)  # the layer info's length is even
    layer_and_mask = struct.pack(">I", len(info)) + info + struct.pack(">I", 0)
    sections = struct.pack(">III", 0, 0, len(layer_and_mask)) + layer_and_mask
    return header + sections + struct.pack(">H", 0) + np.moveaxis(composite, -1, 0).tobytes()


def test_layered_psd_gives_the_composite_viewers_show_not_a_layer(tmp_path: Path) -> None:
    composite = (np.arange(48 * 64 * 3).reshape(48, 64, 3) % 251).astype(np.uint8)
    layers = [
        (0, 0, np.full((48, 64, 3), 10, np.uint8)),
        (5, 7, np.full((20, 30, 3), 200, np.uint8)),
    ]
    data = _layered_psd(composite, layers)
    with Image.open(io.BytesIO(data)) as image:
        assert len(getattr(image, "layers", [])) == 2  # Pillow sees both layers
    ds = _convert(tmp_path, data, "layers.psd")
    assert "NumberOfFrames" not in ds
    np.testing.assert_array_equal(ds.pixel_array, composite)

"""The documented pixel policies: orientation, alpha, palette, CMYK, 1-bit, ICC, lossy history."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageCms, ImageOps

import dicomize
from conftest import FULL_METADATA, LATERALITY_UNKNOWN, assert_conforms, encode, gradient
from dicomize.dicom.icc import srgb_profile
from dicomize.readers._orientation import apply_orientation

ORIENTATION = 0x0112


def _roundtrip(
    source: Path | bytes | np.ndarray, tmp_path: Path, **options: object
) -> pydicom.Dataset:
    output = tmp_path / "out.dcm"
    opts = dicomize.ConvertOptions(**options)  # type: ignore[arg-type]
    dicomize.write(dicomize.convert(source, FULL_METADATA, options=opts), output, overwrite=True)
    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN,))
    return pydicom.dcmread(output)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_to_the_pixels_like_pillow_does(
    orientation: int, tmp_path: Path
) -> None:
    pixels = gradient(40, 56)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    data = encode(Image.fromarray(pixels), "PNG", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))

    ds = _roundtrip(data, tmp_path)

    np.testing.assert_array_equal(ds.pixel_array, expected)
    if orientation in {5, 6, 7, 8}:
        assert (ds.Rows, ds.Columns) == (56, 40)
    if orientation > 1:
        assert f"EXIF Orientation {orientation} applied" in ds.DerivationDescription
    else:
        assert "Orientation" not in ds.get("DerivationDescription", "")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_numpy_orientation_matches_pillow_for_the_16_bit_path(orientation: int) -> None:
    # The oracle is Pillow's own EXIF handling, not a copy of dicomize's table.
    pixels = gradient(5, 7)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    image = Image.open(io.BytesIO(encode(Image.fromarray(pixels), "PNG", exif=exif.tobytes())))
    expected = np.asarray(ImageOps.exif_transpose(image))
    np.testing.assert_array_equal(apply_orientation(pixels, orientation), expected)


def test_rgba_alpha_is_composited_onto_white_and_recorded(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200  # red-ish colour
    rgba[0, 0, 3] = 255  # opaque
    rgba[0, 1, 3] = 0  # transparent → background
    rgba[0, 2, 3] = 128  # half
    ds = _roundtrip(encode(Image.fromarray(rgba, "RGBA"), "PNG"), tmp_path)

    out = ds.pixel_array
    assert tuple(out[0, 0]) == (200, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)
    assert tuple(out[0, 2]) == (round((200 * 128 + 255 * 127) / 255), 127, 127)
    assert "alpha channel composited onto background #FFFFFF" in ds.DerivationDescription
    assert ds.SamplesPerPixel == 3


def test_background_option_changes_the_composited_colour(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)  # fully transparent
    ds = _roundtrip(rgba, tmp_path, background=(0, 128, 255))
    assert {tuple(p) for p in ds.pixel_array.reshape(-1, 3)} == {(0, 128, 255)}
    assert "#0080FF" in ds.DerivationDescription


def test_gray_with_alpha_stays_gray_on_a_neutral_background(tmp_path: Path) -> None:
    la = np.stack([gradient(channels=1), np.full((48, 64), 255, np.uint8)], axis=-1)
    ds = _roundtrip(encode(Image.fromarray(la, "LA"), "PNG"), tmp_path)
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    np.testing.assert_array_equal(ds.pixel_array, gradient(channels=1))


def test_transparent_palette_png_is_expanded_and_composited(tmp_path: Path) -> None:
    image = Image.fromarray(gradient()).quantize(16)
    image.info["transparency"] = 0
    data = encode(image, "PNG", transparency=0)
    expected_rgba = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")).astype(int)
    alpha = expected_rgba[..., 3:] / 255
    expected = np.round(expected_rgba[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)

    ds = _roundtrip(data, tmp_path)

    np.testing.assert_array_equal(ds.pixel_array, expected)
    assert "palette colours expanded to RGB" in ds.DerivationDescription
    assert "alpha channel composited" in ds.DerivationDescription


def test_cmyk_jpeg_is_converted_to_rgb_not_passed_as_a_retired_photometric(tmp_path: Path) -> None:
    cmyk = Image.fromarray(gradient()).convert("CMYK")
    ds = _roundtrip(encode(cmyk, "JPEG", quality=95), tmp_path)
    assert ds.PhotometricInterpretation == "RGB"
    assert ds.SamplesPerPixel == 3
    assert "CMYK converted to RGB" in ds.DerivationDescription
    # A CMYK round trip through JPEG stays close to the original colours.
    assert np.abs(ds.pixel_array.astype(int) - gradient().astype(int)).mean() < 8


def test_one_bit_picture_becomes_8_bit_black_and_white(tmp_path: Path) -> None:
    bits = gradient(channels=1) > 128
    data = encode(Image.fromarray(bits).convert("1"), "PNG")
    ds = _roundtrip(data, tmp_path)
    assert (ds.BitsAllocated, ds.BitsStored, ds.PhotometricInterpretation) == (8, 8, "MONOCHROME2")
    np.testing.assert_array_equal(ds.pixel_array, np.where(bits, 255, 0))


def test_embedded_display_profile_is_kept_as_an_input_class_profile(tmp_path: Path) -> None:
    display = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert display[12:16] == b"mntr"
    data = encode(Image.fromarray(gradient()), "PNG", icc_profile=display)

    ds = _roundtrip(data, tmp_path)

    profile = bytes(ds.ICCProfile)
    assert profile[12:16] == b"scnr"  # C.11.15.1.1
    assert profile[16:20] == b"RGB "
    # Only the class field and the profile ID (a hash over the header) differ.
    differing = [i for i in range(len(display)) if profile[i] != display[i]]
    assert all(12 <= i < 16 or 84 <= i < 100 for i in differing)
    ImageCms.ImageCmsProfile(io.BytesIO(profile))  # still a profile LittleCMS can load


def test_untagged_colour_picture_is_labelled_srgb(tmp_path: Path) -> None:
    ds = _roundtrip(gradient(), tmp_path)
    assert bytes(ds.ICCProfile) == srgb_profile()
    assert ds.ColorSpace == "SRGB"


def test_grayscale_picture_carries_no_icc_profile(tmp_path: Path) -> None:
    ds = _roundtrip(gradient(channels=1), tmp_path)
    assert "ICCProfile" not in ds


def test_lossy_jpeg_source_records_method_and_ratio(tmp_path: Path) -> None:
    data = encode(Image.fromarray(gradient(96, 128)), "JPEG", quality=75)
    ds = _roundtrip(data, tmp_path)
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"
    assert float(ds.LossyImageCompressionRatio) == pytest.approx(96 * 128 * 3 / len(data), rel=0.01)


def test_lossless_source_is_marked_not_lossy(tmp_path: Path) -> None:
    ds = _roundtrip(encode(Image.fromarray(gradient()), "PNG"), tmp_path)
    assert ds.LossyImageCompression == "00"
    assert "LossyImageCompressionMethod" not in ds


def test_large_array_pixels_are_not_copied_before_writing() -> None:
    array = np.zeros((512, 512), np.uint16)
    ds = dicomize.convert(array)
    pixel_data = ds["PixelData"].value
    assert isinstance(pixel_data, memoryview)
    assert np.shares_memory(np.frombuffer(pixel_data, np.uint16), array)


def test_jpeg_compressed_tiff_is_recorded_as_lossy(tmp_path: Path) -> None:
    data = encode(Image.fromarray(gradient(96, 128)), "TIFF", compression="jpeg")
    ds = _roundtrip(data, tmp_path)
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"


def test_declared_lossy_history_is_kept_and_extended(tmp_path: Path) -> None:
    history = {
        "LossyImageCompression": "01",
        "LossyImageCompressionMethod": "ISO_10918_1",
        "LossyImageCompressionRatio": "8",
    }
    output = tmp_path / "history.dcm"
    jpeg = encode(Image.fromarray(gradient(96, 128)), "JPEG", quality=75)
    dicomize.write(dicomize.convert(jpeg, {**FULL_METADATA, **history}), output)
    ds = pydicom.dcmread(output)
    assert ds.LossyImageCompression == "01"
    assert list(ds.LossyImageCompressionMethod) == ["ISO_10918_1", "ISO_10918_1"]
    assert float(ds.LossyImageCompressionRatio[0]) == 8
    # A lossless source cannot reset a declared lossy history (C.7.6.1.1.5).
    png = encode(Image.fromarray(gradient()), "PNG")
    converted = dicomize.convert(png, {**FULL_METADATA, **history})
    assert converted.LossyImageCompression == "01"


def test_derivation_description_always_names_the_source_and_converter(tmp_path: Path) -> None:
    ds = _roundtrip(encode(Image.fromarray(gradient()), "BMP"), tmp_path)
    assert ds.DerivationDescription == f"converted from BMP by dicomize {dicomize.__version__}"

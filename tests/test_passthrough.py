"""JPEG passthrough: legal codestreams are wrapped unchanged, the rest handled explicitly.

Proofs used here: the bytes from the first SOS to EOI are compared with the
source's; pixels decoded from the DICOM file are compared with the source
decoded by the same library (Pillow through pydicom's Pillow plugin, and
dcmtk's dcmdjpeg on our file against dcmdjpeg on img2dcm's wrapping of the
source); dciodvfy judges every file.
"""

from __future__ import annotations

import io
import subprocess
import types
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from PIL import Image, ImageCms, ImageOps
from pydicom.encaps import generate_frames

import dicomize
from conftest import (
    FULL_METADATA,
    LATERALITY_UNKNOWN,
    _tool,
    assert_conforms,
    dcmtk_tool,
    encode,
    gradient,
)

ORIENTATION = 0x0112


def _convert(data: bytes, tmp_path: Path, name: str = "out", **options: Any) -> Path:
    source = tmp_path / f"{name}.jpg"
    source.write_bytes(data)
    output = tmp_path / f"{name}.dcm"
    opts = dicomize.ConvertOptions(**options)
    dicomize.write(dicomize.convert(source, FULL_METADATA, options=opts), output)
    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN,))
    return output


def _frame(path: Path) -> bytes:
    ds = pydicom.dcmread(path)
    return next(generate_frames(ds.PixelData, number_of_frames=1))


def _scan(codestream: bytes) -> bytes:
    """Everything from the first SOS marker to EOI: the entropy-coded data and its tables."""
    start = codestream.index(b"\xff\xda")
    end = codestream.rindex(b"\xff\xd9") + 2
    return codestream[start:end]


def _dcmtk_decoded(path: Path) -> npt.NDArray[Any]:
    raw = path.with_name(f"{path.stem}-raw{path.suffix}")
    result = subprocess.run(
        [dcmtk_tool("dcmdjpeg"), str(path), str(raw)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return pydicom.dcmread(raw).pixel_array


def _dcmtk_decoded_source(data: bytes, tmp_path: Path) -> npt.NDArray[Any]:
    source = tmp_path / "reference.jpg"
    source.write_bytes(data)
    wrapped = tmp_path / "reference-img2dcm.dicom"
    result = subprocess.run(
        [dcmtk_tool("img2dcm"), str(source), str(wrapped)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return _dcmtk_decoded(wrapped)


BASELINE: dict[str, tuple[bytes, str]] = {
    "ycbcr_420": (encode(Image.fromarray(gradient()), "JPEG", quality=90), "YBR_FULL_422"),
    "ycbcr_444": (
        encode(Image.fromarray(gradient()), "JPEG", quality=90, subsampling=0),
        "YBR_FULL_422",
    ),
    "ycbcr_422": (
        encode(Image.fromarray(gradient()), "JPEG", quality=90, subsampling=1),
        "YBR_FULL_422",
    ),
    "grayscale": (encode(Image.fromarray(gradient(channels=1)), "JPEG", quality=90), "MONOCHROME2"),
    "adobe_rgb": (encode(Image.fromarray(gradient()), "JPEG", quality=90, keep_rgb=True), "RGB"),
}


@pytest.mark.parametrize("name", sorted(BASELINE))
def test_baseline_jpeg_passes_through_with_identical_scan_and_pixels(
    name: str, tmp_path: Path
) -> None:
    data, photometric = BASELINE[name]
    output = _convert(data, tmp_path)
    ds = pydicom.dcmread(output)

    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit
    assert ds.PhotometricInterpretation == photometric
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (8, 8, 7)
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"
    assert _scan(_frame(output)) == _scan(data)
    assert "JPEG codestream stored unchanged" in ds.DerivationDescription

    # pydicom with its Pillow plugin against Pillow on the source; YCbCr compared
    # before colour conversion, which pydicom does with its own arithmetic.
    ds.pixel_array_options(decoding_plugin="pillow", as_rgb=False)
    source = Image.open(io.BytesIO(data))
    if photometric == "YBR_FULL_422":
        source.draft("YCbCr", source.size)
    np.testing.assert_array_equal(ds.pixel_array, np.asarray(source))
    # dcmtk against dcmtk: img2dcm wraps the source unchanged. It labels an Adobe RGB
    # JPEG YBR_FULL_422 (it guesses), so that case is compared with Pillow's decode.
    if photometric == "RGB":
        reference = np.asarray(Image.open(io.BytesIO(data)))
    else:
        reference = _dcmtk_decoded_source(data, tmp_path)
    np.testing.assert_array_equal(_dcmtk_decoded(output), reference)


def test_ratio_is_decoded_size_over_codestream_size(tmp_path: Path) -> None:
    data = encode(Image.fromarray(gradient(96, 128)), "JPEG", quality=75)
    output = _convert(data, tmp_path)
    ds = pydicom.dcmread(output)
    frame = _frame(output).rstrip(b"\x00")
    assert float(ds.LossyImageCompressionRatio) == pytest.approx(
        96 * 128 * 3 / len(frame), rel=0.01
    )


def _gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif[0x8825] = {
        0x0001: "N",
        0x0002: (52.0, 31.0, 12.0),
        0x001B: b"ASCII\x00\x00\x00SECRET-GPS-42",
    }
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">SECRET-XMP-7</x:xmpmeta>'
    return encode(
        Image.fromarray(gradient()),
        "JPEG",
        quality=90,
        exif=exif.tobytes(),
        xmp=xmp,
        comment=b"SECRET-COMMENT-9",
    )


def test_jpeg_gps_exif_xmp_and_comment_bytes_appear_nowhere_in_the_dicom_file(
    tmp_path: Path,
) -> None:
    data = _gps_jpeg()
    for secret in (b"SECRET-GPS-42", b"SECRET-XMP-7", b"SECRET-COMMENT-9", b"CameraMaker"):
        assert secret in data
    output = _convert(data, tmp_path)
    written = output.read_bytes()
    for secret in (b"SECRET-GPS-42", b"SECRET-XMP-7", b"SECRET-COMMENT-9", b"CameraMaker", b"Exif"):
        assert secret not in written, secret
    assert _scan(_frame(output)) == _scan(data)
    description = pydicom.dcmread(output).DerivationDescription
    assert "APP1" in description
    assert "COM" in description


def test_keep_jpeg_metadata_keeps_the_segments(tmp_path: Path) -> None:
    data = _gps_jpeg()
    output = _convert(data, tmp_path, keep_jpeg_metadata=True)
    assert _frame(output).rstrip(b"\x00") == data
    assert b"SECRET-GPS-42" in output.read_bytes()


def test_adobe_segment_needed_for_decoding_is_kept(tmp_path: Path) -> None:
    data, _ = BASELINE["adobe_rgb"]
    assert b"Adobe" in data
    assert b"Adobe" in _frame(_convert(data, tmp_path))


def test_app2_icc_profile_becomes_icc_profile_with_identical_bytes(tmp_path: Path) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(Image.fromarray(gradient()), "JPEG", quality=90, icc_profile=profile)
    output = _convert(data, tmp_path)
    ds = pydicom.dcmread(output)
    assert bytes(ds.ICCProfile) == profile
    assert b"ICC_PROFILE" not in _frame(output)


@pytest.mark.parametrize(
    ("name", "array", "predictor", "syntax", "photometric", "bits"),
    [
        (
            "gray12_sv1",
            (gradient(channels=1).astype(np.uint16) * 16) % 4096,
            1,
            pydicom.uid.JPEGLosslessSV1,
            "MONOCHROME2",
            (16, 12),
        ),
        (
            "gray16_p2",
            gradient(channels=1).astype(np.uint16) * 257,
            2,  # full 16-bit precision
            pydicom.uid.JPEGLossless,
            "MONOCHROME2",
            (16, 16),
        ),
        ("rgb8_sv1", gradient(), 1, pydicom.uid.JPEGLosslessSV1, "RGB", (8, 8)),
    ],
)
def test_lossless_jpeg_passes_through_and_decodes_bit_exact(
    name: str,
    array: npt.NDArray[Any],
    predictor: int,
    syntax: str,
    photometric: str,
    bits: tuple[int, int],
    tmp_path: Path,
) -> None:
    bits_per_sample = {"gray12_sv1": 12, "gray16_p2": 16}.get(name, 8)
    data = bytes(
        imagecodecs.jpeg8_encode(
            array, lossless=True, predictor=predictor, bitspersample=bits_per_sample
        )
    )
    output = _convert(data, tmp_path)
    ds = pydicom.dcmread(output)
    assert ds.file_meta.TransferSyntaxUID == syntax
    assert ds.PhotometricInterpretation == photometric
    assert (ds.BitsAllocated, ds.BitsStored) == bits
    assert ds.LossyImageCompression == "00"
    assert _scan(_frame(output)) == _scan(data)
    np.testing.assert_array_equal(ds.pixel_array, array)
    np.testing.assert_array_equal(_dcmtk_decoded(output), array)


def test_extended_12_bit_grayscale_passes_through_as_jpeg_extended(tmp_path: Path) -> None:
    array = (gradient(channels=1).astype(np.uint16) * 16) % 4096
    data = bytes(imagecodecs.jpeg8_encode(array, level=90, bitspersample=12))
    output = _convert(data, tmp_path)
    ds = pydicom.dcmread(output)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGExtended12Bit
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 12, 11)
    assert _scan(_frame(output)) == _scan(data)
    # pydicom decodes .51 with pylibjpeg-libjpeg: compare with that library on the source.
    from libjpeg import decode

    np.testing.assert_array_equal(ds.pixel_array, decode(data))
    # dcmtk against dcmtk: img2dcm wraps the 12-bit source unchanged.
    np.testing.assert_array_equal(_dcmtk_decoded(output), _dcmtk_decoded_source(data, tmp_path))


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        (
            "cmyk",
            lambda: encode(Image.fromarray(gradient()).convert("CMYK"), "JPEG"),
            "CMYK/YCCK JPEG has only a retired photometric interpretation",
        ),
        (
            "extended_colour_12bit",
            lambda: bytes(
                imagecodecs.jpeg8_encode(
                    gradient().astype(np.uint16) * 16, level=95, bitspersample=12
                )
            ),
            "colour extended (SOF1) JPEG has no DICOM transfer syntax row",
        ),
    ],
)
def test_jpeg_that_cannot_pass_through_is_decoded_and_stored_without_further_loss(
    name: str, make: Any, reason: str, tmp_path: Path
) -> None:
    data = make()
    output = _convert(data, tmp_path, name=name)
    ds = pydicom.dcmread(output)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.PhotometricInterpretation == "RGB"
    assert ds.LossyImageCompression == "01"  # the source was lossy; that never resets
    assert f"JPEG decoded because {reason}" in ds.DerivationDescription
    if name == "extended_colour_12bit":
        assert (ds.BitsAllocated, ds.BitsStored) == (16, 12)
        np.testing.assert_array_equal(ds.pixel_array, imagecodecs.jpeg8_decode(data))


def _exif_jpeg(orientation: int, height: int, width: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "PhoneMaker"
    return encode(Image.fromarray(gradient(height, width)), "JPEG", quality=95, exif=exif.tobytes())


def _upright(data: bytes) -> npt.NDArray[Any]:
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))


@pytest.mark.parametrize("orientation", range(2, 9))
def test_phone_photo_is_rotated_without_decoding_when_the_rotation_is_perfect(
    orientation: int, tmp_path: Path
) -> None:
    data = _exif_jpeg(orientation, 48, 64)  # both multiples of the 16x16 MCU
    output = _convert(data, tmp_path, keep_jpeg_metadata=True)
    ds = pydicom.dcmread(output)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit
    assert (ds.Rows, ds.Columns) == ((64, 48) if orientation >= 5 else (48, 64))
    assert f"EXIF Orientation {orientation} applied without decoding" in ds.DerivationDescription
    # The stream's own EXIF now says upright, so no viewer turns it twice.
    from dicomize.codestreams.jpeg import parse_jpeg

    stream = _frame(output)
    assert parse_jpeg(stream).orientation == 1
    assert b"PhoneMaker" in stream
    # Same DCT coefficients, moved: decoding differs from rotating the decoded source
    # only by the decoder's rounding order.
    ds.pixel_array_options(decoding_plugin="pillow")
    difference = np.abs(ds.pixel_array.astype(int) - _upright(data).astype(int))
    assert difference.max() <= 3
    assert difference.mean() < 0.5


def test_rotation_that_is_not_perfect_is_decoded_and_rotated(tmp_path: Path) -> None:
    data = _exif_jpeg(6, 40, 56)  # 40 and 56 are not multiples of the 16x16 MCU
    ds = pydicom.dcmread(_convert(data, tmp_path))
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert (ds.Rows, ds.Columns) == (56, 40)
    assert "EXIF Orientation 6 must be applied to the pixels" in ds.DerivationDescription
    np.testing.assert_array_equal(ds.pixel_array, _upright(data))


def test_progressive_jpeg_is_rewritten_as_baseline_with_identical_pixels(tmp_path: Path) -> None:
    data = encode(Image.fromarray(gradient()), "JPEG", quality=90, progressive=True)
    output = _convert(data, tmp_path)
    ds = pydicom.dcmread(output)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit
    assert "progressive JPEG rewritten as sequential Huffman JPEG" in ds.DerivationDescription
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"  # one lossy step, not two
    ds.pixel_array_options(decoding_plugin="pillow", as_rgb=False)
    source = Image.open(io.BytesIO(data))
    source.draft("YCbCr", source.size)
    np.testing.assert_array_equal(ds.pixel_array, np.asarray(source))


def test_without_jpegtran_a_progressive_jpeg_is_decoded_losslessly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dicomize.readers._jpeg as jpeg

    # Only dicomize's lookup is blinded; the validators the test runs are still found.
    monkeypatch.setattr(jpeg, "shutil", types.SimpleNamespace(which=lambda _: None))
    data = encode(Image.fromarray(gradient()), "JPEG", progressive=True)
    ds = pydicom.dcmread(_convert(data, tmp_path))
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert "progressive JPEG has only a retired transfer syntax" in ds.DerivationDescription
    np.testing.assert_array_equal(
        ds.pixel_array, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    )


def test_passthrough_off_decodes_every_jpeg(tmp_path: Path) -> None:
    data, _ = BASELINE["ycbcr_420"]
    ds = pydicom.dcmread(_convert(data, tmp_path, passthrough=False))
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert "passthrough is off" in ds.DerivationDescription


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda d: d[:-2], r"without EOI \(truncated\)"),
        (lambda d: d[: len(d) // 2], r"without EOI \(truncated\)"),
        (lambda d: d[:200], "truncated"),
        (lambda d: d.replace(b"\xff\xda", b"\xff\xdc", 1), "JPEG"),
    ],
)
def test_truncated_or_broken_jpeg_is_a_clear_error_not_a_passthrough(
    cut: Any, message: str, tmp_path: Path
) -> None:
    data, _ = BASELINE["ycbcr_420"]
    source = tmp_path / "broken.jpg"
    source.write_bytes(cut(data))
    with pytest.raises(dicomize.CorruptImage, match=message):
        dicomize.convert(source)


def test_mpo_second_picture_is_not_carried(tmp_path: Path) -> None:
    first, _ = BASELINE["ycbcr_420"]
    second = encode(Image.fromarray(gradient(8, 8)), "JPEG")
    output = _convert(first + second, tmp_path)
    assert _frame(output).rstrip(b"\x00").endswith(_scan(first))


def test_iptc_app13_segment_is_removed(tmp_path: Path) -> None:
    data, _ = BASELINE["ycbcr_420"]
    body = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x10SECRET-IPTC-NAME"
    app13 = b"\xff\xed" + (len(body) + 2).to_bytes(2, "big") + body
    with_iptc = data[:2] + app13 + data[2:]
    output = _convert(with_iptc, tmp_path)
    assert b"SECRET-IPTC-NAME" not in output.read_bytes()
    assert "APP13" in pydicom.dcmread(output).DerivationDescription
    assert _scan(_frame(output)) == _scan(data)


def test_arithmetic_coded_jpeg_is_rewritten_with_huffman_coding(tmp_path: Path) -> None:
    baseline, _ = BASELINE["ycbcr_420"]
    result = subprocess.run(
        [_tool("jpegtran"), "-arithmetic"],
        input=baseline,
        capture_output=True,
        timeout=60,
        check=True,
    )
    arithmetic = result.stdout
    assert b"\xff\xc9" in arithmetic  # SOF9: arithmetic-coded sequential
    ds = pydicom.dcmread(_convert(arithmetic, tmp_path))
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit
    assert "arithmetic JPEG rewritten as sequential Huffman JPEG" in ds.DerivationDescription
    ds.pixel_array_options(decoding_plugin="pillow", as_rgb=False)
    source = Image.open(io.BytesIO(baseline))
    source.draft("YCbCr", source.size)
    np.testing.assert_array_equal(ds.pixel_array, np.asarray(source))

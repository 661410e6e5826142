"""JPEG-LS, JPEG 2000, JP2 and HTJ2K inputs: stored unchanged when DICOM can describe them.

The codestreams are made here by the maintained encoders (pyjpegls/CharLS,
pylibjpeg-openjpeg/OpenJPEG, imagecodecs/OpenJPH). Each test proves the
stored codestream equals the source's, the transfer syntax and photometric
interpretation follow the codestream (NEAR, wavelet, MCT), and the pixels
decode to the source's (lossless) or to what the same library decodes from
the source (lossy); dcmtk's dcmdjpls is a second decoder for JPEG-LS.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import imagecodecs
import jpeg_ls
import numpy as np
import numpy.typing as npt
import openjpeg
import pydicom
import pytest
from pydicom import uid
from pydicom.encaps import generate_frames

import dicomize
from conftest import FULL_METADATA, LATERALITY_UNKNOWN, assert_conforms, dcmtk_tool, gradient


def _store(data: bytes, tmp_path: Path, **options: Any) -> tuple[Path, pydicom.Dataset, bytes]:
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    output = tmp_path / "out.dcm"
    opts = dicomize.ConvertOptions(**options)
    dicomize.write(dicomize.convert(source, FULL_METADATA, options=opts), output)
    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN,))
    ds = pydicom.dcmread(output)
    frame = b""
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    return output, ds, frame


def _same_codestream(frame: bytes, stream: bytes) -> None:
    # Fragments are padded to even length with one 0x00 (PS3.5 A.4).
    assert frame[: len(stream)] == stream
    assert len(frame) - len(stream) in {0, 1}


GRAY12 = (gradient(channels=1).astype(np.uint16) * 16 + 3) % 4096


@pytest.mark.parametrize(
    ("array", "near", "syntax", "photometric", "bits"),
    [
        pytest.param(
            gradient(channels=1), 0, uid.JPEGLSLossless, "MONOCHROME2", (8, 8), id="gray8"
        ),
        pytest.param(GRAY12, 0, uid.JPEGLSLossless, "MONOCHROME2", (16, 12), id="gray12"),
        pytest.param(gradient(), 0, uid.JPEGLSLossless, "RGB", (8, 8), id="rgb8"),
        pytest.param(gradient(), 3, uid.JPEGLSNearLossless, "RGB", (8, 8), id="rgb8_near3"),
        pytest.param(GRAY12, 2, uid.JPEGLSNearLossless, "MONOCHROME2", (16, 12), id="gray12_near2"),
    ],
)
def test_jpeg_ls_passes_through(
    array: npt.NDArray[Any],
    near: int,
    syntax: str,
    photometric: str,
    bits: tuple[int, int],
    tmp_path: Path,
) -> None:
    data = bytes(jpeg_ls.encode(array, lossy_error=near))
    output, ds, frame = _store(data, tmp_path)

    assert ds.file_meta.TransferSyntaxUID == syntax
    assert ds.PhotometricInterpretation == photometric
    assert (ds.BitsAllocated, ds.BitsStored) == bits
    _same_codestream(frame, data)
    expected = array if near == 0 else jpeg_ls.decode(np.frombuffer(data, np.uint8))
    np.testing.assert_array_equal(ds.pixel_array, expected)
    raw = tmp_path / "dcmtk.dcm"
    result = subprocess.run(
        [dcmtk_tool("dcmdjpls"), str(output), str(raw)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(pydicom.dcmread(raw).pixel_array, expected)
    if near:
        assert ds.LossyImageCompression == "01"
        assert ds.LossyImageCompressionMethod == "ISO_14495_1"
        assert np.abs(ds.pixel_array.astype(int) - array.astype(int)).max() <= near
    else:
        assert ds.LossyImageCompression == "00"


J2K: dict[str, tuple[Any, str, str, bool]] = {
    # name: (make codestream, transfer syntax, photometric, lossless)
    "reversible_rgb_mct": (
        lambda: openjpeg.encode(gradient(), photometric_interpretation=1),
        uid.JPEG2000Lossless,
        "YBR_RCT",
        True,
    ),
    "reversible_rgb_no_mct": (
        lambda: openjpeg.encode(gradient(), photometric_interpretation=1, use_mct=False),
        uid.JPEG2000Lossless,
        "RGB",
        True,
    ),
    "reversible_gray16": (
        lambda: openjpeg.encode(
            gradient(channels=1).astype(np.uint16) * 257, photometric_interpretation=2
        ),
        uid.JPEG2000Lossless,
        "MONOCHROME2",
        True,
    ),
    "reversible_signed": (
        lambda: openjpeg.encode(
            gradient(channels=1).astype(np.int16) * 50 - 6000, photometric_interpretation=2
        ),
        uid.JPEG2000Lossless,
        "MONOCHROME2",
        True,
    ),
    "irreversible_rgb": (
        lambda: openjpeg.encode(gradient(), photometric_interpretation=1, compression_ratios=[10]),
        uid.JPEG2000,
        "YBR_ICT",
        False,
    ),
    "htj2k_reversible_rgb": (
        lambda: imagecodecs.htj2k_encode(gradient(), reversible=True, rgb=True),
        uid.HTJ2KLossless,
        "YBR_RCT",
        True,
    ),
    "htj2k_irreversible_rgb": (
        lambda: imagecodecs.htj2k_encode(gradient(), level=0.004, reversible=False, rgb=True),
        uid.HTJ2K,
        "YBR_ICT",
        False,
    ),
}
SOURCE_ARRAYS = {
    "reversible_rgb_mct": gradient(),
    "reversible_rgb_no_mct": gradient(),
    "reversible_gray16": gradient(channels=1).astype(np.uint16) * 257,
    "reversible_signed": gradient(channels=1).astype(np.int16) * 50 - 6000,
    "htj2k_reversible_rgb": gradient(),
}


@pytest.mark.parametrize("name", sorted(J2K))
def test_jpeg_2000_codestream_passes_through(name: str, tmp_path: Path) -> None:
    make, syntax, photometric, lossless = J2K[name]
    data = bytes(make())
    _, ds, frame = _store(data, tmp_path)

    assert ds.file_meta.TransferSyntaxUID == syntax
    assert ds.PhotometricInterpretation == photometric
    _same_codestream(frame, data)
    ds.pixel_array_options(as_rgb=False)
    if lossless:
        assert ds.LossyImageCompression == "00"
        expected = SOURCE_ARRAYS[name]
        if photometric == "YBR_RCT":  # pydicom returns the codestream's RGB after the inverse RCT
            ds.pixel_array_options(as_rgb=True)
        np.testing.assert_array_equal(ds.pixel_array, expected)
    else:
        assert ds.LossyImageCompression == "01"
        method = "ISO_15444_15" if syntax == uid.HTJ2K else "ISO_15444_1"
        assert ds.LossyImageCompressionMethod == method
        np.testing.assert_array_equal(ds.pixel_array, openjpeg.decode(data))


def test_jp2_file_is_stored_as_its_bare_codestream(tmp_path: Path) -> None:
    jp2 = bytes(openjpeg.encode(gradient(), photometric_interpretation=1, codec_format=1))
    assert jp2.startswith(b"\x00\x00\x00\x0cjP  ")
    _, ds, frame = _store(jp2, tmp_path)
    assert frame.startswith(b"\xff\x4f\xff\x51")  # no JP2 box in DICOM (PS3.5 A.4.4)
    box = jp2.index(b"jp2c")
    _same_codestream(frame, jp2[box + 4 :])  # the jp2c box's content, byte for byte
    assert b"jp2h" not in frame
    assert "JP2 boxes removed" in ds.DerivationDescription
    ds.pixel_array_options(as_rgb=True)
    np.testing.assert_array_equal(ds.pixel_array, gradient())


def test_four_component_jpeg_2000_is_decoded_and_alpha_composited(tmp_path: Path) -> None:
    rgba = np.dstack([gradient(), np.full((48, 64), 255, np.uint8)])
    data = bytes(imagecodecs.jpeg2k_encode(rgba, level=0))  # level 0: reversible
    _, ds, _ = _store(data, tmp_path)
    assert ds.file_meta.TransferSyntaxUID == uid.ExplicitVRLittleEndian
    assert "JPEG 2000 decoded because JPEG 2000 with 4 components" in ds.DerivationDescription
    np.testing.assert_array_equal(ds.pixel_array, gradient())


def test_passthrough_off_decodes_jpeg_2000(tmp_path: Path) -> None:
    data = bytes(openjpeg.encode(gradient(), photometric_interpretation=1))
    _, ds, _ = _store(data, tmp_path, passthrough=False, transfer_syntax="rle")
    assert ds.file_meta.TransferSyntaxUID == uid.RLELossless
    np.testing.assert_array_equal(ds.pixel_array, gradient())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: bytes(openjpeg.encode(gradient(), photometric_interpretation=1))[:-40],
            "truncated",
        ),
        (
            lambda: bytes(openjpeg.encode(gradient(), photometric_interpretation=1))[:60],
            "JPEG 2000",
        ),
        (lambda: bytes(jpeg_ls.encode(gradient()))[:-10], "truncated"),
    ],
)
def test_truncated_codestream_is_a_clear_error(make: Any, message: str, tmp_path: Path) -> None:
    source = tmp_path / "broken.bin"
    source.write_bytes(make())
    with pytest.raises(dicomize.CorruptImage, match=message):
        dicomize.convert(source)
    assert not list(tmp_path.glob("*.dcm"))

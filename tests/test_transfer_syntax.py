"""Output transfer syntaxes: conforming, described by their codestream, lossless ones bit-exact.

Lossless outputs are decoded by pydicom and, where dcmtk has a decoder
(dcmdrle, dcmdjpeg, dcmdjpls), by dcmtk too; both must give the source
pixels back exactly. Photometric Interpretation must follow PS3.5 8.2 as the
conformance notes (6.2, 11.1) choose: RGB for RLE and JPEG-LS, YBR_RCT/YBR_ICT
for JPEG 2000 with its colour transform, YBR_FULL_422 for baseline JPEG.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from PIL import Image
from pydicom import uid

import dicomize
from conftest import (
    FULL_METADATA,
    LATERALITY_UNKNOWN,
    assert_conforms,
    dcmdump,
    dcmtk_tool,
    encode,
    gradient,
)

PIXELS: dict[str, npt.NDArray[Any]] = {
    "rgb8": gradient(),
    "gray8": gradient(channels=1),
    "gray12in16": (gradient(channels=1).astype(np.uint16) * 16) % 4096,
    "gray16": gradient(channels=1).astype(np.uint16) * 257,
    "signed16": gradient(channels=1).astype(np.int16) * 100 - 12800,
    "rgb16": gradient().astype(np.uint16) * 257,
}
LOSSLESS: dict[str, tuple[str, str | None]] = {
    # name: (transfer syntax UID, dcmtk decoder)
    "rle": (uid.RLELossless, "dcmdrle"),
    "jpeg-lossless": (uid.JPEGLosslessSV1, "dcmdjpeg"),
    "jpeg-ls-lossless": (uid.JPEGLSLossless, "dcmdjpls"),
    "jpeg2000-lossless": (uid.JPEG2000Lossless, None),  # dcmtk has no JPEG 2000 decoder
    "htj2k-lossless": (uid.HTJ2KLossless, None),
    "deflated": (uid.DeflatedExplicitVRLittleEndian, None),
}
COLOUR_PHOTOMETRIC = {
    "rle": "RGB",
    "jpeg-lossless": "RGB",
    "jpeg-ls-lossless": "RGB",
    "jpeg2000-lossless": "YBR_RCT",
    "htj2k-lossless": "YBR_RCT",
    "deflated": "RGB",
}


def _stored(pixels: npt.NDArray[Any], syntax: str, tmp_path: Path, **options: Any) -> Path:
    output = tmp_path / f"{syntax}.dcm"
    opts = dicomize.ConvertOptions(transfer_syntax=syntax, **options)
    dicomize.write(dicomize.convert(pixels, FULL_METADATA, options=opts), output)
    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN,))
    dcmdump(output)
    return output


def _dcmtk_decode(decoder: str, path: Path) -> npt.NDArray[Any]:
    raw = path.with_name(path.stem + "-dcmtk.dcm")
    result = subprocess.run(
        [dcmtk_tool(decoder), str(path), str(raw)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return pydicom.dcmread(raw).pixel_array


@pytest.mark.parametrize("kind", sorted(PIXELS))
@pytest.mark.parametrize("syntax", sorted(LOSSLESS))
def test_lossless_output_decodes_bit_exact_with_pydicom_and_dcmtk(
    syntax: str, kind: str, tmp_path: Path
) -> None:
    pixels = PIXELS[kind]
    output = _stored(pixels, syntax, tmp_path)
    ds = pydicom.dcmread(output)
    expected_uid, decoder = LOSSLESS[syntax]

    assert ds.file_meta.TransferSyntaxUID == expected_uid
    colour = pixels.ndim == 3
    assert ds.PhotometricInterpretation == (COLOUR_PHOTOMETRIC[syntax] if colour else "MONOCHROME2")
    assert ds.LossyImageCompression == "00"
    np.testing.assert_array_equal(ds.pixel_array, pixels)
    if decoder is not None:
        np.testing.assert_array_equal(_dcmtk_decode(decoder, output), pixels)


@pytest.mark.parametrize(
    ("syntax", "expected_uid", "photometric", "method"),
    [
        ("jpeg-baseline", uid.JPEGBaseline8Bit, "YBR_FULL_422", "ISO_10918_1"),
        ("jpeg-ls-near-lossless", uid.JPEGLSNearLossless, "RGB", "ISO_14495_1"),
        ("jpeg2000", uid.JPEG2000, "YBR_ICT", "ISO_15444_1"),
    ],
)
def test_lossy_output_records_method_and_ratio(
    syntax: str, expected_uid: str, photometric: str, method: str, tmp_path: Path
) -> None:
    y, x = np.mgrid[0:96, 0:128]
    pixels = np.stack([x + y, 2 * x, 250 - 2 * y], axis=-1).astype(np.uint8)  # smooth, no wrap
    ds = pydicom.dcmread(_stored(pixels, syntax, tmp_path))
    assert ds.file_meta.TransferSyntaxUID == expected_uid
    assert ds.PhotometricInterpretation == photometric
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == method
    assert float(ds.LossyImageCompressionRatio) > 1
    assert f"stored as {uid.UID(expected_uid).name}, lossy" in ds.DerivationDescription
    # Lossy, but a faithful picture of the source.
    ds.pixel_array_options(as_rgb=True)
    mse = np.mean((ds.pixel_array.astype(float) - pixels.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 35  # PSNR in dB


def test_near_lossless_error_bound_is_honoured(tmp_path: Path) -> None:
    pixels = gradient(channels=1)
    ds = pydicom.dcmread(_stored(pixels, "jpeg-ls-near-lossless", tmp_path, jpegls_error=3))
    assert np.abs(ds.pixel_array.astype(int) - pixels.astype(int)).max() <= 3


def test_recompressing_a_lossy_source_extends_the_lossy_history(tmp_path: Path) -> None:
    progressive = encode(Image.fromarray(gradient(96, 128)), "JPEG", progressive=True)
    output = tmp_path / "history.dcm"
    options = dicomize.ConvertOptions(transfer_syntax="jpeg2000", passthrough=False)
    dicomize.write(dicomize.convert(progressive, FULL_METADATA, options=options), output)
    ds = pydicom.dcmread(output)
    assert list(ds.LossyImageCompressionMethod) == ["ISO_10918_1", "ISO_15444_1"]
    assert len(ds.LossyImageCompressionRatio) == 2


def test_passed_through_jpeg_keeps_its_own_transfer_syntax() -> None:
    baseline = encode(Image.fromarray(gradient()), "JPEG", quality=90)
    ds = dicomize.convert(baseline, options=dicomize.ConvertOptions(transfer_syntax="rle"))
    assert ds.file_meta.TransferSyntaxUID == uid.JPEGBaseline8Bit


def test_baseline_jpeg_output_refuses_16_bit_pixels() -> None:
    options = dicomize.ConvertOptions(transfer_syntax="jpeg-baseline")
    with pytest.raises(dicomize.UnsupportedInput, match="unsigned 8-bit"):
        dicomize.convert(PIXELS["gray16"], options=options)


@pytest.mark.parametrize("given", ["1.2.840.10008.1.2.4.80", "JPEG-LS-Lossless", " rle "])
def test_transfer_syntax_accepts_names_and_uids(given: str) -> None:
    assert dicomize.ConvertOptions(transfer_syntax=given).transfer_syntax in {
        uid.JPEGLSLossless,
        uid.RLELossless,
    }


def test_unknown_or_retired_transfer_syntax_is_refused() -> None:
    for given in ("nope", "1.2.840.10008.1.2.4.55", "1.2.840.10008.1.2.2"):
        with pytest.raises(ValueError, match="unsupported output transfer syntax"):
            dicomize.ConvertOptions(transfer_syntax=given)


def test_missing_encoder_plugin_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydicom.pixels.encoders import base

    class Unavailable:
        is_available = False

    monkeypatch.setattr(base, "get_encoder", lambda _: Unavailable())
    with pytest.raises(ValueError, match=r"pip install 'dicomize\[jpegls\]'"):
        dicomize.ConvertOptions(transfer_syntax="jpeg-ls-lossless")


def test_cli_transfer_syntax_flag(tmp_path: Path, dicomize_cli: list[str]) -> None:
    source = tmp_path / "p.png"
    source.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    output = tmp_path / "p.dcm"
    result = subprocess.run(
        [
            *dicomize_cli,
            "convert",
            str(source),
            "-o",
            str(output),
            "-t",
            "jpeg2000-lossless",
            "--patient-id",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    ds = pydicom.dcmread(output)
    assert ds.file_meta.TransferSyntaxUID == uid.JPEG2000Lossless
    np.testing.assert_array_equal(ds.pixel_array, gradient())


def test_every_codec_row_agrees_with_pydicoms_transfer_syntax_table() -> None:
    from dicomize.syntaxes import CODECS

    assert len({c.name for c in CODECS}) == len({c.uid for c in CODECS}) == len(CODECS)
    for codec in CODECS:
        syntax = uid.UID(codec.uid)
        assert syntax.is_transfer_syntax, codec.name
        assert (codec.encode is not None) == syntax.is_encapsulated, codec.name
        # pydicom's name of each compressed syntax here says "Lossless", or "Lossy" or nothing.
        lossless = not syntax.is_compressed or (
            "Lossless" in syntax.name and "Lossy" not in syntax.name
        )
        assert (codec.lossy_method is None) == lossless, codec.name

"""What an object says of its lossy history is true, and said where it can be (issue 30).

Point 12: a lossy WebP (VP8) or AVIF (AV1) source has no Defined Term for Lossy Image
Compression Method (PS3.3 C.7.6.1.1.5.1); the notes of C.7.6.1.1.5 have Derivation
Description describe the lossy compression, so it names the coding and its ratio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomize


def _noise(seed: int, height: int = 64, width: int = 80) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


def _written(source: Path, tmp_path: Path, **options: object) -> pydicom.Dataset:
    output = tmp_path / f"{source.stem}.dcm"
    ds = dicomize.convert(source, {"PatientID": "1"}, options=dicomize.ConvertOptions(**options))
    dicomize.write(ds, output)  # the suite's fixture runs dciodvfy on it
    return pydicom.dcmread(output, stop_before_pixels=True)


@pytest.mark.parametrize(("suffix", "coding"), [("webp", "WebP (VP8)"), ("avif", "AVIF (AV1)")])
def test_a_lossy_source_without_a_defined_term_is_described_in_derivation_description(
    tmp_path: Path, suffix: str, coding: str
) -> None:
    """Fails before: Derivation Description said only that a step had no Defined Term."""
    source = tmp_path / f"photo.{suffix}"
    Image.fromarray(_noise(1)).save(source, quality=50)
    ds = _written(source, tmp_path)
    assert ds.LossyImageCompression == "01"
    assert "LossyImageCompressionMethod" not in ds
    ratio = float(ds.LossyImageCompressionRatio)
    assert f"compressed lossily as {coding} at {ratio:g}:1" in ds.DerivationDescription


def test_an_animated_lossy_webp_is_recorded_as_lossy(tmp_path: Path) -> None:
    """Fails before: its VP8 frames sit inside ANMF chunks, and it was called lossless (00)."""
    source = tmp_path / "clip.webp"
    first, second = Image.fromarray(_noise(2)), Image.fromarray(_noise(3))
    first.save(source, quality=50, save_all=True, append_images=[second], duration=100)
    ds = _written(source, tmp_path)
    assert ds.NumberOfFrames == 2
    assert ds.LossyImageCompression == "01"
    assert "compressed lossily as WebP (VP8)" in ds.DerivationDescription


def test_a_lossless_webp_claims_no_lossy_step(tmp_path: Path) -> None:
    source = tmp_path / "chart.webp"
    Image.fromarray(_noise(4)).save(source, lossless=True)
    ds = _written(source, tmp_path)
    assert ds.LossyImageCompression == "00"
    assert "lossily" not in ds.DerivationDescription

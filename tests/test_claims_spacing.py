"""Nominal Scanned Pixel Spacing (PS3.3 C.8.6.2) comes from the resolution a scan records.

Issue 30, point 14: a scan (Conversion Type SD, SI) carries its scanner's resolution as
row spacing\\column spacing in mm (25.4 / dpi); a PDF page rendered as an image carries
its --dpi; a photo, or a file that records no resolution in real units, carries none.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomize
from conftest import FULL_METADATA, LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN, assert_conforms, gradient


def _png(path: Path, dpi: tuple[int, int] | None) -> Path:
    image = Image.fromarray(gradient(48, 64))
    if dpi is None:
        image.save(path)  # no pHYs chunk
    else:
        image.save(path, dpi=dpi)  # pHYs in pixels per metre
    return path


def _convert(dicomize_cli: list[str], source: Path, output: Path, *options: str) -> None:
    command = [*dicomize_cli, "convert", str(source), "-o", str(output), *options]
    result = subprocess.run(
        [*command, "--patient-id", "12345", "--patient-name", "Doe^Jane"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _spacing(path: Path) -> list[float] | None:
    ds = pydicom.dcmread(path)
    element = ds.get("NominalScannedPixelSpacing")
    return None if element is None else [float(value) for value in element]


def test_a_300_dpi_png_scanned_as_a_document_records_its_pixel_size(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = _png(tmp_path / "scan.png", (300, 300))
    output = tmp_path / "scan.dcm"
    _convert(dicomize_cli, source, output, "--conversion-type", "SD")
    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN))
    ds = pydicom.dcmread(output)
    raw = ds["NominalScannedPixelSpacing"]
    assert all(len(str(value)) <= 16 for value in raw.value)  # DS holds 16 characters
    # pHYs holds 11811 pixels per metre: 0.0846668 mm, 25.4/300 to six figures.
    assert _spacing(output) == pytest.approx([25.4 / 300] * 2, rel=1e-5)


def test_row_spacing_comes_first_and_follows_the_vertical_resolution(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = _png(tmp_path / "scan.png", (200, 400))  # 200 dpi across, 400 down
    output = tmp_path / "scan.dcm"
    _convert(dicomize_cli, source, output, "--conversion-type", "SI")
    assert _spacing(output) == pytest.approx([25.4 / 400, 25.4 / 200], rel=1e-5)


def test_a_scan_whose_png_records_no_resolution_gets_no_spacing(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = _png(tmp_path / "scan.png", None)
    output = tmp_path / "scan.dcm"
    _convert(dicomize_cli, source, output, "--conversion-type", "SD")
    assert _spacing(output) is None


def test_a_jfif_aspect_ratio_is_not_a_resolution(tmp_path: Path) -> None:
    # JFIF density unit 0 says only that pixels are square: no size in mm at all.
    source = tmp_path / "scan.jpg"
    Image.fromarray(gradient(48, 64)).save(source, quality=90)
    data = source.read_bytes()
    assert data[6:11] == b"JFIF\x00"
    assert data[13] == 0  # Pillow writes a 1:1 density, unit 0, when given no dpi
    output = tmp_path / "scan.dcm"
    metadata = {**FULL_METADATA, "ConversionType": "SD"}
    dicomize.write(dicomize.convert(source, metadata), output)
    assert _spacing(output) is None


def test_a_scanned_jpeg_stored_unchanged_keeps_its_jfif_resolution(tmp_path: Path) -> None:
    source = tmp_path / "scan.jpg"
    Image.fromarray(gradient(48, 64)).save(source, quality=90, dpi=(254, 254))
    output = tmp_path / "scan.dcm"
    metadata = {**FULL_METADATA, "ConversionType": "SD"}
    dicomize.write(dicomize.convert(source, metadata), output)
    assert _spacing(output) == pytest.approx([0.1, 0.1])


def test_a_photo_gets_no_spacing_whatever_its_file_says(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    # A camera's or editor's DPI is a print default, not the size of anything imaged.
    source = _png(tmp_path / "photo.png", (300, 300))
    output = tmp_path / "photo.dcm"
    _convert(dicomize_cli, source, output, "--conversion-type", "DI")
    assert _spacing(output) is None


def _pdf(path: Path, pages: int) -> Path:
    page = Image.fromarray(np.full((120, 90, 3), 200, np.uint8))
    page.save(path, save_all=True, append_images=[page] * (pages - 1), resolution=150)
    return path


def test_a_pdf_page_rendered_as_an_image_records_the_rendering_resolution(
    tmp_path: Path,
) -> None:
    source = _pdf(tmp_path / "report.pdf", 1)
    output = tmp_path / "report.dcm"
    options = dicomize.ConvertOptions(pdf_as_images=True, dpi=150)
    dicomize.write(dicomize.convert(source, FULL_METADATA, options=options), output)
    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN,))
    assert pydicom.dcmread(output).ConversionType == "WSD"
    assert _spacing(output) == pytest.approx([25.4 / 150] * 2)


def test_several_rendered_pages_carry_it_only_when_called_scanned(tmp_path: Path) -> None:
    # C.8.6.3 makes it 1C on DF, SD or SI; dciodvfy refuses it on a WSD multi-frame SC.
    source = _pdf(tmp_path / "report.pdf", 2)
    options = dicomize.ConvertOptions(pdf_as_images=True, dpi=150)
    rendered = tmp_path / "rendered.dcm"
    dicomize.write(dicomize.convert(source, FULL_METADATA, options=options), rendered)
    assert _spacing(rendered) is None
    scanned = tmp_path / "scanned.dcm"
    metadata = {**FULL_METADATA, "ConversionType": "SD"}
    dicomize.write(dicomize.convert(source, metadata, options=options), scanned)
    assert_conforms(
        scanned, iod="MultiframeGrayscaleByteSCImage", allowed_warnings=(LATERALITY_UNKNOWN,)
    )
    assert _spacing(scanned) == pytest.approx([25.4 / 150] * 2)

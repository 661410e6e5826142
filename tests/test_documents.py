"""PDF documents into the study as Encapsulated PDF, and back out byte for byte."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomize
from conftest import (
    FULL_METADATA,
    LATERALITY_UNKNOWN,
    assert_conforms,
    dcmtk_tool,
    encode,
    gradient,
)
from peers import Orthanc
from test_models import binary_stl

PDF_IOD = "EncapsulatedPDF"


def make_pdf(*, title: str | None = "Consent for surgery", encrypted: bool = False) -> bytes:
    """A one-page PDF written by hand (PDF 1.4, classic xref), its length odd."""
    info = "<< /CreationDate (D:20261130091500+01'00')"
    info += f" /Title ({title}) >>" if title is not None else " >>"
    text = b"BT /F1 18 Tf 20 100 Td (Jane Doe consents) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        info.encode("latin-1"),
    ]
    trailer = b"/Size 7 /Root 1 0 R /Info 6 0 R"
    if encrypted:  # the standard security handler, with a user password we do not know
        objects.append(
            b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -44 >>" % (b"4f" * 32, b"55" * 32)
        )
        identifier = b"<" + b"0123456789abcdef" * 2 + b">"
        trailer = b"/Size 8 /Root 1 0 R /Info 6 0 R /Encrypt 7 0 R /ID [%s %s]" % (
            identifier,
            identifier,
        )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< " + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    if len(out) % 2 == 0:
        out += b" "  # odd length: the OB value gets a pad byte that extract must drop
    return bytes(out)


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    path = tmp_path / "consent.pdf"
    path.write_bytes(make_pdf())
    return path


def _cli(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, check=False)


def _convert_cli(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return _cli(cli, "convert", *args)


def test_a_pdf_becomes_a_clean_encapsulated_pdf_with_its_own_title_and_date(
    pdf: Path, tmp_path: Path
) -> None:
    output = tmp_path / "consent.dcm"
    dicomize.write(dicomize.convert(pdf, FULL_METADATA), output)
    assert assert_conforms(output, iod=PDF_IOD).warnings == []
    ds = pydicom.dcmread(output)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1"
    assert (ds.Modality, ds.MIMETypeOfEncapsulatedDocument) == ("DOC", "application/pdf")
    assert ds.DocumentTitle == "Consent for surgery"  # the PDF's Title
    # Its CreationDate (09:15 at +01'00'), read with the object's offset.
    content = ds.ContentDate + ds.ContentTime + ds.TimezoneOffsetFromUTC
    made = dt.datetime(2026, 11, 30, 8, 15, tzinfo=dt.UTC)
    assert dt.datetime.strptime(content, "%Y%m%d%H%M%S%z") == made
    assert ds.BurnedInAnnotation == "YES"
    assert ds.ConceptNameCodeSequence == []
    assert ds.EncapsulatedDocumentLength == pdf.stat().st_size
    assert "ImageType" not in ds
    assert "PatientOrientation" not in ds


def test_dcmtk_and_extract_give_back_the_identical_pdf(
    pdf: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    output = tmp_path / "consent.dcm"
    assert (
        _convert_cli(dicomize_cli, str(pdf), "-o", str(output), "--patient-id", "1").returncode == 0
    )
    digest = hashlib.sha256(pdf.read_bytes()).hexdigest()
    by_dcmtk = tmp_path / "dcmtk.pdf"
    subprocess.run([dcmtk_tool("dcm2pdf"), str(output), str(by_dcmtk)], check=True, timeout=60)
    assert hashlib.sha256(by_dcmtk.read_bytes()).hexdigest() == digest
    back = tmp_path / "back.pdf"
    result = _cli(dicomize_cli, "extract", str(output), "-o", str(back))
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest


def test_title_concept_name_and_modality_from_the_command_line(
    pdf: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    output = tmp_path / "report.dcm"
    result = _convert_cli(
        dicomize_cli,
        str(pdf),
        "-o",
        str(output),
        "--patient-id",
        "1",
        "--document-title",
        "Befund für Frau Müller",
        "--concept-name",
        "18748-4^LN^Diagnostic Imaging Report",
        "--modality",
        "OT",
    )
    assert result.returncode == 0, result.stderr
    ds = pydicom.dcmread(output)
    assert ds.DocumentTitle == "Befund für Frau Müller"
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    (code,) = ds.ConceptNameCodeSequence
    assert (code.CodeValue, code.CodingSchemeDesignator) == ("18748-4", "LN")
    assert ds.Modality == "OT"
    assert_conforms(output, iod=PDF_IOD, allowed_warnings=("DICOMDIR",))


def test_without_a_title_the_file_name_is_the_document_title(tmp_path: Path) -> None:
    source = tmp_path / "referral-letter.pdf"
    source.write_bytes(make_pdf(title=None))
    assert dicomize.convert(source).DocumentTitle == "referral-letter"


def test_pdfs_and_pictures_of_one_call_go_to_two_series_of_one_study(
    tmp_path: Path, pdf: Path
) -> None:
    # PS3.3 A.1.2.3: one Modality per series; the picture is OT, the PDF DOC.
    photo = tmp_path / "photo.png"
    photo.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    results = [ds for _, ds in dicomize.convert_series([photo, pdf, photo], FULL_METADATA)]
    picture, document, again = results
    assert isinstance(picture, pydicom.Dataset)
    assert isinstance(document, pydicom.Dataset)
    assert isinstance(again, pydicom.Dataset)
    assert picture.StudyInstanceUID == document.StudyInstanceUID
    assert picture.SeriesInstanceUID == again.SeriesInstanceUID != document.SeriesInstanceUID
    assert (picture.SeriesNumber, document.SeriesNumber, again.SeriesNumber) == (1, 2, 1)
    assert (picture.Modality, document.Modality) == ("OT", "DOC")
    assert (picture.InstanceNumber, document.InstanceNumber, again.InstanceNumber) == (1, 2, 3)
    assert document.SOPClassUID.name == "Encapsulated PDF Storage"


@pytest.mark.usefixtures("pdf")
def test_batch_converts_pdfs_models_and_pictures_side_by_side(tmp_path: Path) -> None:
    (tmp_path / "photo.png").write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    (tmp_path / "implant.stl").write_bytes(binary_stl())
    out = tmp_path / "out"
    summary = dicomize.run_batch(dicomize.plan_tree(tmp_path, out), out, FULL_METADATA, workers=1)
    assert (summary.converted, summary.failed) == (3, 0)
    written = {
        name: pydicom.dcmread(out / f"{name}.dcm") for name in ("consent", "implant", "photo")
    }
    assert {ds.Modality for ds in written.values()} == {"DOC", "M3D", "OT"}
    # One folder, three kinds: three series of one study, numbered apart.
    assert len({ds.StudyInstanceUID for ds in written.values()}) == 1
    assert len({ds.SeriesInstanceUID for ds in written.values()}) == 3
    assert sorted(int(ds.SeriesNumber) for ds in written.values()) == [1, 2001, 3001]


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        (make_pdf()[:-200], "does not end with %%EOF (truncated)"),
        (b"%PDF-1.7\n" + b"\x00garbage" * 40 + b"\n%%EOF\n", "cannot be read by PDFium"),
        (make_pdf(encrypted=True), "encrypted"),
    ],
)
def test_a_bad_pdf_is_refused_on_one_line_and_nothing_is_written(
    data: bytes, cause: str, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = tmp_path / "bad.pdf"
    source.write_bytes(data)
    result = _convert_cli(dicomize_cli, str(source), "-o", str(tmp_path / "bad.dcm"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"dicomize: {source}: ")
    assert cause in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "bad.dcm").exists()


def test_orthanc_stores_it_and_gives_back_the_identical_pdf(
    pdf: Path, tmp_path: Path, orthanc: Orthanc
) -> None:
    output = tmp_path / "consent.dcm"
    dicomize.write(dicomize.convert(pdf, FULL_METADATA), output)
    (result,) = dicomize.send_files([output], f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}")
    assert result.status == "stored", result.error
    instance = orthanc.instance_for(str(pydicom.dcmread(output).SOPInstanceUID))
    assert orthanc.get(f"/instances/{instance}/pdf") == pdf.read_bytes()


def test_extract_writes_a_passed_through_jpeg_as_its_codestream(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(encode(Image.fromarray(gradient()), "JPEG", quality=90))
    output = tmp_path / "photo.dcm"
    assert _convert_cli(dicomize_cli, str(photo), "-o", str(output)).returncode == 0
    extracted = dicomize.extract(output)
    assert extracted.suffix == ".jpg"
    stored = next(
        pydicom.encaps.generate_frames(pydicom.dcmread(output).PixelData, number_of_frames=1)
    )
    assert extracted.data == stored
    assert Image.open(io.BytesIO(extracted.data)).size == (64, 48)


def test_extract_renders_sixteen_bit_pixels_through_the_declared_window(tmp_path: Path) -> None:
    pixels = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 10
    plain = tmp_path / "plain.dcm"
    dicomize.write(dicomize.convert(pixels, FULL_METADATA), plain)
    decoded = np.asarray(Image.open(io.BytesIO(dicomize.extract(plain).data)))
    np.testing.assert_array_equal(decoded, pixels)  # no window: the values themselves

    # Another producer's file, with a window (VOI LUT module, C.11.2).
    windowed = tmp_path / "windowed.dcm"
    ds = pydicom.dcmread(plain)
    ds.WindowCenter, ds.WindowWidth = 10000, 2000
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(windowed)
    shown = np.asarray(Image.open(io.BytesIO(dicomize.extract(windowed).data)))
    assert shown.dtype == np.uint16
    assert shown[pixels < 9000].max() == 0
    assert shown[pixels > 11000].min() == 0xFFFF


@pytest.mark.parametrize(("data", "cause"), [(b"not dicom at all" * 20, "not a DICOM file")])
def test_extract_refuses_what_is_not_dicom_on_one_line(
    data: bytes, cause: str, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = tmp_path / "x.dcm"
    source.write_bytes(data)
    result = _cli(dicomize_cli, "extract", str(source))
    assert result.returncode == 1
    assert result.stderr.strip() == f"dicomize: {source}: {cause}"


def _pages_pdf(path: Path, pages: list[Image.Image], dpi: int = 150) -> Path:
    """A PDF of picture pages, one picture pixel per page pixel at `dpi`."""
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=dpi)
    return path


def _pdfium_pages(path: Path, dpi: int, *, smooth: bool = True) -> list[np.ndarray]:
    """PDFium's own rendering of each page, as dicomize documents it (forms drawn, RGB).

    The scale is a millionth under dpi/72, so that a page of whole pixels keeps
    its size (PDFium's 32-bit page width makes 90 pixels 90.0000016, which
    pypdfium2 rounds up to 91). Black-and-white scans are rendered with image
    smoothing off, which keeps them black and white.
    """
    import pypdfium2

    pdf = pypdfium2.PdfDocument(path)
    pdf.init_forms()
    try:
        return [
            pdf[i]
            .render(scale=dpi / 72 * (1 - 1e-6), rev_byteorder=True, no_smoothimage=not smooth)
            .to_numpy()[:, :, :3]
            .copy()
            for i in range(len(pdf))
        ]
    finally:
        pdf.close()


_RNG = np.random.default_rng(7)
_PAGE_KINDS = {
    # A scanned form: pure black and white, stored as a CCITT image.
    "bilevel": (
        [Image.fromarray(_RNG.random((120, 90)) > 0.5).convert("1") for _ in range(3)],
        "MultiframeSingleBitSCImage",
        1,
    ),
    "gray": (
        [Image.fromarray(np.tile(np.arange(90, dtype=np.uint8) * 2, (120, 1)))] * 2,
        "MultiframeGrayscaleByteSCImage",
        8,
    ),
    "colour": (
        [Image.fromarray(_RNG.integers(0, 255, (120, 90, 3), np.uint8))] * 2,
        "MultiframeTrueColorSCImage",
        8,
    ),
}


@pytest.mark.parametrize("kind", list(_PAGE_KINDS))
def test_pdf_pages_become_the_multi_frame_sc_their_pixels_call_for(
    kind: str, tmp_path: Path
) -> None:
    pages, iod, bits = _PAGE_KINDS[kind]
    source = _pages_pdf(tmp_path / f"{kind}.pdf", pages)
    output = tmp_path / f"{kind}.dcm"
    options = dicomize.ConvertOptions(pdf_as_images=True)
    dicomize.write(dicomize.convert(source, FULL_METADATA, options=options), output)
    assert_conforms(output, iod=iod, allowed_warnings=(LATERALITY_UNKNOWN,))
    ds = pydicom.dcmread(output)
    assert (ds.NumberOfFrames, ds.BitsAllocated, ds.Rows, ds.Columns) == (len(pages), bits, 120, 90)
    assert ds.ConversionType == "WSD"  # rendered on a computer, not scanned
    assert ds.PageNumberVector == list(range(1, len(pages) + 1))
    rendered = _pdfium_pages(source, 150, smooth=kind != "bilevel")
    frames = ds.pixel_array
    for page, frame in zip(rendered, frames, strict=True):
        if kind == "colour":
            np.testing.assert_array_equal(frame, page)
        else:
            expected = page[:, :, 0] if kind == "gray" else page[:, :, 0] // 255
            np.testing.assert_array_equal(frame, expected)


def test_pages_of_different_sizes_lie_on_white_frames_of_the_largest(tmp_path: Path) -> None:
    small = Image.fromarray(np.full((60, 50), 40, np.uint8))
    large = Image.fromarray(np.full((120, 90), 90, np.uint8))
    source = _pages_pdf(tmp_path / "mixed.pdf", [small, large])
    options = dicomize.ConvertOptions(pdf_as_images=True)
    ds = dicomize.convert(source, FULL_METADATA, options=options)
    first, second = ds.pixel_array
    assert first.shape == (120, 90)
    np.testing.assert_array_equal(first[:60, :50], _pdfium_pages(source, 150)[0][:, :, 0])
    assert (first[60:] == 255).all()
    assert (first[:, 50:] == 255).all()
    assert (second == 90).all()
    assert "pages of different sizes" in ds.DerivationDescription


def test_pdf_pages_compress_losslessly_frame_by_frame(tmp_path: Path) -> None:
    pages, _, _ = _PAGE_KINDS["gray"]
    source = _pages_pdf(tmp_path / "gray.pdf", pages)
    output = tmp_path / "gray.dcm"
    options = dicomize.ConvertOptions(pdf_as_images=True, transfer_syntax="jpeg-ls-lossless")
    dicomize.write(dicomize.convert(source, FULL_METADATA, options=options), output)
    assert_conforms(
        output, iod="MultiframeGrayscaleByteSCImage", allowed_warnings=(LATERALITY_UNKNOWN,)
    )
    ds = pydicom.dcmread(output)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
    for page, frame in zip(_pdfium_pages(source, 150), ds.pixel_array, strict=True):
        np.testing.assert_array_equal(frame, page[:, :, 0])


def test_cli_renders_pages_at_the_asked_dpi_and_extract_gives_one_png_per_page(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    pages, _, _ = _PAGE_KINDS["colour"]
    source = _pages_pdf(tmp_path / "report.pdf", pages)
    output = tmp_path / "report.dcm"
    result = _convert_cli(
        dicomize_cli, str(source), "-o", str(output), "--pdf-as-images", "--dpi", "200"
    )
    assert result.returncode == 0, result.stderr
    ds = pydicom.dcmread(output)
    assert (ds.Rows, ds.Columns) == (160, 120)  # 120x90 pixels at 150 dpi, shown at 200
    result = _cli(dicomize_cli, "extract", str(output), "-o", str(tmp_path / "page.png"))
    assert result.returncode == 0, result.stderr
    for number, page in enumerate(_pdfium_pages(source, 200), start=1):
        extracted = np.asarray(Image.open(tmp_path / f"page-{number:04d}.png"))
        np.testing.assert_array_equal(extracted, page)
    assert not (tmp_path / "page-0003.png").exists()


def test_the_pixel_limit_counts_every_page(tmp_path: Path, dicomize_cli: list[str]) -> None:
    pages, _, _ = _PAGE_KINDS["gray"]
    source = _pages_pdf(tmp_path / "gray.pdf", pages)
    result = _convert_cli(
        dicomize_cli, str(source), "--pdf-as-images", "--max-pixels", str(120 * 90 * 2 - 1)
    )
    assert result.returncode == 1
    assert "2 frames of 90x120 pixels exceeds the limit" in result.stderr
    assert not (tmp_path / "gray.dcm").exists()


def test_extract_picks_one_frame_and_refuses_one_that_does_not_exist(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    frames = np.arange(3 * 8 * 8, dtype=np.uint8).reshape(3, 8, 8)
    paths = []
    for index, frame in enumerate(frames):
        paths.append(tmp_path / f"f{index}.png")
        paths[-1].write_bytes(encode(Image.fromarray(frame), "PNG"))
    joined = tmp_path / "joined.dcm"
    dicomize.write(dicomize.convert_frames(paths, FULL_METADATA), joined)
    second = dicomize.extract(joined, frame=2)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(second.data))), frames[1])
    result = _cli(dicomize_cli, "extract", str(joined), "--frame", "4")
    assert result.returncode == 1
    assert result.stderr.strip() == f"dicomize: {joined}: has no frame 4 (frames 1 to 3)"

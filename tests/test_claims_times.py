"""Every date and time an object holds names its true instant (issue 30, points 1 and 11).

PS3.3 C.12.1 (Table C.12-1): Timezone Offset From UTC applies to every DA and TM of
the object, and to every DT without an offset of its own. So Content Date and Time
read with that offset must be the moment the content was made, and dicomize's own
times (Instance Creation) the moment of the conversion. A source time without any
offset names no instant: the object then claims no offset at all.

Content Date and Time are the content's creation time whenever the source records
one, whatever the IOD (point 11): SC and VL from an EXIF photo, an Encapsulated PDF
and its pages rendered as SC, a clip whose container says when it was recorded.

The host's zone is set with ``TZ`` in a fresh process (dicomize reads it through
``datetime.now().astimezone()``), so the tests hold on any machine.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from clips import make_clip
from conftest import gradient
from formats import heic
from test_documents import make_pdf

#: Central European Time in March and November (+0100): neither UTC nor a camera's zone.
BERLIN = "Europe/Berlin"
#: A source offset whose instant falls on the next day in Tokyo (+0900).
TOKYO = "Asia/Tokyo"


def _exif(taken: str, offset: str | None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make: a camera's photograph
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = taken  # DateTimeOriginal
    if offset is not None:
        sub[0x9011] = offset  # OffsetTimeOriginal
    return exif.tobytes()


def _camera_jpeg(path: Path, taken: str, offset: str | None) -> Path:
    Image.fromarray(gradient()).save(path, quality=90, exif=_exif(taken, offset))
    return path


def _convert(
    cli: list[str], source: Path, output: Path, zone: str, *options: str
) -> pydicom.Dataset:
    """Convert in a fresh process whose host time zone is `zone`; return the object."""
    output.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [*cli, "convert", str(source), "-o", str(output), "--patient-id", "1", *options],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "TZ": zone},
    )
    assert result.returncode == 0, result.stderr
    return pydicom.dcmread(output, stop_before_pixels=True)


def _instant(date: str, time: str, offset: str) -> dt.datetime:
    """The instant a DA and TM name, read with a UTC offset ``&ZZXX`` (C.12.1)."""
    return dt.datetime.strptime(f"{date}{time[:6]}{offset}", "%Y%m%d%H%M%S%z")


def _content(ds: pydicom.Dataset) -> dt.datetime:
    return _instant(ds.ContentDate, ds.ContentTime, ds.TimezoneOffsetFromUTC)


@pytest.mark.parametrize("iod", ["sc", "vl-photo"])
def test_an_exif_photo_s_content_time_is_the_instant_it_was_taken_in_the_declared_offset(
    tmp_path: Path, dicomize_cli: list[str], iod: str
) -> None:
    """Fails before: Content Time was 142233 under +0100 (VL), or the conversion's (SC)."""
    source = _camera_jpeg(tmp_path / "photo.jpg", "2024:03:15 14:22:33", "+02:00")
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ds = _convert(dicomize_cli, source, tmp_path / iod / "photo.dcm", BERLIN, "--iod", iod)
    after = dt.datetime.now(dt.UTC)
    taken = dt.datetime(2024, 3, 15, 12, 22, 33, tzinfo=dt.UTC)
    assert ds.TimezoneOffsetFromUTC == "+0100"  # the host's, declared for every DA/TM
    assert (ds.ContentDate, ds.ContentTime) == ("20240315", "132233")
    assert _content(ds) == taken
    if iod == "vl-photo":
        assert ds.AcquisitionDateTime == "20240315142233+0200"  # the DT keeps its own offset
    # dicomize's own times are read in the same offset: the conversion's instant.
    created = _instant(ds.InstanceCreationDate, ds.InstanceCreationTime, "+0100")
    assert before <= created <= after


@pytest.mark.parametrize("iod", ["sc", "vl-photo"])
def test_a_heic_taken_at_minus_seven_hours_is_dated_in_the_host_s_offset(
    tmp_path: Path, dicomize_cli: list[str], iod: str
) -> None:
    """Fails before: the phone's 14:22:33 (-07:00) was written as 14:22:33 under +0900."""
    source = tmp_path / "phone.heic"
    source.write_bytes(heic(gradient(), exif=_exif("2024:03:15 14:22:33", "-07:00")))
    ds = _convert(dicomize_cli, source, tmp_path / iod / "phone.dcm", TOKYO, "--iod", iod)
    assert ds.TimezoneOffsetFromUTC == "+0900"
    # 21:22:33 UTC is 06:22:33 the next day in Tokyo.
    assert (ds.ContentDate, ds.ContentTime) == ("20240316", "062233")
    assert _content(ds) == dt.datetime(2024, 3, 15, 21, 22, 33, tzinfo=dt.UTC)


def test_a_pdf_s_creation_date_is_its_content_time_as_a_document_and_as_pages(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    """Fails before: the PDF kept 09:15:00 of -05'00' under +0100; its pages took the conversion's.

    One rule for every IOD (point 11): rendered pages are the document's content too.
    """
    source = tmp_path / "letter.pdf"
    source.write_bytes(make_pdf().replace(b"D:20261130091500+01'00'", b"D:20261130091500-05'00'"))
    made = dt.datetime(2026, 11, 30, 14, 15, tzinfo=dt.UTC)
    document = _convert(dicomize_cli, source, tmp_path / "pdf" / "letter.dcm", BERLIN)
    assert document.SOPClassUID == pydicom.uid.EncapsulatedPDFStorage
    assert (document.ContentDate, document.ContentTime) == ("20261130", "151500")
    assert _content(document) == made
    pages = _convert(
        dicomize_cli, source, tmp_path / "pages" / "letter.dcm", BERLIN, "--pdf-as-images"
    )
    assert _content(pages) == made
    # The capture is the conversion: Date of Secondary Capture stays dicomize's own.
    assert pages.DateOfSecondaryCapture == pages.InstanceCreationDate


def test_a_camera_time_without_an_offset_claims_no_offset(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    """Fails before: the camera's clock was declared to be the host's (+0100).

    EXIF without OffsetTimeOriginal says a wall-clock time, not an instant. The object
    then writes it as the camera says and claims no offset for any of its times.
    """
    source = _camera_jpeg(tmp_path / "photo.jpg", "2024:03:15 14:22:33", None)
    for iod in ("sc", "vl-photo"):
        ds = _convert(dicomize_cli, source, tmp_path / iod / "photo.dcm", BERLIN, "--iod", iod)
        assert "TimezoneOffsetFromUTC" not in ds
        assert (ds.ContentDate, ds.ContentTime) == ("20240315", "142233")
        if iod == "vl-photo":
            assert ds.AcquisitionDateTime == "20240315142233"


def test_a_given_offset_is_the_object_s_and_every_time_is_moved_into_it(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    """Fails before: the user's +0530 stood beside the host's clock and the camera's."""
    source = _camera_jpeg(tmp_path / "photo.jpg", "2024:03:15 14:22:33", "+02:00")
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ds = _convert(
        dicomize_cli,
        source,
        tmp_path / "given" / "photo.dcm",
        BERLIN,
        "--iod",
        "vl-photo",
        "--set",
        "TimezoneOffsetFromUTC=+0530",
    )
    after = dt.datetime.now(dt.UTC)
    assert ds.TimezoneOffsetFromUTC == "+0530"
    assert (ds.ContentDate, ds.ContentTime) == ("20240315", "175233")
    for date, time in (
        ("InstanceCreationDate", "InstanceCreationTime"),
        ("StudyDate", "StudyTime"),
    ):
        assert before <= _instant(ds[date].value, ds[time].value, "+0530") <= after


def test_a_batch_with_a_given_offset_dates_its_study_and_series_in_it(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    """Fails before: batch fixed Study and Series Time once, in the host's clock (Berlin).

    A batch gives every object the moment its study began, made once for all the
    workers; with the user's +0530 declared, that moment is written in +0530 too.
    """
    source = tmp_path / "in"
    source.mkdir()
    _camera_jpeg(source / "photo.jpg", "2024:03:15 14:22:33", "+02:00")
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    result = subprocess.run(
        [
            *dicomize_cli,
            "batch",
            str(source),
            "-o",
            str(tmp_path / "out"),
            "--patient-id",
            "1",
            "--set",
            "TimezoneOffsetFromUTC=+0530",
            "-q",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "TZ": BERLIN},
    )
    after = dt.datetime.now(dt.UTC)
    assert result.returncode == 0, result.stderr
    ds = pydicom.dcmread(next((tmp_path / "out").rglob("*.dcm")), stop_before_pixels=True)
    assert ds.TimezoneOffsetFromUTC == "+0530"
    for date, time in (("StudyDate", "StudyTime"), ("SeriesDate", "SeriesTime")):
        assert before <= _instant(ds[date].value, ds[time].value, "+0530") <= after


def test_a_clip_s_recording_time_is_its_content_time(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    """Fails before: a clip's Content Date and Time were the conversion's (point 11)."""
    source = make_clip(
        tmp_path / "clip.mp4",
        "libx264",
        (320, 240),
        25,
        frames=3,
        metadata={"creation_time": "2024-03-15T12:22:33.000000Z"},
    )
    ds = _convert(
        dicomize_cli, source, tmp_path / "video" / "clip.dcm", BERLIN, "--body-part", "ABDOMEN"
    )
    assert ds.TimezoneOffsetFromUTC == "+0100"
    assert _content(ds) == dt.datetime(2024, 3, 15, 12, 22, 33, tzinfo=dt.UTC)


def test_a_picture_that_records_no_time_is_dated_by_its_conversion(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = tmp_path / "chart.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(source)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ds = _convert(dicomize_cli, source, tmp_path / "png" / "chart.dcm", BERLIN)
    assert ds.TimezoneOffsetFromUTC == "+0100"
    assert before <= _content(ds) <= dt.datetime.now(dt.UTC)


def test_one_series_may_mix_photos_with_and_without_an_offset(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    """The offset is the instance's own (SOP Common): study and series times stay one.

    The suite's fixture runs dcentvfy over the series: it finds no disagreement.
    """
    sources = [
        _camera_jpeg(tmp_path / "zoned.jpg", "2024:03:15 14:22:33", "+02:00"),
        _camera_jpeg(tmp_path / "naive.jpg", "2024:03:15 14:22:33", None),
    ]
    folder = tmp_path / "series"
    result = subprocess.run(
        [*dicomize_cli, "convert", *map(str, sources), "-o", f"{folder}/", "--patient-id", "1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "TZ": BERLIN},
    )
    assert result.returncode == 0, result.stderr
    zoned, naive = (pydicom.dcmread(folder / f"{name}.dcm") for name in ("zoned", "naive"))
    assert zoned.TimezoneOffsetFromUTC == "+0100"
    assert "TimezoneOffsetFromUTC" not in naive
    assert (zoned.StudyDate, zoned.StudyTime) == (naive.StudyDate, naive.StudyTime)

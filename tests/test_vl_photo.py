"""VL Photographic Image: clinical photographs with their camera record, never their GPS unasked."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

import dicomize
from conftest import FULL_METADATA, LATERALITY_UNKNOWN, assert_conforms, encode, gradient

VL = "VLPhotographicImage"


def _camera_jpeg(**params: Any) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS R5"
    exif[0x8769] = {
        0x9003: "2024:05:01 12:34:56",
        0x9011: "+02:00",
        0x829A: IFDRational(1, 125),
        0x829D: IFDRational(28, 10),
        0x8827: 400,
        0x920A: IFDRational(50, 1),
        0xA434: "RF50mm F1.8 STM",
        0xA431: "BODY-SERIAL-4711",
        0xA430: "Dr Owner",
    }
    exif[0x8825] = {
        1: "N",
        2: (IFDRational(52, 1), IFDRational(31, 1), IFDRational(12, 1)),
        3: "E",
        4: (IFDRational(13, 1), IFDRational(24, 1), IFDRational(0, 1)),
        0x1B: b"ASCII\x00\x00\x00SECRET-GPS-HOME",
    }
    return encode(
        Image.fromarray(gradient(64, 96)), "JPEG", quality=92, exif=exif.tobytes(), **params
    )


def _store(
    source: Any, tmp_path: Path, metadata: dict[str, Any] | None = None, **options: Any
) -> tuple[Path, pydicom.Dataset]:
    output = tmp_path / "photo.dcm"
    opts = dicomize.ConvertOptions(iod="vl-photo", **options)
    dicomize.write(
        dicomize.convert(source, {**FULL_METADATA, **(metadata or {})}, options=opts),
        output,
        overwrite=True,
    )
    assert_conforms(output, iod=VL, allowed_warnings=(LATERALITY_UNKNOWN,))
    return output, pydicom.dcmread(output)


def test_camera_jpeg_becomes_vl_photographic_with_its_camera_record(tmp_path: Path) -> None:
    output, ds = _store(_camera_jpeg(), tmp_path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4"
    assert ds.Modality == "XC"
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit  # passed through
    assert (ds.Manufacturer, ds.ManufacturerModelName) == ("Canon", "EOS R5")
    assert ds.AcquisitionDateTime == "20240501123456+0200"
    # Content Date and Time read with the object's offset: the instant it was taken.
    content = ds.ContentDate + ds.ContentTime + ds.TimezoneOffsetFromUTC
    taken = dt.datetime(2024, 5, 1, 10, 34, 56, tzinfo=dt.UTC)
    assert dt.datetime.strptime(content, "%Y%m%d%H%M%S%z") == taken
    assert float(ds.ExposureTimeInSeconds) == pytest.approx(1 / 125)
    assert float(ds.FNumber) == pytest.approx(2.8)
    assert int(ds.PhotographicSensitivity) == 400
    assert float(ds.FocalLength) == 50
    assert ds.LensModel == "RF50mm F1.8 STM"
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY"]
    assert ds.AcquisitionContextSequence == []
    assert ds.LossyImageCompression == "01"
    assert "ConversionType" not in ds
    # Never copied: GPS (unasked), serial numbers and the owner's name.
    written = output.read_bytes()
    for secret in (b"SECRET-GPS-HOME", b"BODY-SERIAL-4711", b"Dr Owner"):
        assert secret not in written
    assert "GPSLatitude" not in ds


def test_keep_gps_maps_the_position_into_vl_photographic_geolocation(tmp_path: Path) -> None:
    _, ds = _store(_camera_jpeg(), tmp_path, keep_gps=True)
    assert ds.GPSLatitudeRef == "N"
    assert [float(v) for v in ds.GPSLatitude] == [52, 31, 12]
    assert [float(v) for v in ds.GPSLongitude] == [13, 24, 0]


def test_given_values_win_over_the_camera_record(tmp_path: Path) -> None:
    _, ds = _store(
        _camera_jpeg(),
        tmp_path,
        {"Manufacturer": "Clinic camera 3", "ImageType": "DERIVED\\PRIMARY"},
    )
    assert ds.Manufacturer == "Clinic camera 3"
    assert list(ds.ImageType) == ["DERIVED", "PRIMARY"]
    assert ds.ManufacturerModelName == "EOS R5"


def test_picture_without_exif_is_a_derived_vl_photograph(tmp_path: Path) -> None:
    _, ds = _store(encode(Image.fromarray(gradient()), "PNG"), tmp_path)
    assert list(ds.ImageType) == ["DERIVED", "PRIMARY"]
    assert ds.Manufacturer == ""
    assert ds.LossyImageCompression == "00"
    assert ds.ContentTime  # VL Image makes Content Time 1C: never empty


def test_rgb_coded_jpeg_is_decoded_because_vl_needs_ybr_with_lossy_jpeg(tmp_path: Path) -> None:
    data = encode(Image.fromarray(gradient()), "JPEG", quality=95, keep_rgb=True)
    _, ds = _store(data, tmp_path)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.PhotometricInterpretation == "RGB"
    assert ds.LossyImageCompression == "01"


@pytest.mark.parametrize(
    "syntax", ["rle", "jpeg2000-lossless", "jpeg-ls-lossless", "jpeg-baseline"]
)
def test_vl_photograph_in_compressed_transfer_syntaxes(syntax: str, tmp_path: Path) -> None:
    _, ds = _store(encode(Image.fromarray(gradient()), "PNG"), tmp_path, transfer_syntax=syntax)
    assert (
        ds.file_meta.TransferSyntaxUID
        == dicomize.ConvertOptions(transfer_syntax=syntax).transfer_syntax
    )


@pytest.mark.parametrize(
    ("source", "metadata", "error", "message"),
    [
        (gradient(channels=1).astype(np.uint16), {}, dicomize.UnsupportedInput, "8-bit"),
        (np.stack([gradient(), gradient()]), {}, dicomize.UnsupportedInput, "single-frame"),
        (gradient(), {"Modality": "OT"}, dicomize.MetadataError, "requires XC"),
        (gradient(), {"ConversionType": "DI"}, dicomize.MetadataError, "not part of the VL"),
    ],
)
def test_what_vl_photographic_cannot_hold_is_refused(
    source: Any, metadata: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        dicomize.convert(source, metadata, options=dicomize.ConvertOptions(iod="vl-photo"))


def test_cli_iod_flag(tmp_path: Path, dicomize_cli: list[str]) -> None:
    source = tmp_path / "wound.jpg"
    source.write_bytes(_camera_jpeg())
    output = tmp_path / "wound.dcm"
    result = subprocess.run(
        [
            *dicomize_cli,
            "convert",
            str(source),
            "-o",
            str(output),
            "--iod",
            "vl-photo",
            "--patient-id",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert_conforms(output, iod=VL, allowed_warnings=("DICOMDIR", LATERALITY_UNKNOWN))
    assert pydicom.dcmread(output).Manufacturer == "Canon"


def test_keep_gps_without_vl_photo_is_refused_not_ignored(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    with pytest.raises(dicomize.ConfigError, match="keep_gps"):
        dicomize.ConvertOptions(keep_gps=True)
    source = tmp_path / "wound.jpg"
    source.write_bytes(_camera_jpeg())
    output = tmp_path / "wound.dcm"
    result = subprocess.run(
        [*dicomize_cli, "convert", str(source), "-o", str(output), "--keep-gps"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "--keep-gps" in result.stderr
    assert "--iod vl-photo" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not output.exists()


def test_a_picture_the_iod_cannot_hold_is_an_input_error_not_an_internal_one(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = tmp_path / "gray16.png"
    Image.fromarray((np.arange(64 * 48) * 20).astype(np.uint16).reshape(48, 64)).save(source)
    result = subprocess.run(
        [*dicomize_cli, "convert", str(source), "--iod", "vl-photo", "-o", str(tmp_path / "v.dcm")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"dicomize: {source}: VL Photographic Image holds unsigned 8-bit pixels only"
    )
    assert not (tmp_path / "v.dcm").exists()

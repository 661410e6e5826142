"""EXIF → VL Photographic attributes (PS3.3 C.7.5.1, C.8.12.10, C.8.12.11, C.8.12.12).

Camera make and model describe the acquiring device (General Equipment);
DateTimeOriginal (with OffsetTimeOriginal) is when the photo was taken
(:func:`dicomize.codestreams.exif.exif_moment`, read for every IOD: it is when the
content was made);
exposure, f-number, ISO, focal length and lens data fill the VL Photographic
Acquisition and Equipment modules. EXIF is untrusted input: every value is
checked as a DICOM value and skipped when it does not fit.

Deliberately never copied: serial numbers and the camera owner's name (they
identify people and devices), the maker note, and GPS unless asked for.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from dicomize.codestreams.exif import exif_moment
from dicomize.dicom.vr import validate_attribute
from dicomize.errors import MetadataError

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = ["exif_attributes"]

logger = logging.getLogger(__name__)

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825


def exif_attributes(raw: bytes, *, keep_gps: bool = False) -> dict[str, Any]:
    """Map an EXIF block to DICOM keywords.

    Parameters
    ----------
    raw : bytes
        The EXIF block: a TIFF structure, with or without the JPEG APP1 ``Exif`` prefix.
    keep_gps : bool
        Also map the GPS position (VL Photographic Geolocation).

    Returns
    -------
    dict
        ``{keyword: value}``, each value valid for its VR.
    """
    from PIL import Image

    exif = Image.Exif()
    try:
        exif.load(raw)
        main = dict(exif)
        sub = dict(exif.get_ifd(_EXIF_IFD))
        gps = dict(exif.get_ifd(_GPS_IFD)) if keep_gps else {}
    except Exception:  # damaged EXIF is ignored, never fatal
        logger.debug("EXIF block could not be parsed; ignoring it")
        return {}
    out: dict[str, Any] = {}
    _text(out, "Manufacturer", main.get(0x010F))
    _text(out, "ManufacturerModelName", main.get(0x0110))
    _text(out, "SoftwareVersions", main.get(0x0131))
    taken = exif_moment(raw)
    if taken is not None:
        # C.7.10.1: a DT keeps the camera's own offset, when it records one.
        _put(out, "AcquisitionDateTime", taken)
    for tag, keyword in _NUMBERS.items():
        _number(out, keyword, sub.get(tag))
    for tag, keyword in _CODES.items():
        _integer(out, keyword, sub.get(tag))
    _integer(out, "PhotographicSensitivity", _first(sub.get(0x8827)))
    _integer(out, "FocalLengthIn35mmFilm", sub.get(0xA405))
    lens = sub.get(0xA432)
    if isinstance(lens, tuple) and len(lens) == 4:  # noqa: PLR2004
        _put(out, "LensSpecification", [_decimal(v) for v in lens])
    _text(out, "LensMake", sub.get(0xA433))
    _text(out, "LensModel", sub.get(0xA434))
    if gps:
        _geolocation(out, gps)
    return out


# EXIF rational/number tags → DS attributes (C.8.12.11 VL Photographic Acquisition).
_NUMBERS = {
    0x829A: "ExposureTimeInSeconds",
    0x829D: "FNumber",
    0x920A: "FocalLength",
    0x9204: "ExposureBiasValue",
    0x9205: "MaxApertureValue",
    0x9206: "SubjectDistance",
    0xA404: "DigitalZoomRatio",
}
# EXIF SHORT codes → US attributes with the same code values (C.8.12.11).
_CODES = {
    0x8822: "ExposureProgram",
    0x9207: "MeteringMode",
    0x9208: "LightSource",
    0xA402: "ExposureMode",
    0xA403: "WhiteBalance",
    0xA406: "SceneCaptureType",
}


def _put(out: dict[str, Any], keyword: str, value: object) -> None:
    if value is None or value == "":
        return  # a list holding an unreadable number fails validation below
    try:
        out[keyword] = validate_attribute(keyword, value)
    except MetadataError as exc:
        logger.debug("EXIF value for %s skipped: %s", keyword, exc.rule)


def _text(out: dict[str, Any], keyword: str, value: object) -> None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        _put(out, keyword, value.replace("\x00", "").strip())


def _decimal(value: object) -> str | None:
    try:
        number = float(value)  # type: ignore[arg-type]  # IFDRational, int or float
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return f"{number:.10g}" if math.isfinite(number) else None


def _number(out: dict[str, Any], keyword: str, value: object) -> None:
    text = _decimal(value) if value is not None else None
    if text is not None:
        _put(out, keyword, text)


def _integer(out: dict[str, Any], keyword: str, value: object) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        _put(
            out,
            keyword,
            value
            if keyword not in {"PhotographicSensitivity", "FocalLengthIn35mmFilm"}
            else str(value),
        )


def _first(value: object) -> object:
    return value[0] if isinstance(value, tuple) and value else value


def _geolocation(out: dict[str, Any], gps: dict[int, Any]) -> None:
    # C.8.12.12: the EXIF GPS tags, one to one.
    for tag, keyword in (
        (1, "GPSLatitudeRef"),
        (3, "GPSLongitudeRef"),
        (0x0C, "GPSSpeedRef"),
        (0x10, "GPSImgDirectionRef"),
    ):
        _text(out, keyword, gps.get(tag))
    for tag, keyword in ((2, "GPSLatitude"), (4, "GPSLongitude")):
        value = gps.get(tag)
        if isinstance(value, tuple) and len(value) == 3:  # noqa: PLR2004
            _put(out, keyword, [_decimal(v) for v in value])
    converters: dict[int, tuple[str, Callable[[object], object]]] = {
        5: ("GPSAltitudeRef", lambda v: int.from_bytes(v, "big") if isinstance(v, bytes) else v),
        6: ("GPSAltitude", _decimal),
        0x11: ("GPSImgDirection", _decimal),
    }
    for tag, (keyword, convert) in converters.items():
        if tag in gps:
            _put(out, keyword, convert(gps[tag]))
    _text(out, "GPSMapDatum", gps.get(0x12))
    date = gps.get(0x1D)
    if isinstance(date, str) and len(date) == 10:  # noqa: PLR2004  (YYYY:MM:DD)
        _put(out, "GPSDateStamp", date.replace(":", ""))

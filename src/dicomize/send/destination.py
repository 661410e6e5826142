"""Where files are sent: a DICOM peer (``dicom://AET@host:port``) or a DICOMweb root.

>>> parse_destination("dicom://ORTHANC@pacs.example.org:4242")
DimseDestination(called_aet='ORTHANC', host='pacs.example.org', port=4242)
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from dicomize.errors import ConfigError

__all__ = ["Destination", "DimseDestination", "StowDestination", "parse_destination"]


@dataclass(frozen=True, kw_only=True, slots=True)
class DimseDestination:
    """A DICOM peer reached by DIMSE: ``dicom://AET@host:port``."""

    called_aet: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"dicom://{self.called_aet}@{self.host}:{self.port}"


@dataclass(frozen=True, kw_only=True, slots=True)
class StowDestination:
    """A DICOMweb service root reached by STOW-RS: ``https://host/dicom-web``."""

    url: str

    def __str__(self) -> str:
        return self.url


Destination = DimseDestination | StowDestination


def parse_destination(url: str) -> Destination:
    """Parse ``dicom://AET@host:port`` or an ``http(s)://`` DICOMweb root.

    Raises
    ------
    dicomize.errors.ConfigError
        For any other form, naming what is missing.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port that is not a number, a bad IPv6 literal
        raise ConfigError(f"{url!r} is not a valid address ({exc})") from None
    if parts.scheme in {"http", "https"}:
        if not parts.netloc:
            raise ConfigError(f"{url!r} has no host")
        return StowDestination(url=url.rstrip("/"))
    if parts.scheme != "dicom":
        raise ConfigError(f"{url!r}: use dicom://AET@host:port or an http(s):// DICOMweb root")
    if not parts.username or not parts.hostname or not port:
        raise ConfigError(f"{url!r}: dicom:// needs AET@host:port")
    aet = urllib.parse.unquote(parts.username)
    if len(aet) > 16 or not aet.isascii() or "\\" in aet:  # noqa: PLR2004  (AE VR, PS3.5 6.2)
        raise ConfigError(f"called AE title {aet!r} must be at most 16 ASCII characters")
    return DimseDestination(called_aet=aet, host=parts.hostname, port=port)

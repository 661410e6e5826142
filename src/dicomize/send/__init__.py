"""Deliver DICOM files to a PACS: DIMSE C-STORE (``dicom://``) or DICOMweb STOW-RS (``https://``).

Every file is reported as stored or not stored, in the same JSON Lines shape
as ``dicomize batch``; a source file is deleted only when asked and only after
a success status.

>>> parse_destination("dicom://ORTHANC@pacs.example.org:4242")
DimseDestination(called_aet='ORTHANC', host='pacs.example.org', port=4242)
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path

from dicomize.report import BatchResult

__all__ = [
    "DimseDestination",
    "SendOptions",
    "StowDestination",
    "dicom_files",
    "parse_destination",
    "send_files",
]


@dataclasses.dataclass(frozen=True)
class DimseDestination:
    """A DICOM peer reached by DIMSE: ``dicom://AET@host:port``."""

    called_aet: str
    host: str
    port: int


@dataclasses.dataclass(frozen=True)
class StowDestination:
    """A DICOMweb service root reached by STOW-RS: ``https://host/dicom-web``."""

    url: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class SendOptions:
    """How to connect, authenticate, retry and clean up.

    Secrets (`token`, `basic`) come from the environment or a file, never
    from a command line, and are never logged or shown in a report.
    """

    calling_aet: str = "DICOMIZE"
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    connect_timeout: float = 10.0
    acse_timeout: float = 30.0
    dimse_timeout: float = 60.0
    retries: int = 3
    backoff: float = 1.0
    batch_size: int = 20
    token: str | None = dataclasses.field(default=None, repr=False)
    basic: tuple[str, str] | None = dataclasses.field(default=None, repr=False)
    delete_after_store: bool = False


def parse_destination(url: str) -> DimseDestination | StowDestination:
    """Parse ``dicom://AET@host:port`` or an ``http(s)://`` DICOMweb root.

    Raises
    ------
    ValueError
        For any other form, naming what is missing.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in {"http", "https"}:
        if not parts.netloc:
            raise ValueError(f"{url!r} has no host")
        return StowDestination(url.rstrip("/"))
    if parts.scheme != "dicom":
        raise ValueError(f"{url!r}: use dicom://AET@host:port or an http(s):// DICOMweb root")
    if not parts.username or not parts.hostname or not parts.port:
        raise ValueError(f"{url!r}: dicom:// needs AET@host:port")
    aet = urllib.parse.unquote(parts.username)
    if len(aet) > 16 or not aet.isascii() or "\\" in aet:  # noqa: PLR2004  (AE VR, PS3.5 6.2)
        raise ValueError(f"called AE title {aet!r} must be at most 16 ASCII characters")
    return DimseDestination(aet, parts.hostname, parts.port)


def dicom_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Yield files, and the files under folders (sorted; hidden ones passed over)."""
    for path in map(Path, paths):
        if path.is_dir():
            for folder, folders, files in os.walk(path):
                folders[:] = sorted(name for name in folders if not name.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield Path(folder) / name
        else:
            yield path


def send_files(
    paths: Iterable[str | os.PathLike[str]],
    destination: str | DimseDestination | StowDestination,
    options: SendOptions | None = None,
) -> Iterator[BatchResult]:
    """Send DICOM files; yield one result per file, stored or not, with the reason.

    Parameters
    ----------
    paths : iterable
        Files or folders.
    destination : str or DimseDestination or StowDestination
        Where to send; a string is parsed with :func:`parse_destination`.
    options : SendOptions or None
        Connection, authentication and retry settings.

    Yields
    ------
    BatchResult
        ``status`` is ``"stored"`` or ``"failed"``; ``output`` names the destination.
    """
    options = options or SendOptions()
    target = parse_destination(destination) if isinstance(destination, str) else destination
    files = list(dicom_files(paths))
    if isinstance(target, DimseDestination):
        from dicomize.send.dimse import send_dimse  # noqa: PLC0415

        results = send_dimse(files, target, options)
    else:
        from dicomize.send.stow import send_stow  # noqa: PLC0415

        results = send_stow(files, target, options)
    for result in results:
        if options.delete_after_store and result.status == "stored":
            Path(result.input).unlink(missing_ok=True)
        yield result

"""An EXIF block's own record of when its picture was taken, read without Pillow.

EXIF (CIPA DC-008) is a TIFF structure: IFD0, and the Exif IFD it points to
(tag 0x8769). Only the ASCII date, offset and sub-second tags are read, with
``struct``: a JPEG passed through loads no pixel library to be dated.
"""

from __future__ import annotations

import datetime as dt
import struct

__all__ = ["exif_moment"]

_EXIF_POINTER = 0x8769
#: When the picture was taken, by preference: DateTimeOriginal with
#: OffsetTimeOriginal and SubSecTimeOriginal (Exif IFD), else DateTime (IFD0, when the file
#: was last changed) with OffsetTime and SubSecTime: each time with its own offset.
_MOMENTS = ((0x9003, 0x9011, 0x9291), (0x0132, 0x9010, 0x9290))
_ASCII = 2


def exif_moment(raw: bytes) -> dt.datetime | None:
    r"""Return when the picture was taken, as its EXIF record says, or None.

    Aware when the camera recorded its UTC offset (EXIF 2.31 and later), naive
    otherwise: a camera's clock without an offset names no instant, and nothing here
    guesses one. Read with ``struct``, not Pillow: a JPEG passed through loads no
    pixel library for it.

    Parameters
    ----------
    raw : bytes
        The EXIF block: a TIFF structure, with or without the JPEG APP1 ``Exif`` prefix.

    Examples
    --------
    >>> ifd = struct.pack("<HHHII", 1, 0x0132, 2, 20, 26) + struct.pack("<I", 0)
    >>> exif_moment(b"II*\x00" + struct.pack("<I", 8) + ifd + b"2024:03:15 14:22:33\x00")
    datetime.datetime(2024, 3, 15, 14, 22, 33)
    """
    tags = _ascii_tags(raw[6:] if raw[:6] == b"Exif\x00\x00" else raw)
    for when, offset, fraction in _MOMENTS:
        moment = _moment(tags.get(when, ""), tags.get(offset, ""), tags.get(fraction, ""))
        if moment is not None:
            return moment
    return None


def _ascii_tags(tiff: bytes) -> dict[int, str]:
    """Return the ASCII values of IFD0 and the Exif IFD, by tag; {} for a damaged block."""
    found: dict[int, str] = {}
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        for _ in range(2):  # IFD0, then the Exif IFD it points to
            (count,) = struct.unpack_from(order + "H", tiff, ifd)
            pointer = None
            for index in range(count):
                tag, kind, length, value = struct.unpack_from(
                    order + "HHII", tiff, ifd + 2 + 12 * index
                )
                if tag == _EXIF_POINTER:
                    pointer = value
                elif kind == _ASCII:
                    # TIFF 6.0 2: a value of four bytes or fewer is in the entry itself.
                    start = ifd + 10 + 12 * index if length <= 4 else value
                    text = tiff[start : start + length].split(b"\x00")[0]
                    found[tag] = text.decode("ascii", "replace").strip()
            if pointer is None:
                break
            ifd = pointer
    except (KeyError, struct.error):
        pass
    return found


def _moment(when: str, offset: str, fraction: str) -> dt.datetime | None:
    # "YYYY:MM:DD HH:MM:SS"; "+HH:MM"; "nnn", digits of a fraction of a second.
    try:
        moment = dt.datetime.strptime(when[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None  # blank, "0000:00:00 00:00:00" (unknown) or damaged
    digits = fraction[:6]
    if digits.isdigit():
        moment = moment.replace(microsecond=int(digits.ljust(6, "0")))
    try:
        zone = dt.datetime.strptime(offset, "%z").tzinfo if len(offset) == 6 else None
    except ValueError:
        zone = None
    return moment.replace(tzinfo=zone)

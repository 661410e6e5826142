"""ICC profiles as DICOM wants them (PS3.3 C.11.15.1.1).

DICOM requires an Input-class (``scnr``) profile whose data colour space is
``RGB``. The profiles embedded in PNG, JPEG and TIFF files are almost always
Display class (``mntr``). A display profile holds every tag an input profile of
the same kind needs (ICC.1:2022 8.3 and 8.4: matrix/TRC or AToB0 tags), so the
colour transform is kept exactly and only the class field changes, together
with the profile ID that hashes the header.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

__all__ = ["as_input_profile", "srgb_profile"]

logger = logging.getLogger(__name__)

_HEADER = 128
_CONVERTIBLE_CLASSES = frozenset({b"scnr", b"mntr", b"spac"})


def as_input_profile(profile: bytes) -> bytes | None:
    """Return `profile` as an Input-class RGB profile, or None if it cannot be one.

    Parameters
    ----------
    profile : bytes
        An ICC profile as embedded in a picture.

    Returns
    -------
    bytes or None
        The same profile with device class ``scnr`` (and its profile ID
        recomputed when it had one), or None when it is malformed or does not
        describe RGB data.
    """
    if len(profile) < _HEADER or profile[36:40] != b"acsp":
        logger.debug("ignoring an embedded ICC profile with no valid header")
        return None
    if profile[16:20] != b"RGB ":
        logger.debug("ignoring an ICC profile for colour space %r", profile[16:20])
        return None
    device_class = profile[12:16]
    if device_class == b"scnr":
        return profile
    if device_class not in _CONVERTIBLE_CLASSES:
        logger.debug("ignoring an ICC profile of device class %r", device_class)
        return None
    fixed = bytearray(profile)
    fixed[12:16] = b"scnr"
    if any(fixed[84:100]):
        fixed[84:100] = _profile_id(fixed)
    return bytes(fixed)


def _profile_id(profile: bytearray) -> bytes:
    # ICC.1:2022 7.2.18: MD5 over the whole profile with the flags, rendering intent
    # and profile ID fields set to zero.
    import hashlib  # OpenSSL loads in 3 ms: only a profile being fixed needs it

    work = bytearray(profile)
    work[44:48] = bytes(4)
    work[64:68] = bytes(4)
    work[84:100] = bytes(16)
    return hashlib.md5(work, usedforsecurity=False).digest()


@functools.cache
def srgb_profile() -> bytes:
    """Return the Input-class sRGB profile dicomize labels colour pixels with.

    Built once by LittleCMS (``scripts/srgb_profile.py``) and shipped, so labelling
    a picture loads no colour library and every object carries the same bytes.
    """
    return (Path(__file__).parent.parent / "data" / "srgb.icc").read_bytes()

"""Profile and level of H.264, HEVC and MPEG-2 video, read from the stream's own headers.

Only the fields that choose a DICOM transfer syntax are read, from fixed
positions: no full parameter-set parse is needed for them.

* H.264: ``profile_idc``, the ``constraint_set`` flags and ``level_idc`` open the
  sequence parameter set (ITU-T H.264 7.3.2.1.1) and are repeated in an MP4's
  ``avcC`` record (ISO/IEC 14496-15 5.3.3.1).
* HEVC: ``general_profile_space``, ``general_tier_flag``, ``general_profile_idc``
  and ``general_level_idc`` of the profile_tier_level structure (H.265 7.3.3),
  in the ``hvcC`` record (ISO/IEC 14496-15 8.3.3.1) or the SPS.
* MPEG-2: ``profile_and_level_indication``, ``chroma_format`` and
  ``progressive_sequence`` of the sequence extension (ISO/IEC 13818-2 6.2.2.3).

>>> h264_profile(bytes.fromhex("01640029ff"))
H264Profile(profile_idc=100, constraints=0, level_idc=41)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "H264Profile",
    "HevcProfile",
    "Mpeg2Profile",
    "h264_frame_packing",
    "h264_profile",
    "hevc_profile",
    "mpeg2_profile",
]

_START = re.compile(b"\x00\x00\x01")
_H264_SPS = 7
_HEVC_SPS = 33
_MPEG2_EXTENSION = b"\x00\x00\x01\xb5"
_SEQUENCE_EXTENSION_ID = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class H264Profile:
    """What an H.264 stream declares of itself."""

    profile_idc: int
    #: constraint_set0_flag is the most significant bit.
    constraints: int
    level_idc: int

    def flag(self, number: int) -> bool:
        """Return ``constraint_set<number>_flag``."""
        return bool(self.constraints & (0x80 >> number))


@dataclass(frozen=True, kw_only=True, slots=True)
class HevcProfile:
    """What an HEVC stream declares of itself."""

    profile_idc: int
    high_tier: bool
    #: 30 times the level number (level 5.1 is 153).
    level_idc: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Mpeg2Profile:
    """What an MPEG-2 video stream declares of itself."""

    #: 5 Simple, 4 Main, 3 SNR, 2 Spatial, 1 High (Table 8-2 of 13818-2).
    profile: int
    #: 10 Low, 8 Main, 6 High 1440, 4 High (Table 8-3).
    level: int
    #: 1 is 4:2:0, 2 is 4:2:2, 3 is 4:4:4.
    chroma_format: int
    progressive: bool


def _nal_units(data: bytes) -> Iterator[bytes]:
    """Yield the NAL units of an Annex B byte stream (start code prefixes removed)."""
    starts = [match.end() for match in _START.finditer(data)]
    for begin, end in zip(starts, [*starts[1:], len(data) + 3], strict=True):
        yield data[begin : end - 3].rstrip(b"\x00")


def _unescaped(nal: bytes, count: int) -> bytes:
    """Return the first `count` bytes of a NAL unit's payload without emulation prevention."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")[:count]


def h264_profile(extradata: bytes, sample: bytes = b"") -> H264Profile | None:
    """Read an H.264 stream's profile from its ``avcC`` record, or its SPS in `sample`.

    Parameters
    ----------
    extradata : bytes
        The container's codec configuration (MP4 ``avcC``), or empty.
    sample : bytes
        Annex B stream data holding a sequence parameter set (MPEG-TS), or empty.
    """
    if len(extradata) >= 4 and extradata[0] == 1:  # avcC configurationVersion
        return H264Profile(
            profile_idc=extradata[1], constraints=extradata[2], level_idc=extradata[3]
        )
    for nal in _nal_units(extradata or sample):
        if nal and nal[0] & 0x1F == _H264_SPS and len(nal) >= 4:
            head = _unescaped(nal[1:], 3)
            return H264Profile(profile_idc=head[0], constraints=head[1], level_idc=head[2])
    return None


_H264_SEI = 6
_FRAME_PACKING = 45  # frame_packing_arrangement SEI payload (H.264 D.1.26)


def _length_prefixed(data: bytes, size: int = 4) -> Iterator[bytes]:
    """Yield the NAL units of an MP4 sample (each after a big-endian length, 14496-15 5.3.2)."""
    position = 0
    while position + size <= len(data):
        length = int.from_bytes(data[position : position + size], "big")
        position += size
        if length == 0 or position + length > len(data):
            return
        yield data[position : position + length]
        position += length


def h264_frame_packing(sample: bytes, extradata: bytes = b"") -> bool:
    """Tell whether an H.264 access unit carries a frame packing arrangement SEI (stereo).

    `sample` is the first access unit: Annex B (MPEG-2 TS) or length-prefixed NAL
    units (MP4, the prefix size from the ``avcC`` record). PS3.5 8.2.8 keeps frame
    packing out of the "2D" syntaxes; the stereo ones need Stereo Pairs Present.
    """
    if extradata[:1] == b"\x01" and len(extradata) > 4:
        units = _length_prefixed(sample, (extradata[4] & 0x03) + 1)
    else:
        units = _nal_units(sample)
    for nal in units:
        if (
            nal
            and nal[0] & 0x1F == _H264_SEI
            and _sei_types(_unescaped(nal[1:], len(nal))) & {_FRAME_PACKING}
        ):
            return True
    return False


def _sei_types(payload: bytes) -> set[int]:
    """Return the payload types of the SEI messages in an SEI RBSP (H.264 7.3.2.3)."""
    found: set[int] = set()
    position = 0
    while position < len(payload) and payload[position] != 0x80:  # trailing bits
        kind = 0
        while position < len(payload) and payload[position] == 0xFF:
            kind += 255
            position += 1
        if position >= len(payload):
            break
        kind += payload[position]
        position += 1
        size = 0
        while position < len(payload) and payload[position] == 0xFF:
            size += 255
            position += 1
        if position >= len(payload):
            break
        size += payload[position]
        position += 1 + size
        found.add(kind)
    return found


def hevc_profile(extradata: bytes, sample: bytes = b"") -> HevcProfile | None:
    """Read an HEVC stream's profile from its ``hvcC`` record, or its SPS in `sample`."""
    if len(extradata) >= 13 and extradata[0] == 1:  # hvcC configurationVersion
        return HevcProfile(
            profile_idc=extradata[1] & 0x1F,
            high_tier=bool(extradata[1] & 0x20),
            level_idc=extradata[12],
        )
    for nal in _nal_units(extradata or sample):
        if len(nal) >= 3 and (nal[0] >> 1) & 0x3F == _HEVC_SPS:
            # After the 2-byte NAL header, one byte of SPS ids, then profile_tier_level:
            # a byte of space/tier/profile, 4 of compatibility flags, 6 of constraints, level.
            ptl = _unescaped(nal[3:], 12)
            if len(ptl) == 12:
                return HevcProfile(
                    profile_idc=ptl[0] & 0x1F, high_tier=bool(ptl[0] & 0x20), level_idc=ptl[11]
                )
    return None


def mpeg2_profile(sample: bytes) -> Mpeg2Profile | None:
    """Read an MPEG-2 video stream's sequence extension from `sample` (its first bytes)."""
    position = sample.find(_MPEG2_EXTENSION)
    while position >= 0:
        body = sample[position + 4 : position + 10]
        if len(body) >= 6 and body[0] >> 4 == _SEQUENCE_EXTENSION_ID:
            indication = (body[0] & 0x0F) << 4 | body[1] >> 4
            return Mpeg2Profile(
                profile=(indication >> 4) & 0x07,
                level=indication & 0x0F,
                chroma_format=(body[1] >> 1) & 0x03,
                progressive=bool(body[1] & 0x08),
            )
        position = sample.find(_MPEG2_EXTENSION, position + 4)
    return None

"""PS3.5 8.2.5-8.2.12 rule by rule: which video transfer syntax holds a stream as it is.

:func:`choose_syntax` takes what :mod:`dicomize.video.probe` read of a clip and
returns the most specific transfer syntax that holds its stream unchanged, or why
none does: MPEG-2 Main Profile at Main or High Level (8.2.5, 8.2.6), H.264 High
Profile at Level 4.1, BD-compatible or 4.2 (8.2.7, 8.2.8), HEVC Main Profile at
Level 5.1 (8.2.10); each rule cites its section. :func:`audio_allowed` says which
audio may stay beside the stream (8.2.12). The level limits of ITU-T H.264 and
H.265 are here too, for the encoder that makes a stream to fit them
(:mod:`dicomize.video.transcode`).

Nothing here loads PyAV but :func:`probe_stream`, which reads a stream in memory.
"""

from __future__ import annotations

import math

from dicomize.codestreams.video import H264Profile
from dicomize.dicom.uids import (
    HEVC_MP51,
    MPEG2_MAIN_PROFILE_HIGH_LEVEL,
    MPEG2_MAIN_PROFILE_MAIN_LEVEL,
    MPEG4_HP41,
    MPEG4_HP41_BD,
    MPEG4_HP42_2D,
)
from dicomize.video.probe import AudioTrack, Video, probe_bytes

__all__ = [
    "H264_LEVELS",
    "HEVC_51",
    "MAX_FRAGMENT",
    "VIDEO_SYNTAXES",
    "audio_allowed",
    "choose_syntax",
    "probe_stream",
]

#: The video transfer syntaxes dicomize writes, and the Lossy Image Compression Method
#: each one's stream is (C.7.6.1.1.5.1).
VIDEO_SYNTAXES: dict[str, str] = {
    MPEG2_MAIN_PROFILE_MAIN_LEVEL: "ISO_13818_2",
    MPEG2_MAIN_PROFILE_HIGH_LEVEL: "ISO_13818_2",
    MPEG4_HP41: "ISO_14496_10",
    MPEG4_HP41_BD: "ISO_14496_10",
    MPEG4_HP42_2D: "ISO_14496_10",
    HEVC_MP51: "ISO_23008_2",
}
#: One fragment holds at most 2^32 - 2 bytes (PS3.5 A.4: the length is 32 bits and
#: FFFFFFFFH means undefined); the non-fragmentable syntaxes hold one fragment.
MAX_FRAGMENT = 2**32 - 2

_H264_HIGH, _H264_MAIN, _H264_BASELINE = 100, 77, 66
_HEVC_MAIN_PROFILE = 1
_HEVC_LEVEL_51 = 153
_MPEG2_MAIN_PROFILE, _MPEG2_MAIN_LEVEL, _MPEG2_HIGH_LEVEL = 4, 8, 4
_CHROMA_420 = 1
#: ITU-T H.264 Table A-1: frame size (MaxFS, macroblocks) and macroblock rate (MaxMBPS).
H264_LEVELS = {41: (8192, 245760), 42: (8704, 522240)}
#: ITU-T H.265 Table A.8: luma picture size (MaxLumaPs) and sample rate (MaxLumaSr).
HEVC_51 = (8912896, 534773760)
_EIGHT_BIT_420 = frozenset(("yuv420p", "yuvj420p"))


def probe_stream(data: bytes) -> tuple[Video, str | None, str]:
    """Probe a stream held in memory (a video object's Pixel Data) and choose its syntax.

    Returns
    -------
    tuple
        ``(video, uid or None, why not)`` as :func:`choose_syntax` decides.

    Raises
    ------
    dicomize.errors.InputError
        When FFmpeg cannot read it.
    """
    video = probe_bytes(data)
    return (video, *choose_syntax(video))


def choose_syntax(video: Video) -> tuple[str | None, str]:
    """Return the most specific transfer syntax that holds the stream as it is, or why none does.

    Returns
    -------
    tuple
        ``(uid, "")``, or ``(None, reason)``.
    """
    if video.codec == "mpeg2video":
        return _mpeg2_syntax(video)
    if video.codec == "h264":
        return _h264_syntax(video)
    if video.codec == "hevc":
        return _hevc_syntax(video)
    return None, f"{video.codec} has no DICOM transfer syntax"


def _common(video: Video) -> str:
    # 8.2.5-8.2.11: 4:2:0 sampling, 8-bit samples (Bits Stored 8 in the VL IODs, C.8.12.1.1.2).
    if video.pix_fmt not in _EIGHT_BIT_420:
        return f"its pixels are {video.pix_fmt}; the video syntaxes hold 8-bit 4:2:0"
    # 8.2.6-8.2.11: Pixel Aspect Ratio absent, a sample aspect ratio of 1:1.
    if not video.square_pixels:
        return "its pixels are not square (the syntaxes require a sample aspect ratio of 1:1)"
    return ""


def _mpeg2_syntax(video: Video) -> tuple[str | None, str]:
    profile = video.mpeg2
    if profile is None:
        return None, "its MPEG-2 sequence extension cannot be found"
    reason = _common(video) or (
        "its chroma is not 4:2:0" if profile.chroma_format != _CHROMA_420 else ""
    )
    if not reason and profile.profile != _MPEG2_MAIN_PROFILE:
        reason = f"MPEG-2 profile {profile.profile} is not Main Profile"
    if reason:
        return None, reason
    fps = float(video.rate)
    if profile.level == _MPEG2_MAIN_LEVEL:
        # 8.2.5, Table 8-1: 525-line (30 or 29.97 fps, up to 480x720) or 625-line (25 fps,
        # up to 576x720).
        ntsc = math.isclose(fps, 30000 / 1001, rel_tol=1e-3) or math.isclose(fps, 30)
        limit = 480 if ntsc else 576 if math.isclose(fps, 25) else 0
        fits = bool(limit) and video.height <= limit and video.width <= 720  # noqa: PLR2004
        why = "MPEG-2 Main Level allows 720x480 at 30 fps or 720x576 at 25 fps (Table 8-1)"
        return (MPEG2_MAIN_PROFILE_MAIN_LEVEL, "") if fits else (None, why)
    if profile.level == _MPEG2_HIGH_LEVEL:
        # 8.2.6: 1080x1920 or 720x1280 at 25, 29.97, 30, 50, 59.94 or 60 fps (Table 8-2).
        rates = (25, 30000 / 1001, 30, 50, 60000 / 1001, 60)
        fits = (video.height, video.width) in {(1080, 1920), (720, 1280)} and any(
            math.isclose(fps, r, rel_tol=1e-3) for r in rates
        )
        why = "MPEG-2 High Level allows 1920x1080 or 1280x720 at 25 to 60 fps (8.2.6)"
        return (MPEG2_MAIN_PROFILE_HIGH_LEVEL, "") if fits else (None, why)
    return None, f"MPEG-2 level {profile.level} is neither Main nor High Level"


#: Table 8-4: the BD-compatible sizes, rates and scans.
_BD = {
    (1080, 1920, 25.0, True),
    (1080, 1920, 29.97, True),
    (1080, 1920, 24.0, False),
    (1080, 1920, 23.976, False),
    (720, 1280, 50.0, False),
    (720, 1280, 59.94, False),
    (720, 1280, 24.0, False),
    (720, 1280, 23.976, False),
}


def _h264_syntax(video: Video) -> tuple[str | None, str]:
    profile = video.h264
    if profile is None:
        return None, "its H.264 sequence parameter set cannot be found"
    if reason := _common(video) or _h264_refusal(video, profile):
        return None, reason
    fps = float(video.rate)
    macroblocks = math.ceil(video.width / 16) * math.ceil(video.height / 16)
    for level, syntax in ((41, MPEG4_HP41), (42, MPEG4_HP42_2D)):
        max_fs, max_mbps = H264_LEVELS[level]
        if profile.level_idc <= level and macroblocks <= max_fs and macroblocks * fps <= max_mbps:
            if syntax == MPEG4_HP41 and _on_bd_list(video, fps):
                return MPEG4_HP41_BD, ""  # 8.2.7, Table 8-4: the most specific syntax
            return syntax, ""
    return None, (
        f"H.264 level {profile.level_idc / 10:g} at {video.width}x{video.height} "
        f"{fps:.4g} fps exceeds High Profile Level 4.2 (8.2.8)"
    )


def _h264_refusal(video: Video, profile: H264Profile) -> str:
    """Return why the stream is not for the High Profile syntaxes as it is, or empty."""
    # PS3.5 8.2.7 binds Rows, Columns, Cine Rate and Frame Time to "the High Profile /
    # Level 4.1" (8.2.8: Level 4.2); 10.10 and A.4.6 say the syntax "corresponds to" that
    # profile and level. No text requires profile_idc 100 itself. ITU-T H.264 A.2.4 makes
    # every High Profile decoder decode the bitstreams a Main Profile decoder decodes
    # (profile_idc 77, or constraint_set1_flag 1: Main and Constrained Baseline), so
    # those streams fit the High Profile syntaxes as they are. Baseline without
    # constraint_set1 (FMO, ASO, redundant slices) and Extended are not decodable by a
    # High Profile decoder and are transcoded.
    high_decodable = profile.profile_idc in {_H264_HIGH, _H264_MAIN} or (
        profile.profile_idc == _H264_BASELINE and profile.flag(1)
    )
    if not high_decodable:
        return f"H.264 profile_idc {profile.profile_idc} is not decodable as High Profile"
    if video.frame_packed:
        # 8.2.8, Table 8-8: the 2D syntaxes exclude frame packing; the 3D ones need Stereo
        # Pairs Present YES and the pairs' description, which dicomize does not write.
        return "the stream carries frame-packed stereo pairs (frame packing SEI)"
    return ""


def _on_bd_list(video: Video, fps: float) -> bool:
    return any(
        (video.height, video.width, video.interlaced) == (rows, columns, interlaced)
        and math.isclose(fps, rate, rel_tol=2e-4)
        for rows, columns, rate, interlaced in _BD
    )


def _hevc_syntax(video: Video) -> tuple[str | None, str]:
    profile = video.hevc
    if profile is None:
        return None, "its HEVC parameter sets cannot be found"
    if reason := _common(video):
        return None, reason
    # 8.2.10: Main Profile, Main tier, Level 5.1 at most. Main 10 (8.2.11) needs Bits
    # Stored 10, which the VL video IODs forbid (C.8.12.1.1.2: 8 only): transcoded.
    if profile.profile_idc != _HEVC_MAIN_PROFILE or profile.high_tier:
        return None, f"HEVC profile {profile.profile_idc} is not Main Profile, Main tier"
    samples = video.width * video.height
    if (
        profile.level_idc <= _HEVC_LEVEL_51
        and samples <= HEVC_51[0]
        and samples * float(video.rate) <= HEVC_51[1]
    ):
        return HEVC_MP51, ""
    return None, "HEVC level beyond 5.1 (8.2.10)"


#: PS3.5 Table 8.2.12-1: the audio an AVC or HEVC stream may carry, by FFmpeg codec:
#: (sampling frequencies, highest bit rate, MPEG-2 TS only).
_AUDIO_RULES: dict[str, tuple[frozenset[int], int, bool]] = {
    "aac": (frozenset({48000}), 640_000, False),
    "mp3": (frozenset({32000, 44100, 48000}), 320_000, False),
    "mp2": (frozenset({32000, 44100, 48000}), 384_000, False),
    "ac3": (frozenset({48000}), 640_000, True),
    "pcm_s16be": (frozenset({48000, 96000}), 4_608_000, True),
    "pcm_s24be": (frozenset({48000, 96000}), 4_608_000, True),
    "pcm_bluray": (frozenset({48000, 96000}), 4_608_000, True),
}


def audio_allowed(track: AudioTrack, syntax: str, *, mp4: bool) -> str:
    """Return why `track` cannot stay beside the stream, or empty (PS3.5 8.2.12)."""
    if syntax in {MPEG2_MAIN_PROFILE_MAIN_LEVEL, MPEG2_MAIN_PROFILE_HIGH_LEVEL}:
        return ""  # 8.2.12 constrains the AVC and HEVC syntaxes only
    rule = _AUDIO_RULES.get(track.codec)
    if rule is None:
        return f"{track.codec} audio is none of LPCM, AC-3, AAC, MP3, MPEG-1 Layer II (8.2.12)"
    rates, most, ts_only = rule
    if ts_only and mp4:
        return f"{track.codec} audio is allowed in MPEG-2 TS only (Table 8.2.12-1)"
    if track.sample_rate not in rates:
        return f"{track.codec} audio at {track.sample_rate} Hz (8.2.12: {sorted(rates)} Hz)"
    if track.bit_rate > most:
        return f"{track.codec} audio at {track.bit_rate // 1000} kbit/s (8.2.12: {most // 1000})"
    return ""

"""Video clips into the DICOM video transfer syntaxes: passed through when legal, else transcoded.

:func:`probe` reads a clip with PyAV (FFmpeg's libraries, in its wheels): the
container, the video stream's size, rate and sampling, every packet (so a
truncated file is found before anything is written), the first picture
decoded, and the profile and level the stream declares of itself
(:mod:`dicomize.codestreams.video`). :func:`choose_syntax` then applies PS3.5
8.2.5-8.2.11 rule by rule; each rule cites its section. :func:`prepare_video`
gives the bytes to store:

* the file itself when its stream and container are legal as they are;
* the same stream in an MP4 when only the container is not (QuickTime, Matroska,
  AVI: "the container shall be MPEG-2 TS or MP4", 8.2.7-8.2.11), or when audio
  the syntax does not allow must go (8.2.12);
* a new H.264 High or HEVC Main stream (PyAV, libx264 / libx265, ``crf``) when the
  stream itself does not fit any syntax.

Frames are never held in memory: a passed-through clip is streamed from its
file into the Part 10 file, and a remuxed or transcoded one from a temporary
file in the folder the caller names.
"""

from __future__ import annotations

import fractions
import itertools
import math
import os
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicomize.codestreams.containers import VIDEO_SUFFIXES, is_video
from dicomize.codestreams.video import (
    H264Profile,
    HevcProfile,
    Mpeg2Profile,
    h264_frame_packing,
    h264_profile,
    hevc_profile,
    mpeg2_profile,
)
from dicomize.dicom.uids import (
    HEVC_MP51,
    MPEG2_MAIN_PROFILE_HIGH_LEVEL,
    MPEG2_MAIN_PROFILE_MAIN_LEVEL,
    MPEG4_HP41,
    MPEG4_HP41_BD,
    MPEG4_HP42_2D,
)
from dicomize.errors import CorruptImage, ImageTooLarge, InputError, UnsupportedInput

__all__ = [
    "VIDEO_SUFFIXES",
    "VIDEO_SYNTAXES",
    "AudioTrack",
    "PreparedVideo",
    "Video",
    "choose_syntax",
    "encode_pictures",
    "is_video",
    "prepare_video",
    "probe",
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

_PROBE_BYTES = 1 << 20
_H264_HIGH, _H264_MAIN, _H264_BASELINE = 100, 77, 66
_HEVC_MAIN_PROFILE = 1
_HEVC_LEVEL_51 = 153
_MPEG2_MAIN_PROFILE, _MPEG2_MAIN_LEVEL, _MPEG2_HIGH_LEVEL = 4, 8, 4
_CHROMA_420 = 1
#: ITU-T H.264 Table A-1: frame size (MaxFS, macroblocks) and macroblock rate (MaxMBPS).
_H264_LEVELS = {41: (8192, 245760), 42: (8704, 522240)}
#: ITU-T H.265 Table A.8: luma picture size (MaxLumaPs) and sample rate (MaxLumaSr).
_HEVC_51 = (8912896, 534773760)
_EIGHT_BIT_420 = frozenset(("yuv420p", "yuvj420p"))
#: Lossy Image Compression Method defined terms (C.7.6.1.1.5.1) of source codecs.
_METHODS = {
    "h264": "ISO_14496_10",
    "hevc": "ISO_23008_2",
    "mpeg2video": "ISO_13818_2",
    "mjpeg": "ISO_10918_1",
}
#: Source codecs that lose nothing: no lossy step to record before a transcode.
_LOSSLESS_CODECS = frozenset(("rawvideo", "ffv1", "png", "huffyuv", "utvideo", "qtrle"))


@dataclass(frozen=True, kw_only=True, slots=True)
class AudioTrack:
    """An audio stream beside the video."""

    codec: str
    sample_rate: int
    channels: int
    bit_rate: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Video:
    """What a clip holds, read from its container and stream."""

    path: Path
    size: int
    #: FFmpeg's demuxer name ("mov,mp4,m4a,3gp,3g2,mj2", "mpegts", "mpeg", "matroska,webm", ...).
    container: str
    #: True for ISO MP4 (not QuickTime), the only ISO base media file 8.2.7-8.2.11 name.
    mp4: bool
    codec: str
    width: int
    height: int
    rate: fractions.Fraction
    frames: int
    pix_fmt: str
    interlaced: bool
    square_pixels: bool
    h264: H264Profile | None
    #: The H.264 stream says its pictures are frame-packed stereo pairs (an SEI, D.1.26).
    frame_packed: bool
    hevc: HevcProfile | None
    mpeg2: Mpeg2Profile | None
    audio: tuple[AudioTrack, ...]


#: File name suffixes of video containers: only to explain why such a file is refused.
def _av() -> Any:  # noqa: ANN401  (the av module)
    try:
        import av  # FFmpeg loads only for video
    except ImportError:
        raise UnsupportedInput("video needs PyAV: pip install 'dicomize[video]'") from None
    return av


def probe(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> Video:
    """Read what a clip holds, checking every packet and decoding the first picture.

    Raises
    ------
    dicomize.errors.InputError
        Not a video FFmpeg reads, no video stream, truncated, undecodable, zero
        frames, or beyond `max_pixels` per frame.
    """
    av = _av()
    name = Path(path)
    try:
        with av.open(str(name)) as container:
            return _probe(container, name, max_pixels, name.stat().st_size)
    except InputError as exc:
        raise exc.with_source(name) from None
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        # PyAV decodes container metadata as UTF-8: a damaged file fails there too.
        reason = _ffmpeg_reason(exc)
        raise CorruptImage(
            f"FFmpeg cannot read it as video ({reason}: damaged, truncated, or not a video)", name
        ) from None
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), name) from None


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
    import io

    av = _av()
    try:
        with av.open(io.BytesIO(data)) as container:
            video = _probe(container, Path("stream"), None, len(data))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise CorruptImage(f"FFmpeg cannot read it as video ({_ffmpeg_reason(exc)})") from None
    return (video, *choose_syntax(video))


def _ffmpeg_reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "its metadata is not text"
    return str(getattr(exc, "strerror", None) or exc).split(":")[0].strip().lower()


def _probe(container: Any, name: Path, max_pixels: int | None, size: int) -> Video:  # noqa: ANN401
    if not container.streams.video:
        raise UnsupportedInput("holds no video stream")
    stream = container.streams.video[0]
    context = stream.codec_context
    width, height = int(context.width), int(context.height)
    if width < 1 or height < 1:
        raise CorruptImage("the video stream has no picture size")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} pixels exceeds the limit of {max_pixels} pixels")
    rate = stream.average_rate or stream.guessed_rate or context.framerate
    if not rate or rate <= 0:
        raise CorruptImage("the video stream has no frame rate")
    _check_complete(container.format.name, name if size == _on_disk(name) else None, size)
    frames, sample = _count_packets(container, stream)
    if frames == 0:
        raise CorruptImage("the video stream has no frames")
    _decode_first(container, stream)
    extradata = bytes(context.extradata or b"")
    ratio = stream.sample_aspect_ratio or context.sample_aspect_ratio
    major = str(container.metadata.get("major_brand", "")).strip()
    return Video(
        path=name,
        size=size,
        container=container.format.name,
        mp4=container.format.name.startswith("mov,mp4") and major not in {"", "qt"},
        codec=context.name,
        width=width,
        height=height,
        rate=fractions.Fraction(rate),
        frames=frames,
        pix_fmt=str(context.pix_fmt),
        interlaced=int(context.field_order or 0) > 1,
        square_pixels=ratio is None or ratio in {0, 1},
        h264=h264_profile(extradata, sample) if context.name == "h264" else None,
        frame_packed=context.name == "h264" and h264_frame_packing(sample, extradata),
        hevc=hevc_profile(extradata, sample) if context.name == "hevc" else None,
        mpeg2=mpeg2_profile(extradata + sample) if context.name == "mpeg2video" else None,
        audio=tuple(
            AudioTrack(
                codec=a.codec_context.name,
                sample_rate=int(a.codec_context.sample_rate or 0),
                channels=int(a.codec_context.channels or 0),
                bit_rate=int(a.codec_context.bit_rate or a.bit_rate or 0),
            )
            for a in container.streams.audio
        ),
    )


def _on_disk(name: Path) -> int:
    try:
        return name.stat().st_size
    except OSError:
        return -1


_TS_PACKET = 188
_PS_PACK = b"\x00\x00\x01\xba"
_PS_END = b"\x00\x00\x01\xb9"


def _check_complete(demuxer: str, path: Path | None, size: int) -> None:
    """Refuse a transport or program stream cut short, which FFmpeg reads without a word.

    An MP4's sample table says how many frames there are (checked when they are
    counted); MPEG-2 TS and PS have no such index, but their packets have sizes:
    TS packets are 188 bytes (ISO/IEC 13818-1 2.4.3.2), and every PS pack and PES
    packet declares its length (2.5.3.3, 2.4.3.6).
    """
    if demuxer == "mpegts" and size % _TS_PACKET:
        raise CorruptImage(f"the transport stream ends inside a packet (truncated): {size} bytes")
    if demuxer in {"mpeg", "vob"} and path is not None:
        _walk_program_stream(path)


def _walk_program_stream(path: Path) -> None:
    import struct

    with path.open("rb") as stream:
        size = path.stat().st_size
        position = 0
        while position + 4 <= size:
            stream.seek(position)
            head = stream.read(14)
            if head[:4] == _PS_END:
                return
            if head[:4] == _PS_PACK:
                # MPEG-2 pack header: 14 bytes and its stuffing; MPEG-1: 12 bytes.
                mpeg2 = len(head) > 4 and head[4] >> 6 == 1  # noqa: PLR2004
                length = 14 + (head[13] & 0x07) if mpeg2 and len(head) == 14 else 12  # noqa: PLR2004
            elif head[:3] == b"\x00\x00\x01" and len(head) >= 6:  # noqa: PLR2004
                length = 6 + struct.unpack(">H", head[4:6])[0]
            elif not head.strip(b"\xff\x00"):
                return  # padding to the end
            else:
                raise CorruptImage(f"the program stream is damaged at byte {position}")
            if position + length > size:
                raise CorruptImage(
                    f"the program stream ends inside a packet at byte {position} (truncated)"
                )
            position += length


def _count_packets(container: Any, stream: Any) -> tuple[int, bytes]:  # noqa: ANN401
    """Demux every video packet (no decoding): count them; keep the first's bytes."""
    av = _av()
    frames, sample = 0, b""
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the demuxer's flush packet
            if not sample:
                sample = bytes(packet)[:_PROBE_BYTES]
            frames += 1
    except av.error.FFmpegError as exc:
        reason = _ffmpeg_reason(exc)
        raise CorruptImage(
            f"the file is damaged or truncated after {frames} frames ({reason})"
        ) from None
    declared = int(stream.frames or 0)  # an MP4's sample table says how many there are
    if declared and frames < declared:
        raise CorruptImage(f"the file ends after {frames} of its {declared} frames (truncated)")
    container.seek(0)
    return frames, sample


def _decode_first(container: Any, stream: Any) -> None:  # noqa: ANN401
    av = _av()
    try:
        for frame in container.decode(stream):
            if frame is not None:
                container.seek(0)
                return
    except av.error.FFmpegError as exc:
        reason = _ffmpeg_reason(exc)
        raise CorruptImage(f"no picture of the video stream decodes ({reason})") from None
    raise CorruptImage("no picture of the video stream decodes")


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
        max_fs, max_mbps = _H264_LEVELS[level]
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
        and samples <= _HEVC_51[0]
        and samples * float(video.rate) <= _HEVC_51[1]
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


def _audio_allowed(track: AudioTrack, syntax: str, *, mp4: bool) -> str:
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


# A weak reference: the temporary stream is removed when the object goes (weakref.finalize).
@dataclass(kw_only=True, slots=True, weakref_slot=True)
class PreparedVideo:
    """The bytes to store and the facts the object records."""

    path: Path
    transfer_syntax: str
    width: int
    height: int
    rate: fractions.Fraction
    frames: int
    audio: tuple[AudioTrack, ...]
    #: Lossy compression steps, oldest first: (method defined term or None, ratio).
    lossy: tuple[tuple[str | None, float], ...]
    #: What was done and why, for the user and Derivation Description.
    notes: tuple[str, ...]
    #: Pictures made anew (a transcode): Image Type DERIVED.
    derived: bool

    @property
    def size(self) -> int:
        """Bytes of the stream (a fragment's worth at most)."""
        return self.path.stat().st_size

    def chunks(self, size: int = 1 << 23) -> Iterator[bytes]:
        """Yield the stream's bytes, `size` at a time."""
        with self.path.open("rb") as stream:
            while chunk := stream.read(size):
                yield chunk


def prepare_video(
    path: str | os.PathLike[str],
    *,
    transcode: bool = True,
    crf: int = 18,
    temporary_folder: str | os.PathLike[str] | None = None,
    max_pixels: int | None = None,
) -> PreparedVideo:
    """Probe a clip and make the stream to store: as it is, in an MP4, or transcoded.

    Raises
    ------
    dicomize.errors.InputError
        A clip that cannot be read, or (`transcode` False) that would need transcoding.
    """
    video = probe(path, max_pixels=max_pixels)
    syntax, reason = choose_syntax(video)
    raw = video.width * video.height * 1.5 * video.frames  # 4:2:0 samples, 8 bits each
    if syntax is not None:
        return _keep(video, syntax, raw, temporary_folder)
    if video.frame_packed:
        # FFmpeg carries the packing into any re-encoding: no 2D stream can be made of it.
        raise UnsupportedInput(
            "frame-packed stereo H.264: the 3D syntaxes (PS3.5 8.2.8, 8.2.9) are not "
            "written, and a 2D syntax must not hold it",
            video.path,
        )
    if not transcode:
        raise UnsupportedInput(f"would need transcoding: {reason}", video.path, option="transcode")
    return _transcode(video, reason, crf, raw, temporary_folder)


def _keep(
    video: Video, syntax: str, raw: float, folder: str | os.PathLike[str] | None
) -> PreparedVideo:
    method = VIDEO_SYNTAXES[syntax]
    mpeg2 = syntax in {MPEG2_MAIN_PROFILE_MAIN_LEVEL, MPEG2_MAIN_PROFILE_HIGH_LEVEL}
    container_ok = mpeg2 or video.mp4 or video.container == "mpegts"
    dropped = [
        f"audio dropped: {why}"
        for track in video.audio
        if (why := _audio_allowed(track, syntax, mp4=video.container != "mpegts"))
    ]
    notes: list[str] = []
    temporary = None
    if not (container_ok and not dropped):
        # 8.2.7-8.2.11: MPEG-2 TS or MP4 only; the stream itself is copied, not re-encoded.
        temporary = _remux(video, folder, keep_audio=not dropped)
        if not container_ok:
            notes.append(
                f"stream copied from {video.container.split(',')[0]} into MP4 (PS3.5 8.2.7)"
            )
        notes += dropped
    path = temporary or video.path
    stored = path.stat().st_size
    audio = video.audio if not dropped else ()
    prepared = PreparedVideo(
        path=path,
        transfer_syntax=syntax,
        width=video.width,
        height=video.height,
        rate=video.rate,
        frames=video.frames,
        audio=audio,
        lossy=((method, round(raw / max(stored, 1), 2)),),
        notes=tuple(notes),
        derived=False,
    )
    return _owning(prepared, temporary)


def _temporary(folder: str | os.PathLike[str] | None) -> Path:
    """Make a hidden temporary MP4 in `folder`; the PreparedVideo holding it removes it."""
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)  # the output folder, made early
    handle, name = tempfile.mkstemp(suffix=".mp4", prefix=".dicomize-", dir=folder)
    os.close(handle)
    return Path(name)


def _owning(prepared: PreparedVideo, temporary: Path | None) -> PreparedVideo:
    if temporary is not None:
        # Removed when the object is written and dropped, or at exit, whichever first.
        weakref.finalize(prepared, temporary.unlink, missing_ok=True)
    return prepared


def _remux(video: Video, folder: str | os.PathLike[str] | None, *, keep_audio: bool) -> Path:
    """Copy the video stream (and audio, if kept) into an MP4, packet for packet."""
    av = _av()
    target = _temporary(folder)
    try:
        with av.open(str(video.path)) as source, av.open(str(target), "w", format="mp4") as out:
            streams = [source.streams.video[0]] + (list(source.streams.audio) if keep_audio else [])
            mapping = {s.index: out.add_stream_from_template(s) for s in streams}
            for packet in _with_dts(source.demux(streams)):
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _with_dts(packets: Iterator[Any]) -> Iterator[Any]:
    """Give every packet a decoding time, as MP4 needs; leave out the demuxer's flush packets.

    Matroska stores presentation times only, so the first packets of a stream with
    reordered (B) frames come without a decoding time: it is counted back, one
    frame duration a packet, from the first that has one.
    """
    waiting: dict[int, list[Any]] = {}
    last: dict[int, int] = {}
    for packet in packets:
        if packet.size == 0:
            continue
        index = packet.stream.index
        if packet.dts is None and index not in last:
            waiting.setdefault(index, []).append(packet)
            continue
        if packet.dts is None:
            packet.dts = last[index] + (packet.duration or 1)
        held = waiting.pop(index, [])
        for back, early in enumerate(held):
            early.dts = packet.dts - (len(held) - back) * (early.duration or 1)
            yield early
        last[index] = packet.dts
        yield packet
    for held in waiting.values():  # no packet ever had a decoding time: presentation order
        for packet in held:
            packet.dts = packet.pts
            yield packet


def encode_pictures(
    pictures: Iterator[Any],
    *,
    rate: fractions.Fraction,
    crf: int = 18,
    temporary_folder: str | os.PathLike[str] | None = None,
) -> PreparedVideo:
    """Encode pictures (8-bit RGB or gray arrays, one size) as an H.264 or HEVC clip.

    Raises
    ------
    dicomize.errors.InputError
        No pictures, pictures that differ in size, or a size no syntax holds.
    """
    av = _av()
    first = next(pictures, None)
    if first is None:
        raise UnsupportedInput("no pictures to join")
    height, width = first.shape[:2]
    codec, syntax, options = _encoder_for(width, height, float(rate), crf)
    even = (width + width % 2, height + height % 2)
    target = _temporary(temporary_folder)
    frames = 0
    try:
        with av.open(str(target), "w", format="mp4") as out:
            stream = out.add_stream(codec, rate=rate, options=options)
            stream.width, stream.height, stream.pix_fmt = *even, "yuv420p"
            for pixels in _same_size(itertools.chain([first], pictures), width, height):
                layout = "rgb24" if pixels.ndim == 3 else "gray"  # noqa: PLR2004
                frame = av.VideoFrame.from_ndarray(pixels, layout)
                picture = frame.reformat(
                    width=even[0], height=even[1], format="yuv420p", dst_color_range="MPEG"
                )
                picture.pts, picture.time_base = frames, 1 / rate
                out.mux(stream.encode(picture))
                frames += 1
            out.mux(stream.encode(None))
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    raw = width * height * 3 * frames
    notes = [
        f"{frames} pictures encoded as {'H.264 High' if codec == 'libx264' else 'HEVC Main'} "
        f"at {float(rate):.4g} fps (crf {crf}): lossy"
    ]
    prepared = PreparedVideo(
        path=target,
        transfer_syntax=syntax,
        width=even[0],
        height=even[1],
        rate=rate,
        frames=frames,
        audio=(),
        lossy=((VIDEO_SYNTAXES[syntax], round(raw / max(target.stat().st_size, 1), 2)),),
        notes=tuple(notes),
        derived=True,
    )
    return _owning(prepared, target)


def _same_size(pictures: Iterator[Any], width: int, height: int) -> Iterator[Any]:
    for number, pixels in enumerate(pictures, start=1):
        if pixels.shape[:2] != (height, width):
            raise UnsupportedInput(
                f"picture {number} is {pixels.shape[1]}x{pixels.shape[0]}; "
                f"the first is {width}x{height}: the pictures of a clip agree in size"
            )
        yield pixels


def _encoder_for(width: int, height: int, fps: float, crf: int) -> tuple[str, str, dict[str, str]]:
    """Choose the encoder, syntax and settings that hold `width` x `height` at `fps`.

    H.264 High at Level 4.1, else 4.2 (8.2.7, 8.2.8), for what their macroblock
    limits hold; else HEVC Main, Main tier, Level 5.1 (8.2.10).
    """
    macroblocks = math.ceil(width / 16) * math.ceil(height / 16)
    samples = width * height
    options: dict[str, str]
    for level, syntax in ((41, MPEG4_HP41), (42, MPEG4_HP42_2D)):
        max_fs, max_mbps = _H264_LEVELS[level]
        if macroblocks <= max_fs and macroblocks * fps <= max_mbps:
            options = {"profile": "high", "level": f"{level / 10:g}", "crf": str(crf)}
            return "libx264", syntax, options
    if samples <= _HEVC_51[0] and samples * fps <= _HEVC_51[1]:
        # 8.2.10: Main tier; x265 picks the High tier at 4K unless told.
        params = "level-idc=51:high-tier=0:log-level=error"
        return "libx265", HEVC_MP51, {"profile": "main", "x265-params": params, "crf": str(crf)}
    raise UnsupportedInput(
        f"{width}x{height} at {fps:.4g} fps is beyond every DICOM video syntax "
        "(HEVC Level 5.1 at most); scale it down first"
    )


def _transcode(
    video: Video, reason: str, crf: int, raw: float, folder: str | os.PathLike[str] | None
) -> PreparedVideo:
    av = _av()
    try:
        codec, syntax, options = _encoder_for(video.width, video.height, float(video.rate), crf)
    except InputError as exc:
        raise exc.with_source(video.path) from None
    kept = [t for t in video.audio if not _audio_allowed(t, syntax, mp4=True)]
    target = _temporary(folder)
    width, height = video.width + video.width % 2, video.height + video.height % 2
    try:
        frames = _encode(video, target, codec, options, (width, height), keep_audio=bool(kept))
    except av.error.FFmpegError as exc:
        target.unlink(missing_ok=True)
        reason = _ffmpeg_reason(exc)
        raise CorruptImage(f"FFmpeg cannot transcode it ({reason})", video.path) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    stored = target.stat().st_size
    history: list[tuple[str | None, float]] = []
    if video.codec not in _LOSSLESS_CODECS:
        # The source's own lossy step first (C.7.6.1.1.5); a codec without a defined
        # term (VP9, AV1) is recorded by its ratio alone.
        history.append((_METHODS.get(video.codec), round(raw / max(video.size, 1), 2)))
    history.append((VIDEO_SYNTAXES[syntax], round(raw / max(stored, 1), 2)))
    target_name = "H.264 High" if codec == "libx264" else "HEVC Main"
    notes = [f"transcoded from {video.codec} to {target_name} (crf {crf}): {reason}"]
    if (width, height) != (video.width, video.height):
        notes.append(f"scaled from {video.width}x{video.height} to even {width}x{height} (4:2:0)")
    notes += [
        f"audio dropped: {why}"
        for track in video.audio
        if (why := _audio_allowed(track, syntax, mp4=True))
    ]
    prepared = PreparedVideo(
        path=target,
        transfer_syntax=syntax,
        width=width,
        height=height,
        rate=video.rate,
        frames=frames,
        audio=tuple(kept),
        lossy=tuple(history),
        notes=tuple(notes),
        derived=True,
    )
    return _owning(prepared, target)


def _encode(
    video: Video,
    target: Path,
    codec: str,
    options: dict[str, str],
    size: tuple[int, int],
    *,
    keep_audio: bool,
) -> int:
    """Decode the clip and encode its pictures into `target`; copy allowed audio as it is."""
    av = _av()
    width, height = size
    with av.open(str(video.path)) as source, av.open(str(target), "w", format="mp4") as out:
        picture_in = source.streams.video[0]
        stream = out.add_stream(codec, rate=video.rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        audio = {a.index: out.add_stream_from_template(a) for a in source.streams.audio}
        if not keep_audio:
            audio = {}
        frames = 0
        step = fractions.Fraction(1) / video.rate
        for packet in source.demux(
            picture_in, *(s for s in source.streams.audio if s.index in audio)
        ):
            if packet.stream.index in audio:
                if packet.dts is not None:
                    packet.stream = audio[packet.stream.index]
                    out.mux(packet)
                continue
            for frame in packet.decode():
                # Limited range, as the stream says: a JPEG-range source is converted.
                picture = frame.reformat(
                    width=width, height=height, format="yuv420p", dst_color_range="MPEG"
                )
                picture.pts, picture.time_base = frames, step
                out.mux(stream.encode(picture))
                frames += 1
        out.mux(stream.encode(None))
    return frames

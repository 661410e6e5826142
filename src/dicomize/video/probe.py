"""What a clip holds, read with PyAV: its container, its video stream, its audio, whole.

:func:`probe` reads a clip with PyAV (FFmpeg's libraries, in its wheels): the
container, the video stream's size, rate and sampling, every packet (so a
truncated file is found before anything is written), the first picture
decoded, and the profile and level the stream declares of itself
(:mod:`dicomize.codestreams.video`). :func:`probe_bytes` does the same for a
stream held in memory. MPEG-2 transport and program streams, which have no
index, are walked packet by packet to find one cut short.

PyAV loads on the first clip (:func:`load_av`), never on import.
"""

from __future__ import annotations

import datetime as dt
import fractions
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicomize.codestreams.video import (
    H264Profile,
    HevcProfile,
    Mpeg2Profile,
    h264_frame_packing,
    h264_profile,
    hevc_profile,
    mpeg2_profile,
)
from dicomize.errors import CorruptImage, ImageTooLarge, InputError, UnsupportedInput

__all__ = ["AudioTrack", "Video", "ffmpeg_reason", "load_av", "probe", "probe_bytes"]

_PROBE_BYTES = 1 << 20


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
    #: Bytes of the video stream's packets: its compressed pixels, without the
    #: container or the audio (what Lossy Image Compression Ratio is measured over).
    stream_bytes: int
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
    #: When the clip was recorded, as its container says (aware: MP4 times are UTC), or None.
    created: dt.datetime | None = None


def load_av() -> Any:  # noqa: ANN401  (the av module)
    """Import PyAV, or say how to install it.

    Raises
    ------
    dicomize.errors.UnsupportedInput
        When PyAV is not installed.
    """
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
    av = load_av()
    name = Path(path)
    try:
        with av.open(str(name)) as container:
            return _probe(container, name, max_pixels, name.stat().st_size)
    except InputError as exc:
        raise exc.with_source(name) from None
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        # PyAV decodes container metadata as UTF-8: a damaged file fails there too.
        reason = ffmpeg_reason(exc)
        raise CorruptImage(
            f"FFmpeg cannot read it as video ({reason}: damaged, truncated, or not a video)", name
        ) from None
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), name) from None


def probe_bytes(data: bytes) -> Video:
    """Read what a stream held in memory (a video object's Pixel Data) holds.

    Raises
    ------
    dicomize.errors.InputError
        When FFmpeg cannot read it.
    """
    import io

    av = load_av()
    try:
        with av.open(io.BytesIO(data)) as container:
            video = _probe(container, Path("stream"), None, len(data))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise CorruptImage(f"FFmpeg cannot read it as video ({ffmpeg_reason(exc)})") from None
    return video


def ffmpeg_reason(exc: Exception) -> str:
    """Say in a few words why FFmpeg (or PyAV) failed."""
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
    frames, stream_bytes, sample = _count_packets(container, stream)
    if frames == 0:
        raise CorruptImage("the video stream has no frames")
    _decode_first(container, stream)
    extradata = bytes(context.extradata or b"")
    ratio = stream.sample_aspect_ratio or context.sample_aspect_ratio
    major = str(container.metadata.get("major_brand", "")).strip()
    return Video(
        path=name,
        size=size,
        stream_bytes=stream_bytes,
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
        created=_recorded(container.metadata),
    )


#: Where a container says when it was recorded, by preference: QuickTime's capture time
#: with the camera's offset (phones write it), then the MP4/MOV creation time (ISO/IEC
#: 14496-12 8.2.2: seconds since 1904 in UTC, which FFmpeg gives with a "Z").
_RECORDED = ("com.apple.quicktime.creationdate", "creation_time")
#: A creation time at or before the Unix epoch is a zero field, not a recording.
_NEVER = dt.datetime(1970, 1, 2, tzinfo=dt.UTC)


def _recorded(metadata: Any) -> dt.datetime | None:  # noqa: ANN401  (PyAV's metadata dict)
    for key in _RECORDED:
        try:
            moment = dt.datetime.fromisoformat(str(metadata.get(key, "")).strip())
        except ValueError:
            continue
        if moment.tzinfo is None or moment > _NEVER:
            return moment
    return None


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


def _count_packets(container: Any, stream: Any) -> tuple[int, int, bytes]:  # noqa: ANN401
    """Demux every video packet (no decoding): count them and their bytes; keep the first's."""
    av = load_av()
    frames, total, sample = 0, 0, b""
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the demuxer's flush packet
            if not sample:
                sample = bytes(packet)[:_PROBE_BYTES]
            frames += 1
            total += packet.size
    except av.error.FFmpegError as exc:
        reason = ffmpeg_reason(exc)
        raise CorruptImage(
            f"the file is damaged or truncated after {frames} frames ({reason})"
        ) from None
    declared = int(stream.frames or 0)  # an MP4's sample table says how many there are
    if declared and frames < declared:
        raise CorruptImage(f"the file ends after {frames} of its {declared} frames (truncated)")
    container.seek(0)
    return frames, total, sample


def _decode_first(container: Any, stream: Any) -> None:  # noqa: ANN401
    av = load_av()
    try:
        for frame in container.decode(stream):
            if frame is not None:
                container.seek(0)
                return
    except av.error.FFmpegError as exc:
        reason = ffmpeg_reason(exc)
        raise CorruptImage(f"no picture of the video stream decodes ({reason})") from None
    raise CorruptImage("no picture of the video stream decodes")

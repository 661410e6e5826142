"""The stream to store: a clip as it is, remuxed into MP4, or transcoded; pictures encoded.

:func:`prepare_video` probes a clip (:mod:`dicomize.video.probe`), asks
:func:`~dicomize.video.syntax.choose_syntax` which transfer syntax holds its
stream, and gives the bytes to store:

* the file itself when its stream and container are legal as they are;
* the same stream in an MP4 when only the container is not (QuickTime, Matroska,
  AVI: "the container shall be MPEG-2 TS or MP4", 8.2.7-8.2.11), or when audio
  the syntax does not allow must go (8.2.12);
* a new H.264 High or HEVC Main stream (PyAV, libx264 / libx265, ``crf``) when the
  stream itself does not fit any syntax.

:func:`encode_pictures` makes such a stream of pictures (``--video``).

Frames are never held in memory: a passed-through clip is streamed from its
file into the Part 10 file, and a remuxed or transcoded one from a temporary
file in the folder the caller names.
"""

from __future__ import annotations

import datetime as dt
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

from dicomize.dicom.uids import (
    HEVC_MP51,
    MPEG2_MAIN_PROFILE_HIGH_LEVEL,
    MPEG2_MAIN_PROFILE_MAIN_LEVEL,
    MPEG4_HP41,
    MPEG4_HP42_2D,
)
from dicomize.errors import CorruptImage, InputError, UnsupportedInput
from dicomize.picture import compression_ratio
from dicomize.video.probe import AudioTrack, Video, ffmpeg_reason, load_av, probe
from dicomize.video.syntax import (
    H264_LEVELS,
    HEVC_51,
    VIDEO_SYNTAXES,
    audio_allowed,
    choose_syntax,
)

__all__ = ["PreparedVideo", "encode_pictures", "prepare_video"]

#: Lossy Image Compression Method defined terms (C.7.6.1.1.5.1) of source codecs.
_METHODS = {
    "h264": "ISO_14496_10",
    "hevc": "ISO_23008_2",
    "mpeg2video": "ISO_13818_2",
    "mjpeg": "ISO_10918_1",
}
#: Source codecs that lose nothing: no lossy step to record before a transcode.
_LOSSLESS_CODECS = frozenset(("rawvideo", "ffv1", "png", "huffyuv", "utvideo", "qtrle"))


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
    #: When the clip was recorded, as its container says, or None (Content Date and Time).
    created: dt.datetime | None = None

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
    if syntax is not None:
        return _keep(video, syntax, temporary_folder)
    if video.frame_packed:
        # FFmpeg carries the packing into any re-encoding: no 2D stream can be made of it.
        raise UnsupportedInput(
            "frame-packed stereo H.264: the 3D syntaxes (PS3.5 8.2.8, 8.2.9) are not "
            "written, and a 2D syntax must not hold it",
            video.path,
        )
    if not transcode:
        raise UnsupportedInput(f"would need transcoding: {reason}", video.path, option="transcode")
    return _transcode(video, reason, crf, temporary_folder)


def _keep(video: Video, syntax: str, folder: str | os.PathLike[str] | None) -> PreparedVideo:
    method = VIDEO_SYNTAXES[syntax]
    mpeg2 = syntax in {MPEG2_MAIN_PROFILE_MAIN_LEVEL, MPEG2_MAIN_PROFILE_HIGH_LEVEL}
    container_ok = mpeg2 or video.mp4 or video.container == "mpegts"
    dropped = [
        f"audio dropped: {why}"
        for track in video.audio
        if (why := audio_allowed(track, syntax, mp4=video.container != "mpegts"))
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
    audio = video.audio if not dropped else ()
    prepared = PreparedVideo(
        path=path,
        transfer_syntax=syntax,
        width=video.width,
        height=video.height,
        rate=video.rate,
        frames=video.frames,
        audio=audio,
        # The stream is stored as it came (a remux copies its packets): its own bytes.
        lossy=((method, _ratio(video.width, video.height, video.frames, video.stream_bytes)),),
        notes=tuple(notes),
        derived=False,
        created=video.created,
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
    av = load_av()
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
    av = load_av()
    first = next(pictures, None)
    if first is None:
        raise UnsupportedInput("no pictures to join")
    height, width = first.shape[:2]
    codec, syntax, options = _encoder_for(width, height, float(rate), crf)
    even = (width + width % 2, height + height % 2)
    target = _temporary(temporary_folder)
    frames = encoded = 0
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
                encoded += _mux(out, stream.encode(picture))
                frames += 1
            encoded += _mux(out, stream.encode(None))
    except BaseException:
        target.unlink(missing_ok=True)
        raise
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
        lossy=((VIDEO_SYNTAXES[syntax], _ratio(*even, frames, encoded)),),
        notes=tuple(notes),
        derived=True,
    )
    return _owning(prepared, target)


def _mux(out: Any, packets: list[Any]) -> int:  # noqa: ANN401  (a PyAV container)
    """Write an encoder's packets; return their bytes (the stream's, not the MP4's)."""
    out.mux(packets)
    return sum(packet.size for packet in packets)


def _ratio(width: int, height: int, frames: int, compressed: int) -> float:
    # Rows x Columns x 3 samples x 8 bits, as the object describes its pixels
    # (YBR_PARTIAL_420, PS3.5 8.2.5-8.2.11): every still's basis, not 4:2:0's 1.5 bytes.
    return compression_ratio(
        rows=height,
        columns=width,
        samples_per_pixel=3,
        bits_allocated=8,
        frames=frames,
        compressed=compressed,
    )


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
        max_fs, max_mbps = H264_LEVELS[level]
        if macroblocks <= max_fs and macroblocks * fps <= max_mbps:
            options = {"profile": "high", "level": f"{level / 10:g}", "crf": str(crf)}
            return "libx264", syntax, options
    if samples <= HEVC_51[0] and samples * fps <= HEVC_51[1]:
        # 8.2.10: Main tier; x265 picks the High tier at 4K unless told.
        params = "level-idc=51:high-tier=0:log-level=error"
        return "libx265", HEVC_MP51, {"profile": "main", "x265-params": params, "crf": str(crf)}
    raise UnsupportedInput(
        f"{width}x{height} at {fps:.4g} fps is beyond every DICOM video syntax "
        "(HEVC Level 5.1 at most); scale it down first"
    )


def _transcode(
    video: Video, reason: str, crf: int, folder: str | os.PathLike[str] | None
) -> PreparedVideo:
    av = load_av()
    try:
        codec, syntax, options = _encoder_for(video.width, video.height, float(video.rate), crf)
    except InputError as exc:
        raise exc.with_source(video.path) from None
    kept = [t for t in video.audio if not audio_allowed(t, syntax, mp4=True)]
    target = _temporary(folder)
    width, height = video.width + video.width % 2, video.height + video.height % 2
    try:
        frames, encoded = _encode(
            video, target, codec, options, (width, height), keep_audio=bool(kept)
        )
    except av.error.FFmpegError as exc:
        target.unlink(missing_ok=True)
        reason = ffmpeg_reason(exc)
        raise CorruptImage(f"FFmpeg cannot transcode it ({reason})", video.path) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    history: list[tuple[str | None, float]] = []
    if video.codec not in _LOSSLESS_CODECS:
        # The source's own lossy step first (C.7.6.1.1.5), over its own stream's bytes; a
        # codec without a defined term (VP9, AV1) is recorded by its ratio alone.
        source = _ratio(video.width, video.height, video.frames, video.stream_bytes)
        history.append((_METHODS.get(video.codec), source))
    history.append((VIDEO_SYNTAXES[syntax], _ratio(width, height, frames, encoded)))
    target_name = "H.264 High" if codec == "libx264" else "HEVC Main"
    notes = [f"transcoded from {video.codec} to {target_name} (crf {crf}): {reason}"]
    if (width, height) != (video.width, video.height):
        notes.append(f"scaled from {video.width}x{video.height} to even {width}x{height} (4:2:0)")
    notes += [
        f"audio dropped: {why}"
        for track in video.audio
        if (why := audio_allowed(track, syntax, mp4=True))
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
        created=video.created,
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
) -> tuple[int, int]:
    """Decode the clip and encode its pictures into `target`; copy allowed audio as it is.

    Returns the pictures encoded and the bytes of the new video stream's packets.
    """
    av = load_av()
    width, height = size
    with av.open(str(video.path)) as source, av.open(str(target), "w", format="mp4") as out:
        picture_in = source.streams.video[0]
        stream = out.add_stream(codec, rate=video.rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        audio = {a.index: out.add_stream_from_template(a) for a in source.streams.audio}
        if not keep_audio:
            audio = {}
        frames = encoded = 0
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
                encoded += _mux(out, stream.encode(picture))
                frames += 1
        encoded += _mux(out, stream.encode(None))
    return frames, encoded

"""Short video clips made with PyAV for the tests: every codec, container and shape needed."""

from __future__ import annotations

import fractions
import hashlib
from pathlib import Path
from typing import Any

import av
import numpy as np


def picture(index: int, width: int, height: int) -> np.ndarray:
    """A moving gradient: smooth enough for every codec, different in every frame."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack(
        [(x + index * 4) % 256, (y + index * 2) % 256, ((x + y) // 2 + index) % 256], -1
    ).astype(np.uint8)


def make_clip(
    path: Path,
    codec: str,
    size: tuple[int, int],
    rate: int | fractions.Fraction,
    *,
    frames: int = 6,
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    container: str | None = None,
    audio: tuple[str, int] | None = None,
    muxer: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Encode `frames` pictures of `size` at `rate` with `codec` into `path`.

    `metadata` is the container's (``creation_time``, ...).
    """
    width, height = size
    with av.open(str(path), "w", format=container, options=muxer or {}) as out:
        out.metadata.update(metadata or {})
        stream: Any = out.add_stream(codec, rate=rate, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        sound = out.add_stream(audio[0], rate=audio[1]) if audio else None
        step = fractions.Fraction(1) / fractions.Fraction(rate)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(picture(index, width, height), "rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts, frame.time_base = index, step
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if sound is not None:
            _silence(out, sound, audio[1], float(frames * step))  # type: ignore[index]
    return path


def _silence(out: Any, sound: Any, sample_rate: int, seconds: float) -> None:
    samples = max(1024, int(sample_rate * seconds))
    frame = av.AudioFrame.from_ndarray(
        np.zeros((2, samples), np.float32), format="fltp", layout="stereo"
    )
    frame.sample_rate, frame.pts = sample_rate, 0
    out.mux(sound.encode(frame))
    out.mux(sound.encode(None))


def video_packets_digest(path: Path) -> tuple[str, int]:
    """Hash the video stream's packets (the elementary stream, whatever the container)."""
    digest = hashlib.sha256()
    count = 0
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.size:
                digest.update(bytes(packet))
                count += 1
    return digest.hexdigest(), count


def decoded(path: Path) -> tuple[list[np.ndarray], fractions.Fraction]:
    """Every picture of a clip as RGB, and its average frame rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pictures = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        assert stream.average_rate is not None
        return pictures, fractions.Fraction(stream.average_rate)


def psnr(first: np.ndarray, second: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two 8-bit pictures, in dB."""
    error = np.mean((first.astype(np.float64) - second.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255**2 / error))

"""What an object says of its lossy history is true, and said where it can be (issue 30).

Point 12: a lossy WebP (VP8) or AVIF (AV1) source has no Defined Term for Lossy Image
Compression Method (PS3.3 C.7.6.1.1.5.1); the notes of C.7.6.1.1.5 have Derivation
Description describe the lossy compression, so it names the coding and its ratio.

Point 13: every Lossy Image Compression Ratio is on one basis, stills and video alike:
the uncompressed size of the stored pixels (Rows x Columns x Samples per Pixel x Bits
Allocated / 8 x Number of Frames) over the bytes of the compressed pixels (a video's
stream, not its MP4 and its audio; a multi-frame object's every frame). The expected
values here are computed independently, from the written object and PyAV.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import generate_frames

import dicomize
from clips import make_clip
from conftest import CLIP_REGION


def _noise(seed: int, height: int = 64, width: int = 80) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


def _written(source: Path, tmp_path: Path, **options: Any) -> pydicom.Dataset:
    output = tmp_path / f"{source.stem}.dcm"
    ds = dicomize.convert(source, {"PatientID": "1"}, options=dicomize.ConvertOptions(**options))
    dicomize.write(ds, output)  # the suite's fixture runs dciodvfy on it
    return pydicom.dcmread(output, stop_before_pixels=True)


@pytest.mark.parametrize(("suffix", "coding"), [("webp", "WebP (VP8)"), ("avif", "AVIF (AV1)")])
def test_a_lossy_source_without_a_defined_term_is_described_in_derivation_description(
    tmp_path: Path, suffix: str, coding: str
) -> None:
    """Fails before: Derivation Description said only that a step had no Defined Term."""
    source = tmp_path / f"photo.{suffix}"
    Image.fromarray(_noise(1)).save(source, quality=50)
    ds = _written(source, tmp_path)
    assert ds.LossyImageCompression == "01"
    assert "LossyImageCompressionMethod" not in ds
    ratio = float(ds.LossyImageCompressionRatio)
    assert f"compressed lossily as {coding} at {ratio:g}:1" in ds.DerivationDescription


def test_an_animated_lossy_webp_is_recorded_as_lossy(tmp_path: Path) -> None:
    """Fails before: its VP8 frames sit inside ANMF chunks, and it was called lossless (00)."""
    source = tmp_path / "clip.webp"
    first, second = Image.fromarray(_noise(2)), Image.fromarray(_noise(3))
    first.save(source, quality=50, save_all=True, append_images=[second], duration=100)
    ds = _written(source, tmp_path)
    assert ds.NumberOfFrames == 2
    assert ds.LossyImageCompression == "01"
    assert "compressed lossily as WebP (VP8)" in ds.DerivationDescription


def test_a_lossless_webp_claims_no_lossy_step(tmp_path: Path) -> None:
    source = tmp_path / "chart.webp"
    Image.fromarray(_noise(4)).save(source, lossless=True)
    ds = _written(source, tmp_path)
    assert ds.LossyImageCompression == "00"
    assert "lossily" not in ds.DerivationDescription


def _uncompressed(ds: pydicom.Dataset) -> int:
    frames = int(ds.get("NumberOfFrames", 1))
    return int(ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated // 8 * frames)


def _ratios(ds: pydicom.Dataset) -> list[float]:
    value = ds.LossyImageCompressionRatio
    return [
        float(v) for v in (value if isinstance(value, pydicom.multival.MultiValue) else [value])
    ]


def _packet_bytes(clip: bytes | Path) -> int:
    """The bytes of a clip's video packets, as FFmpeg demuxes them."""
    source = io.BytesIO(clip) if isinstance(clip, bytes) else str(clip)
    with av.open(source, mode="r") as container:
        stream = container.streams.video[0]
        return sum(int(packet.size) for packet in container.demux(stream) if packet.size)


def _stored_stream(ds: pydicom.Dataset) -> bytes:
    return next(generate_frames(ds.PixelData, number_of_frames=1))


def test_a_clip_s_ratio_is_over_its_video_stream_not_the_mp4_and_its_audio(
    tmp_path: Path,
) -> None:
    """Fails before: 4:2:0's 1.5 bytes a pixel over the whole file, audio included."""
    clip = make_clip(
        tmp_path / "clip.mp4", "libx264", (320, 240), 25, frames=10, audio=("aac", 48000)
    )
    ds = dicomize.convert(clip, {"PatientID": "1", **CLIP_REGION})
    assert "MultiplexedAudioChannelsDescriptionCodeSequence" in ds  # the audio is kept
    assert _uncompressed(ds) == 320 * 240 * 3 * 10  # Samples per Pixel 3, 8 bits, 10 frames
    expected = _uncompressed(ds) / _packet_bytes(_stored_stream(ds))
    assert _ratios(ds) == [pytest.approx(expected, rel=0.005)]


def test_a_transcoded_clip_measures_both_steps_over_their_own_streams(tmp_path: Path) -> None:
    """Fails before: the VP9 step was measured over the WebM file, H.264 over the MP4."""
    clip = make_clip(tmp_path / "web.webm", "libvpx-vp9", (320, 240), 25, frames=6)
    ds = dicomize.convert(clip, {"PatientID": "1", **CLIP_REGION})
    stored = _uncompressed(ds)
    source, new = _ratios(ds)
    assert source == pytest.approx(stored / _packet_bytes(clip), rel=0.005)
    assert new == pytest.approx(stored / _packet_bytes(_stored_stream(ds)), rel=0.005)


def test_pictures_joined_into_a_clip_are_measured_over_the_stream() -> None:
    """Fails before: over the MP4 file, with the pictures' size before it was made even."""
    pictures = [_noise(seed, 63, 81) for seed in range(4)]  # odd: padded to 64 x 82
    ds = dicomize.convert_video(pictures, {"PatientID": "1", **CLIP_REGION}, fps=4)
    assert (ds.Rows, ds.Columns) == (64, 82)
    expected = _uncompressed(ds) / _packet_bytes(_stored_stream(ds))
    assert _ratios(ds) == [pytest.approx(expected, rel=0.005)]


def _webp_pixel_bytes(data: bytes) -> int:
    """Payload bytes of the VP8, VP8L and ALPH chunks, those inside ANMF frames too."""
    total, position, end = 0, 12, len(data)
    while position + 8 <= end:
        kind, size = (
            data[position : position + 4],
            int.from_bytes(data[position + 4 : position + 8], "little"),
        )
        if kind in {b"VP8 ", b"VP8L", b"ALPH"}:
            total += size
        # An ANMF frame: 16 bytes of header, then its own chunks.
        position += 24 if kind == b"ANMF" else 8 + size + (size & 1)
    return total


def test_an_animated_webp_s_ratio_covers_every_frame(tmp_path: Path) -> None:
    """Fails before: it was recorded lossless; had it not been, one frame over the file."""
    source = tmp_path / "clip.webp"
    frames = [Image.fromarray(_noise(seed)) for seed in (5, 6, 7)]
    frames[0].save(source, quality=40, save_all=True, append_images=frames[1:], duration=100)
    ds = dicomize.convert(source, {"PatientID": "1"})
    assert ds.NumberOfFrames == 3
    expected = _uncompressed(ds) / _webp_pixel_bytes(source.read_bytes())
    assert _ratios(ds) == [pytest.approx(expected, rel=0.01)]


def test_a_webp_with_alpha_is_measured_on_the_rgb_it_is_stored_as(tmp_path: Path) -> None:
    """Fails before: four samples a pixel (RGBA) over the file, for three stored."""
    source = tmp_path / "logo.webp"
    rgba = np.dstack([_noise(8), np.full((64, 80), 128, np.uint8)])
    Image.fromarray(rgba).save(source, quality=50)
    ds = dicomize.convert(source, {"PatientID": "1"})
    assert ds.SamplesPerPixel == 3  # composited onto the background
    expected = _uncompressed(ds) / _webp_pixel_bytes(source.read_bytes())
    assert _ratios(ds) == [pytest.approx(expected, rel=0.01)]


def test_a_decoded_jpeg_is_measured_as_the_same_jpeg_kept(tmp_path: Path) -> None:
    """Fails before: decoded, its EXIF and comment counted as compressed pixels."""
    source = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x010E] = "x" * 20_000  # ImageDescription: metadata as large as the pixels
    Image.fromarray(_noise(9)).save(source, quality=80, exif=exif.tobytes())
    kept = dicomize.convert(source, {"PatientID": "1"})
    decoded = dicomize.convert(
        source, {"PatientID": "1"}, options=dicomize.ConvertOptions(passthrough=False)
    )
    assert kept.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit
    assert _ratios(decoded) == _ratios(kept)
    # Kept: over the stored codestream, every byte of it.
    expected = _uncompressed(kept) / len(_stored_stream(kept).rstrip(b"\x00"))
    assert _ratios(kept) == [pytest.approx(expected, rel=0.001)]


def test_jpeg_frames_joined_make_one_lossy_step_covering_every_frame(tmp_path: Path) -> None:
    """Fails before: two qualities gave two ratios and two methods, as if compressed twice."""
    sources = []
    for quality in (30, 95):
        sources.append(tmp_path / f"q{quality}.jpg")
        Image.fromarray(_noise(10)).save(sources[-1], quality=quality)
    ds = dicomize.convert_frames(sources, {"PatientID": "1"})
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"
    streams = list(generate_frames(ds.PixelData, number_of_frames=2))
    expected = _uncompressed(ds) / sum(len(stream) for stream in streams)
    assert _ratios(ds) == [pytest.approx(expected, rel=0.01)]

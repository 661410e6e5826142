"""Multi-frame Secondary Capture: the IOD chosen from the pixels, frames and timing kept."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from PIL import Image, ImageSequence
from pydicom import uid
from pydicom.encaps import generate_frames

import dicomize
from conftest import (
    FULL_METADATA,
    LATERALITY_UNKNOWN,
    STUDY_ID_UNKNOWN,
    assert_conforms,
    dcmtk_tool,
    encode,
    gradient,
)

TRUE_COLOR = "MultiframeTrueColorSCImage"
GRAY_BYTE = "MultiframeGrayscaleByteSCImage"
GRAY_WORD = "MultiframeGrayscaleWordSCImage"
SINGLE_BIT = "MultiframeSingleBitSCImage"


def _frames(count: int = 3, channels: int = 3) -> list[npt.NDArray[np.uint8]]:
    return [np.roll(gradient(channels=channels), 9 * index, axis=1) for index in range(count)]


def _animation(fmt: str, durations: list[int], **params: Any) -> bytes:
    images = [Image.fromarray(frame) for frame in _frames(len(durations))]
    buffer = io.BytesIO()
    images[0].save(
        buffer, fmt, save_all=True, append_images=images[1:], duration=durations, **params
    )
    return buffer.getvalue()


def _store(source: Any, tmp_path: Path, iod: str, **options: Any) -> pydicom.Dataset:
    output = tmp_path / "frames.dcm"
    opts = dicomize.ConvertOptions(**options)
    dicomize.write(dicomize.convert(source, FULL_METADATA, options=opts), output, overwrite=True)
    assert_conforms(output, iod=iod, allowed_warnings=(LATERALITY_UNKNOWN,))
    return pydicom.dcmread(output)


def _decoded_frames(data: bytes) -> npt.NDArray[Any]:
    image = Image.open(io.BytesIO(data))
    return np.stack([np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)])


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("GIF", {"loop": 0}), ("WEBP", {"lossless": True}), ("PNG", {})],
    ids=["gif", "webp", "apng"],
)
def test_animation_with_equal_delays_becomes_true_color_with_frame_time(
    fmt: str, params: dict[str, Any], tmp_path: Path
) -> None:
    data = _animation(fmt, [120, 120, 120], **params)
    ds = _store(data, tmp_path, TRUE_COLOR)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.4"
    assert int(ds.NumberOfFrames) == 3
    assert ds.FrameIncrementPointer == 0x00181063
    assert float(ds.FrameTime) == 120
    assert ds.BurnedInAnnotation == "YES"
    np.testing.assert_array_equal(ds.pixel_array, _decoded_frames(data))


def test_animation_with_varying_delays_gets_a_frame_time_vector(tmp_path: Path) -> None:
    data = _animation("WEBP", [100, 100, 250], lossless=True)
    ds = _store(data, tmp_path, TRUE_COLOR)
    assert ds.FrameIncrementPointer == 0x00181065
    # Increments between frames: the first frame has none (C.7.6.5.1.2).
    assert [float(t) for t in ds.FrameTimeVector] == [0, 100, 100]


def test_multipage_tiff_becomes_grayscale_byte_numbered_as_pages(tmp_path: Path) -> None:
    pages = [Image.fromarray(frame) for frame in _frames(4, channels=1)]
    buffer = io.BytesIO()
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:])
    ds = _store(buffer.getvalue(), tmp_path, GRAY_BYTE)
    assert ds.FrameIncrementPointer == 0x00182001
    assert [int(page) for page in ds.PageNumberVector] == [1, 2, 3, 4]
    assert (ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType) == (0, 1, "US")
    assert ds.PresentationLUTShape == "IDENTITY"
    np.testing.assert_array_equal(ds.pixel_array, np.stack(_frames(4, channels=1)))


def test_bilevel_fax_pages_become_single_bit_packed_lsb_first(tmp_path: Path) -> None:
    ink = [frame > 128 for frame in _frames(3, channels=1)]
    pages = [Image.fromarray(page).convert("1") for page in ink]
    buffer = io.BytesIO()
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:], compression="group4")
    ds = _store(buffer.getvalue(), tmp_path, SINGLE_BIT)
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (1, 1, 0)
    assert len(ds.PixelData) == (3 * 48 * 64 + 7) // 8
    np.testing.assert_array_equal(ds.pixel_array, np.stack(ink).astype(np.uint8))


def test_three_d_uint16_array_becomes_grayscale_word(tmp_path: Path) -> None:
    volume = np.stack(_frames(5, channels=1)).astype(np.uint16) * 257
    ds = _store(volume, tmp_path, GRAY_WORD)
    assert int(ds.NumberOfFrames) == 5
    np.testing.assert_array_equal(ds.pixel_array, volume)


def test_signed_frames_are_stored_unsigned_with_a_rescale_that_restores_them(
    tmp_path: Path,
) -> None:
    volume = np.stack(_frames(3, channels=1)).astype(np.int16) * 100 - 12000
    ds = _store(volume, tmp_path, GRAY_WORD)
    assert ds.PixelRepresentation == 0
    assert ds.RescaleIntercept == -32768
    np.testing.assert_array_equal(ds.pixel_array.astype(np.int32) + ds.RescaleIntercept, volume)


@pytest.mark.parametrize(
    ("syntax", "decoder"),
    [
        ("rle", "dcmdrle"),
        ("jpeg-lossless", "dcmdjpeg"),
        ("jpeg-ls-lossless", "dcmdjpls"),
        ("jpeg2000-lossless", None),
        ("htj2k-lossless", None),
    ],
)
def test_frames_compress_one_fragment_each_with_a_filled_offset_table(
    syntax: str, decoder: str | None, tmp_path: Path
) -> None:
    volume = np.stack(_frames(3))
    ds = _store(volume, tmp_path, TRUE_COLOR, transfer_syntax=syntax)
    fragments = list(generate_frames(ds.PixelData, number_of_frames=3))
    assert len(fragments) == 3
    offsets = np.frombuffer(ds.PixelData[8:20], "<u4")  # the Basic Offset Table's 3 entries
    assert offsets[0] == 0
    assert list(offsets[1:]) == list(np.cumsum([len(f) + len(f) % 2 + 8 for f in fragments[:2]]))
    ds.pixel_array_options(as_rgb=True)
    np.testing.assert_array_equal(ds.pixel_array, volume)
    if decoder:
        raw = tmp_path / "raw.dcm"
        subprocess.run(
            [dcmtk_tool(decoder), str(tmp_path / "frames.dcm"), str(raw)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        np.testing.assert_array_equal(pydicom.dcmread(raw).pixel_array, volume)


def test_jpegs_of_one_size_join_without_re_encoding(tmp_path: Path) -> None:
    jpegs = [encode(Image.fromarray(frame), "JPEG", quality=90) for frame in _frames(3)]
    ds = dicomize.convert_frames(jpegs, FULL_METADATA)
    output = tmp_path / "joined.dcm"
    dicomize.write(ds, output)
    assert_conforms(output, iod=TRUE_COLOR, allowed_warnings=(LATERALITY_UNKNOWN,))
    ds = pydicom.dcmread(output)
    assert ds.file_meta.TransferSyntaxUID == uid.JPEGBaseline8Bit
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    assert [int(page) for page in ds.PageNumberVector] == [1, 2, 3]
    for fragment, jpeg in zip(
        generate_frames(ds.PixelData, number_of_frames=3), jpegs, strict=True
    ):
        start = jpeg.index(b"\xff\xda")
        assert fragment[fragment.index(b"\xff\xda") :].rstrip(b"\x00") == jpeg[start:]


def test_joined_pictures_of_different_encodings_are_decoded(tmp_path: Path) -> None:
    frames = _frames(2)
    sources = [
        encode(Image.fromarray(frames[0]), "PNG"),
        encode(Image.fromarray(frames[1]), "JPEG", quality=95),
    ]
    ds = dicomize.convert_frames(sources, FULL_METADATA)
    output = tmp_path / "mixed.dcm"
    dicomize.write(ds, output)
    assert_conforms(output, iod=TRUE_COLOR, allowed_warnings=(LATERALITY_UNKNOWN,))
    assert pydicom.dcmread(output).file_meta.TransferSyntaxUID == uid.ExplicitVRLittleEndian


def test_frames_of_different_sizes_are_refused() -> None:
    sources = [
        encode(Image.fromarray(gradient(48, 64)), "PNG"),
        encode(Image.fromarray(gradient(40, 64)), "PNG"),
    ]
    with pytest.raises(dicomize.UnsupportedInput, match="frames must agree in size"):
        dicomize.convert_frames(sources)


def test_sixteen_bit_colour_frames_have_no_iod() -> None:
    with pytest.raises(dicomize.UnsupportedInput, match="16-bit colour"):
        dicomize.convert(np.stack(_frames(2)).astype(np.uint16))


def test_frame_count_counts_against_the_pixel_limit() -> None:
    data = _animation("GIF", [100] * 4, loop=0)
    with pytest.raises(dicomize.ImageTooLarge, match="4 frames"):
        dicomize.convert(data, options=dicomize.ConvertOptions(max_pixels=64 * 48 * 3))


def test_cli_multiframe_joins_pages_into_one_file(tmp_path: Path, dicomize_cli: list[str]) -> None:
    names = []
    for index, frame in enumerate(_frames(3, channels=1)):
        path = tmp_path / f"page{index + 1}.png"
        path.write_bytes(encode(Image.fromarray(frame), "PNG"))
        names.append(str(path))
    output = tmp_path / "document.dcm"
    result = subprocess.run(
        [
            *dicomize_cli,
            "convert",
            *names,
            "--multiframe",
            "-o",
            str(output),
            "--patient-id",
            "1",
            "--conversion-type",
            "SD",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert_conforms(output, iod=GRAY_BYTE, allowed_warnings=(LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN))
    ds = pydicom.dcmread(output)
    assert int(ds.NumberOfFrames) == 3
    np.testing.assert_array_equal(ds.pixel_array, np.stack(_frames(3, channels=1)))

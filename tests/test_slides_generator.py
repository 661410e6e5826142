"""The slide generator (tests/slides.py) makes what it says: OpenSlide and tifffile agree."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Literal

import numpy as np
import openslide
import pytest
import tifffile
from PIL import Image

from slides import (
    pages,
    tile_bytes,
    tissue,
    write_broken,
    write_large_svs,
    write_ome_tiff,
    write_svs,
    write_tiled_tiff,
)

LEVELS = ((2048, 1536), (512, 384), (128, 96))
FIELDS = "|AppMag = 20|ScanScope ID = SS1234|Date = 03/14/25|Time = 10:21:33|Time Zone = GMT+01:00|MPP = 0.4990|"  # noqa: E501


def markers(jpeg: bytes) -> list[int]:
    """The markers of a JPEG stream from SOI up to SOS."""
    found, pos = [], 2
    while jpeg[pos + 1] != 0xDA:
        found.append(jpeg[pos + 1])
        pos += 2 + struct.unpack_from(">H", jpeg, pos + 2)[0]
    return [*found, 0xDA]


@pytest.mark.parametrize("tables", [True, False])
@pytest.mark.parametrize("colour", ["ycbcr", "rgb"])
def test_svs_is_aperio(tmp_path: Path, colour: Literal["ycbcr", "rgb"], tables: bool) -> None:
    path = write_svs(tmp_path / "slide.svs", colour=colour, tables=tables)
    with openslide.OpenSlide(path) as slide:
        assert slide.properties["openslide.vendor"] == "aperio"
        assert slide.level_dimensions == LEVELS
        assert slide.properties["openslide.mpp-x"] == "0.499"
        assert slide.properties["aperio.ScanScope ID"] == "SS1234"
        assert sorted(slide.associated_images) == ["label", "macro", "thumbnail"]
        assert slide.color_profile is not None
        region = np.asarray(slide.read_region((0, 0), 2, LEVELS[2]))[..., :3]
    with tifffile.TiffFile(path) as tif:
        tiff = pages(tif)
        assert [page.is_tiled for page in tiff] == [True, False, True, True, False, False]
        level0, thumbnail, label, macro = tiff[0], tiff[1], tiff[4], tiff[5]
        assert level0.description.startswith("Aperio Image Library v12.0.5\r\n2048x1536 ")
        assert FIELDS in level0.description
        assert level0.photometric == (6 if colour == "ycbcr" else 2)
        assert (level0.jpegtables is not None) is tables
        assert 34675 in level0.tags
        assert (thumbnail.compression, len(thumbnail.dataoffsets)) == (7, 3)
        assert label.description.endswith("\r\nlabel 400x420")
        assert (label.compression, label.tags[254].value) == (5, 1)
        assert macro.description.endswith("\r\nmacro 1280x432")
        assert (macro.compression, macro.tags[254].value, len(macro.dataoffsets)) == (7, 9, 1)
        assert np.array_equal(region, tiff[3].asarray())
        tile = tile_bytes(path, 0, 7)
        assert len(tile) == level0.databytecounts[7]
    # The colours decode right (an RGB-coded tile read as YCbCr would be far off).
    expected = np.asarray(Image.fromarray(tissue(2048, 1536)).reduce(16))
    assert np.abs(region.astype(np.int16) - expected).mean() < 3
    assert tile[:2] == b"\xff\xd8"
    assert tile[-2:] == b"\xff\xd9"
    found = markers(tile)
    assert (0xDB in found) is not tables  # DQT
    if colour == "rgb":  # no Adobe APP14, no JFIF, component ids 1, 2, 3
        assert 0xEE not in found
        assert 0xE0 not in found
        sof = tile.index(b"\xff\xc0")
        assert tile[sof + 10 : sof + 19 : 3] == b"\x01\x02\x03"


def test_svs_options_leave_out(tmp_path: Path) -> None:
    path = write_svs(
        tmp_path / "bare.svs",
        mpp=None,
        serial=None,
        dated=False,
        icc=False,
        thumbnail=False,
        label=False,
        macro=False,
    )
    with openslide.OpenSlide(path) as slide:
        assert slide.properties["openslide.vendor"] == "aperio"
        assert slide.level_dimensions == LEVELS
        assert slide.associated_images == {}
        assert slide.color_profile is None
        for name in ("openslide.mpp-x", "aperio.ScanScope ID", "aperio.Date", "aperio.Time"):
            assert name not in slide.properties
    with tifffile.TiffFile(path) as tif:
        assert [page.is_tiled for page in pages(tif)] == [True, True, True]


@pytest.mark.parametrize(
    ("compression", "code"), [("jpeg", 7), ("lzw", 5), ("deflate", 8), ("none", 1)]
)
def test_tiled_tiff_is_generic(
    tmp_path: Path, compression: Literal["jpeg", "lzw", "deflate", "none"], code: int
) -> None:
    path = write_tiled_tiff(tmp_path / "slide.tif", compression=compression)
    with openslide.OpenSlide(path) as slide:
        assert slide.properties["openslide.vendor"] == "generic-tiff"
        assert slide.level_dimensions == LEVELS
        assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.25)
    with tifffile.TiffFile(path) as tif:
        assert [page.compression for page in pages(tif)] == [code] * 3
        assert pages(tif)[0].tags["ResolutionUnit"].value == 3  # centimetre
        assert pages(tif)[0].tags["XResolution"].value == (40000, 1)


def test_tiled_tiff_without_mpp(tmp_path: Path) -> None:
    path = write_tiled_tiff(tmp_path / "slide.tif", mpp=None, downsamples=(1, 2))
    with openslide.OpenSlide(path) as slide:
        assert slide.level_dimensions == ((2048, 1536), (1024, 768))
        assert "openslide.mpp-x" not in slide.properties


@pytest.mark.parametrize("channels", ["rgb", "fluorescence"])
def test_ome_tiff_pyramid(tmp_path: Path, channels: Literal["rgb", "fluorescence"]) -> None:
    path = write_ome_tiff(tmp_path / "slide.ome.tif", channels=channels)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome
        assert tif.ome_metadata is not None
        assert 'PhysicalSizeX="0.25" PhysicalSizeXUnit="µm"' in tif.ome_metadata
        series = tif.series[0]
        if channels == "rgb":
            assert series.axes == "YXS"
            assert series.dtype == np.dtype(np.uint8)
            assert [level.shape[:2] for level in series.levels] == [(h, w) for w, h in LEVELS]
            assert len(tif.pages) == 1
            assert pages(tif)[0].compression == 7
        else:
            assert series.axes == "CYX"
            assert series.dtype == np.dtype(np.uint16)
            assert [level.shape for level in series.levels] == [(3, h, w) for w, h in LEVELS]
            assert len(tif.pages) == 3  # one page per channel
            assert all(page.compression == 8 for page in pages(tif))
            assert all(name in tif.ome_metadata for name in ("DAPI", "FITC", "TRITC"))
        assert all(len(page.subifds or ()) == 2 for page in pages(tif))


def test_ome_fluorescence_refuses_jpeg(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="16-bit"):
        write_ome_tiff(tmp_path / "f.ome.tif", channels="fluorescence", compression="jpeg")


def test_large_svs_repeats_one_tile(tmp_path: Path) -> None:
    path = write_large_svs(tmp_path / "large.svs", size=8000)
    with openslide.OpenSlide(path) as slide:
        assert slide.properties["openslide.vendor"] == "aperio"
        assert slide.level_dimensions == ((8000, 8000), (2000, 2000), (500, 500))
        assert sorted(slide.associated_images) == ["label", "macro", "thumbnail"]
        slide.read_region((7900, 7900), 0, (100, 100))
    with tifffile.TiffFile(path) as tif:
        level0 = pages(tif)[0]
        assert len(level0.dataoffsets) == 32 * 32
        assert level0.jpegtables is not None
        assert len(set(level0.databytecounts)) == 1
    assert tile_bytes(path, 0, 0) == tile_bytes(path, 0, 1023)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The broken slides, written once."""
    return write_broken(tmp_path_factory.mktemp("broken"))


def test_broken_set(broken: dict[str, Path]) -> None:
    assert sorted(broken) == sorted(
        [
            "truncated",
            "offsets-past-end",
            "levels-out-of-order",
            "tile-count-mismatch",
            "zero-byte-tile",
            "empty",
            "not-a-slide",
            "huge",
        ]
    )
    assert all(path.is_file() and path.suffix == ".svs" for path in broken.values())


def test_broken_truncated(broken: dict[str, Path]) -> None:
    path = broken["truncated"]
    with tifffile.TiffFile(path) as tif:
        level0 = pages(tif)[0]
        ends = [
            int(o) + int(c) for o, c in zip(level0.dataoffsets, level0.databytecounts, strict=True)
        ]
    assert min(ends) < path.stat().st_size < max(ends)
    assert openslide.OpenSlide.detect_format(path) is None


def test_broken_offsets_past_end(broken: dict[str, Path]) -> None:
    path = broken["offsets-past-end"]
    with tifffile.TiffFile(path) as tif:
        assert pages(tif)[0].dataoffsets[5] > path.stat().st_size
    with openslide.OpenSlide(path) as slide, pytest.raises(openslide.OpenSlideError):
        slide.read_region((5 * 256, 0), 0, (256, 256))


def test_broken_levels_out_of_order(broken: dict[str, Path]) -> None:
    path = broken["levels-out-of-order"]
    with tifffile.TiffFile(path) as tif:
        tiled = [page.shape for page in pages(tif) if page.is_tiled]
    assert tiled[1][0] > tiled[0][0]
    assert tiled[1][1] > tiled[0][1]
    with pytest.raises(openslide.OpenSlideUnsupportedFormatError):
        openslide.OpenSlide(path)


def test_broken_tile_count_mismatch(broken: dict[str, Path]) -> None:
    with tifffile.TiffFile(broken["tile-count-mismatch"]) as tif:
        level1 = pages(tif)[2]
        height, width = level1.shape[:2]
        needed = math.ceil(width / level1.tilewidth) * math.ceil(height / level1.tilelength)
        assert len(level1.dataoffsets) == len(level1.databytecounts) == needed - 1


def test_broken_zero_byte_tile(broken: dict[str, Path]) -> None:
    with tifffile.TiffFile(broken["zero-byte-tile"]) as tif:
        assert list(pages(tif)[0].databytecounts).count(0) == 1


def test_broken_empty_and_not_a_slide(broken: dict[str, Path]) -> None:
    assert broken["empty"].stat().st_size == 0
    with pytest.raises(tifffile.TiffFileError):
        tifffile.TiffFile(broken["empty"])
    with tifffile.TiffFile(broken["not-a-slide"]) as tif:
        assert len(tif.pages) == 1
        assert not pages(tif)[0].is_tiled
        assert pages(tif)[0].shape == (64, 64, 3)
    assert openslide.OpenSlide.detect_format(broken["not-a-slide"]) is None


def test_broken_huge(broken: dict[str, Path]) -> None:
    path = broken["huge"]
    assert path.stat().st_size < 1 << 20
    with tifffile.TiffFile(path) as tif:
        level0 = pages(tif)[0]
        assert level0.shape == (300_000, 300_000, 3)
        assert len(level0.dataoffsets) == math.ceil(300_000 / level0.tilewidth) ** 2
        assert len(set(level0.dataoffsets)) == 1
    with openslide.OpenSlide(path) as slide:
        assert slide.level_dimensions == ((300_000, 300_000),)

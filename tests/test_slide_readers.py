"""The slide readers: JPEG 2000 tiles kept, OpenSlide's path re-encodes, the tile edits.

The SVS paths are proven end to end in test_slides.py; this file proves the other
readers and the marker edits on their own.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import numpy as np
import openslide
import pydicom
import pytest
import tifffile
from pydicom.pixels.utils import pixel_array

from conftest import assert_conforms
from dicomize._write import write_folder
from dicomize.errors import CorruptImage
from dicomize.iods import IODS
from dicomize.iods.vl_wsm import build_slide, instance_names
from dicomize.options import ConvertOptions
from dicomize.slides.jpeg import ADOBE_RGB, TileEditor, read_header, stitch_strips, tables_of
from dicomize.slides.vendor import read_openslide
from slides import tissue, write_svs

EQUIPMENT = {
    "Manufacturer": "Acme",
    "ManufacturerModelName": "Scanner 9",
    "DeviceSerialNumber": "SN1",
    "AcquisitionDateTime": "20250314102133",
    "PatientID": "P1",
    "StudyID": "S1",
}
WSM = "VLWholeSlideMicroscopyImage"


def _j2k_tiff(path: Path) -> Path:
    """A two-level tiled TIFF of JPEG 2000 codestream tiles (TIFF compression 34712)."""
    picture = tissue(1024, 768)
    with tifffile.TiffWriter(path) as tif:
        for factor in (1, 4):
            tif.write(
                picture[::factor, ::factor],
                tile=(256, 256),
                compression="jpeg2000",
                compressionargs={"level": 80},
                photometric="rgb",
                subfiletype=0 if factor == 1 else 1,
                resolution=(40_000, 40_000),
                resolutionunit="CENTIMETER",
                software="Scanner 1.0",
            )
    return path


def _tile(path: Path, page: int, index: int) -> bytes:
    with tifffile.TiffFile(path) as tif:
        source = tif.pages[page]
        offset, count = source.dataoffsets[index], source.databytecounts[index]
    with path.open("rb") as stream:
        stream.seek(offset)
        return stream.read(count)


def test_jpeg_2000_tiles_are_stored_as_they_came_and_decode_as_the_tiff_does(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    import subprocess

    source = _j2k_tiff(tmp_path / "j2k.tif")
    flags = [f"--set={k}={v}" for k, v in EQUIPMENT.items()]
    done = subprocess.run(
        [*dicomize_cli, "convert", str(source), "-o", str(tmp_path / "out") + "/", *flags],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    level = tmp_path / "out" / "j2k" / "level-0.dcm"
    assert_conforms(level, iod=WSM)
    ds = pydicom.dcmread(level)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.91"
    assert ds.PhotometricInterpretation == "YBR_ICT"  # the codestream's own colour transform
    assert ds.LossyImageCompressionMethod == "ISO_15444_1"
    frames = list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=12))
    for index in (0, 5, 11):
        stored = _tile(source, 0, index)
        assert frames[index][: len(stored)] == stored  # byte for byte (and padded to even)
        with tifffile.TiffFile(source) as tif:
            expected = tif.pages[0].decode(stored, index)[0]
        decoded = pixel_array(level, index=index)
        assert np.array_equal(decoded, np.asarray(expected).reshape(decoded.shape))


def test_openslide_reads_what_tifffile_does_not_and_its_levels_are_re_encoded(
    tmp_path: Path,
) -> None:
    """The OpenSlide path (MRXS, NDPI, ...), on the slide OpenSlide reads that we can make.

    No scanner file of those formats is generated here: an Aperio SVS read through
    OpenSlide proves the path (regions re-encoded, associated images lossless).
    """
    source = write_svs(tmp_path / "os.svs")
    options = ConvertOptions(temporary_folder=str(tmp_path))
    slide = read_openslide(str(source), options)
    uids = (f"2.25.{n}" for n in range(1, 100))
    attributes = {
        "StudyInstanceUID": "2.25.900",
        "SeriesInstanceUID": "2.25.901",
        "SeriesNumber": "1",
        "StudyDate": "20250314",
        "StudyTime": "102133",
        "PatientName": "",
        "PatientID": "P1",
        "PatientBirthDate": "",
        "PatientSex": "",
        "ReferringPhysicianName": "",
        "StudyID": "S1",
        "AccessionNumber": "",
    }
    with slide:
        assert slide.format == "Aperio SVS"
        assert [image.flavour for image in slide.images][:3] == ["VOLUME"] * 3
        objects = build_slide(
            slide,
            attributes,
            user={
                "ManufacturerModelName": "AT2",
                "DeviceSerialNumber": "SS1234",
                "SoftwareVersions": "12",
                "AcquisitionDateTime": "20250314102133",
            },
            iod=IODS["wsm"],
            sop_instance_uids=uids,
        )
        paths = write_folder(
            list(zip(instance_names(slide), objects, strict=True)), tmp_path / "out" / "os"
        )
    for path in paths:
        assert_conforms(Path(path), iod=WSM)
    level = pydicom.dcmread(paths[0])
    assert level.LossyImageCompression == "01"
    assert level.Rows == level.Columns == 256  # OpenSlide's tile size for the level
    reference = openslide.OpenSlide(str(source))
    expected = np.asarray(reference.read_region((0, 0), 0, (256, 256)))[..., :3]
    got = pixel_array(paths[0], index=0, decoding_plugin="pillow")
    assert np.abs(got.astype(int) - expected).max() <= 8  # JPEG at quality 90 of the same
    label = pydicom.dcmread(next(p for p in paths if p.endswith("label.dcm")))
    assert label.LossyImageCompression == "00"
    assert np.array_equal(
        label.pixel_array, np.asarray(reference.associated_images["label"].convert("RGB"))
    )


def _abbreviated(quality: int = 80) -> tuple[bytes, bytes, bytes]:
    """A JPEG tile split as Aperio stores it: tables apart, and the tile without them."""
    import imagecodecs

    whole = bytes(imagecodecs.jpeg8_encode(tissue(64, 64), level=quality, subsampling="420"))
    at, tables, tile = 2, b"", b"\xff\xd8"
    while whole[at + 1] != 0xDA:
        end = at + 2 + struct.unpack_from(">H", whole, at + 2)[0]
        if whole[at + 1] in (0xDB, 0xC4):
            tables += whole[at:end]
        else:
            tile += whole[at:end]
        at = end
    return whole, b"\xff\xd8" + tables + b"\xff\xd9", tile + whole[at:]


def test_a_tile_gets_the_tiffs_tables_and_decodes_as_the_whole_stream() -> None:
    import imagecodecs

    whole, jpegtables, tile = _abbreviated()
    assert not read_header(tile).complete
    edit = TileEditor(tile, tables_of(jpegtables), app14=False, where="level 0")
    frame = edit(0, tile)
    assert read_header(frame).complete
    assert frame.endswith(tile[tile.index(b"\xff\xda") :])  # the scan, byte for byte
    assert np.array_equal(imagecodecs.jpeg8_decode(frame), imagecodecs.jpeg8_decode(whole))
    rgb = TileEditor(tile, tables_of(jpegtables), app14=True, where="level 0")(0, tile)
    assert rgb[2 : 2 + len(ADOBE_RGB)] == ADOBE_RGB


def test_a_tile_coded_unlike_the_first_is_refused() -> None:
    _, jpegtables, tile = _abbreviated()
    _, _, other = _abbreviated(quality=50)  # same layout, other tables: still one header
    sixteen = bytearray(tile)
    sof = sixteen.index(b"\xff\xc0")
    struct.pack_into(">H", sixteen, sof + 5, 32)  # 32 rows instead of 64
    edit = TileEditor(tile, tables_of(jpegtables), app14=False, where="level 0")
    assert edit(1, other)  # the tiles' own headers differ only in what they share
    with pytest.raises(CorruptImage, match="tile 2 of level 0 is coded unlike its first tile"):
        edit(2, bytes(sixteen))


def test_strips_join_into_one_jpeg_whose_luma_is_the_strips(tmp_path: Path) -> None:
    import imagecodecs

    picture = tissue(200, 192)
    path = tmp_path / "strips.tif"
    tifffile.imwrite(path, picture, compression="jpeg", rowsperstrip=64, photometric="rgb")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        strips = [_tile(path, 0, index) for index in range(len(page.dataoffsets))]
        separately = page.asarray()
    joined = stitch_strips(strips, b"", 192)
    assert read_header(joined).rows_columns == (192, 200)
    decoded = imagecodecs.jpeg8_decode(joined, colorspace="YCBCR", outcolorspace="YCBCR")
    expected = imagecodecs.jpeg8_decode(strips[0], colorspace="YCBCR", outcolorspace="YCBCR")
    assert np.array_equal(decoded[:64, :, 0], expected[:, :, 0])  # luma: exact
    assert np.abs(decoded.astype(int)[..., 0] - _luma(separately)).max() <= 2


def _luma(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., k].astype(float) for k in range(3))
    return np.round(0.299 * r + 0.587 * g + 0.114 * b).astype(int)


def test_a_folder_of_slides_converts_on_a_dask_cluster_each_its_own_series(
    tmp_path: Path, dask_client: object
) -> None:
    from dicomize import plan_tree, run_batch

    scans, out = tmp_path / "scans", tmp_path / "out"
    scans.mkdir()
    for name in ("a", "b", "c"):
        write_svs(scans / f"{name}.svs", width=1024, height=768, downsamples=(1, 4))
    (scans / "broken.svs").write_bytes(b"II*\0" + b"\0" * 60)
    summary = run_batch(
        plan_tree(scans, out),
        out,
        client=dask_client,
        metadata={"ManufacturerModelName": "AT2", "PatientID": "P1", "StudyID": "S1"},
    )
    assert (summary.converted, summary.failed) == (3, 1)
    series = set()
    for name in ("a", "b", "c"):
        files = sorted((out / name).glob("*.dcm"))
        assert [f.name for f in files] == [
            "label.dcm",
            "level-0.dcm",
            "level-1.dcm",
            "overview.dcm",
            "thumbnail.dcm",
        ]
        series |= {
            str(pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID) for f in files
        }
    assert len(series) == 3  # one series per slide, however the work was spread


def test_a_level_stored_in_strips_is_cut_into_tiles_and_kept_exact_when_asked(
    tmp_path: Path,
) -> None:
    """A stripped pyramid (levels in SubIFDs) is re-tiled: 256-pixel tiles, lossless on -t."""
    from dicomize import write_slide
    from dicomize._extract_tiled import extract_tiled

    picture = tissue(1100, 900)  # not a multiple of the tile: white glass past the edges
    source = tmp_path / "strips.tif"
    with tifffile.TiffWriter(source) as tif:
        tif.write(
            picture,
            subifds=1,
            resolution=(40_000, 40_000),
            resolutionunit="CENTIMETER",
            software="Scanner 1.0",
            rowsperstrip=64,
            compression="zlib",
            photometric="rgb",
        )
        tif.write(
            picture[::4, ::4], subfiletype=1, rowsperstrip=64, compression="zlib", photometric="rgb"
        )
    options = ConvertOptions(transfer_syntax="jpeg2000-lossless", temporary_folder=str(tmp_path))
    paths = write_slide(source, tmp_path / "out" / "strips", EQUIPMENT, options=options)
    assert [Path(p).name for p in paths] == ["level-0.dcm", "level-1.dcm"]
    level = pydicom.dcmread(paths[0], stop_before_pixels=True)
    assert (level.Rows, level.Columns, level.NumberOfFrames) == (256, 256, 5 * 4)
    assert level.LossyImageCompression == "00"
    buffer = io.BytesIO()
    extract_tiled(paths[0]).write_to(buffer)
    buffer.seek(0)
    assert np.array_equal(tifffile.imread(buffer), picture)


def test_extract_gives_a_level_as_tiled_tiff_and_a_region_as_png_equal_to_the_slide(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    import subprocess

    from PIL import Image

    source = write_svs(tmp_path / "cut.svs")
    folder = tmp_path / "out" / "cut"
    flags = [f"--set={k}={v}" for k, v in EQUIPMENT.items()]

    def run(*words: str) -> None:
        done = subprocess.run(
            [*dicomize_cli, *words], capture_output=True, text=True, check=False, timeout=120
        )
        assert done.returncode == 0, done.stderr

    run("convert", str(source), "-o", f"{tmp_path / 'out'}/", *flags)
    run("extract", str(folder / "level-0.dcm"), "-o", str(tmp_path / "level.tif"))
    run("extract", str(folder / "level-1.dcm"), "--region", "100,50,300,200",
        "-o", str(tmp_path / "region.png"))  # fmt: skip
    reference = openslide.OpenSlide(str(source))
    whole = np.asarray(reference.read_region((0, 0), 0, reference.dimensions))[..., :3]
    with tifffile.TiffFile(tmp_path / "level.tif") as tif:
        page: Any = tif.pages[0]
        assert (page.tilewidth, page.tilelength) == (256, 256)  # a tile at a time
        assert np.array_equal(page.asarray(), whole)
    # Level 1 is 4 times smaller: its region from (100, 50) is (400, 200) of level 0.
    expected = np.asarray(reference.read_region((400, 200), 1, (300, 200)))[..., :3]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "region.png")), expected)

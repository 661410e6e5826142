"""Whole-slide images made here (tifffile, imagecodecs, numpy): nothing is downloaded.

Used by the suite and by ``bench/`` to test the converter of slides into DICOM VL Whole
Slide Microscopy. Research and the rules these files follow: ``notes/issue-25/NOTES.md``.

* :func:`write_svs` -- an Aperio SVS in Aperio's page order, tiles as Aperio writes them;
* :func:`write_tiled_tiff` -- a generic pyramidal tiled TIFF (OpenSlide's "generic-tiff");
* :func:`write_ome_tiff` -- an OME-TIFF pyramid, brightfield RGB or 3-channel fluorescence;
* :func:`write_large_svs` -- a big SVS in seconds: every tile is the same encoded tile;
* :func:`write_broken` -- slides broken on purpose, one defect each;
* :func:`tile_bytes` -- a tile as stored, to check that a converter copies it byte for byte.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import imagecodecs
import numpy as np
import numpy.typing as npt
import tifffile
from PIL import Image, ImageCms

Pixels = npt.NDArray[np.uint8]
Compression = Literal["jpeg", "lzw", "deflate", "none"]

APERIO = "Aperio Image Library v12.0.5"
#: Passed to tifffile; "deflate" is Adobe Deflate (8), the code libtiff and OpenSlide expect.
_CODECS: dict[str, str | None] = {"jpeg": "jpeg", "lzw": "lzw", "deflate": "zlib", "none": None}
_SOS, _DQT, _DHT, _APP0, _APP14, _SOF0 = 0xDA, 0xDB, 0xC4, 0xE0, 0xEE, 0xC0


def tissue(width: int, height: int, *, seed: int = 0) -> Pixels:
    """Paint a stained-tissue-like RGB picture: a textured pink and purple blob on white.

    Parameters
    ----------
    width, height : int
        Size in pixels.
    seed : int
        Seed of the noise.

    Returns
    -------
    numpy.ndarray
        ``height x width x 3`` uint8. Noise, strongest in the tissue, makes JPEG tiles code
        to realistic sizes; a smooth picture alone would give tiles of 1 KB.
    """
    y, x = np.ogrid[0:height, 0:width]
    xf, yf = x.astype(np.float32), y.astype(np.float32)
    radius = np.hypot((xf - width / 2) / (0.42 * width), (yf - height / 2) / (0.40 * height))
    inside = (np.clip(1.3 - radius, 0, 1) ** 0.7)[..., None]
    texture = (0.5 + 0.25 * np.sin(xf / 23) * np.cos(yf / 31) + 0.25 * np.sin((xf + 2 * yf) / 57))[
        ..., None
    ]
    pink, purple = np.array([235, 140, 190], np.float32), np.array([110, 60, 160], np.float32)
    stain = purple + (pink - purple) * texture
    # Uniform integer noise: as good as Gaussian for the coder, and 20 times faster to make.
    noise = np.random.default_rng(seed).integers(-18, 19, (height, width, 3), dtype=np.int8)
    rgb = 245 + (stain - 245) * inside + noise * (0.2 + inside)
    out: Pixels = np.clip(rgb, 0, 255).astype(np.uint8)
    return out


def _downsample(image: Pixels, factor: int) -> Pixels:
    """Box-filter `image` by an integer factor; a ragged right or bottom edge is cropped."""
    if factor == 1:
        return image
    h, w = image.shape[0] // factor * factor, image.shape[1] // factor * factor
    return np.asarray(Image.fromarray(image[:h, :w]).reduce(factor))


def _tiles(image: Pixels, tile: int) -> Iterator[Pixels]:
    """Yield the tiles of `image` in TIFF order; edge tiles are padded to full size (TIFF 6.0)."""
    for y in range(0, image.shape[0], tile):
        for x in range(0, image.shape[1], tile):
            part = image[y : y + tile, x : x + tile]
            if part.shape[:2] != (tile, tile):
                part = np.pad(
                    part,
                    ((0, tile - part.shape[0]), (0, tile - part.shape[1]), (0, 0)),
                    constant_values=255,
                )
            yield part


def _segments(jpeg: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (marker, segment) of a libjpeg stream; SOS's segment runs on to the end (EOI)."""
    pos = 2  # after SOI; libjpeg writes no fill bytes before SOS
    while jpeg[pos + 1] != _SOS:
        (length,) = struct.unpack_from(">H", jpeg, pos + 2)
        yield jpeg[pos + 1], jpeg[pos : pos + 2 + length]
        pos += 2 + length
    yield _SOS, jpeg[pos:]


def _split_tables(jpeg: bytes) -> tuple[bytes, bytes]:
    """Split a JPEG into (JPEGTables, abbreviated tile), as Aperio stores YCbCr pages.

    The tables stream is SOI, every DQT and DHT, EOI (TIFF Technical Note 2); the tile keeps
    the rest less the JFIF APP0, which Aperio's tiles do not carry.
    """
    tables, image = [b"\xff\xd8"], [b"\xff\xd8"]
    for marker, segment in _segments(jpeg):
        if marker in (_DQT, _DHT):
            tables.append(segment)
        elif marker != _APP0:
            image.append(segment)
    return b"".join([*tables, b"\xff\xd9"]), b"".join(image)


def _hide_rgb(jpeg: bytes) -> bytes:
    """Make an RGB-coded JPEG look like Aperio's "JPEG/RGB" tiles: nothing in it says RGB.

    libjpeg marks RGB coding with an Adobe APP14 (transform 0) and component ids 'R', 'G',
    'B'; Aperio writes neither, so only the TIFF's Photometric RGB tells a reader (tifffile
    and OpenSlide honour it, a plain JPEG decoder takes the tile for YCbCr). The scan is
    untouched.
    """
    ids = {ord("R"): 1, ord("G"): 2, ord("B"): 3}
    out = [b"\xff\xd8"]
    for marker, segment in _segments(jpeg):
        if marker == _APP14:
            continue
        seg = bytearray(segment)
        if marker == _SOF0:  # ids at 10, 13, 16
            for k in range(seg[9]):
                seg[10 + 3 * k] = ids.get(seg[10 + 3 * k], seg[10 + 3 * k])
        elif marker == _SOS:  # ids at 5, 7, 9
            for k in range(seg[4]):
                seg[5 + 2 * k] = ids.get(seg[5 + 2 * k], seg[5 + 2 * k])
        out.append(bytes(seg))
    return b"".join(out)


def _encode(tile: Pixels, colour: str, quality: int) -> bytes:
    """Encode one tile as a complete JPEG: YCbCr 4:2:0 (with JFIF), or Aperio's hidden RGB."""
    if colour == "ycbcr":
        return bytes(imagecodecs.jpeg8_encode(tile, level=quality, subsampling="420"))
    rgb = imagecodecs.jpeg8_encode(tile, level=quality, colorspace="RGB", outcolorspace="RGB")
    return _hide_rgb(bytes(rgb))


def _write_jpeg_level(
    tif: tifffile.TiffWriter,
    tiles: Iterator[bytes],
    shape: tuple[int, ...],
    *,
    tile: int,
    colour: str,
    jpegtables: bytes | None,
    **tags: Any,
) -> None:
    """Write a tiled JPEG page from encoded tiles, which tifffile stores as they are."""
    ycbcr = colour == "ycbcr"
    tif.write(
        tiles,
        shape=shape,
        dtype=np.uint8,
        tile=(tile, tile),
        photometric="rgb",
        compression=7,
        # Only sets the Photometric tag (6 or 2); the tiles are already coded.
        compressionargs={"outcolorspace": "YCBCR" if ycbcr else "RGB"},
        subsampling=(2, 2) if ycbcr else (1, 1),
        jpegtables=jpegtables,
        subfiletype=0,
        metadata=None,
        **tags,
    )


def _aperio_fields(
    stem: str, width: int, height: int, mpp: float | None, serial: str | None, dated: bool
) -> str:
    """Give the ``key = value`` fields of an Aperio description (OpenSlide's ``aperio.*``)."""
    fields = ["AppMag = 20"]
    fields += [f"ScanScope ID = {serial}"] if serial is not None else []
    fields += ["Date = 03/14/25", "Time = 10:21:33", "Time Zone = GMT+01:00"] if dated else []
    fields += [f"MPP = {mpp:.4f}"] if mpp is not None else []
    fields += [
        "StripeWidth = 2040",
        f"Filename = {stem}",
        "User = 7c1a5e2e-0000-4000-8000-000000000000",
        "Left = 25.691574",
        "Top = 23.449873",
        "LineCameraSkew = -0.000424",
        "LineAreaXOffset = 0.019265",
        "LineAreaYOffset = -0.000313",
        "Focus Offset = 0.000000",
        "ImageID = 1004486",
        f"OriginalWidth = {width}",
        f"OriginalHeight = {height}",
        "Filtered = 5",
    ]
    return "|".join(fields)


def _label() -> Pixels:
    """A 400 x 420 slide label with a 'barcode' of dark bars."""
    label = np.full((420, 400, 3), 250, np.uint8)
    label[60:360, 40:360:7] = 20
    return label


def _macro(base: Pixels) -> Pixels:
    """A 1280 x 432 photo of the whole glass: the tissue, small, and the label at the end."""
    macro = np.full((432, 1280, 3), 230, np.uint8)
    macro[6:426, 900:1280] = _label()[:, :380]
    small = _downsample(base, max(1, math.ceil(base.shape[1] / 800)))[:400, :840]
    macro[16 : 16 + small.shape[0], 40 : 40 + small.shape[1]] = small
    return macro


def _write_associated(
    tif: tifffile.TiffWriter, image: Pixels, kind: str, *, description: str, **tags: Any
) -> None:
    """Write a stripped associated page: thumbnail (JPEG, strips of 64 rows), label, macro.

    The label is LZW with NewSubfileType 1, the macro one JPEG strip with NewSubfileType 9,
    as Aperio writes them; OpenSlide names them from the description's 2nd line.
    """
    jpeg = {"compression": "jpeg", "compressionargs": {"level": 90}}
    options: dict[str, dict[str, Any]] = {
        "thumbnail": {**jpeg, "rowsperstrip": 64},
        "label": {"compression": "lzw", "rowsperstrip": 16, "subfiletype": 1},
        "macro": {**jpeg, "rowsperstrip": image.shape[0], "subfiletype": 9},
    }
    tif.write(
        image, photometric="rgb", description=description, metadata=None, **options[kind], **tags
    )


def write_svs(
    path: Path,
    *,
    width: int = 2048,
    height: int = 1536,
    tile: int = 256,
    downsamples: Sequence[int] = (1, 4, 16),
    colour: Literal["ycbcr", "rgb"] = "ycbcr",
    tables: bool = True,
    thumbnail: bool = True,
    label: bool = True,
    macro: bool = True,
    icc: bool = True,
    mpp: float | None = 0.499,
    serial: str | None = "SS1234",
    dated: bool = True,
    quality: int = 70,
) -> Path:
    """Write an Aperio SVS that OpenSlide reads as vendor ``aperio``.

    Pages, in Aperio's order: level 0 (tiled; its description carries the ``|key = value``
    fields; ICC profile tag 34675 = sRGB), the thumbnail (stripped JPEG, strips of 64 rows),
    the other levels (tiled), the label (LZW), the macro (JPEG, one strip).

    Parameters
    ----------
    path : pathlib.Path
        File to write.
    width, height : int
        Size of the full-resolution picture.
    tile : int
        Tile size of the levels (a multiple of 16).
    downsamples : sequence of int
        One level per factor, each a box filter of the ``width x height`` picture; the first
        is normally 1 (``write_broken`` gives others to put the levels out of order).
    colour : {"ycbcr", "rgb"}
        "ycbcr": YCbCr 4:2:0 JPEG tiles, Photometric 6. "rgb": Aperio's "JPEG/RGB", RGB-coded
        tiles with no Adobe APP14 and no JFIF, Photometric 2.
    tables : bool
        True: abbreviated tiles and one JPEGTables tag per page (Aperio). False: every tile is
        a complete JPEG.
    thumbnail, label, macro, icc : bool
        Whether to write that page, or the ICC profile.
    mpp, serial : float or str, optional
        The ``MPP`` and ``ScanScope ID`` fields; None leaves the field out.
    dated : bool
        Whether to write the ``Date``, ``Time`` and ``Time Zone`` fields.
    quality : int
        JPEG quality of the tiles (the description's ``Q=``).

    Returns
    -------
    pathlib.Path
        `path`.
    """
    base = tissue(width, height)
    levels = [_downsample(base, factor) for factor in downsamples]
    full_h, full_w = levels[0].shape[:2]
    fields = _aperio_fields(path.stem, full_w, full_h, mpp, serial, dated)
    head = f"{APERIO}\r\n{full_w}x{full_h} [0,0 {full_w}x{full_h}] ({tile}x{tile})"
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

    def write_level(tif: tifffile.TiffWriter, index: int) -> None:
        image = levels[index]
        size = "" if index == 0 else f" -> {image.shape[1]}x{image.shape[0]}"
        encoded = [_encode(part, colour, quality) for part in _tiles(image, tile)]
        jpegtables = None
        if tables:
            split = [_split_tables(jpeg) for jpeg in encoded]
            jpegtables = split[0][0]
            # libjpeg's standard Huffman tables and one quality give every tile the same tables.
            if any(own != jpegtables for own, _ in split):
                raise RuntimeError("tiles of one page got different JPEG tables")
            encoded = [abbreviated for _, abbreviated in split]
        _write_jpeg_level(
            tif,
            iter(encoded),
            image.shape,
            tile=tile,
            colour=colour,
            jpegtables=jpegtables,
            description=f"{head}{size} JPEG/RGB Q={quality}|{fields}",
            iccprofile=profile if icc and index == 0 else None,
        )

    with tifffile.TiffWriter(path) as tif:
        write_level(tif, 0)
        if thumbnail:
            factor = max(1, math.ceil(max(width, height) / 256))
            small = _downsample(base, factor)
            size = f"{small.shape[1]}x{small.shape[0]}"
            _write_associated(tif, small, "thumbnail", description=f"{head} -> {size} - |{fields}")
        for index in range(1, len(levels)):
            write_level(tif, index)
        extras = [("label", _label())] if label else []
        extras += [("macro", _macro(base))] if macro else []
        for kind, image in extras:
            size = f"{image.shape[1]}x{image.shape[0]}"
            _write_associated(tif, image, kind, description=f"{APERIO}\r\n{kind} {size}")
    return path


def write_tiled_tiff(
    path: Path,
    *,
    width: int = 2048,
    height: int = 1536,
    tile: int = 256,
    downsamples: Sequence[int] = (1, 4, 16),
    compression: Compression = "jpeg",
    mpp: float | None = 0.25,
) -> Path:
    """Write a generic pyramidal tiled TIFF, which OpenSlide reads as ``generic-tiff``.

    The levels are successive pages of the main IFD chain (NewSubfileType 0, then 1): that
    is where OpenSlide's generic-tiff reader looks; it does not follow SubIFDs. No
    ImageDescription is written, so nothing names a vendor.

    Parameters
    ----------
    path : pathlib.Path
        File to write.
    width, height, tile : int
        Size of level 0 and of the tiles.
    downsamples : sequence of int
        One level per factor.
    compression : {"jpeg", "lzw", "deflate", "none"}
        "jpeg" is tifffile's own: complete YCbCr JPEG tiles (with JFIF), no JPEGTables.
    mpp : float, optional
        Micrometres per pixel of level 0: ResolutionUnit centimetre and XResolution =
        YResolution = 10000 / mpp (scaled per level). None writes no resolution.

    Returns
    -------
    pathlib.Path
        `path`.
    """
    base = tissue(width, height)
    with tifffile.TiffWriter(path) as tif:
        for index, factor in enumerate(downsamples):
            resolution: dict[str, Any] = {}
            if mpp is not None:
                pixels_per_cm = 1e4 / (mpp * factor)
                resolution = {
                    "resolution": (pixels_per_cm, pixels_per_cm),
                    "resolutionunit": "CENTIMETER",
                }
            tif.write(
                _downsample(base, factor),
                tile=(tile, tile),
                photometric="rgb",
                compression=_CODECS[compression],
                subfiletype=0 if index == 0 else 1,
                metadata=None,
                **resolution,
            )
    return path


def write_ome_tiff(
    path: Path,
    *,
    width: int = 2048,
    height: int = 1536,
    tile: int = 256,
    downsamples: Sequence[int] = (1, 4, 16),
    compression: Compression | None = None,
    channels: Literal["rgb", "fluorescence"] = "rgb",
    mpp: float | None = 0.25,
) -> Path:
    """Write an OME-TIFF pyramid: level 0 pages with SubIFDs for the reduced levels.

    Parameters
    ----------
    path : pathlib.Path
        File to write (name it ``*.ome.tif``).
    width, height, tile : int
        Size of level 0 and of the tiles.
    downsamples : sequence of int
        One level per factor; the first is 1.
    compression : {"jpeg", "lzw", "deflate", "none"}, optional
        None: "jpeg" for RGB, "deflate" (zlib) for fluorescence, which is 16-bit.
    channels : {"rgb", "fluorescence"}
        "rgb": one brightfield page, interleaved RGB uint8. "fluorescence": uint16 channels
        DAPI, FITC and TRITC, one page each (as OME writes separate channels).
    mpp : float, optional
        PhysicalSizeX/Y in µm in the OME-XML (and the resolution tags). None leaves them out.

    Returns
    -------
    pathlib.Path
        `path`.
    """
    codec = compression or ("jpeg" if channels == "rgb" else "deflate")
    if channels == "fluorescence" and codec == "jpeg":
        raise ValueError("JPEG (8-bit) cannot hold the 16-bit fluorescence channels")
    base = tissue(width, height)
    levels: list[npt.NDArray[Any]] = [_downsample(base, factor) for factor in downsamples]
    metadata: dict[str, Any] = {"axes": "YXS", "Channel": {"Name": ["Brightfield"]}}
    photometric = "rgb"
    if channels == "fluorescence":
        # Stain absorption read as emission: dark (stained) pixels glow, in 16 bits.
        levels = [np.moveaxis(255 - level, -1, 0).astype(np.uint16) * 257 for level in levels]
        metadata = {"axes": "CYX", "Channel": {"Name": ["DAPI", "FITC", "TRITC"]}}
        photometric = "minisblack"
    if mpp is not None:
        metadata |= {"PhysicalSizeX": mpp, "PhysicalSizeXUnit": "µm"}
        metadata |= {"PhysicalSizeY": mpp, "PhysicalSizeYUnit": "µm"}
    with tifffile.TiffWriter(path, ome=True) as tif:
        for index, (factor, level) in enumerate(zip(downsamples, levels, strict=True)):
            options: dict[str, Any] = (
                {"subifds": len(levels) - 1, "metadata": metadata}
                if index == 0
                else {"subfiletype": 1}
            )
            if mpp is not None:
                pixels_per_cm = 1e4 / (mpp * factor)
                options |= {"resolution": (pixels_per_cm,) * 2, "resolutionunit": "CENTIMETER"}
            tif.write(
                level,
                tile=(tile, tile),
                photometric=photometric,
                compression=_CODECS[codec],
                **options,
            )
    return path


def write_large_svs(
    path: Path,
    *,
    size: int = 20000,
    tile: int = 256,
    downsamples: Sequence[int] = (1, 4, 16),
    quality: int = 70,
) -> Path:
    """Write a big square Aperio SVS in seconds: every tile of every level is one encoded tile.

    YCbCr tiles with JPEGTables, as :func:`write_svs` with its defaults writes them, page
    order level 0, thumbnail, the other levels, label, macro. tifffile writes the tiles from
    an iterator, so memory does not grow with `size` (100000: 152881 tiles, 2.2 GiB, about
    7 s); BigTIFF when the file may pass 4 GiB.

    Parameters
    ----------
    path : pathlib.Path
        File to write.
    size : int
        Width and height of level 0.
    tile : int
        Tile size.
    downsamples : sequence of int
        One level per factor.
    quality : int
        JPEG quality.

    Returns
    -------
    pathlib.Path
        `path`.
    """
    # The middle of the tissue with extra noise codes to about 15 KB at Q70 (256 x 256),
    # like H&E at 20x; the slide's size then is that of a real one.
    middle = tissue(tile * 4, tile * 4)[
        tile * 3 // 2 : tile * 5 // 2, tile * 3 // 2 : tile * 5 // 2
    ]
    noise = np.random.default_rng(1).integers(-24, 25, middle.shape, dtype=np.int16)
    image = np.clip(middle + noise, 0, 255).astype(np.uint8)
    jpegtables, tile_jpeg = _split_tables(_encode(image, "ycbcr", quality))
    sizes = [size // factor for factor in downsamples]
    total = sum(math.ceil(side / tile) ** 2 for side in sizes) * len(tile_jpeg)
    fields = _aperio_fields(path.stem, size, size, 0.499, "SS1234", True)
    head = f"{APERIO}\r\n{size}x{size} [0,0 {size}x{size}] ({tile}x{tile})"
    with tifffile.TiffWriter(path, bigtiff=total > 2**32 - 2**26) as tif:
        for index, side in enumerate(sizes):
            count = math.ceil(side / tile) ** 2
            level = "" if index == 0 else f" -> {side}x{side}"
            _write_jpeg_level(
                tif,
                (tile_jpeg for _ in range(count)),
                (side, side, 3),
                tile=tile,
                colour="ycbcr",
                jpegtables=jpegtables,
                description=f"{head}{level} JPEG/RGB Q={quality}|{fields}",
            )
            if index == 0:
                description = f"{head} -> {tile}x{tile} - |{fields}"
                _write_associated(tif, image, "thumbnail", description=description)
        for kind, associated in [("label", _label()), ("macro", _macro(image))]:
            description = f"{APERIO}\r\n{kind} {associated.shape[1]}x{associated.shape[0]}"
            _write_associated(tif, associated, kind, description=description)
    return path


def pages(tif: tifffile.TiffFile) -> list[tifffile.TiffPage]:
    """List the pages of the main IFD chain, all with their tags.

    tifffile gives light frames without tags for an OME-TIFF's later pages; typed code needs
    pages anyway.

    Parameters
    ----------
    tif : tifffile.TiffFile
        An open TIFF.

    Returns
    -------
    list of tifffile.TiffPage
        Every page.
    """
    found = []
    for index in range(len(tif.pages)):
        page = tif.pages.get(index, aspage=True)
        if not isinstance(page, tifffile.TiffPage):
            raise TypeError(f"page {index} could not be read as a page")
        found.append(page)
    return found


def tile_bytes(path: Path, page_index: int, tile_index: int) -> bytes:
    """Read one tile (or strip) exactly as stored in a TIFF.

    Parameters
    ----------
    path : pathlib.Path
        The TIFF.
    page_index : int
        Index of the page in the main IFD chain.
    tile_index : int
        Index of the tile, row-major (TIFF's order, and TILED_FULL's).

    Returns
    -------
    bytes
        The stored bytes; for abbreviated JPEG tiles, without the page's JPEGTables.
    """
    with tifffile.TiffFile(path) as tif:
        page = pages(tif)[page_index]
        offset = int(page.dataoffsets[tile_index])
        count = int(page.databytecounts[tile_index])
    with path.open("rb") as file:
        file.seek(offset)
        return file.read(count)


def _classic_tiff(tags: list[tuple[int, int, list[int] | bytes]], payload: bytes) -> bytes:
    """Lay out a little-endian classic TIFF: header, `payload` at offset 8, one IFD.

    `tags` are (code, type, values): type 2 ASCII (bytes, NUL included), 3 SHORT, 4 LONG.
    """
    ifd_at = 8 + len(payload) + len(payload) % 2
    values_at = ifd_at + 2 + 12 * len(tags) + 4
    entries, values = [], bytearray()
    for code, kind, value in sorted(tags):
        raw = (
            value
            if isinstance(value, bytes)
            else struct.pack(f"<{len(value)}{'?HI'[kind - 2]}", *value)
        )
        if len(raw) > 4:  # TIFF 6.0: a value that does not fit the entry is stored elsewhere
            field = struct.pack("<I", values_at + len(values))
            values += raw + bytes(len(raw) % 2)
        else:
            field = raw.ljust(4, b"\0")
        entries.append(struct.pack("<HHI", code, kind, len(value)) + field)
    ifd = struct.pack("<H", len(tags)) + b"".join(entries) + bytes(4)
    return b"II*\0" + struct.pack("<I", ifd_at) + payload + bytes(len(payload) % 2) + ifd + values


def _write_huge(path: Path, *, side: int = 300_000, tile: int = 1024) -> Path:
    """Write an Aperio-described tiled TIFF of ``side x side`` whose tiles all share one JPEG.

    Tiles of 1024 keep the tile tables small (86k entries, about 0.7 MB in all).
    """
    jpeg = _encode(np.full((tile, tile, 3), 240, np.uint8), "ycbcr", 70)
    count = math.ceil(side / tile) ** 2
    head = f"{APERIO}\r\n{side}x{side} [0,0 {side}x{side}] ({tile}x{tile}) JPEG/RGB Q=70"
    description = f"{head}|{_aperio_fields(path.stem, side, side, 0.25, 'SS1234', True)}"
    short, long = 3, 4
    tags: list[tuple[int, int, list[int] | bytes]] = [
        (254, long, [0]),
        (256, long, [side]),
        (257, long, [side]),
        (258, short, [8, 8, 8]),
        (259, short, [7]),  # JPEG
        (262, short, [6]),  # YCbCr
        (270, 2, description.encode() + b"\0"),
        (277, short, [3]),
        (284, short, [1]),
        (322, short, [tile]),
        (323, short, [tile]),
        (324, long, [8] * count),  # all at the payload
        (325, long, [len(jpeg)] * count),
        (530, short, [2, 2]),
    ]
    path.write_bytes(_classic_tiff(tags, jpeg))
    return path


def write_broken(folder: Path) -> dict[str, Path]:
    """Write slides broken on purpose into `folder`, one defect each, all named ``*.svs``.

    * ``truncated``: an SVS cut in the middle of level 0's tile data (the pages after it,
      and the rest of level 0's tiles, are gone; level 0's IFD is intact);
    * ``offsets-past-end``: an SVS whose level 0 tile 5 has an offset past the end of file;
    * ``levels-out-of-order``: an SVS whose second tiled level (page 2, 2048 x 1536) is larger
      than level 0 (1024 x 768);
    * ``tile-count-mismatch``: an SVS whose level 1 (page 2, 2 x 2 tiles) has TileOffsets and
      TileByteCounts of 3 entries (the IFD entries' counts were lowered);
    * ``zero-byte-tile``: an SVS whose level 0 tile 5 has a byte count of 0 (a sparse TIFF:
      legal TIFF, but DICOM's TILED_FULL cannot leave a tile out);
    * ``empty``: a 0-byte file;
    * ``not-a-slide``: a 64 x 64 RGB TIFF, one page, stripped, no description;
    * ``huge``: an Aperio-described tiled TIFF whose only level is 300000 x 300000 pixels
      (90 gigapixels), 1024-pixel tiles all pointing at the same JPEG: under 1 MB on disk.

    Parameters
    ----------
    folder : pathlib.Path
        Folder to write into (made if missing).

    Returns
    -------
    dict of str to pathlib.Path
        The files by the names above.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        name: folder / f"{name}.svs"
        for name in (
            "truncated",
            "offsets-past-end",
            "levels-out-of-order",
            "tile-count-mismatch",
            "zero-byte-tile",
            "empty",
            "not-a-slide",
            "huge",
        )
    }
    source = write_svs(paths["truncated"])
    data = source.read_bytes()
    with tifffile.TiffFile(source) as tif:
        items = "IQ"[tif.is_bigtiff]
        level0, _, level1 = pages(tif)[:3]
        offsets0, counts0 = level0.tags[324], level0.tags[325]
        middle = len(level0.dataoffsets) // 2
        cut = int(level0.dataoffsets[middle]) + int(level0.databytecounts[middle]) // 2
        entries1 = [level1.tags[code].offset for code in (324, 325)]
        fewer = len(level1.dataoffsets) - 1

    def patched(*edits: tuple[int, str, int]) -> bytes:
        out = bytearray(data)
        for position, kind, value in edits:
            struct.pack_into("<" + kind, out, position, value)
        return bytes(out)

    def item(tag: Any, index: int) -> int:
        return int(tag.valueoffset) + index * struct.calcsize(items)

    paths["truncated"].write_bytes(data[:cut])
    paths["offsets-past-end"].write_bytes(patched((item(offsets0, 5), items, len(data) + 4096)))
    # An IFD entry is code (2), type (2), count (4 or 8), value: the count follows at +4.
    paths["tile-count-mismatch"].write_bytes(patched(*[(at + 4, items, fewer) for at in entries1]))
    paths["zero-byte-tile"].write_bytes(patched((item(counts0, 5), items, 0)))
    write_svs(paths["levels-out-of-order"], width=2048, height=1536, downsamples=(2, 1, 8))
    paths["empty"].write_bytes(b"")
    tifffile.imwrite(paths["not-a-slide"], tissue(64, 64), photometric="rgb", metadata=None)
    _write_huge(paths["huge"])
    return paths

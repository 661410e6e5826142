"""SVS, pyramidal TIFF and OME-TIFF slides read with tifffile: tiles kept as stored.

The tiles of a level are found by their TIFF offsets and byte counts, in the
TIFF's order (row by row, left to right: TILED_FULL's order, PS3.3 C.7.6.17.3),
and never decoded when they are JPEG or JPEG 2000. Tiles in another compression
(LZW, Deflate, none, ...) are decoded one at a time and encoded in the transfer
syntax asked for. Aperio's pages are classified as OpenSlide's aperio reader does:
tiled pages are the levels, the second page (untiled) is the thumbnail, other
untiled pages are named by the second line of their description (label, macro).
The TIFFs of other scanners (NDPI, SCN, BIF, Philips) are left to OpenSlide.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile

from dicomize.dicom.uids import EXPLICIT_VR_LITTLE_ENDIAN, is_encapsulated
from dicomize.errors import CorruptImage, ImageTooLarge, UnsupportedInput
from dicomize.slides.frames import EncodedFrames, Frames, KeptFrames, NativeFrame
from dicomize.slides.jpeg import (
    ADOBE_RGB,
    TileEditor,
    frame_of,
    read_header,
    stitch_strips,
    tables_of,
)
from dicomize.slides.model import Slide, SlideImage
from dicomize.slides.retile import TILE, stripped_tiles

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

    from dicomize.options import ConvertOptions

__all__ = ["encoded_frames", "is_tiff_slide", "read_tiff_slide"]

_JPEG = 7
#: TIFF compression codes of JPEG 2000 tiles: Aperio's YCbCr and RGB, and the registered one.
_J2K = frozenset({33003, 33004, 33005, 34712})
#: TIFFs of scanners OpenSlide reads and this reader leaves to it.
_VENDOR_FLAGS = ("is_ndpi", "is_scn", "is_philips", "is_bif")
#: How many pages are looked at to tell a pyramid from a stack of pictures.
_LOOKED_AT = 8
_RESOLUTION_UNIT_UM = {2: 25_400.0, 3: 10_000.0}  # inch, centimetre in micrometres
_OME_UNIT_UM = {"µm": 1.0, "um": 1.0, "nm": 0.001, "mm": 1000.0, "cm": 10_000.0, "m": 1e6}
_log = logging.getLogger(__name__)


class _TifffileToDebug(logging.Filter):
    """Pass tifffile's own records to dicomize's debug log instead of the user's stderr.

    tifffile logs what it steps over at ERROR ("invalid page offset" for a page chain
    cut short), which the command line would print beside the one line naming the
    damage; the reader's checks of the tile tables say what matters.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        _log.debug("tifffile: %s", record.getMessage())
        return False


@contextlib.contextmanager
def _tifffile_quiet() -> Iterator[None]:
    logger = logging.getLogger("tifffile")
    hush = _TifffileToDebug()
    logger.addFilter(hush)
    try:
        yield
    finally:
        logger.removeFilter(hush)


def is_tiff_slide(path: str) -> bool:
    """Tell whether a TIFF is a slide: SVS, an OME or tiled pyramid, or a scanner's TIFF."""
    try:
        with _tifffile_quiet(), tifffile.TiffFile(path) as tif:
            if tif.is_svs or any(getattr(tif, flag, False) for flag in _VENDOR_FLAGS):
                return True
            first = tif.pages.first
            if first.subifds:  # a pyramid in SubIFDs, whether its levels are tiled or not
                return True
            if not first.is_tiled:
                return False
            pages: list[Any] = list(tif.pages[:_LOOKED_AT])
            return len([page for page in pages if page.is_tiled]) > 1
    except Exception:
        return False


def read_tiff_slide(path: str, options: ConvertOptions) -> Slide | None:
    """Read an SVS, pyramidal TIFF or OME-TIFF; None for a scanner's TIFF OpenSlide reads.

    Raises
    ------
    CorruptImage
        When the tile tables or the pyramid are damaged.
    UnsupportedInput
        When the slide holds what no VL Whole Slide Microscopy image here holds.
    """
    with _tifffile_quiet():
        return _read_tiff(path, options)


def _read_tiff(path: str, options: ConvertOptions) -> Slide | None:
    try:
        tif = tifffile.TiffFile(path)
    except (tifffile.TiffFileError, ValueError, OSError, struct.error) as exc:
        raise CorruptImage(f"is not a readable TIFF ({exc})") from None
    with tif:
        if any(getattr(tif, flag, False) for flag in _VENDOR_FLAGS):
            return None
        size = os.fstat(tif.filehandle.fileno()).st_size if _has_fileno(tif) else None
        try:
            return _read(path, tif, size, options)
        except (tifffile.TiffFileError, KeyError, IndexError, ValueError) as exc:
            raise CorruptImage(f"has a damaged TIFF structure ({exc})") from None


def _has_fileno(tif: tifffile.TiffFile) -> bool:
    try:
        tif.filehandle.fileno()
    except (OSError, AttributeError, ValueError):
        return False
    return True


def _read(  # noqa: PLR0912  (one branch per format and kind of page)
    path: str, tif: tifffile.TiffFile, size: int | None, options: ConvertOptions
) -> Slide:
    name = Path(path).stem.removesuffix(".ome")  # an OME-TIFF's name is NAME.ome.tif
    associated: list[tuple[str, Any]] = []
    if tif.is_svs:
        slide = Slide(name, "Aperio SVS")
        pages: list[Any] = list(tif.pages)
        levels: list[Any] = [page for page in pages if page.is_tiled]
        for index, page in enumerate(pages):
            if page.is_tiled:
                continue
            lines = (page.description or "").splitlines()
            kind = "thumbnail" if index == 1 else (lines[1].split()[0] if len(lines) > 1 else "")
            associated.append((kind, page))
        _aperio(slide, pages[0])
    elif tif.is_ome:
        slide = Slide(name, "OME-TIFF")
        levels = [level.keyframe for level in tif.series[0].levels]
        associated = [
            (series.name.lower(), series.keyframe)
            for series in tif.series[1:]
            if series.name.lower() in {"label", "macro", "thumbnail"}
        ]
        _ome(slide, tif, levels[0])
    else:
        slide = Slide(name, "pyramidal TIFF")
        series_levels = tif.series[0].levels
        if len(series_levels) > 1:
            levels = [level.keyframe for level in series_levels]
        else:
            main: list[Any] = list(tif.pages)
            levels = [page for page in main if page.is_tiled]
        _generic(slide, levels[0])
    if not levels:
        raise UnsupportedInput("has no pyramid level")
    icc = levels[0].tags.get(34675)
    slide.icc_profile = bytes(icc.value) if icc is not None else None
    base = levels[0]
    if base.imagewidth * base.imagelength > options.max_slide_pixels:
        raise ImageTooLarge(
            f"level 0 is {base.imagewidth}x{base.imagelength}, over the "
            f"{options.max_slide_pixels:,} pixel limit",
            option="max_slide_pixels",
        )
    try:
        previous = None
        for number, page in enumerate(levels):
            if previous is not None and not (
                page.imagewidth < previous.imagewidth and page.imagelength < previous.imagelength
            ):
                raise CorruptImage(  # noqa: TRY301  (the slide is closed on any error)
                    f"has its levels out of order: level {number} ({page.imagewidth}x"
                    f"{page.imagelength}) is not smaller than level {number - 1} "
                    f"({previous.imagewidth}x{previous.imagelength})"
                )
            previous = page
            frames = _level_frames(path, page=page, number=number, size=size, options=options)
            slide.images.append(
                SlideImage(
                    "VOLUME", page.imagewidth, page.imagelength, frames, resampled=number > 0
                )
            )
        for kind, page in associated:
            flavour = {"label": "LABEL", "macro": "OVERVIEW", "thumbnail": "THUMBNAIL"}.get(kind)
            if flavour is None:
                continue
            frames = _whole_frame(path, page, kind, size)
            slide.images.append(
                SlideImage(
                    flavour,
                    page.imagewidth,
                    page.imagelength,
                    frames,
                    resampled=flavour == "THUMBNAIL",
                )
            )
    except BaseException:
        slide.close()
        raise
    return slide


def _check_tables(page: Any, where: str, size: int | None) -> None:  # noqa: ANN401
    offsets, counts = page.dataoffsets, page.databytecounts
    if page.is_tiled:
        across = -(-page.imagewidth // page.tilewidth)
        down = -(-page.imagelength // page.tilelength)
        planes = page.samplesperpixel if page.planarconfig == 2 else 1  # noqa: PLR2004
        wanted = across * down * planes
        if len(offsets) != wanted or len(counts) != wanted:
            raise CorruptImage(
                f"{where} has {len(offsets)} tiles where its size "
                f"({page.imagewidth}x{page.imagelength} in {page.tilewidth}x{page.tilelength} "
                f"tiles) needs {wanted}"
            )
    for index, (offset, count) in enumerate(zip(offsets, counts, strict=True)):
        if count == 0:
            raise CorruptImage(
                f"tile {index} of {where} is empty (0 bytes): every tile must be stored"
            )
        if size is not None and offset + count > size:
            raise CorruptImage(
                f"tile {index} of {where} lies past the end of the file "
                f"(bytes {offset}-{offset + count} of {size}): the file is cut short or damaged"
            )


def _description(page: Any) -> dict[str, Any]:  # noqa: ANN401
    """Return the pixels' description that every frame source of the page shares."""
    if page.dtype != np.uint8:
        raise UnsupportedInput(
            f"has {page.dtype} samples: whole-slide images are stored as 8-bit brightfield here"
        )
    if page.samplesperpixel not in (1, 3):
        raise UnsupportedInput(
            f"has {page.samplesperpixel} samples per pixel: only brightfield RGB or grey "
            "slides are stored"
        )
    return {"samples": page.samplesperpixel, "bits": 8}


def _level_frames(
    path: str,
    *,
    page: Any,  # noqa: ANN401
    number: int,
    size: int | None,
    options: ConvertOptions,
) -> Frames:
    where = f"level {number}"
    description = _description(page)
    _check_tables(page, where, size)
    if not page.is_tiled:  # strips: cut into tiles a band at a time, and encoded
        return encoded_frames(
            stripped_tiles(page), tile=(TILE, TILE), samples=description["samples"], options=options
        )
    rows, columns = page.tilelength, page.tilewidth
    if page.compression == _JPEG:
        return _kept_jpeg(path, page, where=where, tile=(rows, columns), description=description)
    if page.compression in _J2K:
        return _kept_j2k(path, page, where=where, tile=(rows, columns), description=description)
    return encoded_frames(
        _decoded_tiles(path, page),
        tile=(rows, columns),
        samples=description["samples"],
        options=options,
    )


def _ratio(frames: int, tile: tuple[int, int], samples: int, stored: int) -> float:
    """Return a level's compression ratio: its frames' 8-bit samples over the bytes stored."""
    return round(frames * tile[0] * tile[1] * samples / max(stored, 1), 2)


def _first_tile(path: str, page: Any) -> bytes:  # noqa: ANN401
    """Return the level's first tile as stored: it stands for how every tile is coded."""
    with Path(path).open("rb") as stream:
        stream.seek(page.dataoffsets[0])
        return stream.read(page.databytecounts[0])


def _kept_jpeg(
    path: str,
    page: Any,  # noqa: ANN401
    *,
    where: str,
    tile: tuple[int, int],
    description: dict[str, Any],
) -> Frames:
    rows, columns = tile
    first = _first_tile(path, page)
    header = read_header(first)
    if header.rows_columns != (rows, columns):
        raise CorruptImage(
            f"the tiles of {where} are coded {header.rows_columns[1]}x{header.rows_columns[0]}, "
            f"not the TIFF's {columns}x{rows}"
        )
    tables = b"" if header.complete else tables_of(page.jpegtables)
    if not header.complete and not tables:
        raise CorruptImage(f"the tiles of {where} lack their JPEG tables and the TIFF has none")
    photometric, app14 = header.photometric(int(page.photometric))
    syntax = header.transfer_syntax
    edit = TileEditor(first, tables, app14=app14, where=where)
    extra = len(tables) + (len(ADOBE_RGB) if app14 else 0)
    counts = page.databytecounts
    ratio = _ratio(len(counts), tile, description["samples"], sum(counts) + extra * len(counts))
    return KeptFrames(
        path,
        page.dataoffsets,
        counts,
        extra=extra,
        edit=edit,
        rows=rows,
        columns=columns,
        photometric=photometric,
        transfer_syntax=syntax,
        lossy=(("ISO_10918_1", ratio),),
        **description,
    )


def _kept_j2k(
    path: str,
    page: Any,  # noqa: ANN401
    *,
    where: str,
    tile: tuple[int, int],
    description: dict[str, Any],
) -> Frames:
    from dicomize.codestreams.j2k import codestream_of, j2k_passthrough, parse_j2k

    rows, columns = tile
    first = _first_tile(path, page)
    found = j2k_passthrough(parse_j2k(first))
    if isinstance(found, str):
        raise UnsupportedInput(f"the JPEG 2000 tiles of {where} cannot be kept: {found}")
    if codestream_of(first) != first:
        raise UnsupportedInput(f"the tiles of {where} are JP2 files, not JPEG 2000 codestreams")

    def edit(index: int, tile: bytes) -> bytes:
        if tile[:4] != b"\xff\x4f\xff\x51":
            raise CorruptImage(f"tile {index} of {where} is not a JPEG 2000 codestream")
        return tile

    counts = page.databytecounts
    lossy: tuple[tuple[str, float | None], ...] = ()
    if found.lossy_method:
        ratio = _ratio(len(counts), tile, description["samples"], sum(counts))
        lossy = ((found.lossy_method, ratio),)
    return KeptFrames(
        path,
        page.dataoffsets,
        counts,
        extra=0,
        edit=edit,
        rows=rows,
        columns=columns,
        photometric=found.photometric_interpretation,
        transfer_syntax=found.transfer_syntax,
        lossy=lossy,
        **description,
    )


def _decoded_tiles(path: str, page: Any) -> Iterator[Any]:  # noqa: ANN401
    """Yield each tile of `page` decoded, full tile size (edge tiles padded as stored)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        for index, (offset, count) in enumerate(
            zip(page.dataoffsets, page.databytecounts, strict=True)
        ):
            data = os.pread(descriptor, count, offset)
            try:
                decoded = page.decode(data, index, jpegtables=page.jpegtables)[0]
            except Exception as exc:
                raise CorruptImage(f"tile {index} does not decode ({exc})") from None
            if decoded is None:
                raise CorruptImage(f"tile {index} does not decode")
            yield decoded.reshape(page.tilelength, page.tilewidth, page.samplesperpixel)
    finally:
        os.close(descriptor)


def encoded_frames(
    tiles: Iterator[Any],
    *,
    tile: tuple[int, int],
    samples: int,
    options: ConvertOptions,
) -> Frames:
    """Encode decoded tiles in the syntax asked for (JPEG baseline unless another is named).

    A slide is stored compressed: the native default of pictures would make a level
    ten times its source, so "explicit" means JPEG baseline at ``options.jpeg_quality``.
    """
    from dicomize.dicom.uids import JPEG_BASELINE_PROCESS_1
    from dicomize.picture import Picture
    from dicomize.syntaxes import codec_for

    rows, columns = tile
    syntax = options.transfer_syntax
    if not is_encapsulated(syntax):
        syntax = JPEG_BASELINE_PROCESS_1
    codec = codec_for(syntax)
    assert codec.encode is not None  # noqa: S101  (an encapsulated syntax has an encoder)
    picture = Picture(
        pixels=b"",
        rows=rows,
        columns=columns,
        samples_per_pixel=samples,
        photometric_interpretation="RGB" if samples == 3 else "MONOCHROME2",  # noqa: PLR2004
        bits_allocated=8,
        bits_stored=8,
    )
    encode = codec.encode
    first: list[bytes] = []

    def streams() -> Iterator[bytes]:
        for decoded in tiles:
            stream = encode(picture, np.ascontiguousarray(decoded), options)
            if not first:
                first.append(stream)
            yield stream

    frames = EncodedFrames(
        streams(),
        folder=options.temporary_folder,
        rows=rows,
        columns=columns,
        samples=samples,
        bits=8,
        photometric="",
        transfer_syntax=codec.uid,
        lossy=(),
    )
    frames.photometric = (
        codec.describe(first[0]) if codec.describe and first else picture.photometric_interpretation
    )
    from pydicom.uid import UID

    note = f"tiles re-encoded as {UID(codec.uid).name}"
    if codec.lossy_method is not None:
        ratio = _ratio(frames.count, tile, samples, frames.stored_bytes())
        frames.lossy = ((codec.lossy_method, ratio),)
        note += f", lossy {ratio}:1"
    frames.notes = (note,)
    return frames


def _whole_frame(path: str, page: Any, kind: str, size: int | None) -> Frames:  # noqa: ANN401
    """Return the label, macro or thumbnail as one frame: JPEG strips joined, else native."""
    description = _description(page)
    _check_tables(page, f"the {kind}", size)
    if page.compression == _JPEG and not page.is_tiled:
        with Path(path).open("rb") as stream:
            strips = []
            for offset, count in zip(page.dataoffsets, page.databytecounts, strict=True):
                stream.seek(offset)
                strips.append(stream.read(count))
        tables = tables_of(page.jpegtables)
        if len(strips) == 1:
            header = read_header(strips[0])
            frame = frame_of(strips[0], b"" if header.complete else tables, app14=False)
        else:
            frame = stitch_strips(strips, tables, page.imagelength)
        header = read_header(frame)
        photometric, app14 = header.photometric(int(page.photometric))
        if app14:
            frame = frame_of(frame, b"", app14=True)
        ratio = page.imagewidth * page.imagelength * description["samples"] / len(frame)
        whole = EncodedFrames(
            iter([frame]),
            folder=None,
            rows=page.imagelength,
            columns=page.imagewidth,
            photometric=photometric,
            transfer_syntax=header.transfer_syntax,
            lossy=(("ISO_10918_1", round(ratio, 2)),),
            **description,
        )
        whole.notes = ()
        return whole
    try:
        pixels = page.asarray()
    except Exception as exc:
        raise CorruptImage(f"the {kind} does not decode ({exc})") from None
    lossy: tuple[tuple[str, float | None], ...] = ()
    if page.compression == _JPEG:  # a tiled JPEG label: lossy once already
        lossy = (("ISO_10918_1", None),)
    return NativeFrame(
        np.ascontiguousarray(pixels),
        rows=page.imagelength,
        columns=page.imagewidth,
        photometric="RGB" if description["samples"] == 3 else "MONOCHROME2",  # noqa: PLR2004
        transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN,
        lossy=lossy,
        **description,
    )


def _aperio(slide: Slide, page: Any) -> None:  # noqa: ANN401
    """Read Aperio's ImageDescription: the software on line 1, then ``|key = value`` fields."""
    text = page.description or ""
    first, _, rest = text.partition("\n")
    fields = {}
    for part in rest.split("|")[1:]:
        key, found, value = part.partition("=")
        if found:
            fields[key.strip()] = value.strip()
    slide.manufacturer = "Aperio"
    slide.software = first.strip().removeprefix("Aperio Image Library").strip() or None
    slide.serial_number = fields.get("ScanScope ID") or None
    slide.model = fields.get("ScannerType") or None
    slide.magnification = _number(fields.get("AppMag"))
    mpp = _number(fields.get("MPP"))
    slide.mpp = (mpp, mpp) if mpp else None
    date, time = fields.get("Date"), fields.get("Time")
    if date and time:
        try:
            when = dt.datetime.strptime(f"{date} {time}", "%m/%d/%y %H:%M:%S")
        except ValueError:
            when = None
        if when is not None:
            zone = re.fullmatch(r"GMT([+-])(\d\d):?(\d\d)", fields.get("Time Zone", ""))
            offset = f"{zone[1]}{zone[2]}{zone[3]}" if zone else ""
            slide.acquired = when.strftime("%Y%m%d%H%M%S") + offset


def _ome(slide: Slide, tif: tifffile.TiffFile, base: Any) -> None:  # noqa: ANN401
    """Read the OME-XML: channels, physical pixel size, instrument, acquisition date."""
    try:
        root = ET.fromstring(tif.ome_metadata or "")  # noqa: S314  (a local file's XML, no DTD)
    except ET.ParseError as exc:
        raise CorruptImage(f"has unreadable OME-XML ({exc})") from None
    space = root.tag.partition("}")[0] + "}" if root.tag.startswith("{") else ""
    pixels = root.find(f"{space}Image/{space}Pixels")
    if pixels is None:
        raise CorruptImage("has OME-XML without an Image")
    channels = pixels.findall(f"{space}Channel")
    samples = [int(channel.get("SamplesPerPixel", "1")) for channel in channels] or [1]
    if len(channels) > 1 or pixels.get("Type", "uint8") != "uint8" or base.samplesperpixel != 3:  # noqa: PLR2004
        names = ", ".join(channel.get("Name", "?") for channel in channels)
        raise UnsupportedInput(
            f"is a fluorescence OME-TIFF ({len(channels)} channels: {names}; "
            f"{pixels.get('Type')}): each channel needs its own optical path, which is not "
            "supported yet; brightfield RGB OME-TIFF converts"
        )
    del samples
    across = _number(pixels.get("PhysicalSizeX"))
    down = _number(pixels.get("PhysicalSizeY"))
    if across and down:
        slide.mpp = (
            across * _OME_UNIT_UM.get(pixels.get("PhysicalSizeXUnit", "µm"), 1.0),
            down * _OME_UNIT_UM.get(pixels.get("PhysicalSizeYUnit", "µm"), 1.0),
        )
    microscope = root.find(f"{space}Instrument/{space}Microscope")
    if microscope is not None:
        slide.manufacturer = microscope.get("Manufacturer") or None
        slide.model = microscope.get("Model") or None
        slide.serial_number = microscope.get("SerialNumber") or None
    objective = root.find(f"{space}Instrument/{space}Objective")
    if objective is not None:
        slide.magnification = _number(objective.get("NominalMagnification"))
    date = root.find(f"{space}Image/{space}AcquisitionDate")
    if date is not None and date.text:
        slide.acquired = _iso_to_dt(date.text)
    _tiff_equipment(slide, base, keep=True)


def _generic(slide: Slide, base: Any) -> None:  # noqa: ANN401
    """Read a generic TIFF's resolution tags, and the equipment tags a scanner may fill."""
    unit = _RESOLUTION_UNIT_UM.get(int(base.tags.get(296).value) if 296 in base.tags else 2)  # noqa: PLR2004
    x, y = base.tags.get(282), base.tags.get(283)
    if unit and x is not None and y is not None:
        across, down = _rational(x.value), _rational(y.value)
        # A resolution of 1 (or 72) per unit is a default, not a measurement.
        if across > 1 and down > 1 and across not in (72.0, 96.0):
            slide.mpp = (unit / across, unit / down)
    _tiff_equipment(slide, base, keep=False)
    stamp = base.tags.get(306)
    if stamp is not None:
        try:
            when = dt.datetime.strptime(str(stamp.value), "%Y:%m:%d %H:%M:%S")
        except ValueError:
            return
        slide.acquired = when.strftime("%Y%m%d%H%M%S")


def _tiff_equipment(slide: Slide, page: Any, *, keep: bool) -> None:  # noqa: ANN401
    for tag, attribute in ((271, "manufacturer"), (272, "model"), (305, "software")):
        found = page.tags.get(tag)
        if found is not None and str(found.value).strip():
            if keep and getattr(slide, attribute):
                continue
            setattr(slide, attribute, str(found.value).strip()[:64])


def _rational(value: object) -> float:
    if isinstance(value, tuple) and len(value) == 2 and value[1]:  # noqa: PLR2004
        return float(value[0]) / float(value[1])
    return float(value)  # type: ignore[arg-type]


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value and value > 0 else None


def _iso_to_dt(text: str) -> str | None:
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    stamp = when.strftime("%Y%m%d%H%M%S")
    return stamp + when.strftime("%z") if when.tzinfo else stamp

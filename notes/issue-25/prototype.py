#!/usr/bin/env python3
"""Prototype: Aperio SVS -> DICOM VL Whole Slide Microscopy Image (PS3.3 A.32.8), one instance per
pyramid level plus LABEL, OVERVIEW and THUMBNAIL, tiles copied byte for byte.

Standalone research code for dicomize (nothing here imports dicomize).  Run:

    export PATH=/work/main/.venv/bin:$PATH
    PYTHONPATH=/tmp/wsm/site python /tmp/wsm/prototype.py          # 2 variants + all checks
    PYTHONPATH=/tmp/wsm/site python /tmp/wsm/prototype.py --all    # 7 variants
    PYTHONPATH=/tmp/wsm/site python /tmp/wsm/prototype.py --large 60000 --large-only   # timing

(/tmp/wsm/site holds openslide-python, openslide-bin and wsidicom; the checks skip them if absent.)

Sections
  1. Synthetic Aperio SVS writer (tifffile); tile flavours (see make_svs):
       abbreviated   - as Aperio writes YCbCr pages: one JPEGTables tag (DQT+DHT) per page and
                       tiles that hold only SOI SOF SOS <scan> EOI;
       aperio-rgb    - as Aperio writes 'JPEG/RGB' pages: RGB-coded tiles with no marker saying so,
                       TIFF Photometric RGB;
       rgbjpeg       - RGB-coded tiles that say so (Adobe APP14 transform 0, ids 'R','G','B');
       selfcontained - what tifffile writes by itself: every tile carries JFIF APP0, DQT, DHT.
  2. JPEG marker utilities: walk segments, merge JPEGTables into a tile, stitch JPEG strips.
  3. SVS reader: Aperio ImageDescription, which page is which, raw tile bytes.
  4. DICOM writer (pydicom): the attribute set per instance flavour; streaming encapsulation with a
     Basic Offset Table so a slide never has to sit in memory.
  5. Checks: dciodvfy -new, byte identity of the scans, pixel equality pydicom vs tifffile,
     OpenSlide 4 region reads SVS vs DICOM, wsidicom.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
import tifffile
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    PYDICOM_IMPLEMENTATION_UID,
    VLWholeSlideMicroscopyImageStorage,
    generate_uid,
)

TILE = 256
APERIO_SOFTWARE = "Aperio Image Library v12.0.5"


# ==============================================================================================
# 1. Synthetic Aperio SVS
# ==============================================================================================


def synthetic_slide(width: int, height: int) -> np.ndarray:
    """A smooth RGB 'stained tissue' picture on a white background (uint8, H x W x 3)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width * 0.5, height * 0.5
    r = np.hypot((x - cx) / (0.42 * width), (y - cy) / (0.40 * height))
    tissue = np.clip(1.3 - r, 0, 1) ** 0.7  # 1 inside the blob, 0 outside
    texture = 0.5 + 0.25 * np.sin(x / 23.0) * np.cos(y / 31.0) + 0.25 * np.sin((x + 2 * y) / 57.0)
    # eosin pink and haematoxylin purple, mixed by the texture, fading to white background
    pink = np.array([235, 140, 190], np.float32)
    purple = np.array([110, 60, 160], np.float32)
    stain = pink * texture[..., None] + purple * (1 - texture[..., None])
    rgb = 245 * (1 - tissue[..., None]) + stain * tissue[..., None]
    return np.clip(rgb, 0, 255).astype(np.uint8)


def downsample(img: np.ndarray, f: int) -> np.ndarray:
    """Box-filter downsampling by an integer factor (crops a ragged edge)."""
    h, w = img.shape[0] // f * f, img.shape[1] // f * f
    v = img[:h, :w].reshape(h // f, f, w // f, f, 3).astype(np.float32).mean(axis=(1, 3))
    return np.round(v).astype(np.uint8)


def pad_tile(a: np.ndarray, size: int = TILE, fill: int = 255) -> np.ndarray:
    """Edge tiles of a TIFF are full size; pad the part outside the image (content is unused)."""
    if a.shape[0] == size and a.shape[1] == size:
        return a
    out = np.full((size, size, 3), fill, np.uint8)
    out[: a.shape[0], : a.shape[1]] = a
    return out


def aperio_fields(stem: str, width: int, height: int, with_serial: bool = True) -> str:
    """The '|key = value' part of an Aperio ImageDescription (the keys OpenSlide exposes as aperio.*)."""
    f = [
        "AppMag = 20",
        "StripeWidth = 2040",
    ]
    if with_serial:
        f.append("ScanScope ID = SS1234")
    f += [
        f"Filename = {stem}",
        "Date = 03/14/25",
        "Time = 10:21:33",
        "Time Zone = GMT+01:00",
        "User = 7c1a5e2e-0000-4000-8000-000000000000",
        "MPP = 0.4990",
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
    return "|".join(f)


def split_tables(jpeg: bytes) -> tuple[bytes, bytes]:
    """Split a full JPEG into (tables-only stream, abbreviated image stream) as Aperio stores them.

    tables = SOI + every DQT/DHT + EOI (TIFF Technical Note 2 'JPEGTables');
    image  = SOI + the rest without DQT/DHT and without the JFIF APP0 (Aperio tiles carry none);
             an Adobe APP14 stays: it says whether the components are RGB or YCbCr.
    """
    tables, image = [b"\xff\xd8"], [b"\xff\xd8"]
    for marker, start, end in iter_segments(jpeg):
        seg = jpeg[start:end]
        if marker in (DQT, DHT):
            tables.append(seg)
        elif marker == 0xE0:
            continue  # drop JFIF APP0
        elif marker == SOS:
            image.append(jpeg[start:])  # SOS header + entropy-coded data + EOI
            break
        else:
            image.append(seg)
    tables.append(b"\xff\xd9")
    return b"".join(tables), b"".join(image)


def hide_rgb_signals(jpeg: bytes) -> bytes:
    """Make an RGB-coded JPEG look like Aperio's: drop the Adobe APP14 and renumber the component
    ids 'R','G','B' -> 1,2,3 in SOF and SOS.  Entropy-coded data untouched.  A decoder that looks
    only at the stream now assumes YCbCr (JFIF convention) and gets the colours wrong."""
    out = bytearray(b"\xff\xd8")
    ids = {0x52: 1, 0x47: 2, 0x42: 3}
    for marker, s, e in iter_segments(jpeg):
        seg = bytearray(jpeg[s:e])
        if marker == 0xEE:
            continue
        if marker in SOF_ANY:
            for k in range(seg[9]):
                seg[10 + 3 * k] = ids.get(seg[10 + 3 * k], seg[10 + 3 * k])
        if marker == SOS:
            for k in range(seg[4]):
                seg[5 + 2 * k] = ids.get(seg[5 + 2 * k], seg[5 + 2 * k])
            out += seg + jpeg[e:]
            break
        out += seg
    return bytes(out)


def make_svs(
    path: Path,
    width: int = 2048,
    height: int = 1536,
    flavour: str = "abbreviated",
    quality: int = 70,
    levels: int = 3,
    factor: int = 4,
    with_serial: bool = True,
) -> None:
    """Write an Aperio-style SVS: base, thumbnail, lower levels, label, macro (Aperio's page order).

    flavour (of the tiled pages):
      abbreviated   YCbCr 4:2:0 JPEG, tables in JPEGTables, TIFF Photometric YCbCr (6)
      aperio-rgb    RGB-coded JPEG (no colour transform) WITHOUT any marker saying so (no APP14,
                    component ids 1,2,3), TIFF Photometric RGB (2): how Aperio writes 'JPEG/RGB'
                    tiles, which tifffile and OpenSlide decode as RGB because of the TIFF tag
      rgbjpeg       RGB-coded JPEG that says so itself (Adobe APP14 transform 0, ids 'R','G','B'),
                    TIFF Photometric RGB (2)
      selfcontained tifffile's own encoder: YCbCr 4:2:0, JFIF APP0 + DQT + DHT in every tile
    """
    from PIL import ImageCms

    base = synthetic_slide(width, height)
    pyramid = [base]
    for _ in range(levels - 1):
        pyramid.append(downsample(pyramid[-1], factor))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    fields = aperio_fields(path.stem, width, height, with_serial)
    head = f"{APERIO_SOFTWARE}\r\n{width}x{height} [0,0 {width}x{height}] ({TILE}x{TILE})"

    def write_level(tif: tifffile.TiffWriter, img: np.ndarray, desc: str, with_icc: bool) -> None:
        common = dict(
            tile=(TILE, TILE),
            description=desc,
            subfiletype=0,
            metadata=None,
            iccprofile=icc if with_icc else None,
        )
        if flavour == "selfcontained":
            # tifffile encodes each tile itself: full JPEG per tile, JFIF APP0, no JPEGTables.
            tif.write(img, photometric="rgb", compression="jpeg", compressionargs={"level": quality}, **common)
            return
        # 'abbreviated': encode tiles ourselves, keep the tables once in JPEGTables.
        tiles, tables = [], None
        for ty in range(0, img.shape[0], TILE):
            for tx in range(0, img.shape[1], TILE):
                if flavour in ("rgbjpeg", "aperio-rgb"):
                    full = imagecodecs.jpeg8_encode(
                        pad_tile(img[ty : ty + TILE, tx : tx + TILE]), level=quality,
                        colorspace="RGB", outcolorspace="RGB",
                    )
                    if flavour == "aperio-rgb":
                        full = hide_rgb_signals(full)
                else:
                    full = imagecodecs.jpeg8_encode(
                        pad_tile(img[ty : ty + TILE, tx : tx + TILE]), level=quality, subsampling="420"
                    )
                t, abbreviated = split_tables(full)
                assert tables in (None, t), "libjpeg's standard tables must be identical per tile"
                tables = t
                tiles.append(abbreviated)
        rgb_coded = flavour in ("rgbjpeg", "aperio-rgb")
        tif.write(
            iter(tiles),
            shape=img.shape,
            dtype=np.uint8,
            photometric="rgb",
            compression=7,  # JPEG
            subsampling=(1, 1) if rgb_coded else (2, 2),
            jpegtables=tables,
            compressionargs={"outcolorspace": "RGB" if rgb_coded else "YCBCR"},  # the TIFF tag
            **common,
        )

    thumb = downsample(base, 8)  # 256x192 for the default size
    label = np.full((420, 400, 3), 250, np.uint8)
    label[60:360:1, 40:360][:, ::7] = 20  # a 'barcode'
    macro = np.full((432, 1280, 3), 230, np.uint8)
    macro[6:426, 900:1300][:, :380] = label[:, :380]  # the label, at the slide's end
    small = downsample(base, max(1, -(-width // 800)))[:400, :840]  # the tissue, small
    macro[16 : 16 + small.shape[0], 40 : 40 + small.shape[1]] = small

    with tifffile.TiffWriter(path, bigtiff=False) as tif:
        write_level(tif, pyramid[0], f"{head} JPEG/RGB Q={quality}|{fields}", True)
        # Page 1: thumbnail, stripped JPEG, several strips (Aperio uses strips here).
        tif.write(
            thumb,
            photometric="rgb",
            compression="jpeg", compressionargs={"level": 90},
            rowsperstrip=64,
            description=f"{head} -> {thumb.shape[1]}x{thumb.shape[0]} - |{fields}",
            metadata=None,
        )
        for lvl in pyramid[1:]:
            write_level(
                tif,
                lvl,
                f"{head} -> {lvl.shape[1]}x{lvl.shape[0]} JPEG/RGB Q={quality}|{fields}",
                False,
            )
        # Label: LZW, stripped, NewSubfileType 1 (reduced-resolution); macro: JPEG, NewSubfileType 9.
        tif.write(
            label,
            photometric="rgb",
            compression="lzw",
            rowsperstrip=16,
            subfiletype=1,
            description=f"{APERIO_SOFTWARE}\r\nlabel {label.shape[1]}x{label.shape[0]}",
            metadata=None,
        )
        tif.write(
            macro,
            photometric="rgb",
            compression="jpeg", compressionargs={"level": 90},
            rowsperstrip=macro.shape[0],  # one strip: the JPEG can go to DICOM as it is
            subfiletype=9,
            description=f"{APERIO_SOFTWARE}\r\nmacro {macro.shape[1]}x{macro.shape[0]}",
            metadata=None,
        )


# ==============================================================================================
# 2. JPEG marker utilities (ISO 10918-1 B.1)
# ==============================================================================================

SOI, EOI, SOS, DQT, DHT, DRI = 0xD8, 0xD9, 0xDA, 0xDB, 0xC4, 0xDD
SOF_BASELINE, SOF_EXTENDED = 0xC0, 0xC1
SOF_ANY = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def iter_segments(data: bytes):
    """Yield (marker, start, end) for each marker segment from after SOI up to and including SOS.

    start..end covers 0xFF, the marker and its length-counted payload.  Stops at SOS (the entropy
    coded data that follows is not walked) or at EOI (a tables-only stream).
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG stream (no SOI)")
    i = 2
    while i < len(data):
        if data[i] != 0xFF:
            raise ValueError(f"marker expected at offset {i}")
        while data[i + 1] == 0xFF:  # fill bytes
            i += 1
        marker = data[i + 1]
        if marker == EOI:
            yield marker, i, i + 2
            return
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            yield marker, i, i + 2
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        yield marker, i, i + 2 + length
        if marker == SOS:
            return
        i += 2 + length


@dataclass
class JpegHeader:
    sof: int  # SOFn marker
    precision: int
    rows: int
    columns: int
    components: list  # [(id, h, v, tq)]
    dqt_ids: set  # tables defined in this stream
    dht_ids: set  # (class, id)
    used_dqt: set
    used_dht: set
    adobe_transform: int | None
    jfif: bool

    @property
    def has_all_tables(self) -> bool:
        return self.used_dqt <= self.dqt_ids and self.used_dht <= self.dht_ids

    @property
    def subsampling(self) -> tuple[int, int]:
        h0, v0 = self.components[0][1], self.components[0][2]
        return h0, v0

    def colour(self, tiff_photometric: int | None = None) -> tuple[str, bool]:
        """(DICOM Photometric Interpretation, whether an Adobe APP14 must be added).

        The stream decides when it can: Adobe APP14 transform (0 = RGB, else YCbCr), then a JFIF
        APP0 (YCbCr), then component ids 'R','G','B' (RGB).  A stream with none of these is what
        libjpeg takes for YCbCr; in a TIFF the Photometric tag then decides (2 = RGB-coded, as
        Aperio writes it; tifffile and OpenSlide read it so).  DICOM decoders look at the stream
        only, so an RGB-coded stream without a marker gets an APP14 (transform 0) inserted.
        PS3.5 8.2.1 / PS3.3 C.8.12.4.1.5: YCbCr-coded JPEG is YBR_FULL_422 whatever its
        subsampling; RGB-coded JPEG is RGB (allowed for WSM by the 'compressed RGB for WSI' CP).
        """
        if len(self.components) == 1:
            return "MONOCHROME2", False
        if self.adobe_transform is not None:
            return ("RGB" if self.adobe_transform == 0 else "YBR_FULL_422"), False
        if self.jfif:
            return "YBR_FULL_422", False
        if bytes(c[0] for c in self.components) == b"RGB":
            return "RGB", False
        if tiff_photometric == 2:
            return "RGB", True
        return "YBR_FULL_422", False


def parse_header(data: bytes) -> JpegHeader:
    """Read the frame header and which tables a stream defines and which it uses."""
    sof = None
    comps: list = []
    dqt_ids, dht_ids, used_dht = set(), set(), set()
    adobe, jfif = None, False
    precision = rows = cols = 0
    for marker, s, e in iter_segments(data):
        p = data[s + 4 : e]
        if marker in SOF_ANY:
            sof = marker
            precision, rows, cols, n = struct.unpack(">BHHB", p[:6])
            comps = [(p[6 + 3 * k], p[7 + 3 * k] >> 4, p[7 + 3 * k] & 15, p[8 + 3 * k]) for k in range(n)]
        elif marker == DQT:
            j = 0
            while j < len(p):
                pq, tq = p[j] >> 4, p[j] & 15
                dqt_ids.add(tq)
                j += 1 + (128 if pq else 64)
        elif marker == DHT:
            j = 0
            while j < len(p):
                tc, th = p[j] >> 4, p[j] & 15
                dht_ids.add((tc, th))
                j += 17 + sum(p[j + 1 : j + 17])
        elif marker == 0xEE and p[:5] == b"Adobe":
            adobe = p[11]
        elif marker == 0xE0 and p[:5] == b"JFIF\x00":
            jfif = True
        elif marker == SOS:
            n = p[0]
            for k in range(n):
                td_ta = p[2 + 2 * k]
                used_dht.add((0, td_ta >> 4))
                used_dht.add((1, td_ta & 15))
    if sof is None:
        raise ValueError("no SOF marker")
    return JpegHeader(
        sof, precision, rows, cols, comps, dqt_ids, dht_ids, {c[3] for c in comps}, used_dht, adobe, jfif
    )


def table_segments(tables: bytes) -> list[tuple[int, bytes]]:
    """The DQT/DHT segments of a TIFF JPEGTables stream (SOI, tables, EOI)."""
    out = []
    for marker, s, e in iter_segments(tables):
        if marker in (DQT, DHT):
            out.append((marker, tables[s:e]))
        elif marker != EOI:
            raise ValueError(f"unexpected marker 0x{marker:02X} in JPEGTables")
    return out


def merge_tables(tile: bytes, tables: bytes | None) -> bytes:
    """Make an abbreviated TIFF JPEG tile decodable on its own (one DICOM frame).

    Recipe: if the tile already defines every quantisation and Huffman table its SOF/SOS use, it is
    returned unchanged.  Otherwise the DQT/DHT segments of JPEGTables are inserted right after the
    SOI and any APPn segments that immediately follow it (so a JFIF APP0 stays first).  Tables the
    tile defines itself come later in the stream and override the inserted ones, which is exactly
    what libtiff/libjpeg do when they load JPEGTables first.  The entropy-coded data is untouched.
    """
    head = parse_header(tile)
    if head.has_all_tables:
        return tile
    if not tables:
        raise ValueError("tile lacks tables and the page has no JPEGTables")
    insert_at = 2
    for marker, s, e in iter_segments(tile):
        if 0xE0 <= marker <= 0xEF:
            insert_at = e
        else:
            break
    segs = b"".join(seg for _, seg in table_segments(tables))
    merged = tile[:insert_at] + segs + tile[insert_at:]
    assert parse_header(merged).has_all_tables
    return merged


ADOBE_RGB_APP14 = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"  # transform 0 = RGB


def add_adobe_rgb(frame: bytes) -> bytes:
    """Insert an Adobe APP14 (version 100, transform 0) right after SOI: a metadata segment that
    tells any JPEG decoder the components are R,G,B; the coded data is untouched."""
    return frame[:2] + ADOBE_RGB_APP14 + frame[2:]


def stitch_strips(strips: list[bytes], tables: bytes | None, width: int, height: int) -> bytes:
    """Join the JPEG strips of a stripped TIFF page into ONE baseline JPEG, losslessly.

    Each strip is its own scan whose DC predictors start at 0 - exactly the state after a restart
    marker.  So: SOI, tables, SOF (height = image height), DRI (interval = MCUs in one strip), SOS,
    strip 0's entropy data, RST0, strip 1's data, RST1, ..., EOI.  Needs: same SOF parameters in
    every strip, rows per strip a multiple of the MCU height, no DRI/RST in the strips.
    """
    parsed = [parse_header(merge_tables(s, tables)) for s in strips]
    first = parsed[0]
    mcu_h = 8 * max(c[2] for c in first.components)
    mcu_w = 8 * max(c[1] for c in first.components)
    rps = first.rows
    if len(strips) > 1 and rps % mcu_h:
        raise ValueError("rows per strip not a multiple of the MCU height")
    for p in parsed:
        if (p.sof, p.columns, p.components) != (first.sof, first.columns, first.components):
            raise ValueError("strips differ")
    out = bytearray(b"\xff\xd8")
    s0 = merge_tables(strips[0], tables)
    # header of strip 0 up to (not including) SOF, then our SOF with the full height
    for marker, s, e in iter_segments(s0):
        seg = s0[s:e]
        if marker == DRI:
            raise ValueError("strips already use restart markers")
        if marker in SOF_ANY:
            body = bytearray(seg)
            struct.pack_into(">H", body, 5, height)
            seg = bytes(body)
            mcus = ((width + mcu_w - 1) // mcu_w) * (rps // mcu_h)
            out += seg + b"\xff\xdd\x00\x04" + struct.pack(">H", mcus)
            continue
        if marker == SOS:
            sos_header = seg
            break
        out += seg
    out += sos_header
    for k, strip in enumerate(strips):
        s = merge_tables(strip, tables)
        sos_end = [e for m, _, e in iter_segments(s) if m == SOS][0]
        ecs = s[sos_end:]
        if ecs[-2:] != b"\xff\xd9":
            raise ValueError("strip does not end with EOI")
        ecs = ecs[:-2]
        out += ecs
        if k < len(strips) - 1:
            out += bytes([0xFF, 0xD0 + (k % 8)])
    out += b"\xff\xd9"
    return bytes(out)


# ==============================================================================================
# 3. SVS reader
# ==============================================================================================


@dataclass
class AperioDescription:
    software: str  # 'Aperio Image Library v12.0.5'
    header: str  # '2048x1536 [0,0 2048x1536] (256x256) JPEG/RGB Q=70'
    fields: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> "AperioDescription":
        """Aperio: line 1 the software; then a summary and '|key = value' fields (as OpenSlide splits)."""
        if not text.startswith("Aperio"):
            raise ValueError("not an Aperio ImageDescription")
        first, _, rest = text.partition("\n")
        parts = rest.split("|")
        fields = {}
        for p in parts[1:]:
            k, sep, v = p.partition(" = ")
            if sep:
                fields[k.strip()] = v.strip()
        return cls(first.strip(), parts[0].strip(), fields)

    @property
    def mpp(self) -> float | None:
        return float(self.fields["MPP"]) if "MPP" in self.fields else None

    @property
    def acquisition_datetime(self) -> str | None:
        """'Date = 03/14/25|Time = 10:21:33|Time Zone = GMT+01:00' -> DICOM DT 20250314102133+0100."""
        d, t = self.fields.get("Date"), self.fields.get("Time")
        if not d or not t:
            return None
        when = dt.datetime.strptime(f"{d} {t}", "%m/%d/%y %H:%M:%S")
        tz = ""
        m = re.fullmatch(r"GMT([+-])(\d\d):?(\d\d)", self.fields.get("Time Zone", ""))
        if m:
            tz = f"{m[1]}{m[2]}{m[3]}"
        return when.strftime("%Y%m%d%H%M%S") + tz


@dataclass
class SvsPage:
    index: int
    kind: str  # 'level' | 'thumbnail' | 'label' | 'macro'
    width: int
    height: int
    tiled: bool
    compression: int
    jpegtables: bytes | None
    offsets: tuple
    counts: tuple
    description: str
    icc: bytes | None
    tile: tuple[int, int] | None  # (TileLength, TileWidth) of tiled pages
    photometric: int  # TIFF PhotometricInterpretation tag


def read_svs(path: Path) -> tuple[AperioDescription, list[SvsPage]]:
    """Classify pages the way OpenSlide's aperio driver does: tiled pages are levels, page 1 if not
    tiled is the thumbnail, other stripped pages are named by the first word of their 2nd line."""
    pages = []
    with tifffile.TiffFile(path) as tf:
        desc0 = tf.pages[0].description
        meta = AperioDescription.parse(desc0)
        for i, p in enumerate(tf.pages):
            if p.is_tiled:
                kind = "level"
            elif i == 1:
                kind = "thumbnail"
            else:
                lines = p.description.splitlines()
                kind = lines[1].split()[0] if len(lines) > 1 else "unknown"
            icc = p.tags.get(34675)
            pages.append(
                SvsPage(
                    i,
                    kind,
                    p.imagewidth,
                    p.imagelength,
                    p.is_tiled,
                    int(p.compression),
                    p.jpegtables,
                    p.dataoffsets,
                    p.databytecounts,
                    p.description,
                    icc.value if icc else None,
                    (p.tilelength, p.tilewidth) if p.is_tiled else None,
                    int(p.photometric),
                )
            )
    return meta, pages


def read_raw(fh, offset: int, count: int) -> bytes:
    fh.seek(offset)
    return fh.read(count)


# ==============================================================================================
# 4. DICOM writer
# ==============================================================================================


@dataclass
class UserMetadata:
    """What only the user (or the LIS) can say.  Defaults are placeholders the notes call out."""

    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_instance_uid: str = field(default_factory=generate_uid)
    study_id: str = ""
    accession_number: str = ""
    referring_physician: str = ""
    study_date: str = ""
    study_time: str = ""
    series_number: int = 1
    manufacturer_model_name: str | None = None  # not in an Aperio description: ask
    device_serial_number: str | None = None  # 'ScanScope ID' if present
    container_identifier: str | None = None  # default: file stem
    specimen_identifier: str | None = None  # default: container identifier
    specimen_uid: str = field(default_factory=generate_uid)
    imaged_volume_depth_um: float = 1.0  # unknown from an SVS; type 1, must not be 0
    focus_method: str = "AUTO"
    barcode: str = ""
    label_text: str = ""


def code(value: str, scheme: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def ds_str(v: float) -> str:
    """A DS of at most 16 characters."""
    s = f"{v:.10g}"
    if len(s) > 16:
        s = f"{v:.9e}"
    return s


@dataclass
class Shared:
    """Values every instance of the slide shares (one series, one frame of reference)."""

    user: UserMetadata
    meta: AperioDescription
    stem: str
    series_uid: str = field(default_factory=generate_uid)
    frame_of_reference_uid: str = field(default_factory=generate_uid)
    pyramid_uid: str = field(default_factory=generate_uid)
    dimension_organization_uid: str = field(default_factory=generate_uid)
    icc: bytes = b""
    base_width: int = 0
    base_height: int = 0
    now: dt.datetime = field(default_factory=dt.datetime.now)
    dimension_index: bool = False  # write the (optional under TILED_FULL) Dimension Index Sequence


def build_dataset(
    sh: Shared,
    flavour: str,  # VOLUME | THUMBNAIL | LABEL | OVERVIEW
    derived: bool,
    instance_number: int,
    width: int,
    height: int,
    rows: int,
    columns: int,
    frames: int,
    photometric: str,
    lossy: tuple[str, str | None] | None,  # (ratio, method) or None when lossless
    dimension_index: bool = False,
) -> Dataset:
    """Every attribute of one VL Whole Slide Microscopy Image instance, module by module."""
    u, meta = sh.user, sh.meta
    ds = Dataset()
    acq_dt = meta.acquisition_datetime or sh.now.strftime("%Y%m%d%H%M%S")

    # --- SOP Common (C.12.1)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = VLWholeSlideMicroscopyImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceCreationDate = sh.now.strftime("%Y%m%d")
    ds.InstanceCreationTime = sh.now.strftime("%H%M%S")

    # --- Patient (C.7.1.1): type 2, from the user
    ds.PatientName = u.patient_name
    ds.PatientID = u.patient_id
    ds.PatientBirthDate = u.patient_birth_date
    ds.PatientSex = u.patient_sex

    # --- General Study (C.7.2.1)
    ds.StudyInstanceUID = u.study_instance_uid
    ds.StudyDate = u.study_date or acq_dt[:8]
    ds.StudyTime = u.study_time or acq_dt[8:14]
    ds.ReferringPhysicianName = u.referring_physician
    ds.StudyID = u.study_id
    ds.AccessionNumber = u.accession_number

    # --- General Series (C.7.3.1) + Whole Slide Microscopy Series (C.8.12.3)
    ds.Modality = "SM"
    ds.SeriesInstanceUID = sh.series_uid
    ds.SeriesNumber = u.series_number

    # --- Frame of Reference (C.7.4.1): one for the whole slide
    ds.FrameOfReferenceUID = sh.frame_of_reference_uid
    ds.PositionReferenceIndicator = "SLIDE_CORNER"

    # --- General Equipment (C.7.5.1) + Enhanced General Equipment (C.7.5.2, all type 1)
    ds.Manufacturer = "Aperio"
    ds.ManufacturerModelName = u.manufacturer_model_name or meta.fields.get("ScannerType", "")
    ds.DeviceSerialNumber = u.device_serial_number or meta.fields.get("ScanScope ID", "")
    ds.SoftwareVersions = meta.software.replace("Aperio Image Library ", "")[:64]

    # --- Multi-Resolution Pyramid (C.8.12.17? 'U'): only the VOLUME layers form the pyramid
    if flavour == "VOLUME":
        ds.PyramidUID = sh.pyramid_uid
        ds.PyramidLabel = sh.stem[:64]

    # --- General Image (C.7.6.1) / Multi-frame Functional Groups (C.7.6.16)
    ds.InstanceNumber = instance_number
    ds.ContentDate = acq_dt[:8]
    ds.ContentTime = acq_dt[8:14]
    ds.NumberOfFrames = frames

    # --- Whole Slide Microscopy Image (C.8.12.4)
    ds.ImageType = ["DERIVED" if derived else "ORIGINAL", "PRIMARY", flavour, "RESAMPLED" if derived else "NONE"]
    ds.AcquisitionDateTime = acq_dt
    # Acquisition Duration (0018,9073) is not in an Aperio description and dciodvfy does not
    # require it here: left out rather than written as a made-up 0.
    ds.VolumetricProperties = "VOLUME"
    ds.SpecimenLabelInImage = "YES" if flavour in ("LABEL", "OVERVIEW") else "NO"
    ds.BurnedInAnnotation = "YES" if flavour in ("LABEL", "OVERVIEW") else "NO"
    ds.FocusMethod = u.focus_method
    ds.ExtendedDepthOfField = "NO"
    # Imaged volume: the physical extent of the base level, the same in every instance.
    mpp = meta.mpp
    if mpp and flavour in ("VOLUME", "THUMBNAIL"):
        ds.ImagedVolumeWidth = sh.base_width * mpp / 1000.0  # FL, mm
        ds.ImagedVolumeHeight = sh.base_height * mpp / 1000.0  # FL, mm
        ds.ImagedVolumeDepth = float(u.imaged_volume_depth_um)  # FL, micrometres
    if lossy:
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = lossy[0]
        ds.LossyImageCompressionMethod = lossy[1]
    else:
        ds.LossyImageCompression = "00"
    ds.ImageOrientationSlide = [0, -1, 0, -1, 0, 0]  # see notes: rows along -Y, columns along -X

    # --- Microscope Slide Layer Tile Organization (C.8.12.14)
    ds.TotalPixelMatrixColumns = width
    ds.TotalPixelMatrixRows = height
    ds.TotalPixelMatrixFocalPlanes = 1
    origin = Dataset()
    origin.XOffsetInSlideCoordinateSystem = 0
    origin.YOffsetInSlideCoordinateSystem = 0
    ds.TotalPixelMatrixOriginSequence = Sequence([origin])

    # --- Image Pixel (C.7.6.3): one frame = one tile
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = photometric
    ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0

    # --- Multi-frame Dimension (C.7.6.17)
    org = Dataset()
    org.DimensionOrganizationUID = sh.dimension_organization_uid
    ds.DimensionOrganizationSequence = Sequence([org])
    ds.DimensionOrganizationType = "TILED_FULL"
    # Dimension Index Sequence is 1C: required unless TILED_FULL (dciodvfy: an empty one is an
    # error; one pointing at Plane Position (Slide), which TILED_FULL leaves out, is a warning).
    if dimension_index or sh.dimension_index:
        index = []
        for kw in ("ColumnPositionInTotalImagePixelMatrix", "RowPositionInTotalImagePixelMatrix"):
            it = Dataset()
            it.DimensionIndexPointer = pydicom.datadict.tag_for_keyword(kw)
            it.FunctionalGroupPointer = pydicom.datadict.tag_for_keyword("PlanePositionSlideSequence")
            it.DimensionOrganizationUID = sh.dimension_organization_uid
            index.append(it)
        ds.DimensionIndexSequence = Sequence(index)

    # --- Shared Functional Groups (A.32.8.4): Pixel Measures, Frame Type, Optical Path Id.
    fg = Dataset()
    pm = Dataset()
    if mpp and flavour in ("VOLUME", "THUMBNAIL"):
        # row spacing (vertical) \ column spacing (horizontal), mm, from the base MPP and the
        # actual per-axis downsample of this level.
        pm.PixelSpacing = [
            ds_str(mpp / 1000.0 * sh.base_height / height),
            ds_str(mpp / 1000.0 * sh.base_width / width),
        ]
        pm.SliceThickness = ds_str(u.imaged_volume_depth_um / 1000.0)
    fg.PixelMeasuresSequence = Sequence([pm])
    ft = Dataset()
    ft.FrameType = list(ds.ImageType)
    fg.WholeSlideMicroscopyImageFrameTypeSequence = Sequence([ft])
    opi = Dataset()
    opi.OpticalPathIdentifier = "1"
    fg.OpticalPathIdentificationSequence = Sequence([opi])
    ds.SharedFunctionalGroupsSequence = Sequence([fg])

    # --- Acquisition Context (C.7.6.14): type 2, empty
    ds.AcquisitionContextSequence = Sequence([])

    # --- Specimen (C.7.6.22)
    container = u.container_identifier or sh.stem
    ds.ContainerIdentifier = container[:64]
    ds.IssuerOfTheContainerIdentifierSequence = Sequence([])
    ds.ContainerTypeCodeSequence = Sequence([code("433466003", "SCT", "Microscope slide")])
    spec = Dataset()
    spec.SpecimenIdentifier = (u.specimen_identifier or container)[:64]
    spec.SpecimenUID = u.specimen_uid
    spec.IssuerOfTheSpecimenIdentifierSequence = Sequence([])
    spec.SpecimenPreparationSequence = Sequence([])
    ds.SpecimenDescriptionSequence = Sequence([spec])

    # --- Optical Path (C.8.12.5): one brightfield path, with the colour profile
    ds.NumberOfOpticalPaths = 1
    op = Dataset()
    op.OpticalPathIdentifier = "1"
    op.OpticalPathDescription = "Brightfield"
    op.IlluminationTypeCodeSequence = Sequence([code("111744", "DCM", "Brightfield illumination")])
    op.IlluminationColorCodeSequence = Sequence([code("414298005", "SCT", "Full Spectrum")])
    op.ICCProfile = sh.icc
    if "AppMag" in meta.fields:
        op.ObjectiveLensPower = ds_str(float(meta.fields["AppMag"]))
    ds.OpticalPathSequence = Sequence([op])

    # --- Slide Label (C.8.12.8): required for LABEL, type 2 contents from the user
    if flavour == "LABEL":
        ds.BarcodeValue = u.barcode
        ds.LabelText = u.label_text

    return ds


def file_meta_for(ds: Dataset, ts: str) -> FileMetaDataset:
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = ds.SOPClassUID
    fm.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    fm.TransferSyntaxUID = ts
    fm.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    fm.ImplementationVersionName = "WSM_PROTO_1"
    return fm


def write_encapsulated(path: Path, ds: Dataset, ts: str, frames) -> int:
    """Write header with pydicom, then stream Pixel Data (7FE0,0010) as encapsulated fragments.

    One fragment per frame, each padded to even length; the Basic Offset Table is written as a
    placeholder and filled once the fragment sizes are known.  `frames` is an iterable of bytes
    (read from the TIFF on demand), so a slide of any size streams through.  Returns frame count.
    """
    ds.file_meta = file_meta_for(ds, ts)
    n = int(ds.NumberOfFrames)
    with open(path, "wb") as f:
        pydicom.dcmwrite(f, ds, enforce_file_format=True)
        f.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
        f.write(struct.pack("<HHI", 0xFFFE, 0xE000, 4 * n))  # BOT item
        bot_pos = f.tell()
        f.write(b"\x00" * (4 * n))
        offsets, pos, count = [], 0, 0
        for frame in frames:
            if len(frame) % 2:
                frame = frame + b"\x00"  # PS3.5 A.4: fragments have even length
            offsets.append(pos)
            f.write(struct.pack("<HHI", 0xFFFE, 0xE000, len(frame)))
            f.write(frame)
            pos += 8 + len(frame)
            count += 1
        if count != n:
            raise ValueError(f"{count} frames written, NumberOfFrames says {n}")
        if pos > 0xFFFFFFFF:
            raise ValueError("over 4 GiB of fragments: needs the Extended Offset Table instead")
        f.write(struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))  # sequence delimiter
        f.seek(bot_pos)
        f.write(struct.pack(f"<{n}I", *offsets))
    return count


def write_native(path: Path, ds: Dataset, pixels: np.ndarray) -> None:
    ds.file_meta = file_meta_for(ds, ExplicitVRLittleEndian)
    ds.PixelData = pixels.tobytes()
    pydicom.dcmwrite(path, ds, enforce_file_format=True)


def transfer_syntax_for(h: JpegHeader) -> str:
    if h.sof == SOF_BASELINE and h.precision == 8:
        return JPEGBaseline8Bit  # 1.2.840.10008.1.2.4.50
    if h.sof in (SOF_BASELINE, SOF_EXTENDED):
        return JPEGExtended12Bit  # 1.2.840.10008.1.2.4.51 (SOF1, or 12-bit)
    raise NotImplementedError(f"JPEG process SOF 0x{h.sof:02X} has no passthrough here")


def convert(
    svs: Path,
    outdir: Path,
    user: UserMetadata | None = None,
    dimension_index: bool = False,
    verify_tiles: bool = True,
    rgb_app14: bool = True,
) -> list[Path]:
    """SVS -> one DICOM file per level + THUMBNAIL, LABEL and OVERVIEW (macro), one series.

    verify_tiles: parse every tile's header (cheap: markers up to SOS only) and refuse a tile whose
    SOF (process, size, sampling) differs from tile 0's, since one Photometric Interpretation and one
    Transfer Syntax must describe all frames.
    rgb_app14: insert an Adobe APP14 into RGB-coded frames that do not say they are RGB (Aperio
    'JPEG/RGB'); False only to show what decoders do without it.
    """
    from PIL import ImageCms

    user = user or UserMetadata()
    meta, pages = read_svs(svs)
    levels = [p for p in pages if p.kind == "level"]
    base = levels[0]
    sh = Shared(user, meta, svs.stem, base_width=base.width, base_height=base.height,
                dimension_index=dimension_index)
    # ICC profile: the one the scanner embedded (tag 34675) or, failing that, sRGB (an assumption
    # the user should confirm: the Optical Path module requires one for colour images).
    sh.icc = base.icc or ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    number = 0
    with open(svs, "rb") as fh:
        for k, page in enumerate(levels):
            number += 1
            if page.compression != 7:
                raise NotImplementedError(f"level compression {page.compression} (only JPEG here)")
            tl, tw = page.tile
            raw0 = read_raw(fh, page.offsets[0], page.counts[0])
            h0 = parse_header(merge_tables(raw0, page.jpegtables))
            ts = transfer_syntax_for(h0)
            photometric, fix = h0.colour(page.photometric)
            fix = fix and rgb_app14
            # TIFF tiles are full size (edge ones padded), so the SOF must say TileLength x TileWidth.
            if (h0.rows, h0.columns) != (tl, tw):
                raise ValueError(f"tile SOF {h0.rows}x{h0.columns} differs from the TIFF tile {tl}x{tw}")
            tables_len = 0 if parse_header(raw0).has_all_tables else sum(
                len(x) for _, x in table_segments(page.jpegtables)
            )
            tables_len += len(ADOBE_RGB_APP14) if fix else 0
            stored = sum(page.counts) + tables_len * len(page.counts)
            ratio = len(page.counts) * tl * tw * 3 / stored  # uncompressed frames : stored frames
            ds = build_dataset(
                sh,
                "VOLUME",
                derived=k > 0,
                instance_number=number,
                width=page.width,
                height=page.height,
                rows=tl,
                columns=tw,
                frames=len(page.counts),
                photometric=photometric,
                lossy=(ds_str(round(ratio, 2)), "ISO_10918_1"),
            )
            key0 = (h0.sof, h0.precision, h0.rows, h0.columns, h0.components, h0.colour(page.photometric))

            def frames(page=page, key0=key0, fix=fix):
                # TIFF tile order (row-major, left to right, top to bottom) is TILED_FULL's order.
                for off, cnt in zip(page.offsets, page.counts):
                    if cnt == 0:
                        raise ValueError("sparse TIFF (missing tile): TILED_FULL needs every tile")
                    frame = merge_tables(read_raw(fh, off, cnt), page.jpegtables)
                    if verify_tiles:
                        h = parse_header(frame)
                        if (h.sof, h.precision, h.rows, h.columns, h.components, h.colour(page.photometric)) != key0:
                            raise ValueError(f"tile at {off} differs from tile 0")
                    yield add_adobe_rgb(frame) if fix else frame

            path = outdir / f"level{k}.dcm"
            write_encapsulated(path, ds, ts, frames())
            written.append(path)

        # Associated images: one frame each, the whole image as the single tile.
        with tifffile.TiffFile(svs) as tf:
            for page in pages:
                flavour = {"thumbnail": "THUMBNAIL", "label": "LABEL", "macro": "OVERVIEW"}.get(page.kind)
                if flavour is None:
                    continue
                number += 1
                path = outdir / f"{page.kind}.dcm"
                common = dict(
                    derived=flavour == "THUMBNAIL",
                    instance_number=number,
                    width=page.width,
                    height=page.height,
                    rows=page.height,
                    columns=page.width,
                    frames=1,
                )
                if page.compression == 7:
                    raw = [read_raw(fh, o, c) for o, c in zip(page.offsets, page.counts)]
                    if len(raw) == 1:
                        frame = merge_tables(raw[0], page.jpegtables)  # as stored
                    else:
                        frame = stitch_strips(raw, page.jpegtables, page.width, page.height)
                    h = parse_header(frame)
                    photometric, fix = h.colour(page.photometric)
                    if fix and rgb_app14:
                        frame = add_adobe_rgb(frame)
                    ratio = page.width * page.height * 3 / len(frame)
                    ds = build_dataset(sh, flavour, photometric=photometric,
                                       lossy=(ds_str(round(ratio, 2)), "ISO_10918_1"), **common)
                    write_encapsulated(path, ds, transfer_syntax_for(h), [frame])
                else:
                    # e.g. Aperio's LZW label: lossless, so decoded and stored natively.
                    pixels = tf.pages[page.index].asarray()
                    ds = build_dataset(sh, flavour, photometric="RGB", lossy=None, **common)
                    write_native(path, ds, pixels)
                written.append(path)
    return written


# ==============================================================================================
# 5. Checks
# ==============================================================================================


def dciodvfy(path: Path) -> tuple[list[str], list[str], str]:
    r = subprocess.run(["dciodvfy", "-new", str(path)], capture_output=True, text=True)
    out = r.stdout + r.stderr
    errors = [ln for ln in out.splitlines() if ln.startswith("Error")]
    warnings = [ln for ln in out.splitlines() if ln.startswith("Warning")]
    return errors, warnings, out


def check_pixels(svs: Path, dcm_dir: Path, plugin: str | None = None) -> list[str]:
    """Frames 0 and a middle one of every level, decoded by pydicom (with `plugin`), against
    tifffile's decode of the same TIFF tiles (imagecodecs/libjpeg-turbo, JPEGTables applied)."""
    from pydicom.pixels import pixel_array

    report = []
    _, pages = read_svs(svs)
    levels = [p for p in pages if p.kind == "level"]
    kw = {"decoding_plugin": plugin} if plugin else {}
    with tifffile.TiffFile(svs) as tf:
        for k, page in enumerate(levels):
            tp = tf.pages[page.index]
            for i in sorted({0, len(page.counts) // 2}):
                raw = read_raw(tf.filehandle, page.offsets[i], page.counts[i])
                tile = np.asarray(tp.decode(raw, i, jpegtables=tp.jpegtables)[0])[0]
                frame = pixel_array(str(dcm_dir / f"level{k}.dcm"), index=i, **kw)
                d = int(np.abs(frame.astype(int) - tile.astype(int)).max())
                report.append(f"level{k} frame {i}: max|diff|={d}")
    return report


def check_bytes(svs: Path, dcm_dir: Path) -> list[str]:
    """Every frame of every level against its TIFF tile, independently of merge_tables():
    (a) the bytes from SOS to EOI (scan header + entropy-coded data) are identical;
    (b) the tile's own pre-SOS segments appear in the frame, in order, unchanged;
    (c) every other pre-SOS segment of the frame is a DQT, a DHT or an Adobe APP14 (transform 0)."""
    from pydicom.encaps import generate_frames

    rep = []
    _, pages = read_svs(svs)
    levels = [p for p in pages if p.kind == "level"]
    with open(svs, "rb") as fh:
        for k, page in enumerate(levels):
            ds = pydicom.dcmread(dcm_dir / f"level{k}.dcm")
            ok_scan = ok_kept = ok_added = 0
            added_kinds: set = set()
            for i, frag in enumerate(generate_frames(ds.PixelData, number_of_frames=ds.NumberOfFrames)):
                raw = read_raw(fh, page.offsets[i], page.counts[i])
                if frag.endswith(b"\xff\xd9\x00"):  # the even-length pad byte after EOI
                    frag = frag[:-1]
                segs = lambda b: [(m, b[st:e]) for m, st, e in iter_segments(b) if m != SOS]  # noqa: E731
                sos_raw = [st for m, st, _ in iter_segments(raw) if m == SOS][0]
                sos_frm = [st for m, st, _ in iter_segments(frag) if m == SOS][0]
                ok_scan += frag[sos_frm:] == raw[sos_raw:]
                mine, theirs = segs(raw), segs(frag)
                it = iter(theirs)
                ok_kept += all(any(t == m for t in it) for m in mine)  # ordered subsequence
                extra = list(theirs)
                for m in mine:
                    extra.remove(m)
                added_kinds |= {f"{m:02X}" for m, _ in extra}
                ok_added += all(m in (DQT, DHT) or b == ADOBE_RGB_APP14 for m, b in extra)
            rep.append(f"level{k}: {ds.NumberOfFrames} frames: scan identical {ok_scan}, own segments kept "
                       f"{ok_kept}, only DQT/DHT/APP14 added {ok_added} (added markers: {sorted(added_kinds) or 'none'})")
    return rep


def check_associated(svs: Path, dcm_dir: Path) -> list[str]:
    """Associated images: pydicom (pillow) decode against tifffile's decode of the page.

    A stitched multi-strip JPEG differs from strip-by-strip decoding only where chroma upsampling
    crosses a strip seam, so the luma channel (decoded without colour conversion) must be identical.
    """
    from pydicom.encaps import generate_frames
    from pydicom.pixels import pixel_array

    rep = []
    _, pages = read_svs(svs)
    with tifffile.TiffFile(svs) as tf:
        for page in pages:
            if page.kind == "level":
                continue
            path = dcm_dir / f"{page.kind}.dcm"
            ref = tf.pages[page.index].asarray()
            got = pixel_array(str(path), decoding_plugin="pillow") if page.compression == 7 else pixel_array(str(path))
            d = np.abs(got.astype(int) - ref.astype(int))
            rows = sorted(set(np.nonzero(d.max(axis=(1, 2)))[0].tolist()))
            line = f"{page.kind}: max|diff|={int(d.max())} rows differing={rows[:8]}{'...' if len(rows) > 8 else ''}"
            if page.compression == 7 and len(page.counts) > 1:
                ds = pydicom.dcmread(path)
                frame = next(generate_frames(ds.PixelData, number_of_frames=1))
                y_st = imagecodecs.jpeg8_decode(frame, outcolorspace="YCBCR")[..., 0]
                parts = [
                    imagecodecs.jpeg8_decode(merge_tables(read_raw(tf.filehandle, o, c), page.jpegtables),
                                             outcolorspace="YCBCR")[..., 0]
                    for o, c in zip(page.offsets, page.counts)
                ]
                line += f"; luma stitched vs per strip max|diff|={int(np.abs(y_st.astype(int) - np.concatenate(parts).astype(int)).max())}"
            rep.append(line)
    return rep


def check_openslide(svs: Path, dcm_dir: Path) -> list[str]:
    try:
        import openslide
    except ImportError:
        return ["openslide not importable: skipped"]
    rep = [f"openslide-python {openslide.__version__}, library {openslide.__library_version__}"]
    a = openslide.OpenSlide(str(svs))
    first = str(dcm_dir / "level0.dcm")
    rep.append(f"SVS: vendor={openslide.OpenSlide.detect_format(str(svs))} levels={a.level_dimensions} "
               f"associated={sorted(a.associated_images)} mpp={a.properties.get('openslide.mpp-x')}")
    d = openslide.OpenSlide(first)
    rep.append(f"DICOM: vendor={openslide.OpenSlide.detect_format(first)} levels={d.level_dimensions} "
               f"associated={sorted(d.associated_images)} "
               f"mpp={d.properties.get('openslide.mpp-x')},{d.properties.get('openslide.mpp-y')} "
               f"objective={d.properties.get('openslide.objective-power')} "
               f"icc={'yes' if d.color_profile is not None else 'no'}")
    for lvl in range(a.level_count):
        W, H = a.level_dimensions[lvl]
        f = a.level_downsamples[lvl]
        # one region across tile boundaries, one at the right/bottom edge (padded edge tiles)
        for x, y, w, h in [(100, 50, 400, 300), (max(0, W - 300), max(0, H - 200), 300, 200)]:
            w, h = min(w, W - x), min(h, H - y)
            loc = (int(x * f), int(y * f))
            ra = np.asarray(a.read_region(loc, lvl, (w, h)))
            rd = np.asarray(d.read_region(loc, lvl, (w, h)))
            rep.append(f"level {lvl} region x={x} y={y} {w}x{h}: SVS vs DICOM max|diff|="
                       f"{int(np.abs(ra.astype(int) - rd.astype(int)).max())}")
    for name in sorted(set(a.associated_images) | set(d.associated_images)):
        ia, idd = a.associated_images.get(name), d.associated_images.get(name)
        if ia is None or idd is None:
            rep.append(f"associated {name}: in SVS={ia is not None} in DICOM={idd is not None}")
            continue
        ia, idd = np.asarray(ia).astype(int), np.asarray(idd).astype(int)
        rep.append(f"associated {name}: {ia.shape[1]}x{ia.shape[0]} max|diff|={int(np.abs(ia - idd).max())}")
    with tifffile.TiffFile(svs) as tf:
        ref = tf.pages[0].asarray()
    rd = np.asarray(d.read_region((0, 0), 0, d.level_dimensions[0]))[..., :3]
    rep.append(f"DICOM level 0 whole read vs tifffile decode of SVS page 0: "
               f"max|diff|={int(np.abs(rd.astype(int) - ref.astype(int)).max())}")
    return rep


def check_wsidicom(dcm_dir: Path) -> list[str]:
    try:
        from wsidicom import WsiDicom
    except ImportError:
        return ["wsidicom not importable: skipped"]
    try:
        with WsiDicom.open(dcm_dir) as w:
            reg = w.read_region((100, 50), 0, (400, 300))
            return [f"wsidicom: levels={[(lv.size.width, lv.size.height) for lv in w.levels]} "
                    f"labels={len(w.labels) if w.labels else 0} overviews={len(w.overviews) if w.overviews else 0} "
                    f"read_region={reg.size} (wsidicom 0.36 has no THUMBNAIL category; it ignores that instance)"]
    except Exception as e:  # noqa: BLE001 - a research probe
        return [f"wsidicom failed: {type(e).__name__}: {e}"]


# ==============================================================================================
# Large-slide timing: a 20000x20000 base made by repeating one encoded tile
# ==============================================================================================


def make_large_svs(path: Path, size: int = 20000, quality: int = 70) -> None:
    """Aperio-style SVS whose every tile is the same encoded tile (abbreviated + JPEGTables).

    The tile is tissue plus noise so that it codes to a realistic size (~20 KB at Q70, like
    H&E tissue at 20x), not the ~1 KB a smooth gradient would give."""
    rng = np.random.default_rng(0)
    tissue = synthetic_slide(TILE * 4, TILE * 4)[300 : 300 + TILE, 400 : 400 + TILE].astype(np.int16)
    tile_img = np.clip(tissue + rng.normal(0, 18, tissue.shape), 0, 255).astype(np.uint8)
    tables, tile = split_tables(imagecodecs.jpeg8_encode(tile_img, level=quality, subsampling="420"))
    fields = aperio_fields(path.stem, size, size)
    head = f"{APERIO_SOFTWARE}\r\n{size}x{size} [0,0 {size}x{size}] ({TILE}x{TILE})"
    dims = [size, size // 4, size // 16]
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for k, d in enumerate(dims):
            n = ((d + TILE - 1) // TILE) ** 2
            desc = f"{head} JPEG/RGB Q={quality}|{fields}" if k == 0 else f"{head} -> {d}x{d} JPEG/RGB Q={quality}|{fields}"
            tif.write(
                (tile for _ in range(n)), shape=(d, d, 3), dtype=np.uint8, tile=(TILE, TILE),
                photometric="rgb", compression=7, subsampling=(2, 2), jpegtables=tables,
                description=desc, subfiletype=0, metadata=None,
            )
            if k == 0:  # Aperio puts the thumbnail at page 1
                tif.write(tile_img, photometric="rgb", compression="jpeg", compressionargs={"level": 90},
                          rowsperstrip=64, description=f"{head} -> 256x256 - |{fields}", metadata=None)


def time_large(work: Path, size: int) -> list[str]:
    import resource

    rep = []
    big = work / f"large-{size}.svs"
    t = time.perf_counter()
    make_large_svs(big, size)
    with tifffile.TiffFile(big) as tf:
        tile_bytes = tf.pages[0].databytecounts[0]
    rep.append(f"made {big.name}: {big.stat().st_size / 2**20:.1f} MiB in {time.perf_counter() - t:.2f}s "
               f"(every tile {tile_bytes} bytes as stored)")
    out = work / f"large-{size}-dicom"
    for verify in (True, False):
        t = time.perf_counter()
        files = convert(big, out, UserMetadata(manufacturer_model_name="ScanScope AT2"), verify_tiles=verify)
        el = time.perf_counter() - t
        n = pydicom.dcmread(files[0], stop_before_pixels=True).NumberOfFrames
        size_mib = sum(f.stat().st_size for f in files) / 2**20
        rep.append(f"convert (verify_tiles={verify}): {len(files)} files, {size_mib:.1f} MiB, level 0 "
                   f"{n} frames, {el:.2f}s ({size_mib / el:.0f} MiB/s)")
    rep.append(f"peak RSS of this process so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    t = time.perf_counter()
    e, w, _ = dciodvfy(files[0])
    rep.append(f"dciodvfy -new level0: {len(e)} errors {len(w)} warnings in {time.perf_counter() - t:.2f}s")
    t = time.perf_counter()
    from pydicom.pixels import pixel_array
    pixel_array(str(files[0]), index=n - 1, decoding_plugin="pillow")
    rep.append(f"pydicom pixel_array(index=last) on level0: {time.perf_counter() - t:.2f}s")
    try:
        import openslide
        t = time.perf_counter()
        s = openslide.OpenSlide(str(files[0]))
        s.read_region((size // 2, size // 2), 0, (1024, 1024))
        rep.append(f"OpenSlide open + 1024x1024 read: {time.perf_counter() - t:.2f}s; levels={s.level_dimensions}")
    except ImportError:
        pass
    return rep


# ==============================================================================================


def run_variant(work: Path, flavour: str, user: UserMetadata, dimension_index: bool = False,
                with_serial: bool = True, rgb_app14: bool = True, tag: str = "") -> int:
    name = flavour + tag + ("-dimidx" if dimension_index else "") + ("" if rgb_app14 else "-noapp14")
    d = work / name
    d.mkdir(parents=True, exist_ok=True)
    svs = d / "CMU-SYNTH-1.svs"
    make_svs(svs, flavour=flavour, with_serial=with_serial)
    print(f"\n=== variant {name}: {svs} ({svs.stat().st_size} bytes)")
    _, pages = read_svs(svs)
    for p in pages:
        print(f"  page {p.index}: {p.kind:9s} {p.width}x{p.height} tiled={p.tiled} compression={p.compression} "
              f"JPEGTables={len(p.jpegtables) if p.jpegtables else None} segments={len(p.counts)}")
    with open(svs, "rb") as fh:
        raw = read_raw(fh, pages[0].offsets[0], pages[0].counts[0])
    h = parse_header(raw)
    print(f"  tile 0 as stored: {len(raw)} bytes, own DQT={sorted(h.dqt_ids)} own DHT={sorted(h.dht_ids)} "
          f"needs tables={not h.has_all_tables} JFIF={h.jfif} Adobe={h.adobe_transform} "
          f"components={[chr(c[0]) if c[0] > 32 else c[0] for c in h.components]} sampling={h.subsampling} "
          f"TIFF Photometric={pages[0].photometric} -> DICOM {h.colour(pages[0].photometric)}")
    out = d / "dicom"
    t = time.perf_counter()
    files = convert(svs, out, user, dimension_index=dimension_index, rgb_app14=rgb_app14)
    print(f"  converted to {len(files)} files in {time.perf_counter() - t:.3f}s")
    worst = 0
    for f in files:
        errors, warnings, _ = dciodvfy(f)
        worst = max(worst, len(errors))
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        print(f"  dciodvfy -new {f.name} [{ds.PhotometricInterpretation}, {ds.file_meta.TransferSyntaxUID}, "
              f"{ds.NumberOfFrames} frame(s)]: {len(errors)} errors, {len(warnings)} warnings")
        for ln in errors + warnings:
            print("      " + ln)
    for plugin in ("pillow", "pylibjpeg", None):
        try:
            print(f"  pixels[{plugin or 'pydicom default'}]: " + "; ".join(check_pixels(svs, out, plugin)))
        except Exception as e:  # noqa: BLE001
            print(f"  pixels[{plugin}] failed: {type(e).__name__}: {e}")
    for ln in check_bytes(svs, out):
        print("  bytes: " + ln)
    for ln in check_associated(svs, out):
        print("  associated: " + ln)
    for ln in check_openslide(svs, out):
        print("  openslide: " + ln)
    for ln in check_wsidicom(out):
        print("  " + ln)
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/wsm/out"))
    ap.add_argument("--all", action="store_true", help="every variant (tile flavours, TIFF photometric, metadata)")
    ap.add_argument("--large", type=int, nargs="?", const=20000, default=0, help="time a SIZExSIZE slide")
    ap.add_argument("--large-only", action="store_true", help="only the large-slide timing")
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)

    # What only the user / LIS knows.  'bare' = nothing given (defaults), 'full' = all of it.
    bare = UserMetadata(manufacturer_model_name="ScanScope AT2")
    full = UserMetadata(
        patient_name="Doe^Jane", patient_id="12345", patient_birth_date="19700101", patient_sex="F",
        study_id="S1", accession_number="A778", referring_physician="House^Gregory",
        manufacturer_model_name="ScanScope AT2", container_identifier="S25-1234-A1",
        specimen_identifier="S25-1234-A", barcode="S25-1234-A1", label_text="S25-1234 A1 H&E",
    )
    worst = 0
    if not args.large_only:
        worst = run_variant(work, "abbreviated", bare, tag="-bare")
        worst = max(worst, run_variant(work, "abbreviated", full, tag="-full"))
    if args.all:
        worst = max(worst, run_variant(work, "abbreviated", bare, dimension_index=True, tag="-bare"))
        worst = max(worst, run_variant(work, "selfcontained", full))
        worst = max(worst, run_variant(work, "rgbjpeg", full))
        worst = max(worst, run_variant(work, "aperio-rgb", full))
        worst = max(worst, run_variant(work, "aperio-rgb", full, rgb_app14=False))
    if args.large:
        print(f"\n=== large slide {args.large}x{args.large}")
        for ln in time_large(work, args.large):
            print("  " + ln)
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())

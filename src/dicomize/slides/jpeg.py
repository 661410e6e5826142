"""A TIFF's JPEG tiles made into DICOM frames by editing markers, never the scan.

A slide scanner writes abbreviated JPEG tiles whose quantisation and Huffman tables
live once in the TIFF's JPEGTables tag (TIFF Technical Note 2); a DICOM frame must
decode on its own (PS3.5 A.4, 8.2.1). The tables are inserted after the tile's SOI
(and any APPn that follows it, so a JFIF APP0 stays first), which is what libtiff
does when it primes the decoder with JPEGTables: the tile's own tables come later
and win. An RGB-coded tile that says nothing about its colour (Aperio's
"JPEG/RGB") gets an Adobe APP14 with transform 0, so a decoder that reads only the
stream (a browser given a DICOMweb frame) does not take it for YCbCr. The SOF, the
SOS and the entropy-coded data are kept byte for byte.
"""

from __future__ import annotations

import struct

from dicomize.dicom.uids import JPEG_BASELINE_PROCESS_1, JPEG_EXTENDED_PROCESS_2_4
from dicomize.errors import CorruptImage

__all__ = [
    "ADOBE_RGB",
    "TileEditor",
    "TileHeader",
    "frame_of",
    "read_header",
    "stitch_strips",
    "tables_of",
]

_SOI, _EOI, _SOS, _DQT, _DHT, _DRI = 0xD8, 0xD9, 0xDA, 0xDB, 0xC4, 0xDD
_APP0, _APP14 = 0xE0, 0xEE
_BASELINE, _EXTENDED = 0xC0, 0xC1
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
#: An Adobe APP14 segment, version 100, transform 0: the components are R, G and B.
ADOBE_RGB = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"
_TIFF_RGB = 2
_MARKER = 0xFF


def _segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each segment after SOI, up to and including SOS or EOI."""
    if data[:2] != b"\xff\xd8":
        raise CorruptImage("a JPEG tile does not start with SOI")
    found = []
    at, size = 2, len(data)
    while at + 1 < size:
        if data[at] != _MARKER:
            raise CorruptImage(f"a JPEG tile has no marker at byte {at}")
        while at + 1 < size and data[at + 1] == _MARKER:  # fill bytes (ISO 10918-1 B.1.1.2)
            at += 1
        marker = data[at + 1]
        if marker == _EOI:
            found.append((marker, at, at + 2))
            return found
        if at + 4 > size:
            break
        end = at + 2 + struct.unpack_from(">H", data, at + 2)[0]
        if end > size:
            break
        found.append((marker, at, end))
        if marker == _SOS:
            return found
        at = end
    raise CorruptImage("a JPEG tile ends inside its header")


class TileHeader:
    """What one tile's markers say: its frame, and which tables it defines and uses."""

    __slots__ = ("complete", "components", "precision", "rgb_marked", "rows_columns", "sof")

    def __init__(  # noqa: PLR0917  (the frame header's fields, in its order)
        self,
        sof: int,
        precision: int,
        rows_columns: tuple[int, int],
        components: tuple[tuple[int, int, int], ...],
        complete: bool,
        rgb_marked: bool | None,
    ) -> None:
        self.sof = sof
        self.precision = precision
        self.rows_columns = rows_columns
        #: (component id, horizontal, vertical sampling) of each component.
        self.components = components
        #: Whether the tile defines every table its frame and scan use.
        self.complete = complete
        #: True: the stream says RGB; False: it says YCbCr; None: it says nothing.
        self.rgb_marked = rgb_marked

    def key(self) -> tuple[object, ...]:
        """Return what every tile of one level must share to be described by one header."""
        return (self.sof, self.precision, self.rows_columns, self.components, self.rgb_marked)

    @property
    def transfer_syntax(self) -> str:
        """PS3.5 A.4.1: 8-bit baseline is Process 1; extended (12-bit) is Process 2 & 4."""
        if self.sof == _BASELINE and self.precision == 8:  # noqa: PLR2004
            return JPEG_BASELINE_PROCESS_1
        if self.sof in (_BASELINE, _EXTENDED):
            return JPEG_EXTENDED_PROCESS_2_4
        raise CorruptImage(f"a JPEG tile of process SOF{self.sof - 0xC0} cannot be kept")

    def photometric(self, tiff_photometric: int) -> tuple[str, bool]:
        """Return the Photometric Interpretation and whether the frame needs an APP14.

        The stream decides when it says (an Adobe APP14, a JFIF APP0, components
        named R, G, B); a silent one is what the TIFF's Photometric tag says,
        RGB-coded for 2 (Aperio's "JPEG/RGB", as libtiff and OpenSlide read it).
        YCbCr-coded JPEG is YBR_FULL_422 whatever its subsampling (PS3.5 8.2.1);
        RGB-coded JPEG is RGB, allowed for whole slides (PS3.3 C.8.12.4.1.5).
        """
        if len(self.components) == 1:
            return "MONOCHROME2", False
        if self.rgb_marked is None:
            rgb = tiff_photometric == _TIFF_RGB
            return ("RGB", True) if rgb else ("YBR_FULL_422", False)
        return ("RGB" if self.rgb_marked else "YBR_FULL_422"), False


def read_header(tile: bytes) -> TileHeader:  # noqa: PLR0912  (one branch per marker)
    """Read a tile's markers up to its first scan.

    Raises
    ------
    CorruptImage
        When the tile is not JPEG, is cut inside its header, or has no frame header.
    """
    components: tuple[tuple[int, int, int], ...] = ()
    quantisers: set[int] = set()
    defined_q: set[int] = set()
    defined_h: set[tuple[int, int]] = set()
    used_h: set[tuple[int, int]] = set()
    rgb: bool | None = None
    frame: tuple[int, int, tuple[int, int]] | None = None
    for marker, start, end in _segments(tile):
        body = tile[start + 4 : end]
        if marker in _SOF and len(body) >= 6:  # noqa: PLR2004
            precision, rows, columns, count = struct.unpack_from(">BHHB", body)
            parts = [body[6 + 3 * k : 9 + 3 * k] for k in range(count)]
            if any(len(part) < 3 for part in parts):  # noqa: PLR2004
                raise CorruptImage("a JPEG tile's frame header is cut short")
            components = tuple((p[0], p[1] >> 4, p[1] & 15) for p in parts)
            quantisers = {p[2] for p in parts}
            frame = (marker, precision, (rows, columns))
        elif marker == _DQT:
            at = 0
            while at < len(body):
                defined_q.add(body[at] & 15)
                at += 1 + (128 if body[at] >> 4 else 64)
        elif marker == _DHT:
            at = 0
            while at + 17 <= len(body):
                defined_h.add((body[at] >> 4, body[at] & 15))
                at += 17 + sum(body[at + 1 : at + 17])
        elif marker == _APP14 and body[:5] == b"Adobe" and len(body) > 11:  # noqa: PLR2004
            rgb = body[11] == 0
        elif marker == _APP0 and body[:5] == b"JFIF\0" and rgb is None:
            rgb = False
        elif marker == _SOS and body:
            for k in range(body[0]):
                tables = body[2 + 2 * k] if 2 + 2 * k < len(body) else 0
                used_h.update({(0, tables >> 4), (1, tables & 15)})
    if frame is None:
        raise CorruptImage("a JPEG tile has no frame header")
    if rgb is None and bytes(c[0] for c in components) == b"RGB":
        rgb = True
    complete = quantisers <= defined_q and used_h <= defined_h
    return TileHeader(frame[0], frame[1], frame[2], components, complete, rgb)


def tables_of(jpegtables: bytes | None) -> bytes:
    """Return the DQT and DHT segments of a TIFF JPEGTables stream (SOI, tables, EOI).

    Raises
    ------
    CorruptImage
        When the stream holds anything but tables.
    """
    if not jpegtables:
        return b""
    kept = []
    for marker, start, end in _segments(jpegtables):
        if marker in (_DQT, _DHT):
            kept.append(jpegtables[start:end])
        elif marker != _EOI:
            raise CorruptImage(f"the TIFF's JPEGTables hold a 0x{marker:02X} segment")
    return b"".join(kept)


def frame_of(tile: bytes, tables: bytes, *, app14: bool) -> bytes:
    """Return `tile` as a frame that decodes on its own.

    `tables` (from :func:`tables_of`) are inserted when given, and an Adobe RGB APP14
    when `app14`.
    """
    if not tables and not app14:
        return tile
    at = 2
    if tables:
        for marker, _, end in _segments(tile):
            if not _APP0 <= marker <= _APP14 + 1:
                break
            at = end
    return b"".join((tile[:2], ADOBE_RGB if app14 else b"", tile[2:at], tables, tile[at:]))


class TileEditor:
    """Make each tile of one level a frame, refusing a tile coded unlike the first.

    A scanner's encoder writes the same header (frame, scan, tables) before every
    tile of a level, so a tile whose header bytes are the first's needs no parse:
    it gets the same insertions at the same place. Any other tile is parsed and must
    still agree with the first on everything one Pixel Data header describes.
    """

    __slots__ = ("_app14", "_at", "_head", "_key", "_tables", "_where")

    def __init__(self, first: bytes, tables: bytes, *, app14: bool, where: str) -> None:
        self._key = read_header(first).key()
        self._tables = tables
        self._app14 = app14
        self._where = where
        segments = _segments(first)
        self._head = first[: segments[-1][2]]
        self._at = 2
        if tables:
            for marker, _, end in segments:
                if not _APP0 <= marker <= _APP14 + 1:
                    break
                self._at = end

    def __call__(self, index: int, tile: bytes) -> bytes:
        """Return tile `index` as a frame that decodes on its own."""
        if not tile.startswith(self._head):
            if read_header(tile).key() != self._key:
                raise CorruptImage(f"tile {index} of {self._where} is coded unlike its first tile")
            return frame_of(tile, self._tables, app14=self._app14)
        if not self._tables and not self._app14:
            return tile
        at = self._at
        return b"".join(
            (tile[:2], ADOBE_RGB if self._app14 else b"", tile[2:at], self._tables, tile[at:])
        )


def stitch_strips(strips: list[bytes], tables: bytes, height: int) -> bytes:
    """Join the JPEG strips of a stripped page into one baseline JPEG, without decoding.

    Every strip starts its scan with the DC predictors reset, the state a restart
    marker gives (ISO 10918-1 F.2.1.3.1): so the strips become restart intervals of
    one scan, with a DRI as long as a strip. Refused (CorruptImage) when the strips
    differ in their frame, already use restart intervals, or a strip is not a whole
    number of MCU rows.
    """
    frames = [frame_of(strip, tables, app14=False) for strip in strips]
    first = frames[0]
    head = read_header(first)
    mcu_rows = 8 * max(v for _, _, v in head.components)
    mcu_columns = 8 * max(h for _, h, _ in head.components)
    strip_rows, columns = head.rows_columns
    if len(frames) > 1 and strip_rows % mcu_rows:
        raise CorruptImage("the strips are not whole rows of JPEG blocks")
    out = bytearray(b"\xff\xd8")
    scan_header = b""
    for marker, start, end in _segments(first):
        segment = first[start:end]
        if marker == _DRI:
            raise CorruptImage("the strips already use restart intervals")
        if marker == _SOS:
            scan_header = segment
            break
        if marker in _SOF:
            patched = bytearray(segment)
            struct.pack_into(">H", patched, 5, height)
            interval = -(-columns // mcu_columns) * (strip_rows // mcu_rows)
            out += patched + b"\xff\xdd\x00\x04" + struct.pack(">H", interval)
            continue
        out += segment
    out += scan_header
    for index, frame in enumerate(frames):
        if read_header(frame).key() != head.key() and index < len(frames) - 1:
            raise CorruptImage("the strips of one page differ in their frame")
        scan_end = _segments(frame)[-1][2]
        if frame[-2:] != b"\xff\xd9":
            raise CorruptImage("a strip does not end with EOI")
        out += frame[scan_end:-2]
        if index < len(frames) - 1:
            out += bytes((0xFF, 0xD0 + index % 8))
    out += b"\xff\xd9"
    return bytes(out)

"""A hostile corpus, made here: every format truncated, bit-flipped, resized to nothing or to a
bomb, mislabelled. Each file is refused on one line naming it, or converted to a valid object;
never a traceback, a library's own chatter, a class name for a cause, or a file left behind.
"""

from __future__ import annotations

import re
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from clips import make_clip
from conftest import encode, gradient
from formats import LONG_TAIL, avif, fits, heic, jxl, psd
from slides import write_broken
from test_documents import make_pdf
from test_models import OBJ, binary_stl

#: Seconds one hostile file may take, on top of the process's start.
PER_FILE = 2.0

SMALL = gradient()


def _clip(suffix: str, codec: str, **options: Any) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = make_clip(Path(folder) / f"clip{suffix}", codec, (64, 48), 25, **options)
        return path.read_bytes()


def _openjpeg(codec_format: int) -> bytes:
    import openjpeg

    return bytes(openjpeg.encode(SMALL, photometric_interpretation=1, codec_format=codec_format))


#: One valid file per format; the corpus is made from these.
SOURCES: dict[str, Callable[[], bytes]] = {
    "png": lambda: encode(Image.fromarray(SMALL), "PNG"),
    "jpg": lambda: encode(Image.fromarray(SMALL), "JPEG", quality=90),
    "gif": lambda: encode(Image.fromarray(SMALL).convert("P"), "GIF"),
    "bmp": lambda: encode(Image.fromarray(SMALL), "BMP"),
    "tif": lambda: encode(Image.fromarray(SMALL), "TIFF", compression="tiff_lzw"),
    "webp": lambda: encode(Image.fromarray(SMALL), "WEBP", lossless=True),
    "j2k": lambda: _openjpeg(0),
    "jp2": lambda: _openjpeg(1),
    "pgm": lambda: b"P5\n64 48\n255\n" + SMALL[..., 0].tobytes(),
    "heic": lambda: heic(SMALL),
    "avif": lambda: avif(SMALL),
    "jxl": lambda: jxl(SMALL, lossless=True),
    "psd": lambda: psd(SMALL),
    "fits": lambda: fits(SMALL[..., 0].astype(np.int16), 16),
    **{name.lower(): make for name, (make, _) in LONG_TAIL.items() if name not in {"PSD", "FITS"}},
    # Documents, models and clips go through the same door.
    "pdf": make_pdf,
    "stl": binary_stl,
    "obj": lambda: OBJ,
    "mp4": lambda: _clip(".mp4", "libx264"),
    "mpg": lambda: _clip(".mpg", "mpeg2video", container="vob"),
    "webm": lambda: _clip(".webm", "libvpx-vp9"),
}


def _patch(data: bytes, offset: int, packed: bytes) -> bytes:
    return data[:offset] + packed + data[offset + len(packed) :]


def _png_size(data: bytes, width: int, height: int) -> bytes:
    ihdr = struct.pack(">II", width, height) + data[24:29]
    chunk = b"IHDR" + ihdr
    return data[:12] + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:]


#: Per format, where its header keeps the size: (offset, struct format, width first).
_SIZE_FIELDS: dict[str, tuple[int, str, bool]] = {
    "bmp": (18, "<ii", True),
    "tga": (12, "<HH", True),
    "tga-rle": (12, "<HH", True),
    "qoi": (4, ">II", True),
    "psd": (14, ">II", False),
    "sgi": (6, ">HH", True),
    "j2k": (8, ">II", True),
}


def _resized(name: str, data: bytes, width: int, height: int) -> bytes | None:
    if name == "png":
        return _png_size(data, width, height)
    if name == "gif":  # the logical screen and the first image descriptor both say
        descriptor = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
        screen = _patch(data, 6, struct.pack("<HH", width, height))
        return _patch(screen, descriptor + 5, struct.pack("<HH", width, height))
    if name == "pgm":
        return f"P5\n{width} {height}\n255\n".encode() + data[data.index(b"255\n") + 4 :]
    if name in _SIZE_FIELDS:
        offset, layout, width_first = _SIZE_FIELDS[name]
        values = (width, height) if width_first else (height, width)
        return _patch(data, offset, struct.pack(layout, *values))
    return None


def _corpus() -> dict[str, tuple[bytes, bool]]:
    """Every hostile file: its bytes, and whether it must be refused (else it may convert)."""
    corpus: dict[str, tuple[bytes, bool]] = {}
    for name, make in SOURCES.items():
        data = make()
        for fraction in (4, 2):
            corpus[f"{name}-cut-{fraction}.{name}"] = (
                data[: len(data) * (fraction - 1) // fraction],
                True,
            )
        corpus[f"{name}-cut-head.{name}"] = (data[:20], True)
        # The last bytes may be only an end marker or padding: refused or whole, never half.
        corpus[f"{name}-cut-tail.{name}"] = (data[:-8], False)
        for offset in (3, 9, 17, 33):
            if offset < len(data):
                flipped = data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]
                corpus[f"{name}-flip-{offset}.{name}"] = (flipped, False)
        for label, (width, height) in {"zero": (0, 48), "huge": (60000, 60000)}.items():
            resized = _resized(name, data, width, height)
            if resized is not None:
                corpus[f"{name}-{label}.{name}"] = (resized, True)
        # Right extension, wrong content.
        corpus[f"{name}-wrong-magic.{name}"] = (b"\x00NOT" + data[4:64], True)
    corpus["gif-palette-overrun.gif"] = (_gif_with_index_past_palette(), False)
    corpus["png-apng-sequence.png"] = (_apng_with_frame_sequence_error(), True)
    corpus["tif-page-without-size.tif"] = (_tiff_second_page_without_width(), True)
    # Pillow stops at the rows the header promises: converted, but in bounded time.
    corpus["png-idat-bomb.png"] = (_png_idat_bomb(), False)
    return corpus


def _gif_with_index_past_palette() -> bytes:
    gif = bytearray(encode(Image.fromarray(np.full((8, 8), 3, np.uint8), "P"), "GIF"))
    gif[10] &= 0xF8  # a two-entry global palette for pixels that say index 3
    return bytes(gif)


def _apng_with_frame_sequence_error() -> bytes:
    """Pillow raises SyntaxError("APNG contains frame sequence errors") for this."""
    frames = [Image.fromarray(SMALL), Image.fromarray(SMALL[::-1].copy())]
    data = bytearray(encode(frames[0], "PNG", save_all=True, append_images=frames[1:]))
    second = data.index(b"fcTL", data.index(b"fcTL") + 4)
    data[second + 4 : second + 8] = struct.pack(">I", 7)  # the sequence number jumps
    crc = zlib.crc32(bytes(data[second : second + 4 + 26]))
    data[second + 30 : second + 34] = struct.pack(">I", crc)
    return bytes(data)


def _tiff_second_page_without_width() -> bytes:
    """Pillow raises TypeError("Missing dimensions") when it reaches this page."""
    pages = [Image.fromarray(SMALL), Image.fromarray(SMALL[::-1].copy())]
    data = bytearray(encode(pages[0], "TIFF", save_all=True, append_images=pages[1:]))
    (first,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, first)
    (second,) = struct.unpack_from("<I", data, first + 2 + 12 * count)
    (count,) = struct.unpack_from("<H", data, second)
    for entry in range(second + 2, second + 2 + 12 * count, 12):
        if struct.unpack_from("<H", data, entry)[0] == 256:  # ImageWidth
            struct.pack_into("<H", data, entry, 0xFFFE)  # now a tag no reader knows
    return bytes(data)


def _png_idat_bomb() -> bytes:
    """Small on disk; decompresses far beyond what its header's size allows."""
    png = encode(Image.fromarray(SMALL), "PNG")
    body = zlib.compress(bytes(50_000_000), 9)
    idat = b"IDAT" + body
    chunk = struct.pack(">I", len(body)) + idat + struct.pack(">I", zlib.crc32(idat))
    end = png.index(b"IDAT") - 4
    return png[:end] + chunk + b"\x00\x00\x00\x00IEND\xaeB`\x82"


CORPUS = _corpus()
_GROUPS = sorted({name.split("-", 1)[0] for name in CORPUS})
#: The groups of video clips.
CLIPS = frozenset({"mp4", "mpg", "webm"})
_CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b")


def test_the_corpus_covers_every_format_and_every_kind_of_damage() -> None:
    kinds = {re.sub(r"-\d+$", "", name.split("-", 1)[1].split(".")[0]) for name in CORPUS}
    assert {"cut", "flip", "zero", "huge", "wrong-magic"} <= kinds
    assert len(SOURCES) >= 24
    assert len(CORPUS) >= 250


@pytest.mark.parametrize("group", _GROUPS)
def test_hostile_files_are_refused_on_one_line_or_converted_validly(
    group: str, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    cases = {name: must for name, (data, must) in CORPUS.items() if name.split("-", 1)[0] == group}
    for name in cases:
        (folder / name).write_bytes(CORPUS[name][0])
    # A clip needs what it shows (its IOD's Anatomic Region): given, the damage is what is refused.
    flags = ("--body-part", "ABDOMEN") if group in CLIPS else ()
    _refused_on_one_line_or_converted(cases, folder, tmp_path / "out", dicomize_cli, *flags)


#: Whole-slide images broken on purpose (``slides.write_broken``), each named ``NAME.svs``,
#: and whether it must be refused. ``not-a-slide`` is a plain TIFF: the content decides, it
#: is a picture. Written when their test runs, not with the corpus: they take a second.
SLIDES = {
    "truncated": True,
    "offsets-past-end": True,
    "levels-out-of-order": True,
    "tile-count-mismatch": True,
    "zero-byte-tile": True,
    "empty": True,
    "not-a-slide": False,
    "huge": True,
}


def test_hostile_slides_are_refused_on_one_line_or_converted_validly(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    folder = tmp_path / "in"
    made = write_broken(folder)
    assert set(made) == set(SLIDES)
    cases = {made[name].name: must for name, must in SLIDES.items()}
    # The model is given, as Aperio's files never name it: the damage is what is refused.
    flags = ("--model-name", "ScanScope AT2")
    _refused_on_one_line_or_converted(cases, folder, tmp_path / "out", dicomize_cli, *flags)


def _refused_on_one_line_or_converted(
    cases: dict[str, bool], folder: Path, out: Path, dicomize_cli: list[str], *flags: str
) -> None:
    """Convert `cases` (file name in `folder`: must be refused) in one call and judge the run.

    A converted file is ``NAME.dcm``, or the folder ``NAME/`` of a whole-slide image.
    """
    inputs = [str(folder / name) for name in cases]
    result = subprocess.run(
        [*dicomize_cli, "convert", *inputs, "-o", f"{out}/", "-q", *flags],
        capture_output=True,
        text=True,
        timeout=5 + PER_FILE * len(cases),
        check=False,
    )
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    assert all(line.startswith("dicomize: ") for line in lines), result.stderr  # no libtiff
    # Each line names its file: no library's log record either (tifffile's, on a cut slide).
    assert all(any(f"{folder / name}:" in line for name in cases) for line in lines), result.stderr
    assert not [line for line in lines if _CLASS_NAME.search(line)], result.stderr
    written = {path.name for path in out.iterdir()} if out.exists() else set()
    assert not [name for name in written if name.startswith(".")]  # no temporary left
    for name, must_refuse in cases.items():
        named = [line for line in lines if f"{folder / name}:" in line]
        stem = Path(name).stem
        converted = f"{stem}.dcm" in written or (out / stem).is_dir()
        assert len(named) + converted == 1, (name, named, converted)
        assert not (must_refuse and converted), f"{name} was converted"
    assert result.returncode == (1 if len(lines) else 0)

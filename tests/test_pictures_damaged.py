"""Pictures a viewer shows that a strict reader would refuse (issue 26), made here by hand.

* JPEGs with stray bytes between their segments, or an APP segment whose length is
  wrong: libjpeg skips those bytes, so they are decoded (lossy history kept) as
  libjpeg decodes them; damage beyond the stray bytes is still refused.
* XV thumbnails (``P7 332``): read through Pillow, not taken for PAM.
* Compressed FITS: tile-compressed images (FITS Standard 4.0 section 10, written here
  from the standard with zlib and a Rice coder) and gzip-compressed files, bit-exact.
"""

from __future__ import annotations

import gzip
import math
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from PIL import Image

import dicomize
from conftest import LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN, assert_conforms, encode, gradient
from dicomize.codestreams.jpeg import parse_jpeg
from formats import fits

PICTURE = gradient()


def _convert(tmp_path: Path, data: bytes, name: str) -> pydicom.Dataset:
    """Convert the file, write it, have dciodvfy judge it and read it back."""
    source = tmp_path / name
    source.write_bytes(data)
    output = tmp_path / f"{name}.dcm"
    dicomize.write(dicomize.convert(source, {"PatientID": "1"}), output)
    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN))
    return pydicom.dcmread(output)


def _refusal(tmp_path: Path, data: bytes, name: str, dicomize_cli: list[str]) -> str:
    """Run the command line on the file; return its one line of refusal (nothing written)."""
    source = tmp_path / name
    source.write_bytes(data)
    out = tmp_path / "out"
    result = subprocess.run(
        [*dicomize_cli, "convert", str(source), "-o", f"{out}/", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"dicomize: {source}: "), lines[0]
    assert not out.exists() or not list(out.iterdir())
    return lines[0]


# JPEG ------------------------------------------------------------------------------------


def _jpeg(**params: Any) -> bytes:
    return encode(Image.fromarray(PICTURE), "JPEG", quality=90, **params)


def _before(data: bytes, marker: bytes, insert: bytes) -> bytes:
    at = data.index(marker)
    return data[:at] + insert + data[at:]


def _short_exif_segment() -> bytes:
    """An EXIF APP1 whose length field stops 40 bytes into its body: the rest is stray."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Maker", "Model"
    data = bytearray(_jpeg(exif=exif.tobytes()))
    app1 = data.index(b"\xff\xe1")
    assert int.from_bytes(data[app1 + 2 : app1 + 4], "big") > 40
    data[app1 + 2 : app1 + 4] = (40).to_bytes(2, "big")
    return bytes(data)


def _cut_scan() -> bytes:
    """Stray bytes, then a scan that breaks off halfway, then EOI."""
    data = _jpeg()
    scan = data.index(b"\xff\xda")
    cut = data[: scan + (len(data) - scan) // 2] + b"\xff\xd9"
    return _before(cut, b"\xff\xc0", b"JUNK")


#: Damage libjpeg skips: name → the file.
RECOVERABLE = {
    "stray-bytes-after-soi": b"\xff\xd8JUNK" + _jpeg()[2:],
    "stray-bytes-between-tables-and-frame": _before(_jpeg(), b"\xff\xc0", b"\x00junk\xff\x00k"),
    "stray-bytes-in-progressive": _before(_jpeg(progressive=True), b"\xff\xc4", b"12345"),
    "app1-length-short-of-its-body": _short_exif_segment(),
    "app1-length-zero": _before(_jpeg(), b"\xff\xdb", b"\xff\xe1\x00\x00Exif\x00\x00II"),
}


@pytest.mark.parametrize("name", sorted(RECOVERABLE))
def test_jpeg_damage_libjpeg_skips_is_decoded_as_libjpeg_decodes_it(
    name: str, tmp_path: Path
) -> None:
    data = RECOVERABLE[name]
    with pytest.raises(dicomize.CorruptImage):
        parse_jpeg(data)  # the strict walk refuses it: it cannot be stored as it is
    ds = _convert(tmp_path, data, f"{name}.jpg")
    # libjpeg-turbo (imagecodecs) decoding the damaged file itself is the reference.
    np.testing.assert_array_equal(ds.pixel_array, imagecodecs.jpeg8_decode(data))
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert (ds.LossyImageCompression, ds.LossyImageCompressionMethod) == ("01", "ISO_10918_1")
    assert "which libjpeg skips: the codestream cannot be stored as it is" in (
        ds.DerivationDescription
    )


def test_the_note_says_how_many_stray_bytes_and_before_which_marker(tmp_path: Path) -> None:
    ds = _convert(tmp_path, RECOVERABLE["stray-bytes-between-tables-and-frame"], "junk.jpg")
    assert "JPEG decoded because it has 8 stray bytes before marker 0xFFC0" in (
        ds.DerivationDescription
    )


def test_an_exif_block_cut_short_by_its_length_is_not_used(tmp_path: Path) -> None:
    source = tmp_path / "short.jpg"
    source.write_bytes(RECOVERABLE["app1-length-short-of-its-body"])
    ds = dicomize.convert(source, options=dicomize.ConvertOptions(iod="vl-photo"))
    assert not ds.get("Manufacturer")  # the camera's make was in the part cut off
    assert "EXIF block, cut short by its segment's length, is not used" in (
        ds.DerivationDescription
    )


def test_a_damaged_app_segment_is_named(tmp_path: Path) -> None:
    ds = _convert(tmp_path, RECOVERABLE["app1-length-zero"], "app.jpg")
    assert "a damaged APP1 segment" in ds.DerivationDescription


def test_stray_bytes_before_a_scan_that_breaks_off_are_refused(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    data = _cut_scan()
    # libjpeg "decodes" it, grey where the scan broke off, and says so only in a warning.
    assert imagecodecs.jpeg8_decode(data).shape == PICTURE.shape
    line = _refusal(tmp_path, data, "cut.jpg", dicomize_cli)
    assert "JPEG is damaged beyond the 4 stray bytes before marker 0xFFC0" in line
    assert "premature end of data segment" in line


def test_stray_bytes_in_a_truncated_jpeg_are_refused_as_truncated(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    data = RECOVERABLE["stray-bytes-between-tables-and-frame"]
    line = _refusal(tmp_path, data[: len(data) * 3 // 4], "truncated.jpg", dicomize_cli)
    assert "truncated" in line


def test_without_djpeg_to_judge_them_stray_bytes_are_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    source = tmp_path / "junk.jpg"
    source.write_bytes(RECOVERABLE["stray-bytes-between-tables-and-frame"])
    with pytest.raises(dicomize.CorruptImage, match=r"djpeg \(libjpeg-turbo's tools\) is needed"):
        dicomize.convert(source)


# XV thumbnails ---------------------------------------------------------------------------

#: Every 3:3:2 colour index, each on a row of its own (256 x 16 pixels).
XV_INDICES = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 16, axis=1)


def _xv_thumbnail(indices: npt.NDArray[np.uint8]) -> bytes:
    """An XV thumbnail as xv writes it: comments, ``width height 255``, one byte a pixel."""
    height, width = indices.shape
    header = (
        "P7 332\n#XVVERSION:Version 3.10a  Rev: 12/29/94\n#IMGINFO:256x16 RGB (12345 bytes)\n"
        f"#END_OF_COMMENTS\n{width} {height} 255\n"
    )
    return header.encode() + indices.tobytes()


def test_an_xv_thumbnail_is_read_through_pillow_as_rgb(tmp_path: Path) -> None:
    data = _xv_thumbnail(XV_INDICES)
    ds = _convert(tmp_path, data, "thumb.xv")
    # Each byte is rrrgggbb: eight levels of red and green, four of blue, full scale 255.
    index = XV_INDICES.astype(np.int32)
    red, green, blue = index >> 5, (index >> 2) & 7, index & 3
    expected = np.stack([red * 255 // 7, green * 255 // 7, blue * 255 // 3], axis=-1)
    np.testing.assert_array_equal(ds.pixel_array, expected)
    pillow = np.asarray(Image.open(tmp_path / "thumb.xv").convert("RGB"))
    np.testing.assert_array_equal(ds.pixel_array, pillow)
    assert ds.PhotometricInterpretation == "RGB"
    assert ds.LossyImageCompression == "00"
    assert "converted from XV" in ds.DerivationDescription


def test_a_truncated_xv_thumbnail_is_refused_naming_xv(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    data = _xv_thumbnail(XV_INDICES)
    line = _refusal(tmp_path, data[:-100], "thumb.xv", dicomize_cli)
    assert "XV" in line


def test_a_pam_is_still_read_as_pam(tmp_path: Path) -> None:
    header = b"P7\nWIDTH 64\nHEIGHT 48\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n"
    ds = _convert(tmp_path, header + PICTURE.tobytes(), "picture.pam")
    np.testing.assert_array_equal(ds.pixel_array, PICTURE)


# Compressed FITS -------------------------------------------------------------------------

#: Signed 16-bit samples in file order (bottom row first): smooth, a flat block, and noise,
#: so that Rice coding meets all three of its block kinds.
SIGNED = (np.arange(48 * 64).reshape(48, 64) * 13 % 60000 - 30000).astype(np.int16)
SIGNED[10:20, :] = 1234
SIGNED[30:34, :] = np.random.default_rng(26).integers(-32768, 32767, (4, 64), dtype=np.int16)


def _cards(*cards: str) -> bytes:
    """Header cards, END, padded with blanks to whole 2880-byte blocks."""
    text = "".join(card.ljust(80) for card in (*cards, "END"))
    return text.ljust(math.ceil(len(text) / 2880) * 2880).encode()


def _rice(values: npt.NDArray[Any], bits: int, block: int = 32) -> bytes:
    """Rice-code `values` as cfitsio's fits_rcomp does (the RICE_1 of section 10.4.1).

    The first value is written whole; then per block of `block` values a code of
    `fsbits` bits: 0 for a block of equal values, fsmax + 1 for raw differences,
    else fs + 1 and each difference (zigzag-mapped) as unary high bits and fs low bits.
    """
    fsbits, fsmax = {8: (3, 6), 16: (4, 14)}[bits]
    mask = (1 << bits) - 1
    samples = [int(v) & mask for v in values]
    out = [format(samples[0], f"0{bits}b")]
    last = samples[0]
    for start in range(0, len(samples), block):
        diffs = []
        for sample in samples[start : start + block]:
            difference = (sample - last + (1 << (bits - 1))) % (1 << bits) - (1 << (bits - 1))
            diffs.append(~(difference << 1) if difference < 0 else difference << 1)
            last = sample
        total = sum(diffs)
        mean = max((total - len(diffs) // 2 - 1) / len(diffs), 0)
        fs = (int(mean) >> 1).bit_length()
        if fs >= fsmax:
            out.append(format(fsmax + 1, f"0{fsbits}b"))
            out.extend(format(diff, f"0{bits}b") for diff in diffs)
        elif total == 0:
            out.append("0" * fsbits)
        else:
            out.append(format(fs + 1, f"0{fsbits}b"))
            for diff in diffs:
                out.append("0" * (diff >> fs) + "1")
                if fs:
                    out.append(format(diff & ((1 << fs) - 1), f"0{fs}b"))
    bits_text = "".join(out)
    bits_text += "0" * (-len(bits_text) % 8)
    return int(bits_text, 2).to_bytes(len(bits_text) // 8, "big")


def _tile_bytes(tile: npt.NDArray[Any], codec: str, bitpix: int) -> bytes:
    big_endian = tile.astype({8: ">u1", 16: ">i2"}[bitpix]).tobytes()
    if codec == "GZIP_1":
        return gzip.compress(big_endian, mtime=0)
    if codec == "GZIP_2":  # each sample's bytes shuffled: most significant bytes first
        width = bitpix // 8
        shuffled = np.frombuffer(big_endian, np.uint8).reshape(-1, width).T.tobytes()
        return gzip.compress(shuffled, mtime=0)
    return _rice(tile.ravel(), bitpix)


def tiled_fits(
    stored: npt.NDArray[Any],
    codec: str,
    *,
    tile: tuple[int, int] | None = None,
    bitpix: int = 16,
    extra: tuple[str, ...] = (),
) -> bytes:
    """A tile-compressed FITS image: an empty primary HDU, then one BINTABLE row per tile.

    `stored` is in file order (bottom row first). `tile` is (ZTILE1, ZTILE2), columns
    then rows; None leaves them out, for the default of one row per tile.
    """
    rows, columns = stored.shape
    across, down = tile or (columns, 1)
    tiles = [
        _tile_bytes(stored[top : top + down, left : left + across], codec, bitpix)
        for top in range(0, rows, down)
        for left in range(0, columns, across)
    ]
    offsets = np.cumsum([0, *map(len, tiles)])
    table = b"".join(
        struct.pack(">ii", len(t), int(o)) for t, o in zip(tiles, offsets, strict=False)
    )
    heap = b"".join(tiles)
    rice = (
        "ZNAME1  = 'BLOCKSIZE'",
        "ZVAL1   = 32",
        "ZNAME2  = 'BYTEPIX'",
        f"ZVAL2   = {bitpix // 8}",
    )
    primary = _cards("SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 0", "EXTEND  = T")
    extension = _cards(
        "XTENSION= 'BINTABLE'",
        "BITPIX  = 8",
        "NAXIS   = 2",
        "NAXIS1  = 8",
        f"NAXIS2  = {len(tiles)}",
        f"PCOUNT  = {len(heap)}",
        "GCOUNT  = 1",
        "TFIELDS = 1",
        "TTYPE1  = 'COMPRESSED_DATA'",
        f"TFORM1  = '1PB({max(map(len, tiles))})'",
        "ZIMAGE  = T",
        f"ZBITPIX = {bitpix}",
        "ZNAXIS  = 2",
        f"ZNAXIS1 = {columns}",
        f"ZNAXIS2 = {rows}",
        *((f"ZTILE1  = {tile[0]}", f"ZTILE2  = {tile[1]}") if tile else ()),
        f"ZCMPTYPE= '{codec}'",
        *(rice if codec == "RICE_1" else ()),
        *extra,
    )
    data = table + heap
    return primary + extension + data + bytes(-len(data) % 2880)


@pytest.mark.parametrize(
    ("values", "bits"), [(SIGNED.ravel(), 16), (PICTURE[..., 0].ravel(), 8)], ids=["16", "8"]
)
def test_the_rice_coder_here_agrees_with_the_decoder_the_reader_uses(
    values: npt.NDArray[Any], bits: int
) -> None:
    # The test's coder is written from the algorithm; the reader's decoder is cfitsio's.
    coded = _rice(values, bits)
    decoded = imagecodecs.rcomp_decode(coded, shape=values.shape, dtype=values.dtype)
    np.testing.assert_array_equal(decoded, values)


@pytest.mark.parametrize(
    ("codec", "tile"),
    [
        ("GZIP_1", (24, 20)),  # tiles that do not divide the picture: the edges are partial
        ("GZIP_2", (64, 16)),
        ("RICE_1", None),  # ZTILE left out: one row per tile
        ("RICE_1", (16, 16)),
    ],
)
def test_tile_compressed_fits_is_read_bit_exact(
    codec: str, tile: tuple[int, int] | None, tmp_path: Path
) -> None:
    ds = _convert(tmp_path, tiled_fits(SIGNED, codec, tile=tile), "picture.fits")
    np.testing.assert_array_equal(ds.pixel_array, SIGNED[::-1])  # top row first, as DICOM
    assert ds.PixelRepresentation == 1
    assert ds.LossyImageCompression == "00"
    assert f"tile-compressed image ({codec}) in extension 1 decompressed" in (
        ds.DerivationDescription
    )


def test_tile_compressed_unsigned_fits_keeps_bzero_and_8_bit_rice(tmp_path: Path) -> None:
    unsigned = SIGNED.astype(np.int32) + 32768
    stored = tiled_fits(SIGNED, "GZIP_1", tile=(64, 8), extra=("BZERO   = 32768", "BSCALE  = 1"))
    ds = _convert(tmp_path, stored, "unsigned.fits")
    np.testing.assert_array_equal(ds.pixel_array, unsigned[::-1])
    assert (ds.BitsStored, ds.PixelRepresentation) == (16, 0)
    byte = PICTURE[..., 1]
    ds = _convert(tmp_path, tiled_fits(byte, "RICE_1", bitpix=8), "byte.fits")
    np.testing.assert_array_equal(ds.pixel_array, byte[::-1])
    assert ds.BitsAllocated == 8


def test_a_gzip_compressed_fits_file_is_read_bit_exact(tmp_path: Path) -> None:
    ds = _convert(tmp_path, gzip.compress(fits(SIGNED, 16), mtime=0), "picture.fits.gz")
    np.testing.assert_array_equal(ds.pixel_array, SIGNED[::-1])
    assert "gzip-compressed FITS file decompressed" in ds.DerivationDescription


def test_a_gzip_compressed_fits_bomb_is_refused_before_it_inflates(tmp_path: Path) -> None:
    header = _cards(
        "SIMPLE  = T", "BITPIX  = 16", "NAXIS   = 2", "NAXIS1  = 60000", "NAXIS2  = 60000"
    )
    source = tmp_path / "bomb.fits.gz"
    source.write_bytes(gzip.compress(header + bytes(1 << 20)))
    with pytest.raises(dicomize.ImageTooLarge, match="60000x60000"):
        dicomize.convert(source)


def _recard(data: bytes, old: str, new: str) -> bytes:
    """Change a value in a header card, keeping the card 80 characters long."""
    width = max(len(old), len(new))
    assert old.ljust(width).encode() in data
    return data.replace(old.ljust(width).encode(), new.ljust(width).encode())


SMALL_TILED = tiled_fits(SIGNED[:4], "GZIP_1")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _recard(SMALL_TILED, "'GZIP_1'", "'PLIO_1'"),
            "tile-compressed FITS (PLIO_1) is not read; decompress it with funpack",
        ),
        (
            _recard(SMALL_TILED, "'GZIP_1'", "'HCOMPRESS_1'"),
            "tile-compressed FITS (HCOMPRESS_1) is not read; decompress it with funpack",
        ),
        (
            _recard(SMALL_TILED, "ZBITPIX = 16", "ZBITPIX = -32"),
            "floating-point FITS data (BITPIX -32)",
        ),
        (
            _cards("SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 0"),
            "FITS file has no image: its primary HDU holds no data (NAXIS 0)",
        ),
        (gzip.compress(b"not a picture at all"), "gzip-compressed, and not a FITS file"),
    ],
    ids=["plio", "hcompress", "float", "no-image", "gzip-not-fits"],
)
def test_compressed_fits_that_cannot_be_read_is_refused_saying_how_it_is_compressed(
    data: bytes, message: str, tmp_path: Path
) -> None:
    source = tmp_path / "picture.fits"
    source.write_bytes(data)
    with pytest.raises(dicomize.UnsupportedInput, match=re.escape(message)):
        dicomize.convert(source)


def test_a_damaged_fits_tile_is_refused_on_one_line(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    data = bytearray(tiled_fits(SIGNED, "GZIP_1", tile=(64, 8)))
    heap = 2 * 2880 + 8 * 6  # after the primary, the table header and six descriptors
    data[heap + 30 : heap + 40] = b"\xff" * 10  # inside the first tile's deflate stream
    line = _refusal(tmp_path, bytes(data), "damaged.fits", dicomize_cli)
    assert "FITS tile 1 does not decompress (gzip)" in line


# The hostile corpus's judgement, on the new readers --------------------------------------

#: One valid file per new path: damage to each must be refused on one line or convert validly.
NEW_SOURCES = {
    "junk.jpg": RECOVERABLE["stray-bytes-between-tables-and-frame"],
    "thumb.xv": _xv_thumbnail(XV_INDICES),
    "rice.fits": tiled_fits(SIGNED, "RICE_1", tile=(16, 16)),
    "gzip2.fits": tiled_fits(SIGNED, "GZIP_2", tile=(24, 20)),
    "picture.fits.gz": gzip.compress(fits(SIGNED, 16), mtime=0),
}


def _damaged(name: str, data: bytes) -> dict[str, tuple[bytes, bool]]:
    """Cut and bit-flipped copies of `data`: name → (bytes, whether it must be refused)."""
    stem, _, suffix = name.partition(".")
    corpus = {
        f"{stem}-cut-{fraction}.{suffix}": (data[: len(data) * (fraction - 1) // fraction], True)
        for fraction in (4, 2)
    }
    corpus[f"{stem}-cut-head.{suffix}"] = (data[:20], True)
    # Every part of the file: headers, tile descriptors, compressed tiles, pixels.
    for offset in range(3, len(data), max(len(data) // 23, 1)):
        flipped = data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]
        corpus[f"{stem}-flip-{offset}.{suffix}"] = (flipped, False)
    return corpus


@pytest.mark.parametrize("name", sorted(NEW_SOURCES))
def test_damaged_copies_are_refused_on_one_line_or_converted_validly(
    name: str, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    from test_hostile import _refused_on_one_line_or_converted

    folder = tmp_path / "in"
    folder.mkdir()
    corpus = _damaged(name, NEW_SOURCES[name])
    for file_name, (data, _) in corpus.items():
        (folder / file_name).write_bytes(data)
    cases = {file_name: must for file_name, (_, must) in corpus.items()}
    _refused_on_one_line_or_converted(cases, folder, tmp_path / "out", dicomize_cli)

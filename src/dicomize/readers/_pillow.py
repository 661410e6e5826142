"""JPEG, PNG, BMP, GIF, TIFF and WebP decoded with Pillow, and the pixel policies for them.

Policies (documented in docs/guides/inputs.md, each covered by a test):

* EXIF / TIFF Orientation is applied to the pixels: SC and VL objects have no
  attribute that could carry it (PS3.3 C.7.6.3.1.4 fixes the pixel order).
* Palette → RGB; CMYK → RGB (through the embedded ICC profile when there is
  one; 16-bit CMYK TIFF to 16-bit RGB); CIELAB → sRGB through LittleCMS; 1-bit →
  8-bit 0/255; alpha → composited onto the background colour.
* 16-bit gray stays 16-bit; 16-bit colour (which Pillow would truncate to
  8 bits) is decoded with imagecodecs (PNG) or tifffile (TIFF).
* Floating-point pixels (Pillow mode F; the float TIFFs Pillow cannot open,
  through tifffile) become 16-bit integers with a rescale (:mod:`._float`).
* A layered PSD gives the composite it opens with, not its layers.
* An embedded RGB ICC profile is kept as an Input-class profile; untagged
  colour images are labelled sRGB, the convention of the web and of cameras.
* A lossy source (JPEG, lossy WebP, JPEG-in-TIFF) is recorded as such.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import struct
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, BinaryIO

from PIL import Image, UnidentifiedImageError

from dicomize.codestreams.heif import av1_bit_depth
from dicomize.codestreams.jpeg import parse_jpeg, stripped_size
from dicomize.dicom.icc import as_input_profile, srgb_profile
from dicomize.dicom.part10 import PixelStrips
from dicomize.errors import CorruptImage, DicomizeError, ImageTooLarge, UnsupportedInput
from dicomize.options import ConvertOptions
from dicomize.picture import Picture, check_size, measured, stack_pictures
from dicomize.readers._orientation import ORIENTATIONS, apply_orientation

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["PILLOW_FORMATS", "read"]

logger = logging.getLogger(__name__)

#: Our format name → the Pillow plugins allowed to open it (detection is by content).
PILLOW_FORMATS: dict[str, tuple[str, ...]] = {
    "JPEG": ("JPEG", "MPO"),
    "PNG": ("PNG",),
    "BMP": ("BMP", "DIB"),
    "GIF": ("GIF",),
    "TIFF": ("TIFF",),
    "WEBP": ("WEBP",),
    "AVIF": ("AVIF",),
}
_ORIENTATION_TAG = 0x0112
#: Pixels are packed out of Pillow in pieces of about this many bytes.
_PIECE_BYTES = 1 << 20
_BYTES_PER_PIXEL = {"L": 1, "RGB": 3, "I;16": 2}
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
)
# Pillow's own decompression-bomb limit is process-global; raising it for one
# call must not race with another thread's call.
_PILLOW_LIMIT_LOCK = threading.Lock()


def read(data: bytes | BinaryIO, fmt: str, options: ConvertOptions) -> Picture:
    """Decode `data` (a file of format `fmt`, or an open PNG file) into a :class:`Picture`.

    `fmt` ``"PILLOW"`` lets every Pillow plugin try: the long tail of formats
    (TGA, PSD, ICO, PCX, SGI, QOI, DDS, XBM, XPM, Sun raster, FITS, ...) is
    refused by the pixel policies, never by its name.
    """
    background, max_pixels = options.background, options.max_pixels
    # Pillow warns about damaged metadata (corrupt EXIF, odd chunks) it then ignores;
    # they are not the user's problem unless decoding fails, so they go to the debug log.
    with (
        _pillow_limit(max_pixels),
        _c_library_messages(fmt in _C_DECODERS_THAT_PRINT),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        try:
            picture, exif = _read(data, fmt, background=background, max_pixels=max_pixels)
            return replace(picture, exif=exif) if exif else picture
        except DicomizeError:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(f"picture size exceeds the limit of {max_pixels} pixels") from exc
        except MemoryError as exc:
            raise ImageTooLarge("the picture is too large to decode in memory") from exc
        except Exception as exc:  # Pillow's plugins raise many kinds on damaged files
            raise CorruptImage(_cause(fmt, exc)) from exc
        finally:
            for warning in caught:
                logger.debug("Pillow: %s", warning.message)


def _cause(fmt: str, exc: BaseException, action: str = "decode") -> str:
    """Say what a decoder's exception means, in a sentence: never a Python class name."""
    reason = str(exc).strip().rstrip(".") or "the data ends or breaks off"
    if reason[1:2].islower():  # a sentence's capital, not an acronym's (APNG, EXIF)
        reason = reason[:1].lower() + reason[1:]
    name = "picture" if fmt == _ANY else fmt
    return (
        f"cannot {action} {name}: {reason} (the file is damaged, truncated or not what it claims)"
    )


#: Formats decoded by C libraries that print their own complaints on stderr (libtiff).
_C_DECODERS_THAT_PRINT = frozenset({"TIFF", "PILLOW"})
#: The format name that lets every Pillow plugin try (the registry's fallback row).
_ANY = "PILLOW"
_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _c_library_messages(capture: bool) -> Iterator[None]:
    """Keep what C decoders write to file descriptor 2 off the terminal, for --debug only.

    libtiff reports a damaged strip on stderr itself before Pillow raises; the user
    should read dicomize's one line, not libtiff's. The descriptor is process-wide,
    so the swap is serialised.
    """
    if not capture:
        yield
        return
    with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode("utf-8", "replace").splitlines():
                logger.debug("decoder: %s", line)


def _read(
    source: bytes | BinaryIO, fmt: str, *, background: tuple[int, int, int], max_pixels: int
) -> tuple[Picture, bytes | None]:
    # The chunks before the pixels say all the checks below need to know of a PNG file.
    data = source if isinstance(source, bytes) else _png_head(source)
    try:
        image = _open(source, fmt, max_pixels)
    except CorruptImage:
        # Pillow opens 32-bit float gray TIFF only: 16- and 64-bit floats and float RGB
        # are read by tifffile; anything else keeps Pillow's reason.
        picture = _float_tiff(data, max_pixels) if fmt == "TIFF" else None
        if picture is None:
            raise
        return picture, None
    if fmt == _ANY:
        fmt = image.format or "picture"  # the plugin that recognised it names it
    exif = image.info.get("exif")
    if fmt == "PNG" and getattr(image, "n_frames", 1) == 1 and _png_is_deep_colour(data):
        if not isinstance(source, bytes):
            source.seek(0)
            source = source.read()
        picture = _deep_png(source, image, background)
    elif fmt == "AVIF" and (av1_bit_depth(data) or 8) > 8:
        picture = _deep_avif(data, image, background)
    else:
        picture = _picture(image, data, fmt, background, max_pixels)
    dpi = _recorded_dpi(image)
    if dpi is not None:
        picture = replace(picture, dpi=dpi)
    if picture.lossy:
        # Measured once the stored pixels are known: their colour, depth and every frame.
        picture = measured(picture, _COMPRESSED_BYTES.get(fmt, len)(data))
    unnamed = _NO_DEFINED_TERM.get(fmt)
    if unnamed and any(method is None for method, _ in picture.lossy):
        # The notes of C.7.6.1.1.5: Derivation Description describes the lossy compression,
        # which here has no Defined Term for Lossy Image Compression Method.
        ratio = picture.lossy[0][1]
        note = f"the source was compressed lossily as {unnamed}" + (
            f" at {ratio:g}:1" if ratio else ""
        )
        picture = replace(picture, derivation=(note, *picture.derivation))
    return picture, exif if isinstance(exif, bytes) else None


def _recorded_dpi(image: Image.Image) -> tuple[float, float] | None:
    """Return the resolution the file records in real units, or None.

    Pillow sets ``info["dpi"]`` only from real units: PNG pHYs in metres, JFIF density
    in inches or cm (or else EXIF's resolution), TIFF resolution in inches or cm (no
    unit is inches, TIFF 6.0's default). A PNG's unitless pHYs and a JFIF density of
    unit 0 are aspect ratios and give none. 72 dpi is often a writer's default, but it
    is what the file says; it only reaches the object for a scanned Conversion Type.
    """
    dpi = image.info.get("dpi")
    if not isinstance(dpi, tuple) or len(dpi) != 2:
        return None
    try:
        across, down = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError):
        return None
    if not (0 < across < math.inf and 0 < down < math.inf):
        return None
    return across, down


def _picture(
    image: Image.Image, data: bytes, fmt: str, background: tuple[int, int, int], max_pixels: int
) -> Picture:
    if image.mode == "F":
        return _float_frames(image, fmt, max_pixels)
    if fmt == "TIFF" and _tiff_is_deep_colour(image):
        return _deep_tiff(data, image, background, max_pixels)
    # A PSD's further frames are its layers; the composite it opens with is the picture.
    if getattr(image, "n_frames", 1) > 1 and fmt != "PSD":
        return _read_frames(image, data, fmt, background, max_pixels)
    lossy = _lossy_history(fmt, image, data)
    icc = image.info.get("icc_profile")
    try:
        orientation = int(image.getexif().get(_ORIENTATION_TAG, 1))
        image.load()
    except _DECODE_ERRORS as exc:
        raise CorruptImage(_cause(fmt, exc)) from exc
    derivation: list[str] = []
    image = _upright(image, orientation, derivation)
    bits_stored = _png_bits_stored(image, data) if fmt == "PNG" else None
    return _to_picture(
        image,
        fmt=fmt,
        icc=icc,
        derivation=derivation,
        lossy=lossy,
        background=background,
        bits_stored=bits_stored,
    )


@contextlib.contextmanager
def _pillow_limit(max_pixels: int) -> Iterator[None]:
    if max_pixels <= (Image.MAX_IMAGE_PIXELS or 0):
        yield
        return
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _open(source: bytes | BinaryIO, fmt: str, max_pixels: int) -> Image.Image:
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    plugins = PILLOW_FORMATS.get(fmt)
    try:
        image = Image.open(stream, formats=list(plugins) if plugins else None)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"picture size exceeds the limit of {max_pixels} pixels") from exc
    except UnidentifiedImageError as exc:
        if fmt == _ANY:
            raise UnsupportedInput(
                "not a recognised picture format: neither dicomize nor any Pillow plugin reads it"
            ) from exc
        raise CorruptImage(f"{fmt} header is damaged or incomplete") from exc
    except _DECODE_ERRORS as exc:
        raise CorruptImage(_cause(fmt, exc, "read the header of")) from exc
    check_size(*image.size, max_pixels)
    return image


def _to_picture(
    image: Image.Image,
    *,
    fmt: str,
    icc: bytes | None,
    derivation: list[str],
    lossy: tuple[tuple[str | None, float | None], ...],
    background: tuple[int, int, int],
    bits_stored: int | None,
) -> Picture:
    mode = image.mode
    bilevel = mode == "1"
    if bilevel:
        image = image.convert("L")
        derivation.append("1-bit pixels expanded to 8 bits (0 and 255)")
    elif mode in {"P", "PA"}:
        has_alpha = mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        derivation.append("palette colours expanded to RGB")
    elif mode in {"L", "RGB"} and "transparency" in image.info:
        image = image.convert("LA" if mode == "L" else "RGBA")
    elif mode == "CMYK":
        image, icc, note = _cmyk_to_rgb(image, icc)
        derivation.append(note)
    elif mode in {"YCbCr", "HSV"}:
        image = image.convert("RGB")
    elif mode in {"La", "RGBa"}:  # premultiplied alpha
        image = image.convert("LA" if mode == "La" else "RGBA")
    elif mode == "RGBX":  # the fourth byte is padding
        image = image.convert("RGB")
    elif mode == "LAB":
        # No photometric interpretation holds CIELAB (C.7.6.3.1.2); sRGB is what the
        # untagged colour of every other picture is labelled.
        image, icc = _lab_to_srgb(image), None
        derivation.append("CIELAB converted to sRGB through LittleCMS (D50 white)")
    elif mode == "F":  # a page of a multi-page picture; a single picture goes to _float_frames
        from dicomize.readers._float import float_picture  # numpy

        return float_picture([_array_of(image)], source_format=fmt, derivation=tuple(derivation))

    mode = image.mode
    if mode in {"L", "RGB", "I;16"}:
        # The common cases: Pillow's raw bytes already are DICOM's native layout
        # (16-bit gray as little-endian words).
        colour = mode == "RGB"
        bits = 16 if mode == "I;16" else 8
        return Picture(
            pixels=_native_pixels(image),
            rows=image.height,
            columns=image.width,
            samples_per_pixel=3 if colour else 1,
            photometric_interpretation="RGB" if colour else "MONOCHROME2",
            bits_allocated=bits,
            bits_stored=bits if bits_stored is None or bits == 8 else bits_stored,
            icc_profile=_colour_profile(icc) if colour else None,
            derivation=tuple(derivation),
            lossy=lossy,
            source_format=fmt,
            bilevel=bilevel,
        )
    from dicomize.readers._array import picture_from_array  # numpy

    array = _array_of(image)
    if array.ndim == 3 and array.shape[2] == 3:
        icc = _colour_profile(icc)
    if bits_stored is not None and int(array.max(initial=0)) >= 1 << bits_stored:
        bits_stored = None  # the samples were scaled to the full depth; sBIT is history only
    return picture_from_array(
        array,
        background=background,
        bits_stored=bits_stored,
        icc_profile=icc,
        derivation=tuple(derivation),
        lossy=lossy,
        source_format=fmt,
    )


def _native_pixels(image: Image.Image) -> PixelStrips:
    """Pillow's pixels in DICOM's native layout, made as they are written.

    For L, RGB and little-endian I;16 images, Pillow's raw encoding is exactly the
    native layout. ``tobytes()`` would gather it in pieces and join them: a second
    and third copy of the frame (Pillow keeps RGB at 4 bytes a pixel), and for a
    photo-sized frame the page faults of the join cost as much as the packing.
    """
    width, height = image.size
    row = width * _BYTES_PER_PIXEL[image.mode]
    return PixelStrips(row * height, lambda: _raw_pieces(image))


def _raw_pieces(image: Image.Image) -> Iterator[bytes]:
    # Image.tobytes() without its final join; Image._getencoder is what Pillow's own
    # tobytes() and file plugins use to pack pixels.
    encoder = Image._getencoder(image.mode, "raw", image.mode)
    try:
        encoder.setimage(image.im, (0, 0, *image.size))
        piece = max(_PIECE_BYTES, image.width * 4)
        while True:
            _, status, data = encoder.encode(piece)
            yield data
            if status:
                break
        if status < 0:
            raise CorruptImage(f"Pillow could not pack the pixels (encoder error {status})")
    finally:
        encoder.cleanup()


def _array_of(image: Image.Image) -> npt.NDArray[Any]:
    import numpy as np  # only pixels Pillow cannot hand over as they are

    mode = image.mode
    if mode in {"LA", "RGBA"} or mode.startswith("I;16"):
        return np.asarray(image)
    if mode == "I":
        array = np.asarray(image)
        low, high = int(array.min(initial=0)), int(array.max(initial=0))
        if low >= 0 and high <= 0xFFFF:
            return array.astype(np.uint16)
        if low >= -(2**15) and high < 2**15:
            return array.astype(np.int16)
        raise UnsupportedInput("32-bit integer pixels outside the 16-bit range are not supported")
    if mode == "F":
        return np.asarray(image)
    raise UnsupportedInput(f"Pillow image mode {mode!r} is not supported")


def _colour_profile(icc: bytes | None) -> bytes:
    converted = as_input_profile(icc) if icc else None
    return srgb_profile() if converted is None else converted


def _cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None, str]:
    if icc and icc[16:20] == b"CMYK":
        from PIL import ImageCms

        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            converted = ImageCms.profileToProfile(image, source, target, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            logger.debug("embedded CMYK profile unusable; converting without it")
        else:
            if converted is not None:
                return converted, None, "CMYK converted to sRGB through the embedded ICC profile"
    return image.convert("RGB"), None, "CMYK converted to RGB (no usable ICC profile)"


def _cmyk16_to_rgb(array: npt.NDArray[Any], icc: bytes | None) -> tuple[npt.NDArray[Any], str]:
    """Convert 16-bit CMYK to 16-bit RGB as :func:`_cmyk_to_rgb` does 8-bit.

    Pillow has no 16-bit CMYK, so LittleCMS is reached through imagecodecs, with
    Pillow's default intent (perceptual).
    """
    import numpy as np  # only pixels Pillow cannot hand over as they are

    if array.ndim != 3 or array.shape[2] != 4:
        raise UnsupportedInput(
            "16-bit separated TIFF with other than 4 inks (CMYK) is not supported"
        )
    if icc and icc[16:20] == b"CMYK":
        import imagecodecs

        try:
            rgb = imagecodecs.cms_transform(
                array,
                icc,
                imagecodecs.cms_profile("srgb"),
                colorspace="cmyk",
                outcolorspace="rgb",
                outdtype=np.uint16,
                intent=0,
            )
        except Exception:  # imagecodecs raises its own CmsError and others
            logger.debug("embedded CMYK profile unusable; converting without it")
        else:
            note = "16-bit CMYK converted to 16-bit sRGB through the embedded ICC profile"
            return np.asarray(rgb, np.uint16), note
    # Pillow's formula for CMYK without a profile, at 16 bits: R = (1 - C)(1 - K), and so on.
    # The product of two 16-bit values fits in 32 bits.
    white = np.uint32(65535) - array.astype(np.uint32)
    rgb = (white[..., :3] * white[..., 3:] + np.uint32(32767)) // np.uint32(65535)
    return rgb.astype(np.uint16), "16-bit CMYK converted to 16-bit RGB (no usable ICC profile)"


def _lab_to_srgb(image: Image.Image) -> Image.Image:
    from PIL import ImageCms

    # The white is D50: the ICC connection space's, and Photoshop's for Lab TIFF. LittleCMS's
    # default precalculated grid is off by up to 50 levels where colours leave the sRGB
    # gamut; computing each pixel (about 4x slower) stays within one level of the CIE formulas.
    transform = ImageCms.buildTransform(
        ImageCms.createProfile("LAB"),
        ImageCms.createProfile("sRGB"),
        "LAB",
        "RGB",
        flags=ImageCms.Flags.NOOPTIMIZE,
    )
    return transform.apply(image)


#: What Derivation Description calls the lossy codings of formats Pillow reads that have
#: no Defined Term for Lossy Image Compression Method (C.7.6.1.1.5.1).
_NO_DEFINED_TERM = {"WEBP": "WebP (VP8)", "AVIF": "AVIF (AV1)"}


def _lossy_history(
    fmt: str, image: Image.Image, data: bytes
) -> tuple[tuple[str | None, float | None], ...]:
    method: str | None
    if fmt == "JPEG":
        method = "ISO_10918_1"
    elif (fmt == "WEBP" and _webp_is_lossy(data)) or fmt == "AVIF":
        method = None  # PS3.3 C.7.6.1.1.5 has no defined term for WebP's VP8 or AVIF's AV1
    elif fmt == "TIFF" and image.info.get("compression") in {"jpeg", "tiff_jpeg"}:
        method = "ISO_10918_1"
    else:
        return ()
    return ((method, None),)  # measured by _read, on the stored pixels


def _webp_is_lossy(data: bytes) -> bool:
    """Tell whether any picture of a WebP file, an animation's frames included, is VP8."""
    return any(kind == b"VP8 " for kind, _ in _webp_chunks(data))


def _webp_pixel_bytes(data: bytes) -> int:
    """Return the bytes of a WebP file's compressed pixels: every frame's, alpha included."""
    return sum(size for kind, size in _webp_chunks(data) if kind in _WEBP_PIXELS)


def _jpeg_pixel_bytes(data: bytes) -> int:
    """Return the bytes of a JPEG's codestream, less its metadata segments (EXIF, ICC)."""
    try:
        return stripped_size(parse_jpeg(data))
    except CorruptImage:
        return len(data)  # Pillow decoded what the marker walk cannot follow


#: The chunks of a WebP file that hold pixels (the others: VP8X, ANIM, ICCP, EXIF, XMP).
_WEBP_PIXELS = frozenset({b"VP8 ", b"VP8L", b"ALPH"})
#: The bytes a lossy source's ratio is measured over, by format: its compressed pixels,
#: not its metadata. Other formats: the whole file (AVIF, JPEG in TIFF: their boxes and
#: tags are small beside the pixels).
_COMPRESSED_BYTES: dict[str, Callable[[bytes], int]] = {
    "JPEG": _jpeg_pixel_bytes,
    "WEBP": _webp_pixel_bytes,
}


def _webp_chunks(
    data: bytes, start: int = 12, end: int | None = None
) -> Iterator[tuple[bytes, int]]:
    """Yield each RIFF chunk's kind and size, those inside an animation frame too.

    WebP container: an ``ANMF`` chunk holds 16 bytes of frame header, then the frame's
    own ``ALPH`` and ``VP8 `` or ``VP8L`` chunks. Frames do not nest: only the file's
    own chunks are looked into (a hostile file cannot make the walk recurse).
    """
    top = end is None
    end = len(data) if end is None else end
    position = start
    while position + 8 <= end:
        kind = data[position : position + 4]
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        yield kind, size
        if kind == b"ANMF" and top:
            yield from _webp_chunks(data, position + 24, min(position + 8 + size, end))
        position += 8 + size + (size & 1)


def _png_head(stream: BinaryIO) -> bytes:
    """Read a PNG file's signature and chunks up to the first IDAT, then rewind."""
    parts = [stream.read(8)]
    while True:
        header = stream.read(8)
        parts.append(header)
        if len(header) < 8 or header[4:] == b"IDAT":
            break
        parts.append(stream.read(int.from_bytes(header[:4], "big") + 4))
    stream.seek(0)
    return b"".join(parts)


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    position = 8
    while position + 8 <= len(data):
        size = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        yield kind, data[position + 8 : position + 8 + size]
        if kind == b"IDAT":
            return
        position += 12 + size


def _png_is_deep_colour(data: bytes) -> bool:
    # IHDR: width, height, bit depth, colour type. Colour types 2, 4, 6 at depth 16
    # (RGB, gray+alpha, RGBA) are the ones Pillow reduces to 8 bits.
    for kind, body in _png_chunks(data):
        if kind == b"IHDR" and len(body) >= 10:
            return body[8] == 16 and body[9] in {2, 4, 6}
    return False


def _png_significant_bits(data: bytes) -> int | None:
    for kind, body in _png_chunks(data):
        if kind == b"sBIT" and body:
            return max(body[:3]) if len(body) >= 3 else body[0]
    return None


def _png_bits_stored(image: Image.Image, data: bytes) -> int | None:
    """Return the sBIT depth where no 16-bit gray sample exceeds it (else they were scaled).

    Pillow finds the largest sample in its own buffer: a numpy array of the frame would
    be a copy, and its maximum a second pass.
    """
    bits = _png_significant_bits(data)
    if bits is None or image.mode != "I;16":
        return bits
    _, high = image.getextrema()
    # A one-band image's extrema are two numbers.
    return None if int(high) >= 1 << bits else bits  # type: ignore[arg-type]


def _tiff_is_deep_colour(image: Image.Image) -> bool:
    bits = getattr(image, "tag_v2", {}).get(258)
    return isinstance(bits, tuple) and len(bits) > 1 and max(bits) > 8


def _read_frames(
    image: Image.Image, data: bytes, fmt: str, background: tuple[int, int, int], max_pixels: int
) -> Picture:
    """Every frame of an animation (GIF, WebP, APNG) or page of a TIFF, as one picture."""
    count = int(getattr(image, "n_frames", 1))
    check_size(image.width, image.height, max_pixels, frames=count)
    orientation = int(image.getexif().get(_ORIENTATION_TAG, 1))
    icc = image.info.get("icc_profile")
    lossy = _lossy_history(fmt, image, data)
    pictures, durations = [], []
    canvas = image.size  # a GIF's logical screen: the first frame is composited on it
    for index in range(count):
        try:
            image.seek(index)
            image.load()
        except _DECODE_ERRORS as exc:
            raise CorruptImage(f"frame {index + 1}: {_cause(fmt, exc)}") from exc
        if fmt == "TIFF" and int(getattr(image, "tag_v2", {}).get(254, 0)) & 1:
            continue  # a reduced-resolution page (thumbnail), not a page of the document
        durations.append(image.info.get("duration"))
        derivation: list[str] = []
        frame = image.copy()
        if fmt == "GIF" and index and frame.size != canvas:
            # A frame reaching past the logical screen: a viewer shows the screen, so the
            # frame is composited on it and clipped there (GIF89a 20: the screen bounds it).
            frame = frame.crop((0, 0, *canvas))
            derivation.append(f"frame {index + 1} clipped to the {canvas[0]}x{canvas[1]} screen")
        frame = _upright(frame, orientation, derivation)
        pictures.append(
            _to_picture(
                frame,
                fmt=fmt,
                icc=icc,
                derivation=derivation,
                lossy=lossy,
                background=background,
                bits_stored=None,
            )
        )
    timed = fmt != "TIFF" and all(d is not None for d in durations)
    times = tuple(float(d) for d in durations if d is not None) if timed else None
    return pictures[0] if len(pictures) == 1 else stack_pictures(pictures, times)


def _upright(image: Image.Image, orientation: int, derivation: list[str]) -> Image.Image:
    """Undo an EXIF Orientation on a Pillow image, noting it in `derivation`."""
    turn = ORIENTATIONS.get(orientation)
    if turn is None:
        return image
    derivation.append(_applied(orientation))
    return image.transpose(Image.Transpose[turn.pillow])


def _applied(orientation: int) -> str:
    return f"EXIF Orientation {orientation} applied to the pixels"


def _deep_png(data: bytes, image: Image.Image, background: tuple[int, int, int]) -> Picture:
    import imagecodecs  # only 16-bit colour PNGs need libpng
    import numpy as np  # only pixels Pillow cannot hand over as they are

    try:
        array = imagecodecs.png_decode(data)
    except Exception as exc:  # imagecodecs raises its own PngError and others
        raise CorruptImage(f"cannot decode 16-bit PNG: {exc}") from exc
    # Pillow's PNG getexif() decodes the pixels (a second decode, to 8 bits) to reach the
    # chunks after the image data. When only IEND follows it, the chunks Pillow read on
    # opening are all there is, and the base class reads the EXIF from them.
    exif = Image.Image.getexif(image) if _png_ends_at_pixels(data) else image.getexif()
    orientation = int(exif.get(_ORIENTATION_TAG, 1))
    return _deep_picture(np.asarray(array), image, "PNG", background, orientation=orientation)


def _png_ends_at_pixels(data: bytes) -> bool:
    """Whether nothing but IEND follows a PNG's image data (IDAT chunks)."""
    position, seen_pixels = 8, False
    while position + 8 <= len(data):
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT":
            seen_pixels = True
        elif seen_pixels:
            return kind == b"IEND"
        position += 12 + int.from_bytes(data[position : position + 4], "big")
    return False


def _deep_avif(data: bytes, image: Image.Image, background: tuple[int, int, int]) -> Picture:
    # Pillow gives AVIF as 8 bits; libavif (imagecodecs) keeps 10 and 12 as they are.
    # Pillow still says how to turn the picture upright (irot/imir and EXIF, merged).
    import imagecodecs
    import numpy as np  # only pixels Pillow cannot hand over as they are

    depth = av1_bit_depth(data) or 8
    try:
        array = imagecodecs.avif_decode(data, index=0)
    except Exception as exc:  # imagecodecs raises its own AvifError and others
        raise CorruptImage(_cause("AVIF", exc)) from exc
    array = np.asarray(array)
    # AV1 has no Lossy Image Compression Method term (C.7.6.1.1.5): 01 and the ratio only.
    return _deep_picture(array, image, "AVIF", background, bits_stored=depth, lossy=((None, None),))


def _deep_tiff(
    data: bytes, image: Image.Image, background: tuple[int, int, int], max_pixels: int
) -> Picture:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            # Reduced-resolution pages are thumbnails, not pages of the document.
            pages: list[Any] = [p for p in tif.pages if not getattr(p, "is_reduced", False)]
            # Pages must agree in size to be joined; the largest bounds them all.
            largest = max(pages, key=lambda p: int(p.imagewidth) * int(p.imagelength))
            check_size(
                int(largest.imagewidth), int(largest.imagelength), max_pixels, frames=len(pages)
            )
            photometrics = [tifffile.PHOTOMETRIC(p.photometric).name for p in pages]
            kinds = set(photometrics)
            readable = kinds <= _DEEP_TIFF_PHOTOMETRICS
            arrays = [_interleaved(p.asarray(), str(p.axes)) for p in pages] if readable else []
    except DicomizeError:
        raise
    except Exception as exc:  # tifffile raises many kinds on damaged files
        raise CorruptImage(f"cannot decode 16-bit TIFF: {exc}") from exc
    if not arrays:
        names = ", ".join(sorted(kinds - _DEEP_TIFF_PHOTOMETRICS))
        raise UnsupportedInput(f"16-bit TIFF photometric {names} is not supported")
    pictures = []
    for array, photometric in zip(arrays, photometrics, strict=True):
        pixels, note = array, ""
        if photometric == "SEPARATED":
            # The CMYK profile describes no RGB: the converted pixels are labelled sRGB.
            pixels, note = _cmyk16_to_rgb(array, image.info.get("icc_profile"))
        derivation = (note,) if note else ()
        pictures.append(_deep_picture(pixels, image, "TIFF", background, derivation=derivation))
    return pictures[0] if len(pictures) == 1 else stack_pictures(pictures, None)


#: What tifffile's photometric names that dicomize decodes at 16 bits (SEPARATED: CMYK).
_DEEP_TIFF_PHOTOMETRICS = frozenset({"RGB", "MINISBLACK", "SEPARATED"})


def _float_frames(image: Image.Image, fmt: str, max_pixels: int) -> Picture:
    """Every frame of a floating-point picture (Pillow mode F), one scale for them all."""
    import numpy as np  # only pixels Pillow cannot hand over as they are

    from dicomize.readers._float import float_picture

    count = int(getattr(image, "n_frames", 1))
    check_size(image.width, image.height, max_pixels, frames=count)
    orientation = int(image.getexif().get(_ORIENTATION_TAG, 1))
    derivation: list[str] = []
    frames = []
    for index in range(count):
        where = f"frame {index + 1}: " if count > 1 else ""
        try:
            if count > 1:  # a single SPIDER image refuses even seek(0)
                image.seek(index)
            image.load()
        except _DECODE_ERRORS as exc:
            raise CorruptImage(where + _cause(fmt, exc)) from exc
        if fmt == "TIFF" and int(getattr(image, "tag_v2", {}).get(254, 0)) & 1:
            continue  # a reduced-resolution page (thumbnail), not a page of the document
        if image.mode != "F":
            raise UnsupportedInput(
                f"{where}Pillow mode {image.mode!r} among floating-point frames; "
                "the frames of one object share one kind of pixel"
            )
        frames.append(np.asarray(_upright(image, orientation, derivation)))
    notes = tuple(dict.fromkeys(derivation))
    return float_picture(frames, source_format=fmt, derivation=notes)


def _float_tiff(data: bytes, max_pixels: int) -> Picture | None:
    """Read a floating-point TIFF that Pillow cannot open; None when it is not one."""
    import tifffile

    from dicomize.readers._float import float_picture

    try:
        tif = tifffile.TiffFile(io.BytesIO(data))
    except Exception:  # tifffile cannot read it either: Pillow's reason stands
        return None
    with tif:
        try:
            # Reduced-resolution pages are thumbnails, not pages of the document.
            pages: list[Any] = [p for p in tif.pages if not getattr(p, "is_reduced", False)]
            floating = bool(pages) and all(int(p.sampleformat) == 3 for p in pages)  # IEEEFP
        except Exception:  # a damaged directory: Pillow's reason stands
            return None
        if not floating:
            return None
        largest = max(pages, key=lambda p: int(p.imagewidth) * int(p.imagelength))
        width, height = int(largest.imagewidth), int(largest.imagelength)
        check_size(width, height, max_pixels, frames=len(pages))
        try:
            orientation = int(pages[0].tags.valueof(_ORIENTATION_TAG, 1))
            arrays = [_interleaved(p.asarray(), str(p.axes)) for p in pages]
        except Exception as exc:  # tifffile raises many kinds on damaged files
            raise CorruptImage(_cause("TIFF", exc)) from exc
    derivation: tuple[str, ...] = ()
    if orientation in ORIENTATIONS:
        arrays = [apply_orientation(array, orientation) for array in arrays]
        derivation = (_applied(orientation),)
    return float_picture(arrays, source_format="TIFF", derivation=derivation)


def _interleaved(array: npt.NDArray[Any], axes: str) -> npt.NDArray[Any]:
    import numpy as np  # only pixels Pillow cannot hand over as they are

    # Planar pages (RRR..GGG..BBB) become interleaved samples.
    return np.moveaxis(array, 0, -1) if axes.startswith("S") else array


def _deep_picture(
    array: npt.NDArray[Any],
    image: Image.Image,
    fmt: str,
    background: tuple[int, int, int],
    *,
    bits_stored: int | None = None,
    lossy: tuple[tuple[str | None, float | None], ...] = (),
    derivation: tuple[str, ...] = (),
    orientation: int | None = None,
) -> Picture:
    from dicomize.readers._array import picture_from_array  # numpy

    if orientation is None:
        orientation = int(image.getexif().get(_ORIENTATION_TAG, 1))
    if orientation in ORIENTATIONS:
        array = apply_orientation(array, orientation)
        derivation = (*derivation, _applied(orientation))
    icc = image.info.get("icc_profile")
    colour = array.ndim == 3 and array.shape[2] in {3, 4}
    return picture_from_array(
        array,
        background=background,
        icc_profile=_colour_profile(icc) if colour else None,
        derivation=derivation,
        bits_stored=bits_stored,
        lossy=lossy,
        source_format=fmt,
    )

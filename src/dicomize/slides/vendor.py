"""Slides of every other scanner format, read through OpenSlide and re-encoded.

OpenSlide 4 (its library from ``openslide-bin``) reads MRXS, NDPI, SCN, BIF,
Philips TIFF and VMS. It hands out decoded regions, not stored tiles, so each
level is read in tiles of the scanner's own size (OpenSlide's
``openslide.level[N].tile-width``; 256 when it does not say), composited on
white where the scanner left no tissue, and encoded in the syntax asked for.
Associated images (label, macro, thumbnail) are stored as decoded, losslessly.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

from dicomize.dicom.uids import EXPLICIT_VR_LITTLE_ENDIAN
from dicomize.errors import CorruptImage, ImageTooLarge, UnsupportedInput
from dicomize.slides.frames import NativeFrame
from dicomize.slides.model import Slide, SlideImage
from dicomize.slides.tiff import encoded_frames

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

    from dicomize.options import ConvertOptions

__all__ = ["read_openslide", "vendor_of"]

_FORMATS = {
    "aperio": "Aperio SVS",
    "generic-tiff": "pyramidal TIFF",
    "hamamatsu": "NDPI",
    "leica": "SCN",
    "mirax": "MRXS",
    "philips": "Philips TIFF",
    "ventana": "BIF",
    "sakura": "SVSlide",
    "trestle": "Trestle TIFF",
    "zeiss": "CZI",
}
_MANUFACTURERS = {
    "aperio": "Aperio",
    "hamamatsu": "Hamamatsu",
    "leica": "Leica",
    "mirax": "3DHISTECH",
    "philips": "Philips",
    "ventana": "Ventana",
    "sakura": "Sakura",
    "zeiss": "Zeiss",
}
_DEFAULT_TILE = 256
_ASSOCIATED = {"label": "LABEL", "macro": "OVERVIEW", "thumbnail": "THUMBNAIL"}


@functools.cache
def _openslide() -> Any:  # noqa: ANN401  (the module, untyped)
    try:
        import openslide
    except ImportError:
        raise UnsupportedInput(
            "needs OpenSlide to be read: pip install 'dicomize[slide]'"
        ) from None
    return openslide


def vendor_of(path: str) -> str | None:
    """Return OpenSlide's name for the file's format (``hamamatsu``), or None."""
    try:
        found = _openslide().OpenSlide.detect_format(path)
    except UnsupportedInput:
        return None
    except Exception:
        return None
    return str(found) if found else None


def read_openslide(path: str, options: ConvertOptions) -> Slide:
    """Read a slide through OpenSlide; every level is re-encoded.

    Raises
    ------
    CorruptImage
        When OpenSlide cannot read the file or a region of it.
    UnsupportedInput
        When the slide is over the pixel limit.
    """
    openslide = _openslide()
    from pathlib import Path

    name = Path(path).stem
    vendor = vendor_of(path) or ""
    try:
        handle = openslide.OpenSlide(path)
    except openslide.OpenSlideError as exc:
        raise CorruptImage(f"cannot be read by OpenSlide ({exc})") from None
    slide = Slide(name, _FORMATS.get(vendor, vendor))
    try:
        with handle:
            _metadata(slide, handle, vendor)
            width, height = handle.dimensions
            if width * height > options.max_slide_pixels:
                raise ImageTooLarge(  # noqa: TRY301  (the slide is closed on any error)
                    f"level 0 is {width}x{height}, over the {options.max_slide_pixels:,} "
                    "pixel limit",
                    option="max_slide_pixels",
                )
            for number, (across, down) in enumerate(handle.level_dimensions):
                properties = handle.properties
                columns = int(
                    properties.get(f"openslide.level[{number}].tile-width", _DEFAULT_TILE)
                )
                rows = int(properties.get(f"openslide.level[{number}].tile-height", _DEFAULT_TILE))
                frames = encoded_frames(
                    _regions(handle, number, size=(across, down), tile=(rows, columns)),
                    tile=(rows, columns),
                    samples=3,
                    options=options,
                )
                slide.images.append(
                    SlideImage("VOLUME", across, down, frames, resampled=number > 0)
                )
            for kind, image in handle.associated_images.items():
                flavour = _ASSOCIATED.get(kind)
                if flavour is None:
                    continue
                pixels = np.ascontiguousarray(_on_white(np.asarray(image.convert("RGBA"))))
                slide.images.append(
                    SlideImage(
                        flavour,
                        pixels.shape[1],
                        pixels.shape[0],
                        NativeFrame(
                            pixels,
                            rows=pixels.shape[0],
                            columns=pixels.shape[1],
                            samples=3,
                            bits=8,
                            photometric="RGB",
                            transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN,
                            lossy=(),
                        ),
                        resampled=flavour == "THUMBNAIL",
                    )
                )
    except openslide.OpenSlideError as exc:
        slide.close()
        raise CorruptImage(f"cannot be read by OpenSlide ({exc})") from None
    except BaseException:
        slide.close()
        raise
    return slide


def _regions(
    handle: Any,  # noqa: ANN401
    level: int,
    *,
    size: tuple[int, int],
    tile: tuple[int, int],
) -> Iterator[Any]:
    """Yield the level's tiles, row by row, each full size (white past the edges)."""
    across, down = size
    rows, columns = tile
    scale = handle.level_downsamples[level]
    for top in range(0, down, rows):
        for left in range(0, across, columns):
            region = handle.read_region(
                (round(left * scale), round(top * scale)), level, (columns, rows)
            )
            yield _on_white(np.asarray(region))


def _on_white(rgba: Any) -> Any:  # noqa: ANN401
    """Composite OpenSlide's RGBA onto white: where no tissue was scanned is white glass."""
    alpha = rgba[..., 3:4].astype(np.uint32)
    rgb = rgba[..., :3].astype(np.uint32)
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _metadata(slide: Slide, handle: Any, vendor: str) -> None:  # noqa: ANN401
    properties = handle.properties
    slide.manufacturer = _MANUFACTURERS.get(vendor)
    across = _float(properties.get("openslide.mpp-x"))
    down = _float(properties.get("openslide.mpp-y"))
    slide.mpp = (across, down) if across and down else None
    slide.magnification = _float(properties.get("openslide.objective-power"))
    # openslide.comment is the scanner's whole description of the file (Aperio's), not
    # what is on the slide: it is not a specimen description.
    try:
        profile = handle.color_profile
    except Exception:
        profile = None
    if profile is not None:
        slide.icc_profile = profile.tobytes()


def _float(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value and value > 0 else None

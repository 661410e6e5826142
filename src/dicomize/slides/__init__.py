"""Whole-slide images: a scanner's pyramid read as it is stored, tile by tile.

A slide is one or more pyramid levels of tiles, and a few whole pictures beside
them (the label, the overview or macro, a thumbnail). :func:`open_slide` reads an
Aperio SVS, a generic pyramidal TIFF or an OME-TIFF with tifffile, keeping every
JPEG or JPEG 2000 tile as it came (:mod:`dicomize.slides.tiff`), and every other
format OpenSlide reads (MRXS, NDPI, SCN, BIF, Philips TIFF, VMS) through
OpenSlide, re-encoding its tiles (:mod:`dicomize.slides.vendor`). The result is a
:class:`Slide`: its images, each with its frames ready to stream, and what the
scanner said about itself; :mod:`dicomize.iods.vl_wsm` makes the DICOM instances.
"""

from __future__ import annotations

import os
from pathlib import Path

from dicomize.errors import UnsupportedInput
from dicomize.slides.model import Slide, SlideImage

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from dicomize.options import ConvertOptions

__all__ = [
    "SLIDE_FORMATS",
    "SLIDE_SUFFIXES",
    "Slide",
    "SlideImage",
    "is_slide",
    "open_slide",
]

#: The formats read, as a user knows them (the kind's row in :data:`dicomize.inputs.KINDS`).
SLIDE_FORMATS = (
    "Aperio SVS",
    "pyramidal TIFF",
    "OME-TIFF",
    "MRXS",
    "NDPI",
    "SCN",
    "BIF",
    "Philips TIFF",
    "VMS",
)
#: Files a slide scanner writes that are not TIFF: OpenSlide tells whether one is a slide.
_OPENSLIDE_ONLY = (".mrxs", ".vms", ".vmu")
#: Names slide files go by: a file so named that no reader takes is explained as a slide.
SLIDE_SUFFIXES = frozenset(
    {".svs", ".ndpi", ".mrxs", ".scn", ".bif", ".vms", ".vmu", ".svslide", ".ome.tif", ".ome.tiff"}
)
_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


def is_slide(head: bytes, path: str | os.PathLike[str] | None) -> bool:
    """Tell whether a file is a whole-slide image, from its head and, for a TIFF, its pages.

    A TIFF is a slide when it is an Aperio SVS, an OME-TIFF with a pyramid, a
    pyramid of tiled pages, or a TIFF of a scanner OpenSlide knows (NDPI, SCN, BIF,
    Philips); a single tiled picture stays a picture.
    """
    if path is None:
        return False
    if head[:4] in _TIFF_MAGIC:
        from dicomize.slides.tiff import is_tiff_slide  # tifffile: only for TIFF files

        return is_tiff_slide(os.fspath(path))
    if os.fspath(path).lower().endswith(_OPENSLIDE_ONLY):
        from dicomize.slides.vendor import vendor_of  # OpenSlide: only for its formats

        return vendor_of(os.fspath(path)) is not None
    return False


def open_slide(path: str | os.PathLike[str], options: ConvertOptions) -> Slide:
    """Read a slide: its levels and associated images, ready to be written.

    Parameters
    ----------
    path : path-like
        An SVS, pyramidal TIFF, OME-TIFF, or a file OpenSlide reads.
    options : ConvertOptions
        The transfer syntax and quality of tiles that cannot be kept, the pixel
        limit (``max_slide_pixels``), and the folder tiles are spooled in.

    Raises
    ------
    CorruptImage
        When the file is damaged: cut short, tiles past its end or empty, levels out
        of order, a tile table of the wrong length.
    UnsupportedInput
        When it is not a slide dicomize can store (fluorescence channels, no tiles,
        larger than the pixel limit).
    """
    name = os.fspath(path)
    from dicomize.slides.tiff import read_tiff_slide
    from dicomize.slides.vendor import read_openslide, vendor_of

    with Path(name).open("rb") as stream:
        head = stream.read(4)
    if head in _TIFF_MAGIC:
        slide = read_tiff_slide(name, options)
        if slide is not None:
            return slide
    if vendor_of(name) is None:
        raise UnsupportedInput("is not a whole-slide image this reader knows")
    return read_openslide(name, options)

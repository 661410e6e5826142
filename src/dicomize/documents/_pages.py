"""A PDF's pages as pictures, rendered by PDFium, for viewers that cannot show a PDF.

Pages are rendered twice and never held together: once to learn what the
pixels call for (pure black and white, gray, or colour: Single Bit, Grayscale
Byte or True Color multi-frame SC, PS3.3 A.8.2-A.8.5), and again, one at a time,
as the Part 10 writer asks for them. A 200-page report then costs the memory of
a page, not of the document (``bench/pdf_pages.py`` measures it).

Rendering is PDFium's own (pypdfium2's ``render``), at ``dpi / 72`` pixels per
PDF unit less a millionth, with the form fields drawn (a filled-in consent form
shows its answers) and PDFium's default anti-aliasing. The millionth matters:
pypdfium2 rounds a page's size in pixels up, and PDFium keeps page sizes as
32-bit floats, so a page of 90 pixels at 150 dpi (43.2 points) is 90.0000016
pixels wide; rounded up to 91, the page is stretched by a pixel and a scanned
form's pure black and white turns gray at every edge. A millionth is eight
times a 32-bit float's precision, a thousandth of a pixel on a 1000-pixel page.

Images on a page are smoothed as PDFium scales them, which turns even a scan
shown at its own resolution a little gray. So the first pass looks at the pages
with image smoothing off: when every page is then pure black and white (a
scanned form), the pages are stored so, Single Bit, as sharp as the scan;
otherwise they are rendered smoothed. Smoothing never turns gray into colour,
so the first pass tells gray from colour too. Pages of different sizes are laid
on a white canvas of the largest, at its top left.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np
import pypdfium2

from dicomize.dicom.icc import srgb_profile
from dicomize.dicom.part10 import PixelStrips
from dicomize.errors import CorruptImage, ImageTooLarge
from dicomize.picture import Picture, check_size

__all__ = ["render_pages"]

_WHITE = 255
#: Rows compared at a time when telling black and white from gray and colour.
_BAND = 64
#: Points per inch: PDF user space units (ISO 32000-1 8.3.2.3).
_POINTS = 72
#: A page a whole number of pixels wide stays that wide, despite floating-point error.
_SHRINK = 1 - 1e-6


def render_pages(data: bytes, *, dpi: int, max_pixels: int | None) -> Picture:
    """Return a PDF's pages as the frames of one picture, rendered when they are written.

    Parameters
    ----------
    data : bytes
        A PDF already checked by :func:`dicomize.documents.read_document`.
    dpi : int
        Pixels per inch.
    max_pixels : int or None
        The limit on all pages' pixels together.

    Raises
    ------
    dicomize.errors.ImageTooLarge
        When the pages together exceed `max_pixels`.
    """
    scale = dpi / _POINTS * _SHRINK
    with _opened(data) as pdf:
        sizes = [_size(pdf[index], scale) for index in range(len(pdf))]
        columns = max(width for width, _ in sizes)
        rows = max(height for _, height in sizes)
        try:
            check_size(columns, rows, max_pixels, frames=len(sizes))
        except ImageTooLarge as exc:
            raise ImageTooLarge(exc.message, option="dpi") from None
        pages = _pages(pdf, scale, columns, rows, smooth=False)
        try:
            kind = _kind(pages)
        finally:
            pages.close()  # the page _kind stopped at, before its document closes
    samples = 3 if kind == "colour" else 1
    frame = rows * columns * samples

    def produce() -> Iterator[memoryview]:
        gray = np.empty((rows, columns), np.uint8) if samples == 1 else None
        with _opened(data) as again:
            for page in _pages(again, scale, columns, rows, smooth=kind != "bilevel"):
                # The canvas itself, or one gray buffer for every page: each is written
                # before the next page is drawn over it.
                if gray is None:
                    yield page.data.cast("B")
                else:
                    np.copyto(gray, page[:, :, 0])
                    yield gray.data.cast("B")

    notes = [
        f"pages rendered by PDFium at {dpi} dpi"
        + ("" if kind != "bilevel" else ", images unsmoothed")
    ]
    if len(set(sizes)) > 1:
        notes.append(f"pages of different sizes laid on white {columns}x{rows} frames")
    return Picture(
        pixels=PixelStrips(frame * len(sizes), produce),
        rows=rows,
        columns=columns,
        samples_per_pixel=samples,
        photometric_interpretation="RGB" if samples == 3 else "MONOCHROME2",  # noqa: PLR2004
        bits_allocated=8,
        bits_stored=8,
        icc_profile=srgb_profile() if samples == 3 else None,  # noqa: PLR2004
        derivation=tuple(notes),
        source_format="PDF",
        number_of_frames=len(sizes),
        bilevel=kind == "bilevel",
        dpi=(float(dpi), float(dpi)),
    )


class _opened:  # noqa: N801  (used as a function in `with`)
    """Open a PDF with its form fields ready to draw, and close it afterwards."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __enter__(self) -> Any:  # noqa: ANN401  (pypdfium2.PdfDocument)
        try:
            self.pdf = pypdfium2.PdfDocument(self.data)
            self.pdf.init_forms()
        except pypdfium2.PdfiumError as exc:
            raise CorruptImage(f"PDF cannot be rendered by PDFium: {exc}") from None
        return self.pdf

    def __exit__(self, *_: object) -> None:
        self.pdf.close()


def _size(page: Any, scale: float) -> tuple[int, int]:  # noqa: ANN401
    # As pypdfium2's render sizes its bitmap: the page's (rotated) size, rounded up.
    return math.ceil(page.get_width() * scale), math.ceil(page.get_height() * scale)


def _pages(
    pdf: Any,  # noqa: ANN401  (pypdfium2.PdfDocument)
    scale: float,
    columns: int,
    rows: int,
    *,
    smooth: bool,
) -> Generator[np.ndarray, None, None]:
    """Yield each page as RGB pixels on a white canvas of `columns` x `rows`.

    PDFium draws every page straight into one canvas, a page smaller than the
    canvas at its top left: the array yielded is that canvas, valid until the next.
    """
    buffer = (ctypes.c_ubyte * (rows * columns * 3))()
    canvas = np.frombuffer(memoryview(buffer).cast("B"), np.uint8).reshape(rows, columns, 3)

    def on_canvas(width: int, height: int, format: int, rev_byteorder: bool) -> Any:  # noqa: ANN401
        return pypdfium2.PdfBitmap.new_native(
            width, height, format, rev_byteorder, buffer=buffer, stride=columns * 3
        )

    for index in range(len(pdf)):
        page = pdf[index]
        try:
            if _size(page, scale) != (columns, rows):
                canvas.fill(_WHITE)  # the margins PDFium does not draw
            page.render(
                scale=scale,
                rev_byteorder=True,
                no_smoothimage=not smooth,
                bitmap_maker=on_canvas,
            )
            yield canvas
        finally:
            page.close()


def _kind(pages: Iterator[np.ndarray]) -> str:
    """Return ``"bilevel"``, ``"gray"`` or ``"colour"``: the least that holds every page."""
    kind = "bilevel"
    for pixels in pages:
        # A band of rows at a time: the comparisons' temporaries stay small.
        for top in range(0, len(pixels), _BAND):
            band = pixels[top : top + _BAND]
            red, green, blue = band[:, :, 0], band[:, :, 1], band[:, :, 2]
            if not (np.array_equal(red, green) and np.array_equal(green, blue)):
                return "colour"  # no need to look at the rest
            if kind == "bilevel" and np.any((red != 0) & (red != _WHITE)):
                kind = "gray"
    return kind

"""Get the content back out of a DICOM file, from any producer.

* An encapsulated document (PDF, STL, OBJ, MTL, CDA): its bytes, cut to
  Encapsulated Document Length when the file records it (PS3.3 C.24.2), so an
  odd-length original comes back exactly.
* A JPEG, JPEG-LS or JPEG 2000 object: each frame's codestream itself.
* Any other image: a PNG of each frame, 16-bit where the data has more than 8
  bits, through the Modality LUT and the VOI LUT or window the file declares
  (PS3.3 C.11.1, C.11.2), MONOCHROME1 inverted, single-bit pixels as black and
  white; or, raw, the stored values.

Frames are decoded one at a time (a long multi-frame object is never decoded whole).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from dicomize.errors import CorruptImage, InputError, UnsupportedInput

__all__ = ["Extracted", "extract", "extract_all"]

_T = TypeVar("_T")

#: MIME Type of Encapsulated Document → file suffix.
_SUFFIXES = {
    "application/pdf": ".pdf",
    "model/stl": ".stl",
    "model/obj": ".obj",
    "model/mtl": ".mtl",
    "text/xml": ".xml",  # CDA (A.45.2)
}
#: Transfer syntaxes whose frames are whole codestreams of a common format.
_CODESTREAMS = {
    "1.2.840.10008.1.2.4.50": ".jpg",
    "1.2.840.10008.1.2.4.51": ".jpg",
    "1.2.840.10008.1.2.4.57": ".jpg",
    "1.2.840.10008.1.2.4.70": ".jpg",
    "1.2.840.10008.1.2.4.80": ".jls",
    "1.2.840.10008.1.2.4.81": ".jls",
    "1.2.840.10008.1.2.4.90": ".j2k",
    "1.2.840.10008.1.2.4.91": ".j2k",
    "1.2.840.10008.1.2.4.201": ".j2k",
    "1.2.840.10008.1.2.4.203": ".j2k",
}


@dataclasses.dataclass(frozen=True)
class Extracted:
    """What a DICOM file holds, ready to be written."""

    data: bytes
    #: The file suffix for it (``".pdf"``, ``".png"``, ...).
    suffix: str
    #: What it is, for people (``"encapsulated application/pdf"``).
    kind: str


def extract(path: str | os.PathLike[str], *, raw: bool = False, frame: int = 1) -> Extracted:
    """Return the document, or one frame's codestream or picture, that DICOM file `path` holds.

    Parameters
    ----------
    path : str or os.PathLike
        Any DICOM Part 10 file.
    raw : bool
        For images: the stored values, without Modality or VOI transforms.
    frame : int
        For images: which frame, counting from 1.

    Raises
    ------
    dicomize.errors.InputError
        With the file named: not DICOM, truncated, holding neither a document nor
        pixels, or without that frame.
    """
    return _guarded(path, lambda ds: next(_contents(ds, path, raw=raw, frames=[frame])))


def extract_all(path: str | os.PathLike[str], *, raw: bool = False) -> list[Extracted]:
    """Return the document, or every frame, that DICOM file `path` holds, in frame order.

    Each frame is decoded alone and kept encoded (PNG or codestream), so a long
    multi-frame object costs the memory of one decoded frame.

    Raises
    ------
    dicomize.errors.InputError
        As :func:`extract`; nothing is returned when any frame fails.
    """
    return _guarded(path, lambda ds: list(_contents(ds, path, raw=raw, frames=None)))


def _guarded(path: str | os.PathLike[str], work: Callable[[Any], _T]) -> _T:
    from pydicom import dcmread  # noqa: PLC0415
    from pydicom.errors import InvalidDicomError  # noqa: PLC0415

    name = Path(path)
    try:
        # Pixel Data is left on disk until a frame is asked for.
        ds = dcmread(name, defer_size="1 MB")
        return work(ds)
    except InputError as exc:
        raise exc.with_source(name) from None
    except InvalidDicomError:
        raise UnsupportedInput("not a DICOM file", name) from None
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), name) from None
    except Exception as exc:  # pydicom raises many kinds on a damaged file
        raise CorruptImage(f"damaged or truncated DICOM file ({exc})", name) from None


def _contents(
    ds: Any,  # noqa: ANN401  (a pydicom Dataset)
    path: str | os.PathLike[str],
    *,
    raw: bool,
    frames: list[int] | None,
) -> Iterator[Extracted]:
    if "EncapsulatedDocument" in ds:
        data = bytes(ds.EncapsulatedDocument)
        length = ds.get("EncapsulatedDocumentLength")
        if isinstance(length, int) and len(data) - 1 <= length <= len(data):
            data = data[:length]  # the OB value's padding byte goes (C.24.2)
        mime = str(ds.get("MIMETypeOfEncapsulatedDocument", "")).strip().lower()
        yield Extracted(data, _SUFFIXES.get(mime, ".bin"), f"encapsulated {mime or 'document'}")
        return
    if "PixelData" not in ds:
        raise UnsupportedInput("holds neither an encapsulated document nor pixels")
    count = int(ds.get("NumberOfFrames", 1) or 1)
    for number in frames or []:
        if not 1 <= number <= count:
            raise UnsupportedInput(f"has no frame {number} (frames 1 to {count})")
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if syntax in _CODESTREAMS and not raw:
        from pydicom.encaps import generate_frames  # noqa: PLC0415

        wanted = set(frames or range(1, count + 1))
        for number, stream in enumerate(generate_frames(ds.PixelData, number_of_frames=count), 1):
            if number in wanted:
                yield Extracted(bytes(stream), _CODESTREAMS[syntax], "codestream as stored")
        return
    from pydicom.pixels.utils import iter_pixels  # noqa: PLC0415

    indices = [number - 1 for number in frames] if frames else None
    kind = "raw pixels" if raw else "rendered pixels"
    for pixels in iter_pixels(path, indices=indices):
        yield Extracted(_png(ds, pixels, raw=raw), ".png", kind)


def _png(ds: Any, pixels: Any, *, raw: bool) -> bytes:  # noqa: ANN401  (Dataset, ndarray)
    import imagecodecs  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    bits = int(ds.get("BitsStored", 8))
    out_type = np.uint16 if bits > 8 else np.uint8  # noqa: PLR2004
    if pixels.ndim == 3:  # noqa: PLR2004  (colour: pydicom gives RGB for every encoding)
        return bytes(imagecodecs.png_encode(pixels.astype(out_type)))
    if raw:
        if pixels.dtype.kind == "i":
            raise UnsupportedInput("raw signed pixels have no PNG form; leave out --raw")
        return bytes(imagecodecs.png_encode(pixels.astype(out_type)))
    top = float(np.iinfo(out_type).max)
    values = pixels * top if bits == 1 else _rendered(ds, pixels, bits, top)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        values = top - values  # C.7.6.3.1.2: the minimum is white
    return bytes(imagecodecs.png_encode(np.clip(np.rint(values), 0, top).astype(out_type)))


def _rendered(ds: Any, pixels: Any, bits: int, top: float) -> Any:  # noqa: ANN401
    """Apply the Modality LUT, then the VOI LUT or window when the file declares one."""
    import numpy as np  # noqa: PLC0415
    from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut  # noqa: PLC0415

    values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
    if "WindowCenter" in ds or "VOILUTSequence" in ds:
        # pydicom maps the window onto the range of the stored bits (C.11.2.1.2).
        signed = int(ds.get("PixelRepresentation", 0)) == 1
        low = -(2.0 ** (bits - 1)) if signed else 0.0
        high = 2.0 ** (bits - 1) - 1 if signed else 2.0**bits - 1
        values = np.asarray(apply_voi_lut(values, ds), dtype=np.float64)
        return (values - low) * (top / max(high - low, 1.0))
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > top:  # values no PNG can hold as they are: stretched to fit
        return (values - low) * (top / max(high - low, 1.0))
    return values

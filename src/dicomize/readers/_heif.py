"""HEIC/HEIF pictures (the iPhone camera's format) through pillow-heif and libheif.

* The primary image is converted; thumbnails, depth maps and other auxiliary
  images are passed over, and so are the other images of a collection (the
  derivation says how many there were).
* 10- and 12-bit pictures keep their depth: Bits Stored 10 or 12 in 16 allocated.
* Rotation and mirroring are HEIF's ``irot`` / ``imir`` transforms, which libheif
  applies; the EXIF Orientation is then informative only (MIAF 7.3.6.7) and
  pillow-heif reports it as 1, so exactly one of the two is applied.
* The embedded ICC profile is kept (as an Input-class profile). Without one, an
  nclx colour description with sRGB / BT.709 primaries is labelled sRGB; other
  primaries are labelled sRGB too, and the derivation says so.
* HEVC coding is lossy: Lossy Image Compression 01, method ISO_23008_2 (HEVC).
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any, BinaryIO

import numpy as np

from dicomize.dicom.icc import as_input_profile, srgb_profile
from dicomize.errors import CorruptImage, DicomizeError, UnsupportedInput
from dicomize.options import ConvertOptions
from dicomize.picture import Picture, check_size, measured
from dicomize.readers._array import picture_from_array

__all__ = ["read"]

#: nclx colour_primaries (ITU-T H.273 Table 2) that sRGB describes: BT.709 / sRGB.
_SRGB_PRIMARIES = 1


def read(source: bytes | BinaryIO, fmt: str, options: ConvertOptions) -> Picture:  # noqa: ARG001
    """Decode the primary image of a HEIF file."""
    try:
        import pillow_heif
    except ImportError:
        raise UnsupportedInput(
            "HEIC/HEIF pictures need the heif extra: pip install 'dicomize[heif]'"
        ) from None
    data = source if isinstance(source, bytes) else source.read()
    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
        image = heif[heif.primary_index]
        columns, rows = image.size
        check_size(columns, rows, options.max_pixels)  # before anything is decoded
        array = np.asarray(image)
        info: dict[str, Any] = dict(image.info)
        count = len(heif)
    except DicomizeError:
        raise
    except MemoryError as exc:
        raise CorruptImage("HEIF picture is too large to decode in memory") from exc
    except Exception as exc:  # libheif reports damage as RuntimeError/ValueError
        reason = str(exc).strip() or "the data breaks off"
        raise CorruptImage(
            f"cannot decode HEIF: {reason} (the file is damaged or truncated)"
        ) from exc
    depth = int(info.get("bit_depth") or 8)
    derivation: list[str] = []
    if array.dtype == np.uint16 and depth < 16:
        # pillow-heif scales deep samples to 16 bits; the file's own values are wanted.
        array = array >> (16 - depth)
    if count > 1:
        derivation.append(f"primary image of the {count} in the HEIF file")
    colour = array.ndim == 3
    icc = _profile(info, derivation) if colour else None
    picture = picture_from_array(
        array,
        background=options.background,
        bits_stored=depth if depth > 8 else None,
        icc_profile=icc,
        derivation=tuple(derivation),
        lossy=(("ISO_23008_2", None),),
        source_format="HEIF",
    )
    # The file's bytes: the HEVC picture, and its boxes and metadata, which are small.
    picture = measured(picture, len(data))
    # The camera's record feeds VL Photographic as a JPEG's does.
    exif = info.get("exif")
    return replace(picture, exif=exif) if isinstance(exif, bytes) and exif else picture


def _profile(info: dict[str, Any], derivation: list[str]) -> bytes:
    embedded = info.get("icc_profile")
    if isinstance(embedded, bytes) and embedded:
        converted = as_input_profile(embedded)
        if converted is not None:
            return converted
    nclx = info.get("nclx_profile")
    primaries = nclx.get("color_primaries") if isinstance(nclx, dict) else None
    if primaries not in {None, _SRGB_PRIMARIES, 2}:  # 2: unspecified
        derivation.append(
            f"HEIF nclx colour primaries {primaries} have no ICC profile here; labelled sRGB"
        )
    return srgb_profile()

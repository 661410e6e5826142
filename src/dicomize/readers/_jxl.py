"""JPEG XL pictures, decoded by libjxl through imagecodecs (a core dependency: no extra needed).

* Bits Stored is the codestream's own bit depth (10, 12, 16 ... in 16 allocated).
* Lossless JPEG XL decodes bit-exact. A picture coded in XYB (what lossy JPEG XL
  uses) is recorded as lossy, method ISO_18181_1; one that is not is taken as
  lossless, since the headers hold no other mark of it.
* libjxl applies the codestream's orientation; an animation gives its first frame.
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

from dicomize.codestreams.jxl import parse_jxl
from dicomize.errors import CorruptImage, UnsupportedInput
from dicomize.options import ConvertOptions
from dicomize.picture import Picture, check_size, measured
from dicomize.readers._array import picture_from_array

__all__ = ["read"]


def read(source: bytes | BinaryIO, fmt: str, options: ConvertOptions) -> Picture:  # noqa: ARG001
    """Decode a JPEG XL file or bare codestream."""
    import imagecodecs

    data = source if isinstance(source, bytes) else source.read()
    info = parse_jxl(data)
    check_size(info.columns, info.rows, options.max_pixels)  # before anything is decoded
    if info.bits_per_sample > 16:
        raise UnsupportedInput(f"{info.bits_per_sample}-bit JPEG XL is beyond the 16 bits of DICOM")
    try:
        array = np.asarray(imagecodecs.jpegxl_decode(data, index=0 if info.animated else None))
    except Exception as exc:  # imagecodecs raises its own JpegxlError and others
        reason = str(exc).strip() or "the data breaks off"
        raise CorruptImage(f"cannot decode JPEG XL: {reason} (damaged or truncated)") from exc
    derivation = ("first frame of the JPEG XL animation",) if info.animated else ()
    depth = info.bits_per_sample
    picture = picture_from_array(
        array,
        background=options.background,
        bits_stored=depth if 8 < depth < 16 else None,
        derivation=derivation,
        lossy=(("ISO_18181_1", None),) if info.xyb_encoded else (),
        source_format="JPEG XL",
    )
    return measured(picture, len(data))

"""JPEG 2000 and HTJ2K files (codestreams or JP2): stored unchanged when DICOM can describe them.

The codestream is described by :mod:`dicomize.codestreams.j2k`; a JP2 palette
or sYCC colour space, more than 3 components or more than 16 bits are decoded
instead (OpenJPEG or OpenJPH through imagecodecs) and stored losslessly.
"""

from __future__ import annotations

from typing import BinaryIO

from dicomize.codestreams.j2k import (
    JP2_SIGNATURE,
    J2kInfo,
    codestream_of,
    j2k_passthrough,
    jp2_header,
    parse_j2k,
)
from dicomize.codestreams.passthrough import Passthrough
from dicomize.errors import CorruptImage
from dicomize.options import ConvertOptions
from dicomize.picture import Picture, check_size, measured
from dicomize.readers import PASSTHROUGH_OFF
from dicomize.readers._array import picture_from_array

__all__ = ["read"]


def read(source: bytes | BinaryIO, fmt: str, options: ConvertOptions) -> Picture:  # noqa: ARG001
    """Store a JPEG 2000 / HTJ2K codestream (or JP2 file) unchanged, or decode it.

    The codestream passes through when DICOM can describe it; a JP2 palette or
    sYCC colour space, more than 3 components or more than 16 bits are decoded
    instead (OpenJPEG or OpenJPH through imagecodecs) and stored losslessly.
    """
    data = source if isinstance(source, bytes) else source.read()
    jp2 = data.startswith(JP2_SIGNATURE)
    stream = codestream_of(data)
    info = parse_j2k(stream)
    check_size(info.columns, info.rows, options.max_pixels)
    obstacle, icc = jp2_header(data) if jp2 else (None, None)
    reason = PASSTHROUGH_OFF
    if options.passthrough:
        legal = obstacle or j2k_passthrough(info)
        if isinstance(legal, Passthrough):
            kind = "HTJ2K" if info.htj2k else "JPEG 2000"
            note = f"{kind} codestream stored unchanged" + (" (JP2 boxes removed)" if jp2 else "")
            return legal.picture(
                stream[: info.end],
                rows=info.rows,
                columns=info.columns,
                icc=icc,
                notes=(note,),
                source_format=kind,
            )
        reason = legal
    return _decoded_picture(data, stream, info=info, reason=reason, icc=icc, options=options)


def _decoded_picture(
    data: bytes,
    stream: bytes,
    *,
    info: J2kInfo,
    reason: str,
    icc: bytes | None,
    options: ConvertOptions,
) -> Picture:
    import imagecodecs

    try:
        array = imagecodecs.htj2k_decode(stream) if info.htj2k else imagecodecs.jpeg2k_decode(data)
    except Exception as exc:  # imagecodecs raises its own Jpeg2kError and others
        raise CorruptImage(f"cannot decode JPEG 2000: {exc}") from exc
    method = "ISO_15444_15" if info.htj2k else "ISO_15444_1"
    picture = picture_from_array(
        array,
        background=options.background,
        bits_stored=info.precision if 8 < info.precision <= 16 else None,
        icc_profile=icc,
        derivation=(f"JPEG 2000 decoded because {reason}",),
        lossy=() if info.reversible else ((method, None),),
        source_format="HTJ2K" if info.htj2k else "JPEG 2000",
    )
    return measured(picture, min(len(stream), info.end))  # the codestream, as kept when legal

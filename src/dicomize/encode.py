"""Decoded pixels → the requested transfer syntax, through the records of :mod:`dicomize.syntaxes`.

Each frame is its own codestream (PS3.5 A.4). A passed-through codestream stays
as it is, and lossy steps are recorded as a chain: a JPEG source re-encoded as
JPEG 2000 records ISO_10918_1, then ISO_15444_1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dicomize.dicom.part10 import PixelStrips
from dicomize.dicom.uids import is_encapsulated
from dicomize.picture import Picture, compression_ratio
from dicomize.syntaxes import codec_for

if TYPE_CHECKING:
    import numpy.typing as npt

    from dicomize.syntaxes import EncoderSettings

__all__ = ["encode_picture"]


def encode_picture(picture: Picture, transfer_syntax: str, settings: EncoderSettings) -> Picture:
    """Store native `picture` in `transfer_syntax`; a passed-through codestream stays as it is.

    Parameters
    ----------
    picture : Picture
        Native pixels, or a codestream kept as it came.
    transfer_syntax : str
        A transfer syntax of :data:`dicomize.syntaxes.CODECS`, by name or UID.
    settings : EncoderSettings
        Quality, NEAR and ratio of the lossy encoders (a :class:`dicomize.ConvertOptions`).

    Raises
    ------
    UnsupportedInput
        When the pixels do not fit the transfer syntax (16-bit into baseline JPEG).
    """
    codec = codec_for(transfer_syntax)
    if is_encapsulated(picture.transfer_syntax) or codec.uid == picture.transfer_syntax:
        return picture
    if codec.encode is None:  # native: the same bytes under another syntax (deflate)
        return replace(picture, transfer_syntax=codec.uid)
    streams = [codec.encode(picture, array, settings) for array in _frames_of(picture)]
    photometric = (
        codec.describe(streams[-1]) if codec.describe else picture.photometric_interpretation
    )
    lossy = picture.lossy
    from pydicom.uid import UID  # its registry names the syntax

    note = f"stored as {UID(codec.uid).name}"
    if codec.lossy_method is not None:
        # Every frame's stream: the ratio of a multi-frame object covers all its frames.
        ratio = compression_ratio(
            rows=picture.rows,
            columns=picture.columns,
            samples_per_pixel=picture.samples_per_pixel,
            bits_allocated=picture.bits_allocated,
            frames=picture.number_of_frames,
            compressed=sum(len(stream) for stream in streams),
        )
        lossy = (*lossy, (codec.lossy_method, ratio))
        note += f", lossy {ratio}:1"
    return replace(
        picture,
        pixels=streams[0],
        frames=tuple(streams) if len(streams) > 1 else (),
        transfer_syntax=codec.uid,
        photometric_interpretation=photometric,
        lossy=lossy,
        derivation=(*picture.derivation, note),
    )


def _frames_of(picture: Picture) -> Iterator[npt.NDArray[Any]]:
    """Yield the native pixels frame by frame, as (rows, columns[, samples]) arrays.

    Pixels made strip by strip (pages rendered as they are needed) are gathered a
    frame at a time, so encoding holds one frame, not the picture.
    """
    import numpy as np  # only when pixels are encoded

    dtype = np.dtype(
        f"<{'i' if picture.pixel_representation else 'u'}{picture.bits_allocated // 8}"
    )
    shape: tuple[int, ...] = (picture.rows, picture.columns)
    if picture.samples_per_pixel > 1:
        shape = (*shape, picture.samples_per_pixel)
    size = int(np.prod(shape)) * dtype.itemsize
    if not isinstance(picture.pixels, PixelStrips):
        frames = np.frombuffer(picture.pixels, dtype).reshape((picture.number_of_frames, *shape))
        yield from frames
        return
    pending = bytearray()
    for strip in picture.pixels.strips():
        pending += strip
        while len(pending) >= size:
            yield np.frombuffer(bytes(pending[:size]), dtype).reshape(shape)
            del pending[:size]

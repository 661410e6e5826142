"""Get the content back out of a DICOM file, from any producer.

* An encapsulated document (PDF, STL, OBJ, MTL, CDA): its bytes, cut to
  Encapsulated Document Length when the file records it (PS3.3 C.24.2), so an
  odd-length original comes back exactly.
* A JPEG, JPEG-LS or JPEG 2000 object: each frame's codestream itself.
* A video object (MPEG-2, H.264, HEVC): its stream, an MP4, MPEG-2 TS or program
  stream as stored, copied from the file without being read into memory; the
  byte that pads an odd-length stream is left out when the container shows it.
* Any other image: a PNG of each frame, 16-bit where the data has more than 8
  bits, through the Modality LUT and the VOI LUT or window the file declares
  (PS3.3 C.11.1, C.11.2), MONOCHROME1 inverted, single-bit pixels as black and
  white; or, raw, the stored values.

Frames are decoded one at a time (a long multi-frame object is never decoded whole).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

from dicomize.dicom.uids import (
    ALL_VIDEO_SYNTAXES,
    HTJ2K,
    HTJ2K_LOSSLESS,
    JPEG_2000,
    JPEG_2000_LOSSLESS,
    JPEG_BASELINE_PROCESS_1,
    JPEG_EXTENDED_PROCESS_2_4,
    JPEG_LOSSLESS_PROCESS_14,
    JPEG_LOSSLESS_SV1,
    JPEG_LS_LOSSLESS,
    JPEG_LS_NEAR_LOSSLESS,
)
from dicomize.errors import CorruptImage, InputError, UnsupportedInput

__all__ = ["Extracted", "FileSpan", "extract", "extract_all"]

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
    JPEG_BASELINE_PROCESS_1: ".jpg",
    JPEG_EXTENDED_PROCESS_2_4: ".jpg",
    JPEG_LOSSLESS_PROCESS_14: ".jpg",
    JPEG_LOSSLESS_SV1: ".jpg",
    JPEG_LS_LOSSLESS: ".jls",
    JPEG_LS_NEAR_LOSSLESS: ".jls",
    JPEG_2000_LOSSLESS: ".j2k",
    JPEG_2000: ".j2k",
    HTJ2K_LOSSLESS: ".j2k",
    HTJ2K: ".j2k",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class FileSpan:
    """Bytes of a file, by place (offset, length), in order: a video stream's fragments."""

    path: Path
    ranges: tuple[tuple[int, int], ...]

    def chunks(self, size: int = 1 << 23) -> Iterator[bytes]:
        """Yield the bytes, `size` at a time."""
        with self.path.open("rb") as stream:
            for offset, length in self.ranges:
                stream.seek(offset)
                left = length
                while left > 0:
                    chunk = stream.read(min(size, left))
                    if not chunk:
                        raise CorruptImage("the file ends inside its video stream (truncated)")
                    left -= len(chunk)
                    yield chunk


class Writes(Protocol):
    """Content made as it is written (a seekable stream: a TIFF's offsets are filled in)."""

    def write_to(self, stream: BinaryIO) -> None:
        """Write the content to `stream`."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Extracted:
    """What a DICOM file holds, ready to be written."""

    #: The bytes, where they lie in the file (a video stream), or what writes them (a
    #: whole tiled level: :class:`dicomize._extract_tiled.TiledPicture`).
    content: bytes | FileSpan | Writes
    #: The file suffix for it (``".pdf"``, ``".png"``, ``".mp4"``, ...).
    suffix: str
    #: What it is, for people (``"encapsulated application/pdf"``).
    kind: str

    @property
    def data(self) -> bytes:
        """All the bytes (a video stream or a tiled level is made in memory for this)."""
        content = self.content
        if isinstance(content, bytes):
            return content
        if isinstance(content, FileSpan):
            return b"".join(content.chunks())
        import io

        buffer = io.BytesIO()
        content.write_to(buffer)
        return buffer.getvalue()

    def write_to(self, stream: BinaryIO) -> None:
        """Write the bytes to `stream`, a piece at a time."""
        if isinstance(self.content, bytes):
            stream.write(self.content)
        elif isinstance(self.content, FileSpan):
            for chunk in self.content.chunks():
                stream.write(chunk)
        else:
            self.content.write_to(stream)


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
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    name = Path(path)
    try:
        with name.open("rb") as stream:
            # The header only: Pixel Data is left on disk until a frame is asked for.
            ds = dcmread(stream, stop_before_pixels=True)
            pixels_at = stream.tell()
        if str(ds.file_meta.get("TransferSyntaxUID", "")) in ALL_VIDEO_SYNTAXES:
            return work(_WithStream(header=ds, span=_video_span(name, pixels_at)))
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
    if isinstance(ds, _WithStream):
        suffix = _video_suffix(ds.span)
        yield Extracted(
            content=ds.span, suffix=suffix, kind=f"video stream ({suffix[1:].upper()}) as stored"
        )
        return
    if "EncapsulatedDocument" in ds:
        data = bytes(ds.EncapsulatedDocument)
        length = ds.get("EncapsulatedDocumentLength")
        if isinstance(length, int) and len(data) - 1 <= length <= len(data):
            data = data[:length]  # the OB value's padding byte goes (C.24.2)
        mime = str(ds.get("MIMETypeOfEncapsulatedDocument", "")).strip().lower()
        yield Extracted(
            content=data,
            suffix=_SUFFIXES.get(mime, ".bin"),
            kind=f"encapsulated {mime or 'document'}",
        )
        return
    if "PixelData" not in ds:
        raise UnsupportedInput("holds neither an encapsulated document nor pixels")
    count = int(ds.get("NumberOfFrames", 1) or 1)
    for number in frames or []:
        if not 1 <= number <= count:
            raise UnsupportedInput(f"has no frame {number} (frames 1 to {count})")
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if syntax in _CODESTREAMS and not raw:
        from pydicom.encaps import generate_frames

        wanted = set(frames or range(1, count + 1))
        for number, stream in enumerate(generate_frames(ds.PixelData, number_of_frames=count), 1):
            if number in wanted:
                yield Extracted(
                    content=bytes(stream), suffix=_CODESTREAMS[syntax], kind="codestream as stored"
                )
        return
    from pydicom.pixels.utils import iter_pixels

    indices = [number - 1 for number in frames] if frames else None
    kind = "raw pixels" if raw else "rendered pixels"
    for pixels in iter_pixels(path, indices=indices):
        yield Extracted(content=_png(ds, pixels, raw=raw), suffix=".png", kind=kind)


_ITEM = 0xE000FFFE  # (FFFE,E000) read as one little-endian word
_SEQUENCE_END = 0xE0DDFFFE


@dataclass(frozen=True, kw_only=True, slots=True)
class _WithStream:
    """A video object's header, and where its stream lies in the file."""

    header: Any
    span: FileSpan


def _video_span(path: Path, at: int) -> FileSpan:
    """Find the stream of a video object's Pixel Data (one fragment, or several in a row)."""
    import struct

    spans: list[tuple[int, int]] = []
    with path.open("rb") as stream:
        stream.seek(at + 12)  # the Pixel Data element's tag, VR, reserved bytes and length
        first = True
        while True:
            head = stream.read(8)
            if len(head) < 8:  # noqa: PLR2004
                raise CorruptImage("the file ends inside its Pixel Data (truncated)")
            tag, length = struct.unpack("<LL", head)
            if tag == _SEQUENCE_END:
                break
            if tag != _ITEM:
                raise CorruptImage("the video's Pixel Data is not a sequence of items (PS3.5 A.4)")
            if not first:  # the first item is the Basic Offset Table
                spans.append((stream.tell(), length))
            first = False
            stream.seek(length, 1)
    if not spans:
        raise UnsupportedInput("the video object holds no stream")
    # A Fragmentable syntax's receiver joins the fragments (PS3.5 8.2.7); only the last
    # may carry the pad byte of an odd-length stream.
    total = sum(length for _, length in spans)
    offset, length = spans[-1]
    spans[-1] = (offset, length - (total - _unpadded(path, spans, total)))
    return FileSpan(path=path, ranges=tuple(spans))


def _unpadded(path: Path, spans: list[tuple[int, int]], length: int) -> int:
    """Return the stream's length without the 00H an odd-length stream was padded with."""
    last, size = spans[-1]
    with path.open("rb") as stream:
        stream.seek(last + size - 1)
        if size < 1 or stream.read(1) != b"\0":
            return length
        stream.seek(spans[0][0])
        head = stream.read(12)
    if head[4:8] == b"ftyp":
        return length - 1 if _mp4_end(path, spans, length) == length - 1 else length
    if head[:1] == b"G":  # MPEG-2 TS: whole 188-byte packets
        return length - 1 if length % 188 == 1 else length
    return length


def _mp4_end(path: Path, spans: list[tuple[int, int]], length: int) -> int:
    """Return where the top-level boxes of an MP4 end, counted in the joined fragments."""
    import struct

    def read(stream: BinaryIO, position: int, count: int) -> bytes:
        out = b""
        for offset, size in spans:  # the fragments, joined (PS3.5 8.2.7)
            if position < size and count:
                stream.seek(offset + position)
                chunk = stream.read(min(count, size - position))
                out += chunk
                count -= len(chunk)
                position = 0
            else:
                position -= size
        return out

    position = 0
    with path.open("rb") as stream:
        while position + 8 <= length:
            head = read(stream, position, 16)
            size = struct.unpack(">I", head[:4])[0]
            if size == 1 and len(head) == 16:  # noqa: PLR2004
                size = struct.unpack(">Q", head[8:16])[0]
            if size < 8:  # noqa: PLR2004  (0: to the end; less: malformed)
                return length
            position += size
    return position


def _video_suffix(span: FileSpan) -> str:
    with span.path.open("rb") as stream:
        stream.seek(span.ranges[0][0])
        head = stream.read(12)
    if head[4:8] == b"ftyp":
        return ".mp4"
    if head[:1] == b"G":
        return ".ts"
    if head.startswith(b"\x00\x00\x01\xba"):
        return ".mpg"
    return ".m2v" if head.startswith(b"\x00\x00\x01\xb3") else ".bin"


def _png(ds: Any, pixels: Any, *, raw: bool) -> bytes:  # noqa: ANN401  (Dataset, ndarray)
    import imagecodecs
    import numpy as np

    bits = int(ds.get("BitsStored", 8))
    out_type = np.uint16 if bits > 8 else np.uint8  # noqa: PLR2004
    if pixels.ndim == 3:  # noqa: PLR2004  (colour: pydicom gives RGB for every encoding)
        return bytes(imagecodecs.png_encode(pixels.astype(out_type)))
    if raw:
        if pixels.dtype.kind == "i":
            raise UnsupportedInput("raw signed pixels have no PNG form", option="raw")
        return bytes(imagecodecs.png_encode(pixels.astype(out_type)))
    top = float(np.iinfo(out_type).max)
    values = pixels * top if bits == 1 else _rendered(ds, pixels, bits, top)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        values = top - values  # C.7.6.3.1.2: the minimum is white
    return bytes(imagecodecs.png_encode(np.clip(np.rint(values), 0, top).astype(out_type)))


def _rendered(ds: Any, pixels: Any, bits: int, top: float) -> Any:  # noqa: ANN401
    """Apply the Modality LUT, then the VOI LUT or window when the file declares one."""
    import numpy as np
    from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut

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

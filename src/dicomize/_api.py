"""The public functions whose annotations name pydicom's or typing's types.

Inside dicomize a DICOM object is a :class:`~dicomize.dicom.part10.Part10Object`, which the
command line, batches and the services encode without loading pydicom; the API hands
out pydicom :class:`~pydicom.dataset.Dataset` objects. The functions here are where the
two meet. This module imports pydicom and :mod:`typing` when it loads, so that the names
these annotations use exist at run time and :func:`typing.get_type_hints` (and the
documentation tools that call it) resolve them; the modules on the command line's paths
name them for the type checker only. The command line never imports this module.
"""

from __future__ import annotations

import fractions
import os
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from dicomize._convert import encode_frames, encode_series, encode_video
from dicomize._write import write_object
from dicomize.dicom.part10 import Part10Object
from dicomize.dicom.vr import Value
from dicomize.errors import InputError, UnsupportedInput
from dicomize.metadata import MetadataLike
from dicomize.metadata import resolve_metadata as _resolve_metadata
from dicomize.options import ConvertOptions
from dicomize.picture import Picture
from dicomize.readers import Source
from dicomize.readers import read_picture as _read_picture

__all__ = [
    "convert",
    "convert_frames",
    "convert_series",
    "convert_video",
    "read_picture",
    "resolve_metadata",
    "write",
    "write_slide",
]

#: Names that only the aliases these annotations use mention (:data:`dicomize.readers.Source`
#: and :data:`dicomize.dicom.vr.Value` are text, resolved in the module whose annotation names
#: them): held here so that they resolve.
_ALIASED = (Any, DicomSequence)


def convert(
    source: Source,
    metadata: MetadataLike = None,
    *,
    options: ConvertOptions | None = None,
) -> Dataset:
    """Convert one picture file, its bytes, or a numpy array to a Secondary Capture dataset.

    Parameters
    ----------
    source : str, os.PathLike, bytes or numpy.ndarray
        The picture; its format is detected from the content.
    metadata : Metadata or Mapping[str, object] or None
        Attribute values, as a :class:`~dicomize.Metadata` or ``{keyword: value}``.
    options : ConvertOptions or None
        Reading and UID options.

    Returns
    -------
    pydicom.dataset.Dataset
        A complete SC Image dataset with File Meta Information, ready for
        :func:`dicomize.write`. For an array input, Pixel Data shares the
        array's memory when its layout allows: do not modify the array until
        the dataset is written.

    Raises
    ------
    dicomize.errors.MetadataError
        Before anything is decoded, when a metadata value is invalid.
    dicomize.errors.InputError
        When the picture cannot be converted.

    Examples
    --------
    >>> import numpy as np
    >>> ds = convert(np.zeros((4, 6), np.uint8), {"PatientName": "Doe^Jane"})
    >>> ds.Rows, ds.Columns, ds.PhotometricInterpretation, str(ds.PatientName)
    (4, 6, 'MONOCHROME2', 'Doe^Jane')
    """
    for _, result in convert_series([source], metadata, options=options):
        if isinstance(result, InputError):
            raise result
        return result
    raise AssertionError("convert_series yields one result per source")  # pragma: no cover


def convert_series(
    sources: Iterable[Source],
    metadata: MetadataLike = None,
    *,
    options: ConvertOptions | None = None,
) -> Iterator[tuple[Source, Dataset | InputError]]:
    """Convert several pictures into one series of one study.

    All outputs share Study and Series Instance UIDs (given or generated once)
    and are numbered in input order from the given Instance Number (default 1).
    With ``options.series_per_input`` each input gets a series of its own,
    numbered from the given Series Number. A bad input does not stop the
    others: its error is yielded in its place.

    Parameters
    ----------
    sources : iterable
        Paths, bytes or arrays.
    metadata : Metadata or Mapping[str, object] or None
        Attribute values shared by every output.
    options : ConvertOptions or None
        Reading, encoding and UID options.

    Yields
    ------
    tuple
        ``(source, dataset)`` or ``(source, error)`` for each source, in order.

    Raises
    ------
    dicomize.errors.MetadataError
        Before the first source is read, when the metadata is invalid.
    """
    for source, result in encode_series(sources, metadata, options=options):
        if isinstance(result, InputError | Part10Object):
            yield source, result if isinstance(result, InputError) else result.to_dataset()
            continue
        with result:  # a slide: its objects, every level's frames read
            yield (
                source,
                UnsupportedInput(
                    "becomes several objects: write them with dicomize.write_slide", str(source)
                ),
            )


def convert_frames(
    sources: Iterable[Source],
    metadata: MetadataLike = None,
    *,
    options: ConvertOptions | None = None,
) -> Dataset:
    """Join several single-frame pictures as the pages of one multi-frame object.

    The pictures must agree in size and colour. JPEGs that pass through stay
    compressed, frame by frame, when they agree in encoding too (several JPEGs
    of one size join without re-encoding); otherwise every picture is decoded.
    Frames are numbered as pages (Page Number Vector).

    Raises
    ------
    dicomize.errors.InputError
        When a picture cannot be read or the frames do not agree.
    """
    return encode_frames(sources, metadata, options=options).to_dataset()


def convert_video(
    sources: Iterable[Source],
    metadata: MetadataLike = None,
    *,
    fps: float | fractions.Fraction = 25,
    options: ConvertOptions | None = None,
) -> Dataset:
    """Join pictures, or the frames of a 3-D (or 4-D colour) array, into one video object.

    The pictures are encoded as H.264 High (HEVC Main beyond 1080p60) at
    ``options.crf``: lossy, and small. For lossless frames use
    :func:`convert_frames` (multi-frame SC). The IOD is ``options.iod`` when it
    is a video IOD, else Video Photographic.

    Raises
    ------
    dicomize.errors.InputError
        When a picture cannot be read, is not 8-bit, or differs in size.
    """
    return encode_video(sources, metadata, fps=fps, options=options).to_dataset()


def write(
    dataset: Dataset, destination: str | os.PathLike[str] | BinaryIO, *, overwrite: bool = False
) -> None:
    """Write `dataset` as a DICOM Part 10 file.

    Parameters
    ----------
    dataset : pydicom.dataset.Dataset
        A dataset with File Meta Information, as :func:`dicomize.convert` returns.
    destination : str, os.PathLike or binary file object
        A path, written atomically, or an open binary stream (``sys.stdout.buffer``).
    overwrite : bool
        Replace an existing file at `destination`.

    Raises
    ------
    OutputExists
        When `destination` exists and `overwrite` is false.
    OutputError
        When the file cannot be written; no partial file remains.
    """
    write_object(dataset, destination, overwrite=overwrite)


def write_slide(
    source: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    metadata: MetadataLike = None,
    *,
    options: ConvertOptions | None = None,
    overwrite: bool = False,
) -> list[str]:
    """Convert a whole-slide image into a folder of VL Whole Slide Microscopy objects.

    One object per pyramid level (``level-0.dcm``, ...) and per associated image
    (``label.dcm``, ``overview.dcm``, ``thumbnail.dcm``), one series. Any other input
    that becomes several objects (a multi-page TIFF whose pages differ in size:
    ``page-1.dcm``, ...) is written the same way. The tiles stream
    from the slide into the files, so a slide of any size costs the same memory; the
    folder appears whole or not at all.

    Parameters
    ----------
    source : str or os.PathLike
        An Aperio SVS, pyramidal TIFF, OME-TIFF, or a format OpenSlide reads.
    folder : str or os.PathLike
        The folder to make (it must not exist unless `overwrite`).
    metadata : Metadata or Mapping[str, object] or None
        Attribute values, as for :func:`convert`; the scanner's model
        (``ManufacturerModelName``) and the like when the slide does not record them.
    options : ConvertOptions or None
        Reading and UID options (``max_slide_pixels``, ``mpp``, the transfer syntax of
        tiles that cannot be kept).
    overwrite : bool
        Replace an existing folder.

    Returns
    -------
    list of str
        The files written.

    Raises
    ------
    dicomize.errors.MetadataError
        When a metadata value is invalid.
    dicomize.errors.InputError
        When the file is not a slide, is damaged, or lacks what the IOD needs.
    dicomize.errors.OutputError
        When the folder exists or cannot be written; nothing is left behind.
    """
    from dicomize._write import write_folder

    ((_, result),) = encode_series([source], metadata, options=options)
    if isinstance(result, InputError):
        raise result
    if isinstance(result, Part10Object):
        raise UnsupportedInput(
            "is one object, not a whole-slide image: convert and write it", str(source)
        )
    with result:
        return write_folder(
            list(zip(result.names, result.objects, strict=True)), folder, overwrite=overwrite
        )


def read_picture(source: Source, options: ConvertOptions | None = None) -> Picture:
    """Read a picture file, its bytes, or a numpy array.

    Parameters
    ----------
    source : str, os.PathLike, bytes or numpy.ndarray
        The picture. Paths are read once; the format comes from the content.
    options : ConvertOptions or None
        Background colour, pixel limit, passthrough; defaults when None.

    Returns
    -------
    Picture
        Native pixels with their description, or a legal codestream kept as
        it came (passthrough).

    Raises
    ------
    dicomize.errors.InputError
        With the file named, when the input cannot be converted.
    """
    return _read_picture(source, options)


def resolve_metadata(*sources: MetadataLike) -> dict[str, Value]:
    """Merge metadata sources (later wins) and validate every value.

    Parameters
    ----------
    *sources : Metadata or Mapping[str, object] or None
        Typed objects or mappings of DICOM keyword to value.

    Returns
    -------
    dict[str, Value]
        Validated, normalised values by keyword.

    Raises
    ------
    dicomize.errors.MetadataError
        For the first value that breaks a rule.
    """
    return _resolve_metadata(*sources)

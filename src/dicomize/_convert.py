"""The conversion API: a picture or array (plus metadata) to a DICOM dataset."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pydicom.dataset import Dataset

from dicomize.build import build_secondary_capture, series_attributes
from dicomize.encode import encode_picture
from dicomize.errors import InputError, MetadataError
from dicomize.metadata import MetadataLike, resolve_metadata
from dicomize.options import ConvertOptions
from dicomize.readers import Source, read_picture
from dicomize.uids import derive_uid, new_uid

__all__ = ["ConvertOptions", "convert", "convert_series"]


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
    options = options or ConvertOptions()
    user = resolve_metadata(metadata)
    make_uid = _uid_factory(options)
    attributes = series_attributes(user, now=dt.datetime.now().astimezone(), make_uid=make_uid)
    first_number = int(str(attributes.pop("InstanceNumber", "1")) or 1)
    first_series = int(str(attributes.get("SeriesNumber", "1")) or 1)
    given_sop_uid: Any = attributes.pop("SOPInstanceUID", None)
    sources = list(sources)
    if given_sop_uid and len(sources) > 1:
        raise MetadataError("SOPInstanceUID", given_sop_uid, "cannot be shared by several outputs")
    if options.series_per_input and "SeriesInstanceUID" in user and len(sources) > 1:
        raise MetadataError(
            "SeriesInstanceUID",
            user["SeriesInstanceUID"],
            "cannot be shared by one series per input",
        )
    seen: dict[str, int] = {}
    for offset, source in enumerate(sources):
        try:
            picture = encode_picture(
                read_picture(source, options),
                options.transfer_syntax,
                jpeg_quality=options.jpeg_quality,
                jpegls_error=options.jpegls_error,
                j2k_ratio=options.j2k_ratio,
            )
        except InputError as exc:
            yield source, exc
            continue
        instance_attributes = attributes
        number = first_number + offset
        if options.series_per_input:
            instance_attributes = {
                **attributes,
                "SeriesInstanceUID": make_uid(f"SeriesInstanceUID-{offset}"),
                "SeriesNumber": str(first_series + offset),
            }
            number = first_number
        digest = hashlib.sha256(picture.pixels).hexdigest() if options.uid_seed else ""
        seen[digest] = seen.get(digest, 0) + 1  # identical pictures still get distinct UIDs
        yield (
            source,
            build_secondary_capture(
                picture,
                instance_attributes,
                instance_number=number,
                sop_instance_uid=given_sop_uid
                or make_uid(f"SOPInstanceUID-{digest}-{seen[digest]}"),
            ),
        )


def _uid_factory(options: ConvertOptions) -> Callable[[str], str]:
    """UIDs new each time, or derived from the seed (and content) when one is given."""
    seed = options.uid_seed
    if seed is None:
        return lambda _role: new_uid(options.uid_root)
    return lambda role: derive_uid(seed, role, root=options.uid_root)

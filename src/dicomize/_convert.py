"""Conversion: a picture or array (plus metadata) to an object ready to encode.

The public functions that return pydicom datasets (:func:`dicomize.convert` and its
kin) are in :mod:`dicomize._api`; they call these.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from dicomize.build import (
    PictureRules,
    build_image,
    content_moment,
    for_multiframe,
    series_attributes,
)
from dicomize.dicom.part10 import Part10Object, PixelStrips
from dicomize.dicom.uids import EXPLICIT_VR_LITTLE_ENDIAN, derive_uid, is_encapsulated, new_uid
from dicomize.dicom.vr import utc_zone
from dicomize.errors import InputError, MetadataError, UnsupportedInput
from dicomize.exif import exif_attributes
from dicomize.inputs import KINDS, Sniffed, sniff
from dicomize.iods import IOD, IODS, attributes_of, by_mime_type, chosen, outside
from dicomize.metadata import MetadataLike, resolve_metadata
from dicomize.options import ConvertOptions
from dicomize.picture import PagesDiffer, Picture, stack_pictures
from dicomize.readers import PASSTHROUGH_OFF, Source, read_picture
from dicomize.syntaxes import syntax_name

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    import fractions
    from typing import Any, TypeVar

    from pydicom.dataset import Dataset

    from dicomize.documents import Document
    from dicomize.objectset import ObjectSet
    from dicomize.slides import Slide
    from dicomize.video import PreparedVideo

    _T = TypeVar("_T")

__all__ = [
    "begun",
    "encode_frames",
    "encode_series",
    "encode_video",
    "series_of_kind",
]


def iod_for(kind: str, options: ConvertOptions) -> IOD | None:
    """Return the IOD content of `kind` is stored as; None where its format decides.

    The IOD ``options.iod`` names holds its own kind; the default picture IOD
    (``sc``) stands for every kind's default, so a folder of mixed content converts
    with no option: clips go to the first video IOD, documents and models to the
    IOD of their format.

    Raises
    ------
    UnsupportedInput
        When the named IOD holds another kind of content.
    """
    row = IODS[options.iod]
    if row.kind == kind:
        return row
    if row is chosen("picture")[0]:
        others = chosen(kind)
        return others[0] if others else None
    offered = ", ".join(iod.name for iod in chosen(kind)) or "the default, sc"
    raise UnsupportedInput(
        f"{KINDS[kind].noun} cannot be stored as the {row.title} IOD (use {offered})"
    )


def _rules(iod: IOD) -> PictureRules:
    rules: PictureRules = iod.load().RULES
    return rules


def encode_series(
    sources: Iterable[Source],
    metadata: MetadataLike = None,
    *,
    options: ConvertOptions | None = None,
    sniffed: Sniffed | None = None,
) -> Iterator[tuple[Source, Part10Object | ObjectSet | InputError]]:
    """:func:`dicomize.convert_series`, for writing: objects ready to encode, not datasets.

    A whole-slide image gives a :class:`dicomize.objectset.ObjectSet`: its levels,
    label, overview and thumbnail, to be written into a folder of their own. A
    caller that converts one source whose head it has read (:func:`dicomize.inputs.sniff`,
    for its series) passes what it found as `sniffed`, so the head is read once.
    """
    yield from _series(sources, metadata, options, _Plan.elements, sniffed)


def _series(
    sources: Iterable[Source],
    metadata: MetadataLike,
    options: ConvertOptions | None,
    make: Callable[[_Plan, Picture | _Named | PreparedVideo | Slide | _Pages, int], _T],
    sniffed: Sniffed | None = None,
) -> Iterator[tuple[Source, _T | InputError]]:
    options = options or ConvertOptions()
    plan = _Plan(metadata, options)
    sources = list(sources)
    if plan.given_sop_uid and len(sources) > 1:
        raise MetadataError(
            "SOPInstanceUID", plan.given_sop_uid, "cannot be shared by several outputs"
        )
    if options.series_per_input and "SeriesInstanceUID" in plan.user and len(sources) > 1:
        raise MetadataError(
            "SeriesInstanceUID",
            plan.user["SeriesInstanceUID"],
            "cannot be shared by one series per input",
        )
    sniffs: list[Sniffed | None] = [sniffed] if len(sources) == 1 else [None] * len(sources)
    if not options.series_per_input and len(sources) > 1:
        # Which series each kind gets follows the kinds in the call, not the inputs' order;
        # each head is read once, for this and for reading the input.
        found = [sniff(source, options) for source in sources]
        plan.expect(each.kind for each in found)
        for each in found:
            plan.require(each.kind)  # before any input is converted
        sniffs = list(found)
    for offset, source in enumerate(sources):
        try:
            # The IOD can refuse pixels (VL Photographic holds 8-bit only): that is this
            # input's error too, not a failure of the whole call.
            content = _read_content(source, options, sniffs[offset], plan.require)
            result = make(plan, content, offset)
        except InputError as exc:
            named = str(source) if isinstance(source, str | os.PathLike) else None
            yield source, exc.with_source(named) if named and exc.source is None else exc
            continue
        yield source, result


def encode_frames(
    sources: Iterable[Source],
    metadata: MetadataLike = None,
    *,
    options: ConvertOptions | None = None,
) -> Part10Object:
    """:func:`dicomize.convert_frames`, for writing: an object ready to encode."""
    return _frames(sources, metadata, options, _Plan.one)


def _frames(
    sources: Iterable[Source],
    metadata: MetadataLike,
    options: ConvertOptions | None,
    make: Callable[[_Plan, Picture, int], _T],
) -> _T:
    options = options or ConvertOptions()
    plan = _Plan(metadata, options)
    sources = list(sources)
    if not sources:
        raise UnsupportedInput("no pictures to join")
    pictures = [read_picture(source, options) for source in sources]
    for source, picture in zip(sources, pictures, strict=True):
        if picture.number_of_frames > 1:
            raise UnsupportedInput(
                f"has {picture.number_of_frames} frames; only single pictures can be joined",
                str(source) if isinstance(source, str | os.PathLike) else None,
            )
    try:
        joined = stack_pictures(pictures, None)
    except UnsupportedInput:
        if all(p.transfer_syntax == EXPLICIT_VR_LITTLE_ENDIAN for p in pictures):
            raise
        # Compressed frames that differ in encoding: decode them all, then join.
        decoded = replace(options, passthrough=False)
        joined = stack_pictures([read_picture(source, decoded) for source in sources], None)
    return make(plan, _encoded(joined, options), 0)


def encode_video(
    sources: Iterable[Source],
    metadata: MetadataLike = None,
    *,
    fps: float | fractions.Fraction = 25,
    options: ConvertOptions | None = None,
) -> Part10Object:
    """:func:`dicomize.convert_video`, for writing: an object ready to encode."""
    return _video_from(sources, metadata, fps, options, _Plan.one)


def _video_from(
    sources: Iterable[Source],
    metadata: MetadataLike,
    fps: float | fractions.Fraction,
    options: ConvertOptions | None,
    make: Callable[[_Plan, PreparedVideo, int], _T],
) -> _T:
    options = options or ConvertOptions()
    plan = _Plan(metadata, options)
    plan.require("video")  # before the pictures are encoded
    from fractions import Fraction  # video only

    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise UnsupportedInput(f"a frame rate must be positive, got {fps}")
    from dicomize.video import encode_pictures  # PyAV and the video rules

    decoded = replace(options, passthrough=False)
    prepared = encode_pictures(
        (pixels for source in sources for pixels in _arrays_of(source, decoded)),
        rate=rate,
        crf=options.crf,
        temporary_folder=options.temporary_folder,
    )
    return make(plan, prepared, 0)


def _arrays_of(source: Source, options: ConvertOptions) -> Iterator[Any]:
    """Yield a source's pictures as 8-bit arrays (rows, columns[, 3]), one per frame."""
    import numpy as np

    frames: Iterable[Any]
    if isinstance(source, np.ndarray) and not _one_picture(source.shape):
        frames = source  # (frames, rows, columns) or (frames, rows, columns, 3)
    else:
        picture = read_picture(source, options)
        if picture.bits_allocated != 8 or picture.pixel_representation:  # noqa: PLR2004
            raise UnsupportedInput(
                f"{picture.bits_stored}-bit pictures: video holds 8 bits",
                str(source) if isinstance(source, str | os.PathLike) else None,
                option="multiframe",
            )
        shape: tuple[int, ...] = (picture.number_of_frames, picture.rows, picture.columns)
        if picture.samples_per_pixel > 1:
            shape = (*shape, picture.samples_per_pixel)
        frames = np.frombuffer(picture.native(), np.uint8).reshape(shape)
    for frame in frames:
        if frame.dtype != np.uint8:
            raise UnsupportedInput(f"{frame.dtype} frames: video holds 8-bit pixels")
        yield np.ascontiguousarray(frame)


def _one_picture(shape: tuple[int, ...]) -> bool:
    """Tell an array of one picture (rows, columns[, 3]) from one of frames."""
    return len(shape) == 2 or (len(shape) == 3 and shape[-1] == 3)  # noqa: PLR2004


class _Pages:
    """The pages of one document that differ in size: each becomes an object of its own."""

    __slots__ = ("name", "pictures")

    #: The input's name: the folder its pages are written into.
    name: str
    pictures: tuple[Picture, ...]

    def __init__(self, name: str, pictures: tuple[Picture, ...]) -> None:
        self.name = name
        self.pictures = pictures


class _Named:
    """A document and the name it came under (its Document Title when it has none)."""

    __slots__ = ("document", "kind", "name")

    document: Document
    name: str
    #: ``"document"`` or ``"model"``: its series holds nothing else.
    kind: str

    def __init__(self, *, document: Document, name: str, kind: str) -> None:
        self.document = document
        self.name = name
        self.kind = kind


#: Where the series of each kind is numbered, beside a series of pictures numbered N, by
#: front doors that convert one file at a time and so cannot count the kinds they meet.
_KIND_SERIES = {kind: 1000 * rank for rank, kind in enumerate(KINDS)}
_PICTURE = next(iter(KINDS))


def series_of_kind(
    series_uid: str, series_number: int, kind: str, *, root: str | None = None
) -> tuple[str, int]:
    """Return the Series Instance UID and Number of `kind`'s series beside a picture series.

    Pictures keep the series; each other kind gets its own, derived from it (the
    same every time) and numbered 1000, 2000 or 3000 after it.

    >>> series_of_kind("1.2.3", 4, "picture")
    ('1.2.3', 4)
    >>> uid, number = series_of_kind("1.2.3", 4, "document")
    >>> uid != "1.2.3", number
    (True, 2004)
    """
    if kind == _PICTURE:
        return series_uid, series_number
    return derive_uid(series_uid, kind, root=root), series_number + _KIND_SERIES[kind]


def begun(study: float, series: float, offset: str = "") -> dict[str, str]:
    """Return Study and Series Date and Time for a study and series begun at these times.

    Front doors that convert one file at a time give every file of a study the time
    the study began, not the file's own: they are attributes of the study and series,
    equal in all their instances (C.7.2.1, C.7.3.1). Times are the host's local time,
    like the Timezone Offset From UTC written beside them.

    Parameters
    ----------
    study, series : float
        Seconds since the epoch.
    offset : str
        The Timezone Offset From UTC the objects declare (``+HHMM``), when the user
        gave one: the times are written in it (C.12.1); else in the host's.
    """
    zone = utc_zone(offset)
    values = {}
    for date, time, stamp in (
        ("StudyDate", "StudyTime", study),
        ("SeriesDate", "SeriesTime", series),
    ):
        moment = dt.datetime.fromtimestamp(stamp, zone).astimezone(zone)
        values[date], values[time] = moment.strftime("%Y%m%d"), moment.strftime("%H%M%S")
    return values


def _read_content(
    source: Source,
    options: ConvertOptions,
    sniffed: Sniffed | None = None,
    require: Callable[[str], None] | None = None,
) -> Picture | _Named | PreparedVideo | Slide | _Pages:
    """Read a document, a video clip or a picture: the kind of object follows the content.

    `sniffed` is what :func:`dicomize.inputs.sniff` found, when the caller has read the
    head already; None reads it here. `require` refuses, from the kind alone, metadata
    its IOD needs and lacks, before a clip is transcoded (:meth:`_Plan.require`).
    """
    read = sniffed is not None and sniffed.content is not None
    if isinstance(source, str | os.PathLike) and not read and not os.path.lexists(source):
        raise InputError("No such file or directory")  # not "not a clip": there is nothing
    sniffed = sniffed or sniff(source, options)
    kind = sniffed.kind
    iod_for(kind, options)  # refuses content the chosen IOD cannot hold, before reading it
    if require is not None:
        require(kind)
    if kind == "slide":
        assert isinstance(source, str | os.PathLike)  # noqa: S101  (only a file is a slide)
        from dicomize.slides import open_slide

        return open_slide(source, options)
    if kind == "video":
        assert isinstance(source, str | os.PathLike)  # noqa: S101  (only a file is a clip)
        from dicomize.video import prepare_video

        return prepare_video(
            source,
            transcode=options.transcode,
            crf=options.crf,
            temporary_folder=options.temporary_folder,
            max_pixels=options.max_pixels,
        )
    fmt = sniffed.document
    if fmt is None:
        try:
            return _encoded(_read_for(source, options, sniffed), options)
        except PagesDiffer as differ:
            if not isinstance(source, str | os.PathLike):
                raise  # pages are written into a folder named after their file
            return _Pages(
                Path(source).stem, tuple(_encoded(page, options) for page in differ.pages)
            )
    from dicomize.documents import read_document, render_pages

    if isinstance(source, str | os.PathLike):
        document, name = read_document(source, fmt), Path(source).stem
    else:
        document, name = read_document(bytes(source), fmt), ""
    if options.pdf_as_images and document.source_format == "PDF":
        pages = render_pages(document, dpi=options.dpi, max_pixels=options.max_pixels)
        return _encoded(pages, options)
    return _Named(document=document, name=name, kind=fmt.kind)


def _read_for(source: Source, options: ConvertOptions, sniffed: Sniffed | None = None) -> Picture:
    fmt = sniffed.picture if sniffed else None  # the head read once, by sniff()
    if sniffed is not None and sniffed.content is not None:
        source = sniffed.content  # and the whole file with it: not opened again
    picture = read_picture(source, options, fmt)
    refused = (
        _rules(IODS[options.iod]).refuses(picture)
        if is_encapsulated(picture.transfer_syntax)
        else ""
    )
    if refused:
        # The IOD does not allow the codestream as it came: it is decoded and stored
        # losslessly instead, and the IOD's reason recorded, not the reader's.
        decoded = read_picture(source, replace(options, passthrough=False), fmt)
        notes = tuple(note.replace(PASSTHROUGH_OFF, refused) for note in decoded.derivation)
        return replace(decoded, derivation=notes)
    return picture


def _encoded(picture: Picture, options: ConvertOptions) -> Picture:
    picture = for_multiframe(picture)
    if is_encapsulated(picture.transfer_syntax):
        return picture  # a codestream kept as it came is never re-encoded
    from dicomize.encode import encode_picture  # numpy, the codec plugins

    return encode_picture(picture, options.transfer_syntax, options)


def _outside_error(keyword: str, value: object, iod: str) -> MetadataError:
    return MetadataError(
        keyword,
        value,
        f"is not part of the {iod} IOD (PS3.3); it would make the object a Standard "
        "Extended SOP Class (allow it with --allow-extra)",
    )


class _Plan:
    """The attributes and UIDs shared by the outputs of one call."""

    def _with_exif(
        self, picture: Picture, attributes: dict[str, Any], sop_class: str
    ) -> dict[str, Any]:
        # The camera's own record fills what the user did not say and the IOD defines
        # (C.8.12.10, C.8.12.11).
        found = (
            exif_attributes(picture.exif, keep_gps=self.options.keep_gps) if picture.exif else {}
        )
        allowed = attributes_of(sop_class)
        merged = {
            **attributes,
            **{k: v for k, v in found.items() if k not in self.user and k in allowed},
        }
        if "ImageType" not in self.user:
            # VL Image (C.8.12.1.1.6): a camera's photograph is ORIGINAL; anything else DERIVED.
            camera = "Manufacturer" in found or "AcquisitionDateTime" in found
            merged["ImageType"] = self.rules.image_type(camera=camera)
        return merged

    def __init__(self, metadata: MetadataLike, options: ConvertOptions) -> None:
        self.options = options
        self.user = resolve_metadata(metadata)
        # Before anything is read: outside every IOD this call can write. A document
        # is checked again against its own IOD when its kind is known.
        self.iod = IODS[options.iod]
        possible = [
            sop_class
            for row in IODS.values()
            if row is self.iod or (self.iod is chosen("picture")[0] and row.kind != "picture")
            for sop_class in row.sop_classes
        ]
        extra = [] if options.allow_extra else outside(self.user, possible)
        if extra:
            raise _outside_error(extra[0], self.user[extra[0]], self.iod.title)
        self.make_uid = _uid_factory(options, self.user)
        # Clips, documents and models take what their IOD defines of the default
        # picture IOD's series attributes.
        self.picture_iod = self.iod if self.iod.kind == "picture" else chosen("picture")[0]
        self.rules = _rules(self.picture_iod)
        given = self.user
        frame = options.frame_of_reference_uid
        if frame and "FrameOfReferenceUID" in attributes_of(self.picture_iod.sop_classes[0]):
            given = {"FrameOfReferenceUID": frame, **given}  # --frame-of-reference-from's
        self.attributes = series_attributes(
            given,
            now=dt.datetime.now().astimezone(),
            iod=self.picture_iod,
            rules=self.rules,
            make_uid=self.make_uid,
        )
        self.first_number = int(str(self.attributes.pop("InstanceNumber", "1")) or 1)
        self.first_series = int(str(self.attributes.get("SeriesNumber", "1")) or 1)
        self.given_sop_uid: Any = self.attributes.pop("SOPInstanceUID", None)
        self._seen: dict[str, int] = {}
        #: The series of each kind met so far.
        self._kinds: dict[str, dict[str, str]] = {}
        #: Each kind's place among the kinds of the call (:meth:`expect`).
        self._ranks: dict[str, int] = {}
        #: Slides met so far: each is a series of its own.
        self._slides = 0

    def require(self, kind: str) -> None:
        """Refuse content of `kind` whose IOD needs what the user did not give.

        A clip's IOD needs the region it shows (:func:`dicomize.iods.video.anatomic_region`):
        asked before the clip is read, as transcoding it can take minutes.

        Raises
        ------
        MetadataError
            Naming the attribute, and the flag that gives it.
        """
        if kind != "video":
            return
        from dicomize.iods.video import anatomic_region

        try:
            iod = iod_for("video", self.options)
        except UnsupportedInput:
            return  # the clip itself is refused when read: that input's error alone
        if iod is not None:
            anatomic_region(iod, self.user)

    def expect(self, kinds: Iterable[str]) -> None:
        """Say which kinds of content the call holds, so each kind's series is known ahead."""
        present = set(kinds)
        self._ranks = {kind: rank for rank, kind in enumerate(k for k in KINDS if k in present)}

    def build(
        self, content: Picture | _Named | PreparedVideo | Slide | _Pages, offset: int
    ) -> Dataset:
        made = self.elements(content, offset)
        if not isinstance(made, Part10Object):
            made.close()
            raise UnsupportedInput(
                "becomes several objects (a slide's levels, pages that differ in size): "
                "write them with dicomize.write_slide"
            )
        return made.to_dataset()

    def one(self, content: Picture | PreparedVideo, offset: int) -> Part10Object:
        """Return the one object of a picture or a clip."""
        made = self.elements(content, offset)
        assert isinstance(made, Part10Object)  # noqa: S101  (only a slide makes several)
        return made

    def elements(
        self, content: Picture | _Named | PreparedVideo | Slide | _Pages, offset: int
    ) -> Part10Object | ObjectSet:
        if isinstance(content, _Named):
            return self._document(content, offset)
        if isinstance(content, _Pages):
            return self._pages(content, offset)
        from dicomize.slides import Slide  # the slide model is light: no reader imported

        if isinstance(content, Slide):
            return self._slide(content, offset)
        if not isinstance(content, Picture):
            return self._video(content, offset)
        return self._picture(content, offset)

    def _pages(self, pages: _Pages, offset: int) -> ObjectSet:
        """One object per page of a document whose pages differ in size, in page order."""
        from dicomize.objectset import ObjectSet

        given = self.given_sop_uid
        objects = [
            self._picture(
                page,
                offset + index,
                # A given UID (a batch's, a job's) is the root of the pages' UIDs.
                sop_uid=derive_uid(str(given), "page", str(index), root=self.options.uid_root)
                if given
                else None,
            )
            for index, page in enumerate(pages.pictures)
        ]
        names = [f"page-{index}.dcm" for index in range(1, len(objects) + 1)]
        return ObjectSet(pages.name, objects, names)

    def _picture(
        self, picture: Picture, offset: int, *, sop_uid: str | None = None
    ) -> Part10Object:
        iod = self.picture_iod
        sop_class = self.rules.sop_class(picture, iod)
        extra = outside(self.user, [sop_class])
        if extra and not self.options.allow_extra:
            raise _outside_error(extra[0], self.user[extra[0]], iod.title)
        attributes, number, own_uid = self._instance(picture, offset, sop_class)
        built = build_image(
            picture,
            attributes,
            iod=iod,
            rules=self.rules,
            instance_number=number,
            sop_instance_uid=sop_uid or own_uid,
        )
        asked = self.options.transfer_syntax
        if is_encapsulated(picture.transfer_syntax) and asked not in {
            EXPLICIT_VR_LITTLE_ENDIAN,
            picture.transfer_syntax,
        }:
            # A codestream kept as it came wins over the asked syntax; the user is told,
            # not left to find the other UID in the file (the default asks for nothing).
            built.notes = (
                *built.notes,
                f"the transfer syntax asked for ({syntax_name(asked)}) is not applied: the "
                f"{syntax_name(picture.transfer_syntax)} codestream is kept as it came",
            )
        return built

    def _document(self, named: _Named, offset: int) -> Part10Object:
        from dicomize.iods.encapsulated import build_encapsulated_document, for_document

        iod = by_mime_type(named.document.mime_type)
        user = for_document(self.user, iod)
        extra = outside(user, iod.sop_classes)
        if extra and not self.options.allow_extra:
            raise _outside_error(extra[0], user[extra[0]], iod.title)
        attributes, number = self._place(offset, named.kind)
        sop_uid = self.given_sop_uid or self._sop_uid([named.document.data])
        frame = self.options.frame_of_reference_uid
        if frame is None and "FrameOfReferenceUID" in attributes_of(iod.sop_classes[0]):
            # One frame for the models of one series (A.1.2.3), however many calls make
            # it: parts of one assembly stay aligned.
            series = str(attributes["SeriesInstanceUID"])
            frame = derive_uid(series, "FrameOfReferenceUID", root=self.options.uid_root)
        return build_encapsulated_document(
            named.document,
            attributes,
            iod=iod,
            user=user,
            title=named.name,
            instance_number=number,
            sop_instance_uid=sop_uid,
            frame_of_reference_uid=frame,
            units=self.options.model_units,
        )

    def _video(self, prepared: PreparedVideo, offset: int) -> Part10Object:
        from dicomize.iods.video import build_video

        iod = iod_for("video", self.options)
        assert iod is not None  # noqa: S101  (every clip has one: a video row exists)
        extra = outside(self.user, iod.sop_classes)
        if extra and not self.options.allow_extra:
            raise _outside_error(extra[0], self.user[extra[0]], iod.title)
        attributes, number = self._place(offset, "video")
        sop_uid = self.given_sop_uid or self._sop_uid(prepared.chunks())
        return build_video(
            prepared,
            attributes,
            user=self.user,
            iod=iod,
            instance_number=number,
            sop_instance_uid=sop_uid,
        )

    def _slide(self, slide: Slide, offset: int) -> ObjectSet:
        from dicomize.iods.vl_wsm import build_slide, instance_names
        from dicomize.objectset import ObjectSet

        try:
            attributes = self._slide_series(offset)
            objects = build_slide(
                slide,
                attributes,
                user=self.user,
                iod=IODS["wsm"],
                first_number=self.first_number,
                sop_instance_uids=self._slide_uids(slide),
                uid_root=self.options.uid_root,
                mpp_given=self.options.mpp,
            )
        except BaseException:
            slide.close()
            raise
        return ObjectSet(slide.name, objects, instance_names(slide), close=slide.close)

    def _slide_series(self, offset: int) -> dict[str, Any]:
        """Return the series attributes of the call's next slide: each is a series of its own."""
        iod = IODS["wsm"]
        extra = outside(self.user, iod.sop_classes)
        if extra and not self.options.allow_extra:
            raise _outside_error(extra[0], self.user[extra[0]], iod.title)
        attributes, _ = self._place(offset, "slide")
        seen, self._slides = self._slides, self._slides + 1
        if not seen or self.options.series_per_input:
            return attributes
        # Its levels share one Frame of Reference: the call's second slide and on get
        # series of their own.
        if "SeriesInstanceUID" in self.user:
            raise MetadataError(
                "SeriesInstanceUID",
                self.user["SeriesInstanceUID"],
                "cannot be shared by several slides: each is a series of its own",
            )
        return {
            **attributes,
            "SeriesInstanceUID": self.make_uid(f"SeriesInstanceUID-slide-{seen}"),
            "SeriesNumber": str(int(str(attributes["SeriesNumber"])) + seen),
        }

    def _slide_uids(self, slide: Slide) -> Iterator[str]:
        """One SOP Instance UID per image; a given UID (a batch's, a job's) is their root."""
        given = self.given_sop_uid
        for index in range(len(slide.images)):
            if given:
                yield derive_uid(str(given), "slide", str(index), root=self.options.uid_root)
            else:
                yield self._sop_uid([f"{slide.name}-{index}".encode()])

    def _place(self, offset: int, kind: str) -> tuple[dict[str, Any], int]:
        """Return the series attributes and Instance Number of the input at `offset`.

        One series holds one kind of content (PS3.3 A.1.2.3: one Modality): the first of
        the call's kinds in :data:`KINDS` order takes the call's series, each other kind a
        series of its own, numbered after it in that order, whatever the inputs' order.
        """
        if self.options.series_per_input:
            series = {
                "SeriesInstanceUID": self.make_uid(f"SeriesInstanceUID-{offset}"),
                "SeriesNumber": str(self.first_series + offset),
            }
            return {**self.attributes, **series}, self.first_number
        if kind not in self._kinds:
            rank = self._ranks.setdefault(kind, len(self._ranks))
            self._kinds[kind] = (
                {
                    "SeriesInstanceUID": self.make_uid(f"SeriesInstanceUID-{kind}"),
                    "SeriesNumber": str(self.first_series + rank),
                }
                if rank
                else {}
            )
        return {**self.attributes, **self._kinds[kind]}, self.first_number + offset

    def _instance(
        self, picture: Picture, offset: int, sop_class: str
    ) -> tuple[dict[str, Any], int, str]:
        attributes, number = self._place(offset, "picture")
        if self.rules.exif:
            attributes = self._with_exif(picture, attributes, sop_class)
        content_moment(attributes, picture.created, self.user)
        if (
            picture.source_format == "PDF"
            and "ConversionType" in attributes
            and "ConversionType" not in self.user  # a scanned PDF's user says SD
        ):
            from dicomize.iods.encapsulated import PDF_CONVERSION_TYPE

            attributes = {**attributes, "ConversionType": PDF_CONVERSION_TYPE}
        return attributes, number, self.given_sop_uid or self._sop_uid(_content_of(picture))

    def _sop_uid(self, content: Iterable[bytes | memoryview]) -> str:
        digest = ""
        if self.options.uid_seed:
            # Seeded UIDs follow the content, so a rerun gives each input the same UID.
            import hashlib  # --uid-seed only

            hashed = hashlib.sha256()
            for piece in content:
                hashed.update(piece)
            digest = hashed.hexdigest()
        self._seen[digest] = self._seen.get(digest, 0) + 1  # identical pictures, distinct UIDs
        return self.make_uid(f"SOPInstanceUID-{digest}-{self._seen[digest]}")


def _content_of(picture: Picture) -> Iterator[bytes | memoryview]:
    """Yield the stored pixels piece by piece, without joining them."""
    if picture.frames:
        yield from picture.frames
    elif isinstance(picture.pixels, PixelStrips):
        yield from picture.pixels.strips()
    else:
        yield picture.pixels


#: What tells one patient's study and series from another's. A seeded UID is derived from
#: these too, so one seed reused for another patient, order or study never gives the
#: UIDs of the first (what else changes, a corrected name or description, keeps them).
IDENTITY = (
    "PatientID",
    "IssuerOfPatientID",
    "AccessionNumber",
    "StudyInstanceUID",
    "SeriesInstanceUID",
)


def _uid_factory(options: ConvertOptions, user: dict[str, Any]) -> Callable[[str], str]:
    """UIDs new each time, or derived from the seed, the identity (and content) when seeded."""
    seed = options.uid_seed
    if seed is None:
        return lambda _role: new_uid(options.uid_root)
    identity = [str(user.get(keyword) or "") for keyword in IDENTITY]
    return lambda role: derive_uid(seed, *identity, role, root=options.uid_root)

"""A Part 10 encoder for Explicit VR Little Endian datasets, fast and without copies.

pydicom's ``dcmwrite`` is general and correct, and costs about 3 ms for the fifty
attributes of an SC object: it re-validates every value, resolves ambiguous VRs
and converts encodings element by element. dicomize writes thousands of such
objects per batch, so this module encodes the common element shapes (text,
numbers, bytes) directly and hands everything else (sequences, ambiguous VRs,
other character sets) to pydicom, element by element. Transfer syntaxes other
than Explicit VR Little Endian and its encapsulated variants go to ``dcmwrite``
whole, as does a dataset whose File Meta Information is incomplete or names
another SOP Instance (PS3.10 7.1). Pixel Data is written from the dataset's own
buffer: a large frame is never joined or copied into the output's bytes (PS3.5
7.1.2, A.4).

The output is byte-for-byte what ``dcmwrite(..., enforce_file_format=True)``
writes for the same dataset; the tests hold the two to that.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence

from dicomize.dicom.dictionary import ENTRIES
from dicomize.dicom.uids import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    NATIVE_SYNTAXES,
)
from dicomize.dicom.vr import TEXT_VRS

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any, Protocol, TypeAlias

    from pydicom.dataset import Dataset

    class Sink(Protocol):
        """Where a Part 10 file goes: a binary file, or anything with its ``write``."""

        def write(self, data: bytes | bytearray | memoryview, /) -> object:
            """Write all of `data`."""


__all__ = ["Element", "Part10Object", "PixelStrips", "write_part10"]

_PREAMBLE = b"\0" * 128 + b"DICM"
_TEXT = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT"}
)
_TEXT_OR_UID = _TEXT | {"UI"}
_BINARY = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
# PS3.5 7.1.2: these VRs have a 2-byte reserved field and a 4-byte length.
_LONG = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"})
#: VRs whose text pydicom changes as it takes it (its DS, IS and PersonName values), and the
#: output must change as pydicom does: see :func:`_as_pydicom_writes`.
_RESHAPED = frozenset({"DS", "IS", "PN"})
_NUMBERS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d"}
_UTF8 = ("ISO_IR 192",)
_ASCII: tuple[str, ...] = ("", "ISO_IR 6")
_SEQUENCE_DELIMITER = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
_PIXEL_DATA = 0x7FE00010
_TRANSFER_SYNTAX = 0x00020010
_META_VERSION = 0x00020001
#: Type 1 File Meta Information, but the version, which is added when absent (PS3.10 7.1).
_META_TYPE_1 = (0x00020002, 0x00020003, 0x00020010, 0x00020012)
_IMPLEMENTATION_VERSION = 0x00020013
_SOP_INSTANCE = 0x00080018
#: SOP Class and Instance UIDs → the Media Storage UIDs of the meta that repeat them.
_MEDIA_STORAGE = {0x00080016: 0x00020002, _SOP_INSTANCE: 0x00020003}
_GATHER = 1 << 16
_GROUP_LENGTH = 0x00020000
_META_GROUP = 0x0002
#: Groups no dataset in a file holds: the Command Set (PS3.7 E.1) and the meta's own.
_NOT_IN_BODY = frozenset({0x0000, _META_GROUP})
_SHORT_MAX = 0xFFFF
#: Syntaxes pydicom's general writer handles: the native ones but Explicit VR LE, and none
#: given (PS3.5 A.1, A.5, A.3). Every other syntax is Explicit VR Little Endian (A.2, A.4).
_GENERAL = (NATIVE_SYNTAXES - {EXPLICIT_VR_LITTLE_ENDIAN}) | {""}
#: How many encoded text elements are kept, and the length of text kept (shorter than
#: this: longer text is rarely repeated from file to file).
_REMEMBERED = 1024
_LONGEST_REMEMBERED = 1024
_ENCODED: dict[tuple[int, str, str, str], bytes] = {}
#: The only elements whose encoding is kept from object to object: the constants of the
#: encoding, the IOD and the equipment, most of a batch's repeated text. None is in PS3.15
#: Table E.1-1. Every other element may hold patient data (identity, order, dates and times,
#: UIDs, descriptions, whatever a user sets), which must not outlive its job in a process
#: that converts for months (serve, watch); a UID new in every object would only churn the
#: cache anyway.
_REMEMBERED_TAGS = frozenset(
    ENTRIES[keyword][0]
    for keyword in (
        # File Meta Information (PS3.10 7.1), but the SOP Instance UID
        "MediaStorageSOPClassUID",
        "TransferSyntaxUID",
        "ImplementationClassUID",
        "ImplementationVersionName",
        "SourceApplicationEntityTitle",
        # The IOD and how its pixels or document are encoded
        "SpecificCharacterSet",
        "ImageType",
        "SOPClassUID",
        "Modality",
        "ConversionType",
        "SeriesNumber",
        "PatientOrientation",
        "ImageLaterality",
        "Laterality",
        "BodyPartExamined",
        "PhotometricInterpretation",
        "ColorSpace",
        "PresentationLUTShape",
        "LossyImageCompression",
        "LossyImageCompressionMethod",
        "BurnedInAnnotation",
        "RecognizableVisualFeatures",
        "MIMETypeOfEncapsulatedDocument",
        # The equipment: dicomize itself, or the camera a user names
        "Manufacturer",
        "ManufacturerModelName",
        "SoftwareVersions",
        "SecondaryCaptureDeviceManufacturer",
        "SecondaryCaptureDeviceManufacturerModelName",
        "SecondaryCaptureDeviceSoftwareVersions",
    )
)


#: (tag, VR, value, undefined length). An undefined-length Pixel Data value is either
#: already encapsulated bytes or the frames' codestreams, encapsulated as written.
Element: TypeAlias = "tuple[int, str, Any, bool]"


class PixelStrips:
    """Native pixel bytes made strip by strip, when they are written.

    A large decoded picture then exists once, in its decoder's memory, instead of
    also as one packed copy: the Part 10 writer streams the strips into the file.
    A strip may be a view of a buffer its producer reuses: use it (write, copy,
    hash) before asking for the next.
    """

    __slots__ = ("_produce", "nbytes")

    def __init__(self, nbytes: int, produce: Callable[[], Iterator[bytes | memoryview]]) -> None:
        self.nbytes = nbytes
        self._produce = produce

    def __len__(self) -> int:
        return self.nbytes

    def strips(self) -> Iterator[bytes | memoryview]:
        """Yield the bytes in order, a strip at a time."""
        return self._produce()

    def materialize(self) -> memoryview:
        """Return all the bytes in one buffer."""
        pixels = bytearray(self.nbytes)
        offset = 0
        for strip in self._produce():
            pixels[offset : offset + len(strip)] = strip
            offset += len(strip)
        return memoryview(pixels)


class Part10Object:
    """A dataset as sorted elements: what :func:`write_part10` needs and no more."""

    __slots__ = ("body", "charset", "meta", "notes")

    meta: list[Element]
    body: list[Element]
    #: Specific Character Set: empty (ASCII) or ``"ISO_IR 192"`` (UTF-8).
    charset: str
    #: What was done to the content on the way, for the user (a clip transcoded, and why).
    notes: tuple[str, ...]

    def __init__(
        self,
        *,
        meta: list[Element],
        body: list[Element],
        charset: str = "",
        notes: tuple[str, ...] = (),
    ) -> None:
        self.meta = meta
        self.body = body
        self.charset = charset
        self.notes = notes

    def to_dataset(self) -> Dataset:
        """Return the same object as a pydicom dataset (pydicom checks the values)."""
        from pydicom import config  # a dataset is asked for: pydicom is needed
        from pydicom.dataelem import DataElement
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.encaps import encapsulate

        ds = Dataset()
        for tag, vr, given, undefined in self.body:
            value = given
            if isinstance(given, PixelStrips):
                value = bytes(given.materialize()) if undefined else given.materialize()
            if undefined and not isinstance(given, bytes | PixelStrips):
                value = encapsulate(list(given), has_bot=len(given) > 1)
            if tag == _PIXEL_DATA and not undefined:
                # Not validated, so a memoryview onto a caller's array is not copied.
                ds[tag] = DataElement(tag, vr, value, validation_mode=config.IGNORE)
                continue
            # Checked as pydicom checks a value set on a dataset.
            element = DataElement(tag, vr, value, validation_mode=_checked())
            element.is_undefined_length = undefined
            ds[tag] = element
        ds.file_meta = FileMetaDataset()
        for tag, vr, value, _ in self.meta:
            ds.file_meta[tag] = DataElement(tag, vr, value, validation_mode=_checked())
        return ds


def _checked() -> int:
    from pydicom import config

    return int(config.settings.writing_validation_mode)


_Chunk = bytes | memoryview | PixelStrips


class _Fallback(Exception):
    """Raised when a dataset needs pydicom's general writer."""


def write_part10(stream: Sink, dataset: Dataset | Part10Object) -> None:
    """Write `dataset` with its File Meta Information to `stream` as a Part 10 file.

    Parameters
    ----------
    stream : binary file object
        Written sequentially; it need not be seekable. One that has ``writelines``
        is given runs of buffers with it.
    dataset : pydicom.dataset.Dataset or Part10Object
        A dataset with ``file_meta`` naming its Transfer Syntax UID.
    """
    try:
        # Encoded before anything is written, so a fallback starts from a clean stream;
        # pixel strips are only referenced here, and made as they are written.
        chunks = list(_encode(_as_object(dataset)))
    except _Fallback:
        from pydicom import dcmwrite  # the general writer, for the rare cases

        if isinstance(dataset, Part10Object):
            dataset = dataset.to_dataset()
        buffer = io.BytesIO()
        dcmwrite(buffer, dataset, enforce_file_format=True)
        stream.write(buffer.getbuffer())
        return
    # Small elements are gathered into one buffer; large values (a codestream) are not
    # copied but go out beside them, a run of buffers in one writelines (one writev on a
    # raw file). Pixel strips go out one by one: a strip's buffer may be the next one's.
    run: list[bytes | bytearray | memoryview] = []
    pending = bytearray()
    for chunk in chunks:
        if isinstance(chunk, PixelStrips):
            _write_run(stream, [*run, pending] if pending else run)
            run, pending = [], bytearray()
            for strip in chunk.strips():
                stream.write(strip)
            continue
        if len(chunk) < _GATHER:
            pending += chunk
            continue
        if pending:
            run.append(pending)
            pending = bytearray()
        run.append(chunk)
    _write_run(stream, [*run, pending] if pending else run)


def _write_run(stream: Sink, run: list[bytes | bytearray | memoryview]) -> None:
    gather = getattr(stream, "writelines", None)  # a stream may offer write() alone
    if len(run) > 1 and gather is not None:
        gather(run)
        return
    for data in run:
        stream.write(data)


def _as_object(dataset: Dataset | Part10Object) -> Part10Object:
    if isinstance(dataset, Part10Object):
        return dataset
    meta: list[Element] = [
        (int(e.tag), e.VR, e.value, False) for e in dataset.file_meta if e.tag != _GROUP_LENGTH
    ]
    body: list[Element] = [
        (int(e.tag), e.VR, e.value, e.is_undefined_length)
        for e in dataset
        if e.tag.group != _META_GROUP
    ]
    return Part10Object(meta=meta, body=body, charset=dataset.get("SpecificCharacterSet", ""))


def _encode(dataset: Part10Object) -> Iterator[_Chunk]:
    syntax = next((str(v) for tag, _, v, _ in dataset.meta if tag == _TRANSFER_SYNTAX), "")
    if syntax in _GENERAL or not _meta_holds(dataset):
        raise _Fallback
    charset = dataset.charset
    if charset in _UTF8:
        text_codec = "utf-8"
    elif charset in _ASCII:
        text_codec = "ascii"
    else:
        raise _Fallback
    elements = dataset.meta
    if not any(tag == _META_VERSION for tag, *_ in elements):
        elements = [(_META_VERSION, "OB", b"\0\1", False), *elements]  # PS3.10 7.1
    meta = [*_elements(elements, "ascii")]
    length = sum(len(chunk) for chunk in meta)
    yield _PREAMBLE
    yield struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, length)
    yield from meta
    yield from _elements(dataset.body, text_codec)


def _meta_holds(dataset: Part10Object) -> bool:
    """Whether the File Meta Information is whole and names the dataset's SOP Instance.

    PS3.10 7.1: the Media Storage SOP Class and Instance UIDs are those of the dataset in
    the file, and they, the Transfer Syntax and the Implementation Class UID are Type 1;
    the meta is group 0002 and only the meta is. A dataset changed after its meta was made
    (a new SOP Instance UID set on what :func:`dicomize.convert` returned), or a meta that
    lacks one, goes to ``dcmwrite``, which brings the UIDs into step, adds what is missing,
    or refuses (as it refuses a Command Set element, group 0000 of PS3.7 E.1, in a file).
    """
    meta = {tag: value for tag, _, value, _ in dataset.meta}
    if any(tag >> 16 != _META_GROUP for tag in meta) or _IMPLEMENTATION_VERSION not in meta:
        return False
    if not (meta.get(_META_VERSION, True) and all(meta.get(tag) for tag in _META_TYPE_1)):
        return False
    for tag, _, value, _ in dataset.body:  # sorted: what is checked comes first
        if tag > _SOP_INSTANCE:
            break
        if tag >> 16 in _NOT_IN_BODY:
            return False
        media = _MEDIA_STORAGE.get(tag)
        if media is not None and value and value != meta[media]:
            return False
    return True


def _elements(elements: Iterable[Element], codec: str) -> Iterator[_Chunk]:
    encoded, remembered = _ENCODED, _REMEMBERED_TAGS
    for tag, vr, value, undefined in elements:
        if undefined and tag == _PIXEL_DATA:
            yield struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr.encode(), 0, 0xFFFFFFFF)
            if isinstance(value, bytes | PixelStrips):
                yield value  # already encapsulated items (PS3.5 A.4), or made as written
            else:
                yield from _encapsulated(value)
            yield _SEQUENCE_DELIMITER
        elif type(value) is str and vr in _TEXT_OR_UID:
            # Text is most elements: encoded in one step, and those of the IOD and the
            # equipment, the same from file to file, once per process.
            if tag not in remembered or len(value) >= _LONGEST_REMEMBERED:
                yield _text_element(tag, vr, value, codec)
                continue
            key = (tag, vr, value, codec)
            known = encoded.get(key)
            if known is None:
                if len(encoded) >= _REMEMBERED:  # values that change: start again, not grow
                    encoded.clear()
                known = encoded[key] = _text_element(tag, vr, value, codec)
            yield known
        else:
            yield from _element(tag, vr, value, codec)


def _text_element(tag: int, vr: str, value: str, codec: str) -> bytes:
    """Encode a text or UID element, as :func:`_element` does, in one piece."""
    if vr in _RESHAPED:
        value = _as_pydicom_writes(vr, value)
    try:
        # PS3.5 6.1.2.3: only these VRs are affected by Specific Character Set.
        body = value.encode(codec if vr in TEXT_VRS else "ascii")
    except UnicodeEncodeError:
        raise _Fallback from None
    size = len(body)
    if size % 2:
        body += b"\0" if vr == "UI" else b" "
        size += 1
    if vr in _LONG:
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr.encode(), 0, size) + body
    if size > _SHORT_MAX:
        raise _Fallback
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), size) + body


def _element(tag: int, vr: str, value: object, codec: str) -> list[_Chunk]:
    body = _value_bytes(vr, value, codec)
    if body is None:
        return [_by_pydicom(tag, vr, value, codec)]
    size = len(body)
    padding = b""
    if size % 2:
        padding = b"\0" if vr in _BINARY or vr == "UI" else b" "
        size += 1
    if vr in _LONG:
        header = struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr.encode(), 0, size)
    elif size > _SHORT_MAX:
        raise _Fallback
    else:
        header = struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), size)
    return [header, body, padding] if padding else [header, body]


def _encapsulated(frames: Sequence[bytes]) -> Iterator[bytes]:
    # PS3.5 A.4: a Basic Offset Table item (filled for several frames), then one
    # even-length fragment per frame; as pydicom's encapsulate() lays them out.
    sizes = [len(frame) + len(frame) % 2 for frame in frames]
    offsets = [0]
    for size in sizes[:-1]:
        offsets.append(offsets[-1] + 8 + size)
    table = struct.pack(f"<{len(offsets)}L", *offsets) if len(frames) > 1 else b""
    yield struct.pack("<HHL", 0xFFFE, 0xE000, len(table)) + table
    for frame, size in zip(frames, sizes, strict=True):
        yield struct.pack("<HHL", 0xFFFE, 0xE000, size)
        yield frame
        if size != len(frame):
            yield b"\0"


def _value_bytes(vr: str, value: object, codec: str) -> _Chunk | None:  # noqa: PLR0911
    """Encode the common value shapes; None when pydicom should write the element."""
    if isinstance(value, PixelStrips):
        return value
    if value is None or value == "":
        return b""
    if vr in _TEXT or vr == "UI":
        return _text_bytes(vr, value, codec)
    if vr in _BINARY:
        if isinstance(value, bytes):
            return value
        if isinstance(value, memoryview):
            return value.cast("B") if value.c_contiguous else None
        return None
    code = _NUMBERS.get(vr)
    if code is not None:
        items = _items(value)
        return struct.pack(f"<{len(items)}{code}", *items)
    if vr == "SQ" and not _items(value):
        return b""  # an empty Type 2 sequence (Concept Name of a document), as pydicom writes it
    if vr == "AT":  # Frame Increment Pointer, in every multi-frame object
        items = _items(value)
        tags = [tag for tag in items if isinstance(tag, int)]
        if len(tags) == len(items):
            return b"".join(struct.pack("<HH", tag >> 16, tag & 0xFFFF) for tag in tags)
    return None


def _text_bytes(vr: str, value: object, codec: str) -> bytes | None:
    encoding = codec if vr in TEXT_VRS else "ascii"
    if type(value) is str:
        text = value
    else:
        texts = []
        for item in _items(value):
            item_text = _item_text(vr, item)
            if item_text is None:
                return None
            texts.append(item_text)
        text = "\\".join(texts)
    if vr in _RESHAPED:
        text = _as_pydicom_writes(vr, text)
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        raise _Fallback from None


def _item_text(vr: str, item: object) -> str | None:
    """Return the text of one value as pydicom writes it; None when pydicom should write it."""
    if isinstance(item, str):
        return str(item)  # a UID, say, is a str
    if vr == "DS" and type(item) is float:
        return repr(item)  # the text of pydicom's DSfloat of a float
    if vr == "IS" and type(item) is int:
        return str(item)
    if vr in _RESHAPED and type(item).__module__ == "pydicom.valuerep":
        if vr == "PN" and getattr(item, "original_string", None) is not None:
            return None  # a name that holds encoded bytes writes those bytes: pydicom's
        return str(item)  # DSfloat, DSdecimal, IS: the text written, or made from
    # Other numbers (pydicom writes the int 5 as DS "5.0" and the float 10.0 as IS "10"),
    # dates and times, bytes: pydicom's to write.
    return None


def _as_pydicom_writes(vr: str, text: str) -> str:
    """Reshape a DS, IS or PN value, of one value or several, as pydicom writes it.

    pydicom strips the spaces around each DS and IS value (PS3.5 Table 6.2-1 allows them
    as padding) but leaves a value of spaces alone, and leaves out a name's trailing empty
    component groups with their ``=`` delimiters (PS3.5 6.2.1.1 lets trailing empty
    components go). Either way a value means the same.
    """
    if vr == "PN":
        if "=" not in text:
            return text
        return "\\".join(name.rstrip("=") for name in text.split("\\"))
    return "\\".join(number.strip() or number for number in text.split("\\"))


def _items(value: object) -> Sequence[object]:
    if type(value) is list or type(value) is tuple:
        return value  # the common shapes first: the ABC check below is slow
    # pydicom's MultiValue is a Sequence; so is a str, which is one value.
    return value if isinstance(value, Sequence) and not isinstance(value, str) else [value]


def _by_pydicom(tag: int, vr: str, value: object, codec: str) -> bytes:
    if "or" in vr:
        raise _Fallback  # an ambiguous VR needs the whole dataset to resolve
    from pydicom.charset import convert_encodings  # sequences, other values
    from pydicom.dataelem import DataElement
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = False
    encodings = convert_encodings(_UTF8[0] if codec == "utf-8" else "")
    write_data_element(buffer, DataElement(tag, vr, value), encodings)
    return buffer.getvalue()

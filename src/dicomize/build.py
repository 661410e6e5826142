"""Pixels + metadata → an image object of a picture IOD (PS3.3 A.8, A.32, A.39). No IO.

What every picture IOD shares is here: Patient, General Study, General Series,
General Image, Image Pixel and SOP Common, with the conditions dciodvfy checks
(see the shared conformance notes, sections 2, 9 and 10), and the object's layout
(:func:`assemble`, which the video and document builders end with too). What one
IOD adds or constrains is in its module under :mod:`dicomize.iods`, as a
:class:`PictureRules`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from dicomize._version import __version__
from dicomize.dicom.anatomy import laterality_not_required
from dicomize.dicom.dictionary import lookup
from dicomize.dicom.icc import srgb_profile
from dicomize.dicom.part10 import Element, Part10Object
from dicomize.dicom.uids import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    is_encapsulated,
    new_uid,
)
from dicomize.dicom.vr import Value, is_pydicom, utc_offset, utc_zone
from dicomize.errors import MetadataError, UnsupportedInput
from dicomize.iods import IOD, ORDER_KEYWORDS, attributes_of, modality_for
from dicomize.picture import Picture

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

    from pydicom.dataset import Dataset

__all__ = [
    "PictureRules",
    "any_non_ascii",
    "assemble",
    "build_image",
    "code_item",
    "content_moment",
    "rescale_attributes",
    "series_attributes",
    "series_laterality",
    "tag_and_vr",
]

# Any of these makes the General Equipment module present, and then its
# Manufacturer (Type 2) must be too (C.7.5.1).
_GENERAL_EQUIPMENT = frozenset(
    {
        "Manufacturer",
        "InstitutionName",
        "InstitutionAddress",
        "StationName",
        "InstitutionalDepartmentName",
        "ManufacturerModelName",
        "DeviceSerialNumber",
        "SoftwareVersions",
        "SpatialResolution",
        "DateOfLastCalibration",
        "TimeOfLastCalibration",
        "PixelPaddingValue",
        "DeviceUID",
    }
)
_SHARED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID")


class PictureRules:
    """What one picture IOD adds to, or asks of, what every picture IOD shares.

    Each picture IOD's module under :mod:`dicomize.iods` makes one, as ``RULES``,
    named by the ``rules`` of its row; this base is an IOD that adds nothing.
    """

    #: The camera's EXIF record fills the attributes the IOD defines (C.8.12.10, C.8.12.11).
    exif = False
    #: UIDs the IOD shares across a series besides the Study's and the Series' own (a
    #: Frame of Reference): made like them, under the call's UID root and seed.
    series_uids: tuple[str, ...] = ()

    def series(self, values: dict[str, Any], user: Mapping[str, Any]) -> None:
        """Add the IOD's own series defaults to `values` (the user's come after)."""

    def finish(self, values: dict[str, Any]) -> None:
        """Complete the series' attributes once the user's and the UIDs are in, or refuse them.

        Raises
        ------
        MetadataError
            When the IOD needs what the user did not give.
        """

    def sop_class(self, picture: Picture, iod: IOD) -> str:
        """Return the SOP Class the pixels are stored as, or refuse them.

        Raises
        ------
        UnsupportedInput
            When the IOD cannot hold these pixels.
        """
        return iod.sop_classes[0]

    def image_type(self, *, camera: bool) -> list[str]:
        """Return Image Type for a picture whose EXIF shows a camera (`camera`), or not.

        C.8.12.1.1.6: a camera's photograph is ORIGINAL; anything else DERIVED.
        """
        return ["ORIGINAL" if camera else "DERIVED", "PRIMARY"]

    def refuses(self, picture: Picture) -> str:
        """Say why a codestream kept as it came cannot be stored as is ("" when it can).

        The picture is then decoded and stored losslessly, and the reason recorded.
        """
        return ""

    def instance(self, values: dict[str, Any], picture: Picture, sop_class: str) -> Picture:
        """Add the attributes that follow from the pixels; return the pixels as stored."""
        return picture


def series_attributes(
    user: Mapping[str, Value],
    *,
    now: dt.datetime,
    iod: IOD,
    rules: PictureRules,
    make_uid: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Complete the non-pixel attributes that every instance of one series shares.

    Fills the defaults, generates the Study and Series Instance UIDs that the
    user did not give, and applies the conditional rules of the IOD.

    Parameters
    ----------
    user : Mapping[str, Value]
        Validated attributes (:func:`dicomize.metadata.resolve_metadata`); they win
        over every default.
    now : datetime.datetime
        The conversion time, timezone-aware; dates and times default to it, in the
        user's Timezone Offset From UTC when given (else in `now`'s own zone).
    iod : IOD
        The picture IOD's row: its defaults and its Modality rule
        (:func:`dicomize.iods.modality_for`; Secondary Capture takes the worklist
        order's, the others keep their own).
    rules : PictureRules
        The IOD's own series defaults and checks.
    make_uid : callable or None
        Makes the Study or Series Instance UID not given, from its keyword;
        None makes new ``2.25`` UIDs.

    Returns
    -------
    dict
        Keyword → value, ready for :func:`build_image`.

    Raises
    ------
    MetadataError
        When user values contradict an IOD rule.
    """
    zone = utc_zone(str(user.get("TimezoneOffsetFromUTC") or ""))
    if zone is not None:
        # C.12.1: the offset applies to every DA and TM: dicomize's own times are in it.
        now = now.astimezone(zone)
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    values: dict[str, Any] = {
        # Patient (C.7.1.1): Type 2, empty when unknown
        "PatientName": "",
        "PatientID": "",
        "PatientBirthDate": "",
        "PatientSex": "",
        # General Study (C.7.2.1)
        "StudyDate": date,
        "StudyTime": time,
        "ReferringPhysicianName": "",
        # Type 2: a constant would identify no study; the user, a PACS study or a
        # reference file gives one (dciodvfy then warns it is needed for a DICOMDIR).
        "StudyID": "",
        "AccessionNumber": "",
        # General Series (C.7.3.1); an IOD's own series module may re-declare Modality
        "Modality": modality_for(iod.sop_classes[0], user),
        "SeriesNumber": "1",
        "SeriesDate": date,
        "SeriesTime": time,
        # General Image (C.7.6.1)
        "ImageType": ["DERIVED", "SECONDARY"],
        "PatientOrientation": "",
        "ContentDate": date,
        "ContentTime": time,
        # SOP Common (C.12.1)
        "InstanceCreationDate": date,
        "InstanceCreationTime": time,
        "TimezoneOffsetFromUTC": utc_offset(now),
    }
    rules.series(values, user)
    values.update(iod.defaults)
    # The worklist order informs Modality (above); it is not an attribute of these IODs.
    values.update((k, v) for k, v in user.items() if k not in ORDER_KEYWORDS)
    if "PatientSpeciesDescription" in user:
        _add_veterinary(values)
    if _GENERAL_EQUIPMENT & values.keys():
        values.setdefault("Manufacturer", "")
    for keyword in (*_SHARED_UIDS, *rules.series_uids):
        if not values.get(keyword):
            values[keyword] = make_uid(keyword) if make_uid else new_uid()
    if values["StudyInstanceUID"] == values["SeriesInstanceUID"]:
        raise MetadataError(
            "SeriesInstanceUID", values["SeriesInstanceUID"], "must differ from StudyInstanceUID"
        )
    rules.finish(values)
    series_laterality(values)
    return values


def series_laterality(values: dict[str, Any]) -> None:
    """Write General Series Laterality (0020,0060) empty when the side is unknown, else none.

    Image Laterality (C.7.6.1, Type 3) is written only when given: its ``U`` says the
    part is unpaired, which dicomize cannot know. Laterality is then Type 2C (C.7.3.1),
    required for a paired body part: present and empty says the side is unknown, for
    which dciodvfy warns that it "is only permitted to be empty when actually unknown"
    (it is). It is left out where dciodvfy refuses it
    (:func:`dicomize.dicom.anatomy.laterality_not_required`): for a region it calls
    unpaired (``CHEST``, ``HEAD``, ...), a Modality it exempts (``ECG``), and a specimen
    (the subject is not a body part). A side given (Image Laterality, or a Laterality
    with a value) stays as given. Call it again once an IOD adds its Modality, Anatomic
    Region or Specimen. Changes `values` in place.

    >>> values = {}
    >>> series_laterality(values); values
    {'Laterality': ''}
    >>> values["BodyPartExamined"] = "CHEST"
    >>> series_laterality(values); values
    {'BodyPartExamined': 'CHEST'}
    """
    if "ImageLaterality" in values or values.get("Laterality"):
        return
    if laterality_not_required(values):
        values.pop("Laterality", None)
    else:
        values["Laterality"] = ""


def content_moment(
    values: dict[str, Any], created: dt.datetime | None, user: Mapping[str, Any]
) -> None:
    """Make Content Date and Time say when the content was made, in the object's time zone.

    Timezone Offset From UTC applies to every DA and TM of an object, and to every
    DT without an offset of its own (PS3.3 C.12.1, Table C.12-1). One rule for every
    IOD, for `created`, the moment the source records (:attr:`dicomize.Picture.created`):

    * with a UTC offset (EXIF OffsetTimeOriginal, a PDF's ``+01'00'``), it is moved into
      the object's zone (the host's, or the user's Timezone Offset From UTC), where the
      conversion's own times already are: every time in the object names its instant;
    * without one (most cameras), it names no instant, so no zone is claimed for it:
      it is written as the source says it, and Timezone Offset From UTC is left out.
      The conversion's own times are then the host's clock, as a time without an
      offset reads. A user's Timezone Offset From UTC says which zone the source's
      clock was in, and stays;
    * None: Content Date and Time stay the conversion's.

    The user's Content Date or Time wins over `created`. Changes `values` in place.

    >>> import datetime as dt
    >>> values = {"TimezoneOffsetFromUTC": "+0100"}
    >>> taken = dt.datetime(2024, 3, 15, 14, 22, 33, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    >>> content_moment(values, taken, {})
    >>> values["ContentDate"], values["ContentTime"]
    ('20240315', '132233')
    >>> content_moment(values, taken.replace(tzinfo=None), {})
    >>> values
    {'ContentDate': '20240315', 'ContentTime': '142233'}
    """
    if created is None or "ContentDate" in user or "ContentTime" in user:
        return
    if not 1000 <= created.year <= 2999:  # noqa: PLR2004  (the years dciodvfy accepts)
        return
    zone = utc_zone(str(values.get("TimezoneOffsetFromUTC") or ""))
    if created.tzinfo is not None and zone is not None:
        created = created.astimezone(zone)
    elif created.tzinfo is None and "TimezoneOffsetFromUTC" not in user:
        values.pop("TimezoneOffsetFromUTC", None)
    fraction = f".{created.microsecond:06d}" if created.microsecond else ""
    values["ContentDate"] = created.strftime("%Y%m%d")
    values["ContentTime"] = created.strftime("%H%M%S") + fraction


def _add_veterinary(values: dict[str, Any]) -> None:
    # C.7.1.1 conditions for a non-human patient, and Patient's Sex Neutered (C.7.2.2),
    # which dciodvfy always evaluates (conformance notes 2.3, 10.4).
    for keyword in (
        "PatientBreedDescription",
        "ResponsiblePerson",
        "ResponsibleOrganization",
        "PatientSexNeutered",
    ):
        values.setdefault(keyword, "")
    values.setdefault("PatientBreedCodeSequence", [])
    values.setdefault("BreedRegistrationSequence", [])
    if values["ResponsiblePerson"] and "ResponsiblePersonRole" not in values:
        raise MetadataError(
            "ResponsiblePersonRole",
            None,
            "required when ResponsiblePerson has a value (OWNER, PARENT, VETERINARIAN, ...)",
        )


def build_image(
    picture: Picture,
    attributes: Mapping[str, Any],
    *,
    iod: IOD,
    rules: PictureRules,
    instance_number: int = 1,
    sop_instance_uid: str | None = None,
) -> Part10Object:
    """Build an image object of a picture IOD, with its File Meta Information.

    Parameters
    ----------
    picture : Picture
        The pixels and their description.
    attributes : Mapping[str, Any]
        The output of :func:`series_attributes`.
    iod : IOD
        The picture IOD's row.
    rules : PictureRules
        Its rules: they choose the SOP Class from the pixels (or refuse them).
    instance_number : int
        Instance Number, unless `attributes` has one.
    sop_instance_uid : str or None
        SOP Instance UID, unless `attributes` has one; None makes a new one.

    Returns
    -------
    Part10Object
        Sorted elements, ready for :func:`dicomize.dicom.part10.write_part10`, or for
        ``.to_dataset()``. Building no pydicom ``Dataset`` saves the per-attribute work
        that dominates the cost of a passed-through JPEG; Pixel Data may share memory
        with `picture`.
    """
    values = dict(attributes)
    values.setdefault("InstanceNumber", str(instance_number))
    if not values.get("SOPInstanceUID"):
        values["SOPInstanceUID"] = sop_instance_uid or new_uid()
    sop_class = rules.sop_class(picture, iod)
    values["SOPClassUID"] = sop_class
    picture = rules.instance(values, picture, sop_class)
    if picture.rescale_slope != 1 or picture.rescale_intercept != 0:
        if "RescaleSlope" not in attributes_of(sop_class):
            # Without the Modality LUT the stored integers would be read as the values.
            raise UnsupportedInput(
                f"these pixels need Rescale Slope and Intercept to keep their values, and the "
                f"{iod.name} IOD has no Modality LUT; convert them as Secondary Capture (sc)"
            )
        values.update(rescale_attributes(picture))
    values.update(_lossy_attributes(picture, values))
    values["DerivationDescription"] = _derivation(picture, values)
    values.update(_image_pixel_values(picture))
    return assemble(values, _pixel_data(picture), picture.transfer_syntax)


def assemble(
    values: dict[str, Any], bulk: Element, transfer_syntax: str, *, notes: tuple[str, ...] = ()
) -> Part10Object:
    """Lay out an object: `values` and its bulk element, sorted, with File Meta Information.

    Every builder ends here: the character set rule (C.12.1.1.2: one value, no
    code extensions; all text is then UTF-8) and the meta group are written once.

    Parameters
    ----------
    values : dict
        Keyword → value, SOP Class and Instance UIDs included.
    bulk : Element
        Pixel Data or Encapsulated Document, as written.
    transfer_syntax : str
        The Transfer Syntax UID of the file.
    notes : tuple of str
        What was done on the way, for the user.
    """
    if any_non_ascii(values):
        values["SpecificCharacterSet"] = "ISO_IR 192"
    body = [(*tag_and_vr(keyword), value, False) for keyword, value in values.items()]
    body.append(bulk)
    body.sort(key=lambda element: element[0])
    meta = [
        (*tag_and_vr(keyword), value, False)
        for keyword, value in (
            ("MediaStorageSOPClassUID", str(values["SOPClassUID"])),
            ("MediaStorageSOPInstanceUID", str(values["SOPInstanceUID"])),
            ("TransferSyntaxUID", transfer_syntax),
            ("ImplementationClassUID", IMPLEMENTATION_CLASS_UID),
            ("ImplementationVersionName", IMPLEMENTATION_VERSION_NAME),
        )
    ]
    return Part10Object(
        meta=meta, body=body, charset=str(values.get("SpecificCharacterSet", "")), notes=notes
    )


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    """Return a Code Sequence Macro item (PS3.3 Table 8.8-1)."""
    from pydicom.dataset import Dataset  # coded values only

    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


@functools.cache
def tag_and_vr(keyword: str) -> tuple[int, str]:
    """Return the tag and dictionary VR of `keyword` (cached: every object asks for them)."""
    entry = lookup(keyword)
    if entry is None:  # pragma: no cover - keywords come from the data dictionary
        raise KeyError(keyword)
    return entry[0], entry[1]


def for_multiframe(picture: Picture) -> Picture:
    """Store several frames of signed pixels unsigned, as MF Grayscale Word requires.

    The values are offset by 32768 and Rescale Intercept -32768 gives them back
    (PS3.3 A.8.4.4 allows any rescale), so nothing is lost.
    """
    if picture.number_of_frames == 1 or not picture.pixel_representation:
        return picture
    import numpy as np

    signed = np.frombuffer(picture.native(), "<i2")
    unsigned = (signed.astype(np.int32) + 32768).astype("<u2")
    return replace(
        picture,
        pixels=unsigned.tobytes(),
        pixel_representation=0,
        rescale_intercept=-32768,
        bits_stored=16,
        derivation=(*picture.derivation, "signed pixels stored offset by 32768"),
    )


def rescale_attributes(picture: Picture) -> dict[str, Any]:
    """Return the Modality LUT (C.11.1) that gives the source's values from the stored ones.

    >>> from dicomize.picture import Picture
    >>> rescale_attributes(Picture(pixels=b"", rows=1, columns=1, samples_per_pixel=1,
    ...     photometric_interpretation="MONOCHROME2", bits_allocated=16, bits_stored=16,
    ...     rescale_slope=0.0025, rescale_intercept=-12.5))
    {'RescaleIntercept': '-12.5', 'RescaleSlope': '0.0025', 'RescaleType': 'US'}
    """
    return {
        # Adding 0.0 turns -0.0 into 0: DS "-0" is valid but reads as a mistake.
        "RescaleIntercept": f"{picture.rescale_intercept + 0.0:.10g}",
        "RescaleSlope": f"{picture.rescale_slope + 0.0:.10g}",
        "RescaleType": "US",  # C.11.1.1.2: unspecified, the source's units are unknown
    }


def _lossy_attributes(picture: Picture, values: Mapping[str, Any]) -> dict[str, Any]:
    # C.7.6.1.1.5: once lossy, always lossy.
    declared = values.get("LossyImageCompression") == "01"
    if not picture.lossy:
        return {} if declared else {"LossyImageCompression": "00"}
    return lossy_history(picture.lossy, values)[0]


def lossy_history(
    steps: Iterable[tuple[str | None, float | None]], given: Mapping[str, Any]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Return the lossy attributes of `steps`, and what could not be written, for people.

    C.7.6.1.1.5: Lossy Image Compression Ratio and Method hold one value per lossy
    step, in the same order, the user's (earlier steps) first. A step whose method has
    no Defined Term (WebP, VP9, AV1) or whose ratio is unknown cannot be written in
    that list without shifting the others: the list is left out instead, and a note
    (for Derivation Description) says which step it lacked.
    """
    steps = list(steps)
    out: dict[str, Any] = {"LossyImageCompression": "01"}
    notes = []
    if all(method is not None for method, _ in steps):
        methods = [method for method, _ in steps if method is not None]
        out["LossyImageCompressionMethod"] = [
            *_as_list(given.get("LossyImageCompressionMethod")),
            *methods,
        ]
    else:
        notes.append("a lossy step has no Defined Term: Lossy Image Compression Method left out")
    if all(ratio is not None for _, ratio in steps):
        ratios = [f"{ratio:.10g}"[:16] for _, ratio in steps if ratio is not None]
        out["LossyImageCompressionRatio"] = [
            *_as_list(given.get("LossyImageCompressionRatio")),
            *ratios,
        ]
    else:
        notes.append("a lossy step's ratio is unknown: Lossy Image Compression Ratio left out")
    return out, tuple(notes)


def _as_list(value: object) -> list[str]:
    if value in (None, ""):
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _derivation(picture: Picture, values: Mapping[str, Any]) -> str:
    notes = [
        f"converted from {picture.source_format} by dicomize {__version__}",
        *picture.derivation,
        *(lossy_history(picture.lossy, values)[1] if picture.lossy else ()),
    ]
    if "DerivationDescription" in values:
        notes.insert(0, str(values["DerivationDescription"]))
    return "; ".join(notes)[:1024]  # ST holds 1024 characters


def any_non_ascii(values: Mapping[str, Any]) -> bool:
    """Tell whether any text value needs a character set beyond ASCII (C.12.1.1.2)."""
    for value in values.values():
        # Text first: most values are, and the pydicom checks are the slow ones.
        listed = not isinstance(value, str) and (
            isinstance(value, list) or is_pydicom(value, "sequence.Sequence")
        )
        for item in value if listed else (value,):
            if isinstance(item, str):
                if not item.isascii():
                    return True
            elif is_pydicom(item, "dataset.Dataset") and any_non_ascii(
                {e.keyword: e.value for e in item}
            ):
                return True  # text inside a copied sequence item
    return False


def _image_pixel_values(picture: Picture) -> dict[str, Any]:
    # Image Pixel module (C.7.6.3), derived only from the pixels.
    values: dict[str, Any] = {
        "SamplesPerPixel": picture.samples_per_pixel,
        "PhotometricInterpretation": picture.photometric_interpretation,
    }
    if picture.samples_per_pixel > 1:
        values["PlanarConfiguration"] = 0
    values.update(
        Rows=picture.rows,
        Columns=picture.columns,
        BitsAllocated=picture.bits_allocated,
        BitsStored=picture.bits_stored,
        HighBit=picture.bits_stored - 1,  # PS3.5 8.1.1: High Bit = Bits Stored - 1
        PixelRepresentation=picture.pixel_representation,
    )
    gray_frames = picture.number_of_frames > 1 and picture.samples_per_pixel == 1
    if picture.icc_profile is not None and not gray_frames:
        values["ICCProfile"] = picture.icc_profile
        if picture.icc_profile == srgb_profile():
            values["ColorSpace"] = "SRGB"  # C.11.15.1.2: agrees with the profile
    return values


def _pixel_data(picture: Picture) -> Element:
    if is_encapsulated(picture.transfer_syntax):
        # PS3.5 A.4: one fragment per frame; the Basic Offset Table is filled for several
        # frames (dciodvfy checks its entries) and empty for one. The value is the
        # frames' codestreams, encapsulated when written.
        return (0x7FE00010, "OB", picture.codestreams, True)
    # Explicit VR: OB for 8-bit samples, OW for 16-bit (PS3.5 8.1.2).
    vr = "OB" if picture.bits_allocated <= 8 else "OW"  # noqa: PLR2004
    return (0x7FE00010, vr, picture.pixels, False)

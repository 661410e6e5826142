"""Pixels + metadata → Secondary Capture Image dataset (PS3.3 A.8.1). No IO.

The attribute set follows the module table of the SC Image IOD (Table A.8-1):
Patient, General Study, General Series, SC Equipment, General Image, Image
Pixel, SC Image and SOP Common, with the conditions dciodvfy checks
(see the shared conformance notes, sections 2, 9 and 10).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace

from dicomize._dictionary import lookup
from dicomize._icc import srgb_profile
from dicomize._part10 import Element, Part10Object
from dicomize._version import __version__
from dicomize._vr import Value, is_pydicom, utc_offset
from dicomize.errors import MetadataError, UnsupportedInput
from dicomize.iods import IOD_FAMILIES, ORDER_KEYWORDS, modality_for
from dicomize.picture import Picture, PixelStrips
from dicomize.uids import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
    MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
    MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE,
    MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE,
    NATIVE_SYNTAXES,
    SECONDARY_CAPTURE_IMAGE_STORAGE,
    VL_PHOTOGRAPHIC_IMAGE_STORAGE,
    is_encapsulated,
    new_uid,
)

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from typing import Any

    from pydicom.dataset import Dataset

__all__ = [
    "DEFAULT_CONVERSION_TYPE",
    "SECONDARY_CAPTURE_IMAGE_STORAGE",
    "any_non_ascii",
    "assemble",
    "build_secondary_capture",
    "code_item",
    "series_attributes",
    "tag_and_vr",
]

#: The multi-frame SC IODs (PS3.3 A.8.2-A.8.5), chosen from the pixels.
# SC Equipment (C.8.6.1) and SC Image (C.8.6.2) attributes, absent from VL Photographic.
_SC_ONLY = (
    "ConversionType",
    "SecondaryCaptureDeviceManufacturer",
    "SecondaryCaptureDeviceManufacturerModelName",
    "SecondaryCaptureDeviceSoftwareVersions",
    "DateOfSecondaryCapture",
    "TimeOfSecondaryCapture",
)
# A.32.4.4: VL Photographic pixels (C.8.12.1.1.1).
_VL_PHOTOMETRIC = frozenset({"MONOCHROME2", "RGB", "YBR_FULL_422", "YBR_RCT", "YBR_ICT"})
#: C.8.6.1 "DI" (Digital Interface): the picture arrived as a digital file.
DEFAULT_CONVERSION_TYPE = "DI"

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


def series_attributes(
    user: Mapping[str, Value],
    *,
    now: dt.datetime,
    make_uid: Callable[[str], str] | None = None,
    iod: str = "sc",
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
        The conversion time, timezone-aware; dates and times default to it.
    make_uid : callable or None
        Makes the Study or Series Instance UID not given, from its keyword;
        None makes new ``2.25`` UIDs.
    iod : str
        ``"sc"`` or ``"vl-photo"``: the VL Photographic Image IOD has no SC
        Equipment, needs General Equipment, Modality XC and an (empty)
        Acquisition Context Sequence (PS3.3 A.32.4). Modality follows the IOD's
        rule (:func:`dicomize.iods.modality_for`): Secondary Capture takes the
        worklist order's, VL Photographic keeps XC.

    Returns
    -------
    dict
        Keyword → value, ready for :func:`build_secondary_capture`.

    Raises
    ------
    MetadataError
        When user values contradict an IOD rule.
    """
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
        "StudyID": "1",
        "AccessionNumber": "",
        # General Series (C.7.3.1); SC Equipment re-declares Modality (C.8.6.1)
        "Modality": modality_for(IOD_FAMILIES[iod][0], user),
        "SeriesNumber": "1",
        "SeriesDate": date,
        "SeriesTime": time,
        # SC Equipment (C.8.6.1): dicomize is the converting device
        "ConversionType": DEFAULT_CONVERSION_TYPE,
        "SecondaryCaptureDeviceManufacturer": "dicomize",
        "SecondaryCaptureDeviceManufacturerModelName": "dicomize",
        "SecondaryCaptureDeviceSoftwareVersions": __version__,
        # General Image (C.7.6.1), SC Image (C.8.6.2)
        "ImageType": ["DERIVED", "SECONDARY"],
        "PatientOrientation": "",
        "ContentDate": date,
        "ContentTime": time,
        "DateOfSecondaryCapture": date,
        "TimeOfSecondaryCapture": time,
        # Screenshots and scans usually show names and dates; "YES" is the safe
        # statement for de-identification until the user says otherwise (9.2).
        "BurnedInAnnotation": "YES",
        # dciodvfy demands Laterality unless Image Laterality is present (10.2);
        # "U" (unpaired) is the honest value when nothing is known.
        "ImageLaterality": "U",
        # SOP Common (C.12.1)
        "InstanceCreationDate": date,
        "InstanceCreationTime": time,
        "TimezoneOffsetFromUTC": utc_offset(now),
    }
    if iod == "vl-photo":
        for keyword in _SC_ONLY:
            del values[keyword]
        values.update(
            Manufacturer="",
            AcquisitionContextSequence=[],
            # Photographs rarely show text but often show people (9.2).
            BurnedInAnnotation="NO",
            RecognizableVisualFeatures="YES",
        )
    # The worklist order informs Modality (above); it is not an attribute of these IODs.
    values.update((k, v) for k, v in user.items() if k not in ORDER_KEYWORDS)
    if "Laterality" in user and "ImageLaterality" not in user:
        # With Image Laterality present, Laterality would be "present when condition
        # unsatisfied" (an error): the user's series laterality replaces the default.
        del values["ImageLaterality"]
    if "PatientSpeciesDescription" in user:
        _add_veterinary(values)
    if _GENERAL_EQUIPMENT & values.keys():
        values.setdefault("Manufacturer", "")
    for keyword in _SHARED_UIDS:
        if not values.get(keyword):
            values[keyword] = make_uid(keyword) if make_uid else new_uid()
    if values["StudyInstanceUID"] == values["SeriesInstanceUID"]:
        raise MetadataError(
            "SeriesInstanceUID", values["SeriesInstanceUID"], "must differ from StudyInstanceUID"
        )
    return values


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


def build_secondary_capture(
    picture: Picture,
    attributes: Mapping[str, Any],
    *,
    instance_number: int = 1,
    sop_instance_uid: str | None = None,
    iod: str = "sc",
) -> Part10Object:
    """Build a Secondary Capture (or VL Photographic) object with its File Meta Information.

    Parameters
    ----------
    picture : Picture
        The pixels and their description.
    attributes : Mapping[str, Any]
        The output of :func:`series_attributes`.
    instance_number : int
        Instance Number, unless `attributes` has one.
    sop_instance_uid : str or None
        SOP Instance UID, unless `attributes` has one; None makes a new one.
    iod : str
        ``"sc"`` (the SC IOD the pixels need) or ``"vl-photo"``.

    Returns
    -------
    Part10Object
        Sorted elements, ready for :func:`dicomize._part10.write_part10`, or for
        ``.to_dataset()``. Building no pydicom ``Dataset`` saves the per-attribute work
        that dominates the cost of a passed-through JPEG; Pixel Data may share memory
        with `picture`.
    """
    values, picture = _instance_values(
        picture,
        attributes,
        instance_number=instance_number,
        sop_instance_uid=sop_instance_uid,
        iod=iod,
    )
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


def _instance_values(
    picture: Picture,
    attributes: Mapping[str, Any],
    *,
    instance_number: int,
    sop_instance_uid: str | None,
    iod: str,
) -> tuple[dict[str, Any], Picture]:
    values = dict(attributes)
    values.setdefault("InstanceNumber", str(instance_number))
    if not values.get("SOPInstanceUID"):
        values["SOPInstanceUID"] = sop_instance_uid or new_uid()
    sop_class = sop_class_for(picture, iod)
    values["SOPClassUID"] = sop_class
    if sop_class not in {SECONDARY_CAPTURE_IMAGE_STORAGE, VL_PHOTOGRAPHIC_IMAGE_STORAGE}:
        values.update(_multiframe_attributes(picture, sop_class))
        if sop_class == MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE:
            picture = _pack_bits(picture)
    values.update(_lossy_attributes(picture, values))
    values["DerivationDescription"] = _derivation(picture, values)
    return values, picture


def sop_class_for(picture: Picture, iod: str = "sc") -> str:
    """Choose the SC IOD the pixels need (PS3.3 A.8.1-A.8.5).

    One frame: Secondary Capture, the least constrained. Several frames: Single
    Bit for bilevel pages stored natively, Grayscale Byte or Word by depth,
    True Color for 8-bit colour.

    Raises
    ------
    UnsupportedInput
        For several frames of 16-bit colour (True Color is 8-bit only).
    """
    if iod == "vl-photo":
        _check_vl_pixels(picture)
        return VL_PHOTOGRAPHIC_IMAGE_STORAGE
    if picture.number_of_frames == 1:
        return SECONDARY_CAPTURE_IMAGE_STORAGE
    if picture.samples_per_pixel == 3:  # noqa: PLR2004
        if picture.bits_allocated != 8:  # noqa: PLR2004
            raise UnsupportedInput(
                "several frames of 16-bit colour have no multi-frame SC IOD (True Color is "
                "8-bit); convert the frames one by one"
            )
        return MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE
    if picture.bilevel and picture.transfer_syntax in NATIVE_SYNTAXES:
        return MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE
    return (
        MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE
        if picture.bits_allocated == 8  # noqa: PLR2004
        else MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE
    )


def _check_vl_pixels(picture: Picture) -> None:
    if picture.number_of_frames != 1:
        raise UnsupportedInput("VL Photographic Image is single-frame; use the SC IOD for frames")
    if picture.bits_allocated != 8 or picture.pixel_representation:  # noqa: PLR2004
        raise UnsupportedInput("VL Photographic Image holds unsigned 8-bit pixels only")
    if picture.photometric_interpretation not in _VL_PHOTOMETRIC:
        raise UnsupportedInput(
            f"VL Photographic Image does not allow {picture.photometric_interpretation}"
        )


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


def _multiframe_attributes(picture: Picture, sop_class: str) -> dict[str, Any]:
    # Multi-frame (C.7.6.6), Cine (C.7.6.5), SC Multi-frame Image (C.8.6.3) and
    # SC Multi-frame Vector (C.8.6.4).
    out: dict[str, Any] = {"NumberOfFrames": str(picture.number_of_frames)}
    if picture.number_of_frames > 1:
        times = picture.frame_times
        if times and len(set(times)) == 1:
            out["FrameTime"] = f"{times[0]:.10g}"
            out["FrameIncrementPointer"] = 0x00181063
        elif times:
            # The first frame has no increment; then each frame follows the previous one's time.
            out["FrameTimeVector"] = ["0", *(f"{t:.10g}" for t in times[:-1])]
            out["FrameIncrementPointer"] = 0x00181065
        else:
            out["PageNumberVector"] = [str(page) for page in range(1, picture.number_of_frames + 1)]
            out["FrameIncrementPointer"] = 0x00182001
    if sop_class in {
        MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
        MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
    }:
        # C.8.6.3: required for MONOCHROME2 with Bits Stored > 1; Byte needs 0 and 1.
        out.update(
            RescaleIntercept=str(picture.rescale_intercept),
            RescaleSlope="1",
            RescaleType="US",
            PresentationLUTShape="IDENTITY",
        )
    return out


def _pack_bits(picture: Picture) -> Picture:
    import numpy as np

    # PS3.5 8.1.1 / D: 8 pixels per byte, the first in the least significant bit, frames
    # concatenated without padding.
    source = picture.pixels
    if isinstance(source, PixelStrips):
        # Pages made as they are written stay that way: a frame need not end on a byte,
        # so the bits left over from one strip open the next.
        def packed() -> Iterator[bytes]:
            carry = np.empty(0, bool)
            for strip in source.strips():
                bits = np.concatenate((carry, np.frombuffer(strip, np.uint8) > 0))
                whole = len(bits) - len(bits) % 8
                yield np.packbits(bits[:whole], bitorder="little").tobytes()
                carry = bits[whole:]
            if len(carry):
                yield np.packbits(carry, bitorder="little").tobytes()

        count = picture.rows * picture.columns * picture.number_of_frames
        pixels: bytes | PixelStrips = PixelStrips((count + 7) // 8, packed)
    else:
        ink = np.frombuffer(picture.native(), np.uint8) > 0
        pixels = np.packbits(ink, bitorder="little").tobytes()
    return replace(picture, pixels=pixels, bits_allocated=1, bits_stored=1, icc_profile=None)


def _lossy_attributes(picture: Picture, values: Mapping[str, Any]) -> dict[str, Any]:
    # C.7.6.1.1.5: once lossy, always lossy; Method and Ratio list the history in
    # order, the user's (earlier steps) first, then the source's compression.
    declared = values.get("LossyImageCompression") == "01"
    if not picture.lossy:
        return {} if declared else {"LossyImageCompression": "00"}
    methods, ratios = (
        _as_list(values.get("LossyImageCompressionMethod")),
        _as_list(values.get("LossyImageCompressionRatio")),
    )
    for method, ratio in picture.lossy:
        if method is not None:
            methods.append(method)
        if ratio is not None:
            ratios.append(f"{ratio:.10g}"[:16])
    out: dict[str, Any] = {"LossyImageCompression": "01"}
    if methods:
        out["LossyImageCompressionMethod"] = methods
    if ratios:
        out["LossyImageCompressionRatio"] = ratios
    return out


def _as_list(value: object) -> list[str]:
    if value in (None, ""):
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _derivation(picture: Picture, values: Mapping[str, Any]) -> str:
    notes = [
        f"converted from {picture.source_format} by dicomize {__version__}",
        *picture.derivation,
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

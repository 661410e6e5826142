"""Pixels + metadata → Secondary Capture Image dataset (PS3.3 A.8.1). No IO.

The attribute set follows the module table of the SC Image IOD (Table A.8-1):
Patient, General Study, General Series, SC Equipment, General Image, Image
Pixel, SC Image and SOP Common, with the conditions dciodvfy checks
(see the shared conformance notes, sections 2, 9 and 10).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID

from dicomize._icc import srgb_profile
from dicomize._version import __version__
from dicomize._vr import Value
from dicomize.errors import MetadataError
from dicomize.picture import Picture
from dicomize.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, new_uid

__all__ = [
    "DEFAULT_CONVERSION_TYPE",
    "SECONDARY_CAPTURE_IMAGE_STORAGE",
    "build_secondary_capture",
    "series_attributes",
]

SECONDARY_CAPTURE_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
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
    user: Mapping[str, Value], *, now: dt.datetime, make_uid: Callable[[str], str] | None = None
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
        "Modality": "OT",
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
        "TimezoneOffsetFromUTC": _utc_offset(now),
    }
    values.update(user)
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


def _utc_offset(now: dt.datetime) -> str:
    offset = now.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def build_secondary_capture(
    picture: Picture,
    attributes: Mapping[str, Any],
    *,
    instance_number: int = 1,
    sop_instance_uid: str | None = None,
) -> Dataset:
    """Build a Secondary Capture Image dataset with its File Meta Information.

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

    Returns
    -------
    pydicom.dataset.Dataset
        Ready for :func:`dicomize.write`; Pixel Data may share memory with `picture`.
    """
    ds = Dataset()
    values = dict(attributes)
    values.setdefault("InstanceNumber", str(instance_number))
    if not values.get("SOPInstanceUID"):
        values["SOPInstanceUID"] = sop_instance_uid or new_uid()
    values["SOPClassUID"] = SECONDARY_CAPTURE_IMAGE_STORAGE
    values.update(_lossy_attributes(picture, values))
    values["DerivationDescription"] = _derivation(picture, values)
    if _any_non_ascii(values):
        # C.12.1.1.2: one value, no code extensions; all text is then UTF-8.
        values["SpecificCharacterSet"] = "ISO_IR 192"
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    _add_image_pixel(ds, picture)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE_IMAGE_STORAGE)
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(picture.transfer_syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.file_meta = meta
    return ds


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


def _any_non_ascii(values: Mapping[str, Any]) -> bool:
    for value in values.values():
        items = value if isinstance(value, list | DicomSequence) else [value]
        for item in items:
            if isinstance(item, str) and not item.isascii():
                return True
            if isinstance(item, Dataset) and _any_non_ascii({e.keyword: e.value for e in item}):
                return True  # text inside a copied sequence item
    return False


def _add_image_pixel(ds: Dataset, picture: Picture) -> None:
    # Image Pixel module (C.7.6.3), derived only from the pixels.
    ds.SamplesPerPixel = picture.samples_per_pixel
    ds.PhotometricInterpretation = picture.photometric_interpretation
    if picture.samples_per_pixel > 1:
        ds.PlanarConfiguration = 0
    ds.Rows = picture.rows
    ds.Columns = picture.columns
    ds.BitsAllocated = picture.bits_allocated
    ds.BitsStored = picture.bits_stored
    ds.HighBit = picture.bits_stored - 1  # PS3.5 8.1.1: High Bit = Bits Stored - 1
    ds.PixelRepresentation = picture.pixel_representation
    if picture.icc_profile is not None:
        ds.ICCProfile = picture.icc_profile
        if picture.icc_profile == srgb_profile():
            ds.ColorSpace = "SRGB"  # C.11.15.1.2: agrees with the profile
    if UID(picture.transfer_syntax).is_encapsulated:
        # PS3.5 A.4: an empty Basic Offset Table, then one fragment for the one frame.
        element = DataElement(0x7FE00010, "OB", encapsulate([bytes(picture.pixels)], has_bot=False))
        element.is_undefined_length = True
        ds[0x7FE00010] = element
        return
    # Explicit VR: OB for 8-bit samples, OW for 16-bit (PS3.5 8.1.2). Built without
    # pydicom's value check so a memoryview onto the caller's array is not copied.
    vr = "OB" if picture.bits_allocated <= 8 else "OW"  # noqa: PLR2004
    ds[0x7FE00010] = DataElement(0x7FE00010, vr, picture.pixels, validation_mode=config.IGNORE)

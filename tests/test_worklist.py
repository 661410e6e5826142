"""The patient, order and study from a real Modality Worklist (dcmtk's wlmscpfs), not typed.

Names with accents and in Japanese are searched for on both real worklist SCPs the
project has, wlmscpfs and Orthanc's worklist plugin, which match them differently.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import pty
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomize
from conftest import LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN, assert_conforms, gradient
from dicomize.errors import QueryError
from dicomize.worklist import WorklistQuery, find_worklist_item, query_worklist, worklist_metadata
from peers import Orthanc, OrthancWorklist, WorklistServer, free_port
from test_documents import make_pdf

TODAY = dt.date.today().strftime("%Y%m%d")
STUDY_UID = "1.2.826.0.1.3680043.10.543.778"


def item(
    accession: str,
    *,
    name: str = "Doe^Jane",
    patient_id: str = "12345",
    date: str = TODAY,
    modality: str = "XC",
    charset: str = "ISO_IR 192",
    birth_date: str = "19800101",
    study_uid: str = STUDY_UID,
) -> str:
    """A worklist item as dcmdump text (PS3.4 Table K.6-1 keys)."""
    return f"""
(0008,0005) CS [{charset}]
(0008,0050) SH [{accession}]
(0008,0090) PN [Who^Referred]
(0010,0010) PN [{name}]
(0010,0020) LO [{patient_id}]
(0010,0030) DA [{birth_date}]
(0010,0040) CS [F]
(0020,000d) UI [{study_uid}]
(0032,1060) LO [Wound photography]
(0032,1064) SQ
(fffe,e000) -
(0008,0100) SH [72170-4]
(0008,0102) SH [LN]
(0008,0104) LO [Photographic image]
(fffe,e00d) -
(fffe,e0dd) -
(0040,0100) SQ
(fffe,e000) -
(0008,0060) CS [{modality}]
(0040,0001) AE [DICOMIZE]
(0040,0002) DA [{date}]
(0040,0003) TM [093000]
(0040,0006) PN [Nurse^Ann]
(0040,0007) LO [Photograph the wound]
(0040,0009) SH [SPS-{accession}]
(fffe,e00d) -
(fffe,e0dd) -
(0040,1001) SH [RP-{accession}]
"""


def _cli(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, check=False)


def _photo(folder: Path) -> Path:
    path = folder / "wound.png"
    Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(path)
    return path


def test_a_photo_is_filed_under_the_worklist_item_of_its_accession(
    tmp_path: Path, worklist: WorklistServer, dicomize_cli: list[str]
) -> None:
    worklist.add("a", item("A778"))
    worklist.add("b", item("A779", patient_id="67890", name="Roe^Richard"))
    output = tmp_path / "wound.dcm"
    photo = str(_photo(tmp_path))
    result = _cli(dicomize_cli, "convert", photo, "-o", str(output), "--worklist", worklist.url,
                  "--accession", "A778", "--iod", "vl-photo")  # fmt: skip
    assert result.returncode == 0, result.stderr
    ds = pydicom.dcmread(output)
    assert (str(ds.PatientName), ds.PatientID, ds.PatientBirthDate) == (
        "Doe^Jane",
        "12345",
        "19800101",
    )
    assert (ds.StudyInstanceUID, ds.AccessionNumber) == (STUDY_UID, "A778")
    assert ds.StudyDescription == "Wound photography"
    assert ds.ProcedureCodeSequence[0].CodeValue == "72170-4"
    (request,) = ds.RequestAttributesSequence
    assert (request.RequestedProcedureID, request.ScheduledProcedureStepID) == (
        "RP-A778",
        "SPS-A778",
    )
    assert request.ScheduledProcedureStepDescription == "Photograph the wound"


def test_no_match_and_several_matches_are_refused_and_nothing_is_written(
    tmp_path: Path, worklist: WorklistServer, dicomize_cli: list[str]
) -> None:
    worklist.add("a", item("A778"))
    worklist.add("b", item("A779", patient_id="67890"))
    output = tmp_path / "wound.dcm"
    photo = str(_photo(tmp_path))
    none = _cli(dicomize_cli, "convert", photo, "-o", str(output),
                "--worklist", worklist.url, "--accession", "A999")  # fmt: skip
    assert none.returncode == 2
    assert none.stderr.strip() == (
        f"dicomize: worklist {worklist.url}: no scheduled procedure step matches the accession"
    )
    several = _cli(dicomize_cli, "convert", photo, "-o", str(output), "--worklist", worklist.url,
                   "--scheduled", "today", "--modality", "XC")  # fmt: skip
    assert several.returncode == 2
    lines = several.stderr.strip().splitlines()
    assert "2 scheduled procedure steps match the scheduled, modality" in lines[0]
    assert any("A778" in line for line in lines[1:])
    assert any("A779" in line for line in lines[1:])
    assert not any("Doe" in line for line in lines)  # names only with -v
    assert not output.exists()


def test_the_worklist_command_lists_the_day(
    worklist: WorklistServer, dicomize_cli: list[str]
) -> None:
    worklist.add("a", item("A778"))
    worklist.add("b", item("A779", date="20200101"))
    table = _cli(dicomize_cli, "worklist", worklist.url, "--scheduled", "today")
    assert table.returncode == 0, table.stderr
    assert "A778" in table.stdout
    assert "A779" not in table.stdout
    assert "Doe" not in table.stdout
    listed = _cli(dicomize_cli, "worklist", worklist.url, "--modality", "XC", "--json", "-v")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(row["accession"] for row in rows) == ["A778", "A779"]
    assert {row["patient_name"] for row in rows} == {"Doe^Jane"}


@pytest.mark.parametrize(
    ("charset", "name", "encoding"),
    [
        ("ISO_IR 100", "Müller^Jürgen", "latin-1"),
        ("\\ISO 2022 IR 87", "Yamada^Tarou=山田^太郎", "iso2022_jp"),
    ],
)
def test_the_answers_character_set_is_honoured(
    charset: str, name: str, encoding: str, tmp_path: Path, worklist: WorklistServer
) -> None:
    worklist.add("a", item("A778", name=name, charset=charset), encoding=encoding)
    found = find_worklist_item(worklist.url, WorklistQuery(accession="A778"))
    metadata, notes = worklist_metadata(found)
    assert (metadata["PatientName"], notes) == (name, [])
    output = tmp_path / "photo.dcm"
    dicomize.write(dicomize.convert(np.zeros((8, 8), np.uint8), metadata), output)
    ds = pydicom.dcmread(output)
    assert (ds.SpecificCharacterSet, str(ds.PatientName)) == ("ISO_IR 192", name)


def test_a_bad_value_from_the_worklist_is_refused_by_keyword(
    tmp_path: Path, worklist: WorklistServer, dicomize_cli: list[str]
) -> None:
    worklist.add("a", item("A778", birth_date="19801399"))
    output = tmp_path / "wound.dcm"
    result = _cli(dicomize_cli, "convert", str(_photo(tmp_path)), "-o", str(output),
                  "--worklist", worklist.url, "--accession", "A778")  # fmt: skip
    assert result.returncode == 2
    assert "PatientBirthDate" in result.stderr
    assert "from the worklist" in result.stderr
    assert not output.exists()


def test_a_worklist_that_is_down_is_one_line(tmp_path: Path, dicomize_cli: list[str]) -> None:
    url = f"dicom://RIS@127.0.0.1:{free_port()}"
    with pytest.raises(QueryError, match="cannot connect"):
        query_worklist(url, WorklistQuery(accession="A778"))
    result = _cli(dicomize_cli, "convert", str(_photo(tmp_path)), "--worklist", url,
                  "--accession", "A778")  # fmt: skip
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "cannot connect" in result.stderr
    assert not (tmp_path / "wound.dcm").exists()


def test_the_command_line_wins_over_the_worklist_and_says_so(
    tmp_path: Path, worklist: WorklistServer, dicomize_cli: list[str]
) -> None:
    worklist.add("a", item("A778"))
    output = tmp_path / "wound.dcm"
    result = _cli(dicomize_cli, "convert", str(_photo(tmp_path)), "-o", str(output),
                  "--worklist", worklist.url, "--accession", "A778",
                  "--study-description", "Left heel")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "given values replace the worklist's StudyDescription" in result.stderr
    assert pydicom.dcmread(output).StudyDescription == "Left heel"


def test_a_worklist_that_rejects_the_association_is_one_line(
    worklist: WorklistServer, dicomize_cli: list[str]
) -> None:
    # wlmscpfs rejects a called AE title it has no folder for.
    url = f"dicom://NOSUCHAE@127.0.0.1:{worklist.port}"
    result = _cli(dicomize_cli, "worklist", url, "--scheduled", "today")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"dicomize: worklist {url}: association rejected by NOSUCHAE@127.0.0.1:{worklist.port} "
        "(called AE title not recognised: check the called and calling AE titles)"
    )


def test_a_batch_resolves_each_manifest_row_by_its_own_accession(
    tmp_path: Path, worklist: WorklistServer, dicomize_cli: list[str]
) -> None:
    worklist.add("a", item("A778"))
    worklist.add("b", item("A779", patient_id="67890", name="Roe^Richard",
                           study_uid=STUDY_UID + ".2"))  # fmt: skip
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("one", "two", "three"):
        Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(photos / f"{name}.png")
    manifest = tmp_path / "rows.csv"
    manifest.write_text(
        "path,accession,series_key\n"
        "photos/one.png,A778,wound\nphotos/two.png,A779,wound\nphotos/three.png,A999,wound\n"
    )
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    result = _cli(dicomize_cli, "batch", "--manifest", str(manifest), "-o", str(out),
                  "--worklist", worklist.url, "--workers", "1",
                  "--report", str(report))  # fmt: skip
    assert result.returncode == 1, result.stderr
    rows = {
        Path(row["input"]).name: row for row in map(json.loads, report.read_text().splitlines())
    }
    assert rows["three.png"]["status"] == "failed"
    assert "no scheduled procedure step matches the accession" in rows["three.png"]["error"]
    one, two = (pydicom.dcmread(rows[n]["output"]) for n in ("one.png", "two.png"))
    assert (one.PatientID, one.StudyInstanceUID, one.AccessionNumber) == (
        "12345",
        STUDY_UID,
        "A778",
    )
    assert (two.PatientID, two.StudyInstanceUID) == ("67890", STUDY_UID + ".2")
    # One series key, two studies: each study gets a series of its own.
    assert one.SeriesInstanceUID != two.SeriesInstanceUID


def test_choose_lets_the_person_at_a_terminal_pick_one_of_several(
    tmp_path: Path, worklist: WorklistServer, dicomize_cli: list[str]
) -> None:
    worklist.add("a", item("A778"))
    worklist.add("b", item("A779", patient_id="67890", name="Roe^Richard",
                           study_uid=STUDY_UID + ".2"))  # fmt: skip
    output = tmp_path / "wound.dcm"
    # A real terminal (a pseudo-terminal): --choose asks only there.
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*dicomize_cli, "convert", str(_photo(tmp_path)), "-o", str(output), "--worklist",
         worklist.url, "--scheduled", "today", "--choose"],
        stdin=follower, stdout=follower, stderr=follower, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    while b"which one" not in seen:
        seen += os.read(leader, 1024)
    listed = seen.decode()
    second = next(line for line in listed.splitlines() if "A779" in line)
    os.write(leader, f"{second.split('.')[0].strip()}\n".encode())
    assert process.wait(timeout=60) == 0
    os.close(leader)
    assert "Roe^Richard" in listed  # at a terminal, the names help to choose
    ds = pydicom.dcmread(output)
    assert (ds.AccessionNumber, ds.StudyInstanceUID) == ("A779", STUDY_UID + ".2")


def test_a_worklist_that_stops_answering_is_one_line() -> None:
    from pynetdicom import AE, evt

    def never_answers(_event: object) -> Iterator[tuple[int, None]]:
        time.sleep(5)  # past the SCU's DIMSE timeout
        yield 0x0000, None

    ae = AE(ae_title="SLOW")
    ae.add_supported_context("1.2.840.10008.5.1.4.31")  # Modality Worklist FIND
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_FIND, never_answers)]
    )
    assert server is not None
    try:
        options = dicomize.SendOptions(dimse_timeout=1)
        with pytest.raises(QueryError, match="no answer"):
            query_worklist(f"dicom://SLOW@127.0.0.1:{port}", WorklistQuery(accession="A1"), options)
    finally:
        server.shutdown()


def test_a_worklist_item_lands_in_its_study_on_the_pacs(
    tmp_path: Path, worklist: WorklistServer, orthanc: Orthanc, dicomize_cli: list[str]
) -> None:
    worklist.add("a", item("A778"))
    output = tmp_path / "wound.dcm"
    result = _cli(dicomize_cli, "convert", str(_photo(tmp_path)), "-o", str(output),
                  "--worklist", worklist.url, "--accession", "A778", "--iod", "vl-photo",
                  "--send", f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    (study,) = orthanc.get("/studies?expand")
    tags = study["MainDicomTags"]
    assert (tags["StudyInstanceUID"], tags["AccessionNumber"]) == (STUDY_UID, "A778")
    assert study["PatientMainDicomTags"]["PatientID"] == "12345"


# -- names with accents and in other scripts (PS3.5 6.1; PS3.4 C.2.2.2.1) -------------------


@pytest.fixture(params=["wlmscpfs", "orthanc"])
def peer(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[WorklistServer | OrthancWorklist]:
    """Each real worklist SCP in turn: dcmtk's wlmscpfs, then Orthanc's worklist plugin."""
    server: WorklistServer | OrthancWorklist
    if request.param == "wlmscpfs":
        server = WorklistServer(tmp_path / "worklist")
    else:
        server = OrthancWorklist(tmp_path / "orthanc")
    try:
        yield server
    finally:
        server.stop()


def _names(url: str, typed: str, matching: str = "insensitive") -> set[str]:
    query = WorklistQuery(patient_name=typed, name_matching=matching)
    return {str(item.dataset.PatientName) for item in query_worklist(url, query)}


def _key(request: bytes, tag: str) -> bytes | None:
    """One top-level value of a query as wlmscpfs received it: its bytes, or None if absent."""
    found = re.search(rb"^\(" + tag.encode() + rb"\) .. (\[(.*)\]|\(no value available\))",
                      request, re.MULTILINE)  # fmt: skip
    if found is None:
        return None
    return (found.group(2) or b"").rstrip(b" ")


LATIN = {
    "a": ("Müller^Zoë", "ISO_IR 100", "latin-1"),
    # The same family stored in UTF-8: a byte-matching SCP needs the query in UTF-8 too.
    "b": ("MÜLLER^HANS", "ISO_IR 192", "utf-8"),
    "c": ("Mueller^Max", "ISO_IR 100", "ascii"),
    "d": ("Doe^Jane", "ISO_IR 100", "ascii"),
}
JAPANESE = {
    "e": ("山田^太郎", "ISO_IR 192", "utf-8"),
    # PS3.5 Annex H: alphabetic, ideographic and phonetic groups, in ISO 2022 IR 87.
    "f": ("Yamada^Tarou=山田^太郎=やまだ^たろう", "\\ISO 2022 IR 87", "iso2022_jp"),
    "g": ("Doe^Jane", "ISO_IR 192", "ascii"),
}


def _add(server: WorklistServer | OrthancWorklist, items: dict[str, tuple[str, str, str]]) -> None:
    for number, (label, (name, charset, encoding)) in enumerate(items.items()):
        server.add(label, item(f"A{number}", name=name, charset=charset), encoding=encoding)


def test_a_name_is_sent_in_the_least_character_set_it_needs(worklist: WorklistServer) -> None:
    _add(worklist, LATIN)
    for typed, charset, encoding in [
        ("Doe*", None, "ascii"),
        ("Müller*", b"ISO_IR 100", "latin-1"),
        ("山田*", b"ISO_IR 192", "utf-8"),
    ]:
        before = len(worklist.received())
        query_worklist(worklist.url, WorklistQuery(patient_name=typed))
        open_name, as_typed = worklist.received()[before:]
        assert _key(as_typed, "0008,0005") == charset
        assert _key(as_typed, "0010,0010") == typed.encode(encoding)
        # The other query leaves the name open: nothing in it needs more than ASCII.
        assert _key(open_name, "0008,0005") is None
        assert _key(open_name, "0010,0010") == b""


def test_a_latin_1_name_is_found_however_it_is_typed(
    peer: WorklistServer | OrthancWorklist,
) -> None:
    _add(peer, LATIN)
    for typed in ("Müller*", "müller*", "MÜLLER*", "Muller*", "muller*"):
        assert _names(peer.url, typed) == {"Müller^Zoë", "MÜLLER^HANS"}, typed
    assert _names(peer.url, "müller^zoe") == {"Müller^Zoë"}
    assert _names(peer.url, "M?ller^*") == {"Müller^Zoë", "MÜLLER^HANS"}
    assert _names(peer.url, "Mu*") == {"Müller^Zoë", "MÜLLER^HANS", "Mueller^Max"}


def test_a_japanese_name_is_found_by_its_kanji_or_its_reading(
    peer: WorklistServer | OrthancWorklist,
) -> None:
    _add(peer, JAPANESE)
    annex_h = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert _names(peer.url, "山田*") == {"山田^太郎", annex_h}
    assert _names(peer.url, "山田^太郎") == {"山田^太郎", annex_h}
    assert _names(peer.url, "やまだ*") == {annex_h}
    assert _names(peer.url, "yamada*") == {annex_h}
    found = find_worklist_item(peer.url, WorklistQuery(patient_name="*たろう"))
    assert str(found.dataset.PatientName) == annex_h


@pytest.mark.parametrize(
    ("server", "found"),
    [
        # wlmscpfs compares bytes: case, accents and the item's own character set count.
        ("wlmscpfs", {"Müller*": {"Müller^Zoë"}, "müller*": set(), "Muller*": set(),
                      "山田*": {"山田^太郎"}}),
        # Orthanc ignores case, even of Ü, and reads every character set; not accents.
        ("orthanc", {"Müller*": {"Müller^Zoë", "MÜLLER^HANS"},
                     "müller*": {"Müller^Zoë", "MÜLLER^HANS"}, "Muller*": set(),
                     "山田*": {"山田^太郎"}}),
    ],
)  # fmt: skip
def test_matched_by_the_scp_alone_a_name_is_found_only_as_the_scp_matches(
    server: str, found: dict[str, set[str]], tmp_path: Path
) -> None:
    peer = WorklistServer(tmp_path / "wl") if server == "wlmscpfs" else OrthancWorklist(tmp_path)
    try:
        _add(peer, {**LATIN, **JAPANESE})
        assert {typed: _names(peer.url, typed, "scp") for typed in found} == found
    finally:
        peer.stop()


@pytest.mark.parametrize(
    ("server", "refused"), [("wlmscpfs", True), ("orthanc", False)]
)  # fmt: skip
def test_iso_2022_ir_87_in_a_query_is_refused_by_wlmscpfs_so_utf_8_is_sent(
    server: str, refused: bool, tmp_path: Path
) -> None:
    from dicomize.send.destination import DimseDestination, parse_destination
    from dicomize.send.dimse import c_find

    peer = WorklistServer(tmp_path / "wl") if server == "wlmscpfs" else OrthancWorklist(tmp_path)
    try:
        _add(peer, JAPANESE)
        identifier = WorklistQuery(patient_name="山田*", name_matching="scp").identifier()
        assert identifier.SpecificCharacterSet == "ISO_IR 192"
        identifier.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
        target = parse_destination(peer.url)
        assert isinstance(target, DimseDestination)
        if refused:
            with pytest.raises(QueryError, match="0xA900 Invalid Character Repertoire"):
                c_find(target, identifier, "1.2.840.10008.5.1.4.31", dicomize.SendOptions(), "x")
        else:
            (answer,) = c_find(
                target, identifier, "1.2.840.10008.5.1.4.31", dicomize.SendOptions(), "x"
            )
            assert str(answer.PatientName) == "山田^太郎"
    finally:
        peer.stop()


def test_a_worklist_that_refuses_the_name_as_typed_still_finds_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An SCP that takes only the default repertoire: the name as typed is refused,
    # the query with the name left open is answered, and the name is matched here.
    from pynetdicom import AE, evt

    def answer(event: evt.Event) -> Iterator[tuple[int, pydicom.Dataset | None]]:
        if "SpecificCharacterSet" in event.identifier:
            yield 0xA900, None
            return
        for name in ("Müller^Zoë", "Doe^Jane"):
            found = pydicom.Dataset()
            found.SpecificCharacterSet = "ISO_IR 192"
            found.PatientName = name
            yield 0xFF00, found

    ae = AE(ae_title="ASCII")
    ae.add_supported_context("1.2.840.10008.5.1.4.31")
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_FIND, answer)]
    )
    assert server is not None
    try:
        with caplog.at_level(logging.WARNING, logger="dicomize.worklist"):
            assert _names(f"dicom://ASCII@127.0.0.1:{port}", "müller*") == {"Müller^Zoë"}
        assert "0xA900" in caplog.text
        assert "the name is matched here instead" in caplog.text
        assert "ller" not in caplog.text  # no patient name in the log
    finally:
        server.shutdown()


# -- the order's Modality (PS3.3 C.8.6.1; IHE RAD TF-2 Appendix A) ---------------------------


def test_a_photo_takes_the_orders_modality_and_a_pdf_keeps_doc(
    tmp_path: Path, worklist: WorklistServer, dicomize_cli: list[str]
) -> None:
    worklist.add("a", item("A778", modality="XC"))
    # Two runs, two folders: each run dates the study itself (the item has no Study Date).
    photo, document = tmp_path / "photo" / "wound.dcm", tmp_path / "pdf" / "consent.dcm"
    photo.parent.mkdir()
    document.parent.mkdir()
    result = _cli(dicomize_cli, "convert", str(_photo(tmp_path)), "-o", str(photo),
                  "--worklist", worklist.url, "--accession", "A778")  # fmt: skip
    assert result.returncode == 0, result.stderr
    ds = pydicom.dcmread(photo)
    assert (ds.SOPClassUID.name, ds.Modality) == ("Secondary Capture Image Storage", "XC")
    assert "ScheduledProcedureStepSequence" not in ds
    assert "Modality" not in result.stderr
    assert_conforms(photo, allowed_warnings=(LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN))
    pdf = tmp_path / "consent.pdf"
    pdf.write_bytes(make_pdf())
    result = _cli(dicomize_cli, "convert", str(pdf), "-o", str(document),
                  "--worklist", worklist.url, "--accession", "A778")  # fmt: skip
    assert result.returncode == 0, result.stderr
    ds = pydicom.dcmread(document)
    assert (ds.Modality, ds.AccessionNumber) == ("DOC", "A778")
    assert "the worklist's Modality XC is not used: an Encapsulated PDF is a document" in (
        result.stderr
    )
    assert_conforms(document, iod="EncapsulatedPDF", allowed_warnings=(STUDY_ID_UNKNOWN,))


def test_a_vl_photograph_keeps_xc_under_another_order_and_says_why(
    tmp_path: Path, worklist: WorklistServer, dicomize_cli: list[str]
) -> None:
    worklist.add("a", item("A778", modality="ES"))
    output = tmp_path / "wound.dcm"
    result = _cli(dicomize_cli, "convert", str(_photo(tmp_path)), "-o", str(output),
                  "--worklist", worklist.url, "--accession", "A778",
                  "--iod", "vl-photo")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert pydicom.dcmread(output).Modality == "XC"
    assert "the worklist's Modality ES is not used: VL Photographic Image requires XC" in (
        result.stderr
    )


@pytest.mark.parametrize(
    "pixels",
    [gradient(), np.stack([gradient()] * 2), np.stack([gradient(channels=1)] * 2)],
    ids=["single-frame", "true-color", "grayscale-byte"],
)
def test_every_secondary_capture_takes_the_orders_modality_unless_one_is_given(
    pixels: np.ndarray, tmp_path: Path, worklist: WorklistServer
) -> None:
    worklist.add("a", item("A778", modality="XC"))
    metadata, notes = worklist_metadata(
        find_worklist_item(worklist.url, WorklistQuery(accession="A778"))
    )
    assert (metadata["ScheduledProcedureStepSequence"], notes) == ([{"Modality": "XC"}], [])
    ordered = tmp_path / "ordered.dcm"
    dicomize.write(dicomize.convert(pixels, metadata), ordered)
    assert pydicom.dcmread(ordered).Modality == "XC"  # dciodvfy judges it after the test
    assert dicomize.convert(pixels, {**metadata, "Modality": "OT"}).Modality == "OT"


def test_a_modality_the_worklist_gets_wrong_is_left_out_with_a_note(
    worklist: WorklistServer,
) -> None:
    worklist.add("a", item("A778", modality="PHOTO"))
    found = find_worklist_item(worklist.url, WorklistQuery(accession="A778"))
    metadata, notes = worklist_metadata(found)
    assert "ScheduledProcedureStepSequence" not in metadata
    assert len(notes) == 1
    assert notes[0].startswith("the worklist's Modality is invalid")
    assert dicomize.convert(np.zeros((8, 8), np.uint8), metadata).Modality == "OT"

"""One input taken once is one instance: no two objects share a SOP Instance UID, and a series
holds one kind of content.

Every front door that derives UIDs is covered: ``convert`` (seeded), ``batch`` (folder and
manifest), the watched folder and the web page's jobs (through the worker they share). Only a
retry of the same job, after a crash, gives a UID again; that is what makes them idempotent.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import dicomize
from conftest import encode, gradient
from dicomize.service.journal import JobState, Journal
from dicomize.service.worker import ServiceSettings, Worker, file_digest
from peers import WorklistServer
from test_documents import make_pdf
from test_models import binary_stl
from test_worklist import item

JPEG = encode(Image.fromarray(gradient()), "JPEG", quality=90)
PNG = encode(Image.fromarray(gradient()), "PNG")


def _run(cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli, *args], check=False, capture_output=True, text=True, timeout=180)


def _objects(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(path) for path in sorted(folder.rglob("*.dcm"))]


def test_the_same_jpeg_dropped_for_two_patients_is_two_instances_in_two_studies(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    for name, patient in (("a", "P1"), ("b", "P2")):
        (inbox / f"{name}.jpg").write_bytes(JPEG)
        (inbox / f"{name}.jpg.json").write_text(json.dumps({"PatientID": patient}))

    result = _run(dicomize_cli, "watch", str(inbox), "-o", str(out), "--once", "--sidecar")

    assert result.returncode == 0, result.stderr
    first, second = _objects(out)
    assert (first.PatientID, second.PatientID) == ("P1", "P2")
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert first.StudyInstanceUID != second.StudyInstanceUID
    assert first.SeriesInstanceUID != second.SeriesInstanceUID


def test_forty_files_with_the_same_bytes_dropped_are_forty_instances(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    for number in range(40):
        (inbox / f"copy{number:02d}.jpg").write_bytes(JPEG)

    result = _run(dicomize_cli, "watch", str(inbox), "-o", str(out), "--once", "--patient-id", "P1")

    assert result.returncode == 0, result.stderr
    objects = _objects(out)
    assert len(objects) == 40
    assert len({ds.SOPInstanceUID for ds in objects}) == 40
    assert len({ds.SeriesInstanceUID for ds in objects}) == 1


def test_convert_puts_a_picture_and_a_pdf_in_two_series_of_one_study(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    (tmp_path / "a.png").write_bytes(PNG)
    (tmp_path / "consent.pdf").write_bytes(make_pdf())
    out = tmp_path / "out"

    result = _run(
        dicomize_cli,
        "convert",
        str(tmp_path / "a.png"),
        str(tmp_path / "consent.pdf"),
        "-o",
        str(out),
        "--patient-id",
        "P1",
    )

    assert result.returncode == 0, result.stderr
    picture = pydicom.dcmread(out / "a.dcm")
    document = pydicom.dcmread(out / "consent.dcm")
    assert (picture.Modality, document.Modality) == ("OT", "DOC")
    assert picture.StudyInstanceUID == document.StudyInstanceUID
    assert picture.SeriesInstanceUID != document.SeriesInstanceUID
    assert picture.SeriesNumber != document.SeriesNumber


def test_a_manifest_naming_one_file_for_two_patients_makes_two_instances(tmp_path: Path) -> None:
    (tmp_path / "p.png").write_bytes(PNG)
    manifest = tmp_path / "import.jsonl"
    rows = [
        {"path": "p.png", "output": "one.dcm", "PatientID": "P1", "study_key": "x"},
        {"path": "p.png", "output": "two.dcm", "PatientID": "P2", "study_key": "x"},
    ]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out"

    summary = dicomize.run_batch(dicomize.plan_manifest(manifest, out), out, workers=1)

    assert (summary.converted, summary.failed) == (2, 0)
    one, two = pydicom.dcmread(out / "one.dcm"), pydicom.dcmread(out / "two.dcm")
    assert one.SOPInstanceUID != two.SOPInstanceUID
    # The same study key for two patients is still two studies: a study has one patient.
    assert one.StudyInstanceUID != two.StudyInstanceUID


def test_a_manifest_writing_one_output_twice_is_refused_before_anything_converts(
    tmp_path: Path,
) -> None:
    (tmp_path / "p.png").write_bytes(PNG)
    manifest = tmp_path / "import.csv"
    manifest.write_text("path,PatientID\np.png,P1\np.png,P2\n")

    with pytest.raises(dicomize.ManifestError, match=r"row 3: .* is row 2's output too"):
        list(dicomize.plan_manifest(manifest, tmp_path / "out"))


def test_one_uid_seed_for_two_patients_gives_each_its_own_uids(tmp_path: Path) -> None:
    options = dicomize.ConvertOptions(uid_seed="clinic")
    first = dicomize.convert(PNG, {"PatientID": "P1"}, options=options)
    again = dicomize.convert(PNG, {"PatientID": "P1"}, options=options)
    other = dicomize.convert(PNG, {"PatientID": "P2"}, options=options)
    # A rerun for the same patient is the same instance; another patient's is not.
    assert first.SOPInstanceUID == again.SOPInstanceUID
    assert first.StudyInstanceUID == again.StudyInstanceUID
    assert other.SOPInstanceUID != first.SOPInstanceUID
    assert other.StudyInstanceUID != first.StudyInstanceUID
    assert other.SeriesInstanceUID != first.SeriesInstanceUID
    del tmp_path


# -- the worker shared by the watched folder and the web page: a property ------------------------

_JOB = st.fixed_dictionaries(
    {
        "content": st.sampled_from([JPEG, PNG]),
        "patient": st.sampled_from(["P1", "P2"]),
        "origin": st.sampled_from(["watch", "web"]),
        "place": st.sampled_from(["a", "b"]),  # a watched sub-folder, or a visit
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=st.lists(_JOB, min_size=2, max_size=8))
def test_distinct_jobs_never_share_a_sop_instance_uid_and_a_retry_keeps_its_own(
    jobs: list[dict[str, object]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        journal = Journal(root / "journal.sqlite")
        taken = []
        for number, job in enumerate(jobs):
            source = root / "in" / f"{number}.img"
            source.parent.mkdir(exist_ok=True)
            source.write_bytes(job["content"])  # type: ignore[arg-type]
            web = job["origin"] == "web"
            taken.append(
                journal.add(
                    origin=str(job["origin"]),
                    batch=f"web/{job['place']}/0" if web else str(job["place"]),
                    source=str(source),
                    name=source.name,
                    size=source.stat().st_size,
                    mtime_ns=source.stat().st_mtime_ns,
                    digest=file_digest(source),
                    metadata={"PatientID": job["patient"]},
                )
            )
        worker = Worker(journal, ServiceSettings(), root / "spool", filing=None)  # type: ignore[arg-type]
        uids = [worker._layers(job)["SOPInstanceUID"] for job in taken]
        assert len(set(uids)) == len(uids)
        journal.close()

        # A crash, then the same journal opened again: each job keeps the UID it had.
        reopened = Journal(root / "journal.sqlite")
        again = Worker(reopened, ServiceSettings(), root / "spool", filing=None)  # type: ignore[arg-type]
        retried = [again._layers(job)["SOPInstanceUID"] for job in taken]
        assert retried == uids
        reopened.close()


def test_the_series_of_one_visit_are_one_study(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    source = tmp_path / "photo.jpg"
    source.write_bytes(JPEG)
    jobs = [
        journal.add(
            origin="web",
            batch=f"web/visit1/{series}",
            source=str(source),
            name=f"visit1/{series}/photo.jpg",
            size=source.stat().st_size,
            mtime_ns=source.stat().st_mtime_ns,
            digest=file_digest(source),
            metadata={"PatientID": "P1", "SeriesNumber": str(series + 1)},
        )
        for series in (0, 1)
    ]
    worker = Worker(journal, ServiceSettings(), tmp_path / "spool", filing=None)  # type: ignore[arg-type]
    first, second = (worker._layers(job) for job in jobs)
    journal.close()
    assert first["StudyInstanceUID"] == second["StudyInstanceUID"]
    assert first["SeriesInstanceUID"] != second["SeriesInstanceUID"]
    assert (first["SeriesNumber"], second["SeriesNumber"]) == ("1", "2")


# -- study and series attributes are the study's and series', not each file's -----------------


def test_a_resumed_batch_gives_its_new_files_the_batch_s_study_and_series_time(
    tmp_path: Path,
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.png").write_bytes(PNG)
    out = tmp_path / "out"
    out.mkdir()
    began = 1_000_000_000.0  # 2001-09-09: not now, so only the stored time can give it
    (out / ".dicomize-batch.json").write_text(json.dumps({"uid_seed": "s", "begun": began}))

    dicomize.run_batch(dicomize.plan_tree(source, out), out, {"PatientID": "P1"}, workers=1)

    written = pydicom.dcmread(out / "a.dcm")
    expected = time.strftime("%Y%m%d", time.localtime(began))
    assert written.StudyDate == written.SeriesDate == expected
    assert written.StudyTime == written.SeriesTime == time.strftime("%H%M%S", time.localtime(began))
    assert written.ContentDate != expected  # the instance's own time is its own


def test_the_watched_folder_gives_every_file_of_a_study_the_time_it_began(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    sources = []
    for name in ("first.jpg", "later.jpg"):
        sources.append(tmp_path / name)
        sources[-1].write_bytes(JPEG)
    jobs = [
        journal.add(
            origin="watch",
            batch="ward",
            source=str(path),
            name=path.name,
            size=path.stat().st_size,
            mtime_ns=path.stat().st_mtime_ns,
            digest=file_digest(path),
            metadata={"PatientID": "P1"},
        )
        for path in sources
    ]
    worker = Worker(journal, ServiceSettings(), tmp_path / "spool", filing=None)  # type: ignore[arg-type]
    first = worker._layers(jobs[0])
    worker.convert(jobs[0])  # its object fixes when the study and series began
    # The study began long ago: a file converted now still gets that time.
    journal._db.execute(
        "UPDATE meta SET value = json_set(value, '$.begun', 1000000000.0) WHERE key LIKE 'first:%'"
    )
    later = worker._layers(jobs[1])
    journal.close()
    assert first["StudyInstanceUID"] == later["StudyInstanceUID"]
    assert later["StudyDate"] == time.strftime("%Y%m%d", time.localtime(1_000_000_000))
    assert later["SeriesTime"] == time.strftime("%H%M%S", time.localtime(1_000_000_000))


def test_instance_numbers_go_on_after_retention_removed_the_older_jobs(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    source = tmp_path / "photo.jpg"
    source.write_bytes(JPEG)

    def add() -> int:
        job = journal.add(
            origin="watch",
            batch="Mueller_Hans",
            source=str(source),
            name=source.name,
            size=1,
            mtime_ns=1,
            digest="d",
        )
        return job.instance_number

    numbers = [add(), add()]
    for job in journal.batch("Mueller_Hans"):
        journal.update(job.id, state=JobState.DONE)
    assert len(journal.expire(time.time() + 1)) == 2
    numbers.append(add())
    journal.close()
    assert numbers == [1, 2, 3]
    # What outlives retention does not name the folder (it may be the patient's name).
    assert b"Mueller" not in _meta_bytes(tmp_path / "journal.sqlite")


def _meta_bytes(path: Path) -> bytes:
    with sqlite3.connect(path) as db:
        return repr(db.execute("SELECT key, value FROM meta").fetchall()).encode()


def test_a_worklist_answer_is_not_kept_past_its_reuse_window(worklist: WorklistServer) -> None:
    # A long-running watch must neither hold a patient's data in memory for good nor miss
    # a correction made on the worklist since.
    from dicomize import worklist_lookup as module

    worklist.add("order", item("ACC9", name="Before^Ann"))
    lookup = module.WorklistLookup(url=worklist.url)
    assert lookup.metadata_for("ACC9", None)["PatientName"] == "Before^Ann"
    worklist.add("order", item("ACC9", name="After^Ann"))  # corrected on the worklist
    assert lookup.metadata_for("ACC9", None)["PatientName"] == "Before^Ann"  # reused
    # A minute and more later: the answers kept are that old.
    for key, (when, answer) in list(module._answers.items()):
        module._answers[key] = (when - module._ANSWER_KEPT - 1, answer)
    assert lookup.metadata_for("ACC9", None)["PatientName"] == "After^Ann"
    assert all("Before" not in repr(answer) for answer in module._answers.values())


# -- what a review of the above found ---------------------------------------------------------


def _seeded(sources: list[Path]) -> list[pydicom.Dataset]:
    options = dicomize.ConvertOptions(uid_seed="S")
    converted = dicomize.convert_series(sources, {"PatientID": "P1"}, options=options)
    return [ds for _, ds in converted if isinstance(ds, pydicom.Dataset)]


def test_which_series_a_kind_gets_does_not_follow_the_inputs_order(tmp_path: Path) -> None:
    (tmp_path / "p.png").write_bytes(PNG)
    (tmp_path / "d.pdf").write_bytes(make_pdf())
    picture, document = _seeded([tmp_path / "p.png", tmp_path / "d.pdf"])
    document_again, picture_again = _seeded([tmp_path / "d.pdf", tmp_path / "p.png"])
    assert picture.SeriesInstanceUID == picture_again.SeriesInstanceUID
    assert document.SeriesInstanceUID == document_again.SeriesInstanceUID
    assert (picture_again.SeriesNumber, document_again.SeriesNumber) == (1, 2)


def test_the_models_of_a_batch_folder_share_one_frame_of_reference(tmp_path: Path) -> None:
    folder = tmp_path / "in" / "implant"
    folder.mkdir(parents=True)
    (folder / "a.stl").write_bytes(binary_stl())
    (folder / "b.stl").write_bytes(binary_stl())
    out = tmp_path / "out"
    summary = dicomize.run_batch(
        dicomize.plan_tree(tmp_path / "in", out), out, {"PatientID": "P1"}, workers=1
    )
    assert summary.converted == 2
    frames = {ds.FrameOfReferenceUID for ds in _objects(out)}
    assert len(frames) == 1


def test_a_manifest_s_series_number_column_is_written_as_given(tmp_path: Path) -> None:
    (tmp_path / "p.png").write_bytes(PNG)
    manifest = tmp_path / "import.csv"
    manifest.write_text(
        "path,output,PatientID,series_key,SeriesNumber\n"
        "p.png,a.dcm,P1,A,2\np.png,b.dcm,P1,B,1\np.png,c.dcm,P1,C,7\n"
    )
    out = tmp_path / "out"
    dicomize.run_batch(dicomize.plan_manifest(manifest, out), out, workers=1)
    numbers = [pydicom.dcmread(out / f"{n}.dcm").SeriesNumber for n in "abc"]
    assert numbers == [2, 1, 7]


def test_one_uid_seed_over_two_trees_with_the_same_names_gives_distinct_instances(
    tmp_path: Path,
) -> None:
    for tree, data in (("d1", PNG), ("d2", encode(Image.fromarray(gradient() // 2), "PNG"))):
        (tmp_path / tree / "cam").mkdir(parents=True)
        (tmp_path / tree / "cam" / "IMG_0001.png").write_bytes(data)
    options = dicomize.ConvertOptions(uid_seed="clinic")
    for tree in ("d1", "d2"):
        out = tmp_path / "out" / tree
        plan = dicomize.plan_tree(tmp_path / tree, out)
        dicomize.run_batch(plan, out, {"PatientID": "1"}, options=options, workers=1)
    first, second = _objects(tmp_path / "out")
    assert first.SOPInstanceUID != second.SOPInstanceUID


def test_two_files_of_a_folder_with_one_output_name_fail_the_second_one_said_why(
    tmp_path: Path,
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.bmp").write_bytes(encode(Image.fromarray(gradient()), "BMP"))
    (tmp_path / "in" / "a.png").write_bytes(PNG)
    out = tmp_path / "out"
    results: list[dicomize.BatchResult] = []
    dicomize.run_batch(
        dicomize.plan_tree(tmp_path / "in", out),
        out,
        {"PatientID": "P1"},
        workers=1,
        on_result=results.append,
    )
    assert [r.status for r in results] == ["converted", "failed"]
    assert "its output a.dcm is a.bmp's: rename one of them" in str(results[1].error)


def test_a_rerun_that_meets_a_new_folder_keeps_the_old_series_numbers(tmp_path: Path) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    (source / "b").mkdir(parents=True)
    (source / "b" / "1.png").write_bytes(PNG)

    def run() -> None:
        plan = dicomize.plan_tree(source, out, group_by="tree")
        dicomize.run_batch(plan, out, {"PatientID": "P1"}, workers=1)

    run()
    (source / "a").mkdir()
    (source / "a" / "1.png").write_bytes(PNG)
    (source / "b" / "2.png").write_bytes(PNG)
    run()
    numbers = {
        path.relative_to(out).as_posix(): pydicom.dcmread(path).SeriesNumber
        for path in out.rglob("*.dcm")
    }
    assert numbers == {"b/1.dcm": 1, "b/2.dcm": 1, "a/1.dcm": 2}


def test_a_series_uid_given_to_a_batch_of_several_studies_fails_the_later_studies(
    tmp_path: Path,
) -> None:
    for folder in ("x", "y"):
        (tmp_path / "in" / folder).mkdir(parents=True)
        (tmp_path / "in" / folder / "p.png").write_bytes(PNG)
    out = tmp_path / "out"
    summary = dicomize.run_batch(
        dicomize.plan_tree(tmp_path / "in", out),
        out,
        {"PatientID": "P1", "SeriesInstanceUID": "1.2.3.4"},
        workers=1,
    )
    assert (summary.converted, summary.failed) == (1, 1)


def test_manifest_rows_agree_per_series_of_a_study_not_across_studies(tmp_path: Path) -> None:
    (tmp_path / "p.png").write_bytes(PNG)
    manifest = tmp_path / "import.csv"
    manifest.write_text(
        "path,output,PatientID,study_key,series_key,BodyPartExamined\n"
        "p.png,a.dcm,P1,one,photos,HAND\np.png,b.dcm,P1,two,photos,FOOT\n"
    )
    items = list(dicomize.plan_manifest(manifest, tmp_path / "out"))
    assert len(items) == 2

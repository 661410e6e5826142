"""A batch's file traffic (issue 28): each input opened once, outputs whole however written.

How many system calls a file costs is measured in ``bench/run.py`` (the ``scale``
section), never here; these tests hold the behaviours that make it few: one open of
each input, a file written in any number of pieces still byte for byte the same, a
read that comes back in parts still whole, temporary names that no two processes
share, and an output made by another run while this one worked kept, not replaced.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomize
import dicomize._write
import dicomize.files
from conftest import encode
from dicomize.batch import BatchResult, plan_tree, run_batch
from dicomize.batch import run as batch_run
from dicomize.dicom.part10 import Part10Object, write_part10
from dicomize.files import is_temporary_of, read_start, temporary_name

#: The paths opened while a test listens (an audit hook cannot be removed: it listens
#: only while this list has a counter in it).
_LISTENING: list[Counter[str]] = []


def _on_audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _LISTENING and isinstance(args[0], str | bytes | os.PathLike):
        _LISTENING[-1][str(Path(os.fsdecode(args[0])).absolute())] += 1


sys.addaudithook(_on_audit)


@pytest.fixture
def opened() -> Iterator[Counter[str]]:
    """Count every file this process opens (``open``, ``os.open``, ``Path.open``)."""
    counter: Counter[str] = Counter()
    _LISTENING.append(counter)
    yield counter
    _LISTENING.remove(counter)


def _photos(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(28)
    paths = []
    for index in range(count):
        pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        fmt = "PNG" if index % 3 == 2 else "JPEG"
        path = folder / f"p{index}.{fmt.lower()}"
        path.write_bytes(encode(Image.fromarray(pixels), fmt))
        paths.append(path)
    return paths


def test_a_batch_opens_each_input_once(tmp_path: Path, opened: Counter[str]) -> None:
    """Its kind, its format, its pixels and (with --uid-seed) its digest: one open."""
    sources = _photos(tmp_path / "photos", 6)
    opened.clear()  # made: now read
    out = tmp_path / "out"
    options = dicomize.ConvertOptions(uid_seed="one open")
    summary = run_batch(plan_tree(tmp_path / "photos", out), out, options=options, workers=1)
    assert summary.converted == len(sources)
    assert {path.name: opened[str(path.absolute())] for path in sources} == {
        path.name: 1 for path in sources
    }


def test_a_rerun_reads_only_the_head_of_inputs_whose_output_is_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Skipping a finished file needs its kind, not its pixels: a rerun reads no input whole."""
    from dicomize import inputs

    _photos(tmp_path / "photos", 3)
    out = tmp_path / "out"
    asked: list[int] = []
    read = dicomize.files.read_start

    def counted(path: Any, *, head: int, whole: int) -> Any:
        asked.append(whole)
        return read(path, head=head, whole=whole)

    monkeypatch.setattr(inputs, "read_start", counted)
    assert run_batch(plan_tree(tmp_path / "photos", out), out, workers=1).converted == 3
    assert asked == [inputs.WHOLE] * 3
    asked.clear()
    assert run_batch(plan_tree(tmp_path / "photos", out), out, workers=1).skipped == 3
    assert asked == [0] * 3


def test_an_output_made_by_another_run_meanwhile_is_kept_and_counted_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made after this run listed its folder: its own object is skipped, another's is kept."""
    _photos(tmp_path / "photos", 3)
    out = tmp_path / "out"
    assert run_batch(plan_tree(tmp_path / "photos", out), out, workers=1).converted == 3
    before = {path: path.read_bytes() for path in out.glob("*.dcm")}
    theirs = out / "p1.dcm"
    theirs.write_bytes(b"someone else's file")
    # As if the folder had been listed before the files appeared.
    monkeypatch.setattr(batch_run, "_present", lambda *_: False)
    results: list[BatchResult] = []
    summary = run_batch(
        plan_tree(tmp_path / "photos", out), out, workers=1, on_result=results.append
    )
    assert (summary.skipped, summary.failed) == (2, 1)
    (failed,) = (result for result in results if result.status == "failed")
    assert failed.input.endswith("p1.jpeg")
    assert "exists" in (failed.error or "")
    assert theirs.read_bytes() == b"someone else's file"
    theirs.unlink()  # not a DICOM file: the suite's judge would read it
    for path, data in before.items():
        if path != theirs:
            assert path.read_bytes() == data
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".p")) == []


@pytest.fixture
def passed_through(tmp_path: Path) -> Part10Object:
    """A JPEG passed through, large enough that its codestream is not copied into the header."""
    from dicomize._convert import encode_series

    photo = tmp_path / "photo.jpg"
    noise = np.random.default_rng(28).integers(0, 255, (320, 320, 3), dtype=np.uint8)
    photo.write_bytes(encode(Image.fromarray(noise), "JPEG", quality=95))
    assert photo.stat().st_size > 1 << 16  # part10's _GATHER: smaller ones are joined
    ((_, encoded),) = encode_series([photo], {"PatientID": "1"})
    assert isinstance(encoded, Part10Object)
    return encoded


def test_a_file_written_a_few_bytes_at_a_time_is_the_same_file(
    passed_through: Part10Object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write may take part of what it is given: the writer goes on from there."""
    expected = io.BytesIO()
    write_part10(expected, passed_through)
    calls = Counter[str]()
    real_write, real_writev = os.write, os.writev

    def write(descriptor: int, data: Any) -> int:
        calls["write"] += 1
        return real_write(descriptor, memoryview(data)[:7])

    def writev(descriptor: int, buffers: list[Any]) -> int:
        # What the file system took: a few bytes, or a buffer and a few of the next.
        calls["writev"] += 1
        if calls["writev"] % 2 and len(buffers) > 1:
            return real_writev(descriptor, [buffers[0], memoryview(buffers[1])[:5]])
        return real_writev(descriptor, [memoryview(buffers[0])[:5]])

    monkeypatch.setattr("os.write", write)  # what a full disk or a signal may do
    monkeypatch.setattr(dicomize._write, "_WRITEV", writev)
    target = tmp_path / "pieces.dcm"
    dicomize._write.write_object(passed_through, target)
    assert target.read_bytes() == expected.getvalue()
    assert calls["writev"] > 1
    assert pydicom.dcmread(target).SOPInstanceUID
    # A small object is one buffer, written with write().
    dataset = dicomize.convert(np.arange(4096, dtype=np.uint16).reshape(64, 64), {"PatientID": "1"})
    expected = io.BytesIO()
    write_part10(expected, dataset)
    dicomize._write.write_object(dataset, tmp_path / "small.dcm")
    assert (tmp_path / "small.dcm").read_bytes() == expected.getvalue()
    assert calls["write"] > 1


def test_a_passed_through_jpeg_is_written_in_one_writev(
    passed_through: Part10Object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header, the codestream and the trailer go out together, the codestream uncopied."""
    runs: list[int] = []
    real_writev = os.writev

    def writev(descriptor: int, buffers: list[Any]) -> int:
        runs.append(len(buffers))
        return real_writev(descriptor, buffers)

    monkeypatch.setattr(dicomize._write, "_WRITEV", writev)
    dicomize._write.write_object(passed_through, tmp_path / "one.dcm")
    assert runs == [3]


def test_a_file_read_in_parts_or_grown_since_its_size_was_taken_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.bin"
    data = bytes(range(256)) * 40
    path.write_bytes(data)
    real_read, real_fstat = os.read, os.fstat
    monkeypatch.setattr("os.read", lambda fd, n: real_read(fd, min(n, 1000)))
    assert read_start(path, head=64, whole=1 << 20) == (data, len(data))
    assert read_start(path, head=64, whole=100) == (data[:64], len(data))

    class Smaller:
        def __init__(self, info: os.stat_result) -> None:
            self.st_mode, self.st_size = info.st_mode, 10

    monkeypatch.setattr("os.fstat", lambda fd: Smaller(real_fstat(fd)))
    assert read_start(path, head=64, whole=1 << 20) == (data, len(data))


def test_a_named_pipe_is_not_read_when_sniffed(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    assert read_start(pipe, head=64, whole=1 << 20) is None  # and it did not block


def _name_in_child(path: str) -> str:
    return temporary_name(path)


def test_temporary_names_are_new_in_each_process_and_each_call() -> None:
    first, second = temporary_name("out/a.dcm"), temporary_name("out/a.dcm")
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        child = pool.apply(_name_in_child, ("out/a.dcm",))
    names = [Path(name).name for name in (first, second, child)]
    assert len(set(names)) == 3
    assert all(is_temporary_of(name, "a.dcm") for name in names)
    token = len(".a.dcm.") + 12  # the process's random part (6 bytes, in hex)
    assert names[0][:token] == names[1][:token]
    assert names[2][:token] != names[0][:token]

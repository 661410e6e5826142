"""One read of an input's head decides its kind and format, and the readers trust it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import dicomize
from conftest import encode, gradient
from dicomize import readers
from dicomize.documents import DOCUMENT_FORMATS
from dicomize.inputs import KINDS, sniff
from dicomize.iods import IODS
from test_documents import make_pdf


def test_every_kind_an_iod_holds_is_a_kind_of_input_and_back() -> None:
    assert {iod.kind for iod in IODS.values()} == set(KINDS)
    formats = {name for kind in KINDS.values() for name in kind.formats}
    assert {fmt.name for fmt in DOCUMENT_FORMATS} <= formats
    assert {fmt.label or fmt.name for fmt in readers.FORMATS} <= formats


@pytest.mark.parametrize(
    ("name", "data", "kind", "fmt"),
    [
        ("p.png", encode(Image.fromarray(gradient()), "PNG"), "picture", "PNG"),
        ("p.jpg", encode(Image.fromarray(gradient()), "JPEG"), "picture", "JPEG"),
        ("report.pdf", make_pdf(), "document", "PDF"),
        ("part.obj", b"# a tetrahedron\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "model", "OBJ"),
        ("clip.mp4", b"\0\0\0\x18ftypisom" + bytes(100), "video", None),
        ("broken.stl", b"not a model", "model", "STL"),  # its name's reader says why
    ],
)
def test_the_head_decides_the_kind_and_the_format(
    tmp_path: Path, name: str, data: bytes, kind: str, fmt: str | None
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    found = sniff(path)
    assert found.kind == kind
    named = found.picture or found.document
    assert (named.name if named else None) == fmt


def test_a_picture_is_read_without_being_sniffed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "p.png"
    source.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    calls: list[Any] = []
    detect = readers.detect_format

    def counted(data: bytes) -> readers.Format:
        calls.append(data)
        return detect(data)

    monkeypatch.setattr(readers, "detect_format", counted)
    ds = dicomize.convert(source, {"PatientID": "1"})
    assert ds.Rows == 48
    assert calls == []  # inputs.sniff read the head; the reader was handed the format


def test_a_batch_reads_each_files_head_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kind that picks a file's series and the format its reader gets: one read."""
    from dicomize import inputs
    from dicomize.batch import run

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png"):
        (photos / name).write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    heads: list[Any] = []
    decide = inputs._decide

    def counted(head: bytes, *args: Any) -> inputs.Sniffed:
        heads.append(head[:8])
        return decide(head, *args)

    monkeypatch.setattr(inputs, "_decide", counted)
    out = tmp_path / "out"
    summary = run.run_batch(dicomize.plan_tree(photos, out), out, workers=1)
    assert summary.converted == 2
    assert len(heads) == 2

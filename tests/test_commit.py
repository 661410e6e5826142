"""Storage Commitment against a real Orthanc: nothing is deleted before the PACS commits to it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest

import dicomize
from conftest import FULL_METADATA
from dicomize import SendOptions
from peers import Orthanc, free_port

#: Orthanc accepts every C-STORE but drops, as soon as it is stored, an instance whose
#: Patient ID is LOSE: the PACS that said "stored" and then lost the file.
LOSING_SCRIPT = """
function OnStoredInstance(instanceId, tags, metadata, origin)
  if tags["PatientID"] == "LOSE" then
    Delete(instanceId)
  end
end
"""


@pytest.fixture
def listen_port() -> int:
    return free_port()


@pytest.fixture
def committing_orthanc(tmp_path: Path, listen_port: int) -> Iterator[Orthanc]:
    """Orthanc that knows our AE title and where to send its commitment reports."""
    script = tmp_path / "lose.lua"
    script.write_text(LOSING_SCRIPT)
    folder = tmp_path / "orthanc"
    folder.mkdir()
    server = Orthanc(
        folder,
        DicomModalities={"dicomize": ["DICOMIZE", "127.0.0.1", listen_port]},
        LuaScripts=[str(script)],
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _files(folder: Path, *patient_ids: str) -> list[Path]:
    paths = []
    for index, patient_id in enumerate(patient_ids):
        paths.append(folder / f"photo{index}.dcm")
        metadata = {**FULL_METADATA, "PatientID": patient_id}
        dicomize.write(dicomize.convert(np.full((8, 8), index, np.uint8), metadata), paths[-1])
    return paths


def test_only_committed_files_are_deleted(
    tmp_path: Path, committing_orthanc: Orthanc, listen_port: int
) -> None:
    kept, lost = _files(tmp_path, "12345", "LOSE")
    options = SendOptions(
        commit=True,
        commit_listen=f"127.0.0.1:{listen_port}",
        commit_timeout=20,
        delete_after_store=True,
    )
    url = f"dicom://ORTHANC@127.0.0.1:{committing_orthanc.dicom_port}"
    results = {Path(r.input).name: r for r in dicomize.send_files([kept, lost], url, options)}
    assert results["photo0.dcm"].status == "committed"
    assert results["photo1.dcm"].status == "not committed"
    assert results["photo1.dcm"].error == (
        "the PACS did not commit: no such object instance (0x0112)"
    )
    assert not kept.exists()  # committed: deleted as asked
    assert lost.exists()  # stored, then lost by the PACS: kept


def test_a_long_send_asks_for_commitment_a_batch_at_a_time(
    tmp_path: Path,
    committing_orthanc: Orthanc,
    listen_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dicomize.send.commit import Committer

    asked: list[int] = []
    request = Committer.request

    def counted(self: Committer, instances: Iterable[tuple[str, str]]) -> dict[str, str | None]:
        pairs = list(instances)
        asked.append(len(pairs))
        return request(self, pairs)

    monkeypatch.setattr(Committer, "request", counted)
    paths = _files(tmp_path, *[f"P{index}" for index in range(7)])
    options = SendOptions(
        commit=True, commit_listen=f"127.0.0.1:{listen_port}", commit_timeout=20, commit_batch=3
    )
    url = f"dicom://ORTHANC@127.0.0.1:{committing_orthanc.dicom_port}"
    results = list(dicomize.send_files(paths, url, options))
    # Seven instances, three to a request: one N-ACTION for each of 3, 3 and 1, all over the
    # one listener the send opened; each instance committed, each file reported once.
    assert sorted(asked) == [1, 3, 3]
    assert sorted(r.input for r in results) == sorted(map(str, paths))
    assert [r.status for r in results] == ["committed"] * 7


def test_no_report_means_not_committed_and_nothing_deleted(
    tmp_path: Path, committing_orthanc: Orthanc
) -> None:
    (photo,) = _files(tmp_path, "12345")
    # Nobody listens where Orthanc sends its report.
    options = SendOptions(commit=True, commit_timeout=3, delete_after_store=True)
    url = f"dicom://ORTHANC@127.0.0.1:{committing_orthanc.dicom_port}"
    (result,) = dicomize.send_files([photo], url, options)
    assert result.status == "not committed"
    assert result.error == "no commitment report within 3 s"
    assert photo.exists()


def test_commitment_over_dicomweb_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    (photo,) = _files(tmp_path, "12345")
    with pytest.raises(dicomize.ConfigError, match="Storage Commitment is a DIMSE service"):
        list(
            dicomize.send_files([photo], "https://pacs.invalid/dicom-web", SendOptions(commit=True))
        )


def test_a_pacs_that_refuses_commitment_keeps_every_file(tmp_path: Path, orthanc: Orthanc) -> None:
    # The plain Orthanc does not know our AE title: it stores, but rejects the N-ACTION.
    (photo,) = _files(tmp_path, "12345")
    options = SendOptions(commit=True, commit_timeout=3, delete_after_store=True)
    url = f"dicom://ORTHANC@127.0.0.1:{orthanc.dicom_port}"
    (result,) = dicomize.send_files([photo], url, options)
    assert result.status == "not committed"
    assert result.error is not None
    # Orthanc 1.10 rejects the N-ACTION without a status (its log: "Rejected N-ACTION").
    assert result.error.startswith("the PACS refused the commitment request (")
    assert photo.exists()

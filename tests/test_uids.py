"""UIDs made without the uuid module are the UUIDs it makes: resumed batches keep theirs."""

from __future__ import annotations

import uuid

from dicomize.uids import derive_uid, is_valid_uid, new_uid

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "dicomize deterministic uids")


def test_derived_uids_are_the_version_5_uuids_of_earlier_releases() -> None:
    for parts in [("seed", "sop", "photos/a.jpg"), ("clinic-42", "study"), ("é", "ü")]:
        expected = uuid.uuid5(NAMESPACE, "\x1f".join(parts)).int
        assert derive_uid(*parts) == f"2.25.{expected}"


def test_new_uids_are_random_version_4_uuids() -> None:
    made = {new_uid() for _ in range(200)}
    assert len(made) == 200
    for uid in made:
        assert is_valid_uid(uid)
        value = uuid.UUID(int=int(uid.removeprefix("2.25.")))
        assert (value.version, value.variant) == (4, uuid.RFC_4122)


def test_uids_under_a_root_fill_the_64_characters() -> None:
    root = "1.2.826.0.1.3680043.10.543"
    for uid in (new_uid(root), derive_uid("seed", "x", root=root)):
        assert uid.startswith(root + ".")
        assert is_valid_uid(uid)
        assert len(uid) == 64

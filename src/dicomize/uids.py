"""UID generation and syntax checks (PS3.5 section 9 and Annex B).

>>> uid = new_uid()
>>> uid.startswith("2.25.") and is_valid_uid(uid)
True
>>> is_valid_uid("1.2.03.4")   # leading zero in a component
False
"""

from __future__ import annotations

import os
import re

from dicomize.errors import ConfigError

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "NATIVE_SYNTAXES",
    "check_uid_root",
    "derive_uid",
    "is_encapsulated",
    "is_valid_uid",
    "new_uid",
]

#: The transfer syntaxes whose Pixel Data is native, not encapsulated (PS3.5 A.1-A.3, A.5):
#: Implicit VR LE, Explicit VR LE, Deflated Explicit VR LE, Explicit VR BE.
NATIVE_SYNTAXES = frozenset(
    {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2"}
)


def is_encapsulated(transfer_syntax: str) -> bool:
    """Tell whether Pixel Data is encapsulated under `transfer_syntax` (PS3.5 A.4).

    >>> is_encapsulated("1.2.840.10008.1.2.4.50"), is_encapsulated("1.2.840.10008.1.2.1")
    (True, False)
    """
    return transfer_syntax not in NATIVE_SYNTAXES


#: Fixed for the 0.x release line (PS3.7 D.3.3.2 asks for one value per implementation
#: version, not per file). Derived once from uuid5(NAMESPACE_URL, "dicomize implementation 0.1").
IMPLEMENTATION_CLASS_UID = "2.25.331851419021519983696777906371661452013"
#: PS3.10 7.1: SH, at most 16 characters.
IMPLEMENTATION_VERSION_NAME = "DICOMIZE_0_1"

_MAX_UID_LENGTH = 64
# A root must leave room for a suffix with enough entropy: 64 - 40 - 1 = 23 decimal
# digits is about 76 random bits, far beyond any collision risk in one archive.
_MAX_ROOT_LENGTH = 40
_COMPONENT = r"(0|[1-9][0-9]*)"
_UID_RE = re.compile(rf"^[012](\.{_COMPONENT})+$")


def is_valid_uid(value: str) -> bool:
    """Tell whether `value` is a syntactically valid DICOM UID.

    Digits and dots only, no empty component, no leading zero in a component,
    at most 64 characters, first arc 0, 1 or 2 (ISO/IEC 9834-1), and not under
    the example arc ``2.999`` which validators reject as non-existent.
    """
    if not value or len(value) > _MAX_UID_LENGTH or not _UID_RE.match(value):
        return False
    return not (value == "2.999" or value.startswith("2.999."))


def check_uid_root(root: str) -> str:
    """Return `root` without a trailing dot; raise ConfigError if it is unusable.

    A root is an organisation's registered UID prefix (for example
    ``1.2.826.0.1.3680043.10.543``). It must itself be a valid UID and short
    enough to leave at least 23 digits for the unique suffix.
    """
    root = root.rstrip(".")
    if not is_valid_uid(root):
        raise ConfigError(
            f"UID root {root!r} is not a valid UID (digits and dots, no leading zeros)"
        )
    if len(root) > _MAX_ROOT_LENGTH:
        raise ConfigError(
            f"UID root {root!r} is {len(root)} characters; at most {_MAX_ROOT_LENGTH} leave room "
            "for a unique suffix"
        )
    return root


def new_uid(root: str | None = None) -> str:
    """Return a new, globally unique UID.

    Parameters
    ----------
    root : str or None
        An organisation root. ``None`` gives the ``2.25.<uuid>`` form of
        PS3.5 B.2, which needs no registration.

    Returns
    -------
    str
        A UID of at most 64 characters.
    """
    if root is None:
        return f"2.25.{_uuid_int(os.urandom(16), 4)}"
    root = check_uid_root(root)
    digits = _MAX_UID_LENGTH - len(root) - 1
    # A leading zero is illegal, so draw from [10**(digits-1), 10**digits). 256 random
    # bits against at most 10**63 values: the modulo's bias is below 2**-46.
    low = 10 ** (digits - 1)
    suffix = low + int.from_bytes(os.urandom(32), "big") % (10**digits - low)
    return f"{root}.{suffix}"


def _uuid_int(sixteen: bytes, version: int) -> int:
    """Return the integer of the RFC 9562 UUID made of `sixteen` bytes and `version`.

    What ``uuid.UUID(bytes=..., version=...).int`` gives, without importing
    :mod:`uuid` (which imports :mod:`platform`) on the start-up path.

    >>> import uuid
    >>> _uuid_int(bytes(range(16)), 4) == uuid.UUID(bytes=bytes(range(16)), version=4).int
    True
    """
    value = int.from_bytes(sixteen, "big")
    value &= ~(0xC000 << 48)  # the variant: RFC 9562
    value |= 0x8000 << 48
    value &= ~(0xF000 << 64)  # the version
    return value | version << 76


# Namespace of dicomize's name-based UUIDs: uuid5(NAMESPACE_URL, "dicomize deterministic uids").
_NAMESPACE = bytes.fromhex("7b74140a13075a29859af3013becd59a")


def derive_uid(seed: str, *parts: str, root: str | None = None) -> str:
    """Return the UID that `seed` and `parts` always give.

    Running the same conversion twice then yields the same UIDs, so a PACS
    sees the same instances again instead of duplicates. Without a root the
    result is ``2.25.`` + a name-based (version 5) UUID, as PS3.5 B.2 allows.

    >>> derive_uid("clinic-42", "study") == derive_uid("clinic-42", "study")
    True
    >>> derive_uid("clinic-42", "study") != derive_uid("clinic-43", "study")
    True
    """
    import hashlib  # OpenSSL loads in 3 ms: only when UIDs are derived

    name = "\x1f".join((seed, *parts))
    if root is None:
        # A version 5 UUID (RFC 9562 5.5): SHA-1 of the namespace and the name.
        digest = hashlib.sha1(_NAMESPACE + name.encode("utf-8"), usedforsecurity=False).digest()
        return f"2.25.{_uuid_int(digest[:16], 5)}"
    root = check_uid_root(root)
    digits = _MAX_UID_LENGTH - len(root) - 1
    value = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest(), "big")
    low = 10 ** (digits - 1)
    return f"{root}.{low + value % (10**digits - low)}"

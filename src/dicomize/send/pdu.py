"""The few PDUs and fields a C-STORE requestor exchanges (PS3.8 9.3, PS3.7 9.3.1, PS3.10 7.1).

pynetdicom's PDU classes encode all of these, but importing them imports
pynetdicom's application entity, pydicom and its pixel machinery: about 250 ms
before the first byte goes out, a third of sending 2,000 objects to a fast peer.
What the sender needs is small and fixed: the A-ASSOCIATE-RQ, the fields of the
A-ASSOCIATE-AC or -RJ that answer it, the C-STORE-RQ command and the Status of
its response, and a file's Meta Information. The tests hold every encoding
byte-for-byte equal to pynetdicom's and every decoding equal to pynetdicom's
and pydicom's on the same bytes. pydicom and pynetdicom stay the tools for
everything else (C-FIND, commitment, converting a file the peer cannot take).

>>> command = store_request("1.2.840.10008.5.1.4.1.1.7", "1.2.3", 7)
>>> fields = command_fields(command)
>>> fields[0x0110], fields[0x1000]
(7, '1.2.3')
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from dicomize.dicom.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

__all__ = [
    "Accepted",
    "MetaInformation",
    "associate_request",
    "command_fields",
    "parse_accept",
    "read_meta",
    "rejection_reason",
    "store_request",
]

_APPLICATION_CONTEXT = b"1.2.840.10008.3.1.1.1"  # PS3.7 A.2.1
_ITEM = struct.Struct(">BxH")
#: Item types (PS3.8 9.3.2-9.3.3, D.1): presentation context result, transfer syntax, user
#: information, maximum length.
_CONTEXT_RESULT, _SYNTAX, _USER, _MAX_LENGTH = 0x21, 0x40, 0x50, 0x51
_SHORT = struct.Struct("<HHHH")  # tag, VR, 2-byte length (explicit VR)

#: A-ASSOCIATE-RJ reasons (PS3.8 Table 9-21), by source, in pynetdicom's words.
_REASONS = {
    1: {
        1: "No reason given",
        2: "Application context name not supported",
        3: "Calling AE title not recognised",
        7: "Called AE title not recognised",
    },
    2: {1: "No reason given", 2: "Protocol version not supported"},
    3: {1: "Temporary congestion", 2: "Local limit exceeded"},
}

#: C-STORE-RQ's command fields (PS3.7 9.3.1.1, Table 9.3-1), all implicit VR little endian.
#: A data set follows: any Command Data Set Type but 0101H (PS3.7 E.1); 0001H as pynetdicom.
_STORE_RQ, _PRIORITY_MEDIUM, _DATA_SET_PRESENT = 0x0001, 0x0000, 0x0001
#: Command elements that hold text (UI, LO); the others read here are US.
_TEXT_FIELDS = frozenset({0x0002, 0x1000, 0x0902})


def _item(kind: int, value: bytes) -> bytes:
    return _ITEM.pack(kind, len(value)) + value


def _ae(title: str) -> bytes:
    return title.encode("ascii").ljust(16)


def associate_request(
    called: str,
    calling: str,
    contexts: list[tuple[int, str, tuple[str, ...]]],
    max_length: int,
) -> bytes:
    """Encode an A-ASSOCIATE-RQ (PS3.8 9.3.2) proposing `contexts` (ID, abstract, syntaxes).

    User Information: Maximum Length (D.1), our Implementation Class UID and
    Version Name (PS3.7 D.3.3.2).
    """
    items = [_item(0x10, _APPLICATION_CONTEXT)]
    for context_id, abstract, syntaxes in contexts:
        subitems = _item(0x30, abstract.encode("ascii"))
        subitems += b"".join(_item(0x40, syntax.encode("ascii")) for syntax in syntaxes)
        items.append(_item(0x20, bytes([context_id, 0, 0, 0]) + subitems))
    user = (
        _item(0x51, struct.pack(">I", max_length))
        + _item(0x52, IMPLEMENTATION_CLASS_UID.encode("ascii"))
        + _item(0x55, IMPLEMENTATION_VERSION_NAME.encode("ascii"))
    )
    items.append(_item(0x50, user))
    body = struct.pack(">HH", 1, 0) + _ae(called) + _ae(calling) + bytes(32) + b"".join(items)
    return struct.pack(">BxI", 0x01, len(body)) + body


@dataclass(frozen=True, slots=True)
class Accepted:
    """What an A-ASSOCIATE-AC (PS3.8 9.3.3) settles."""

    #: Context ID → the transfer syntax accepted (result 0, acceptance).
    contexts: dict[int, str] = field(default_factory=dict)
    #: The longest P-DATA-TF variable field the peer receives; 0 for no limit (D.1).
    max_length: int = 0


def parse_accept(pdu: bytes) -> Accepted:
    """Decode an A-ASSOCIATE-AC PDU (header included).

    Raises
    ------
    ValueError
        When an item runs past the PDU's end.
    """
    contexts: dict[int, str] = {}
    max_length = 0
    for kind, value in _items(pdu, 74):  # 6 header + 68 fixed bytes (PS3.8 Table 9-17)
        # A context's result 0 is acceptance (PS3.8 Table 9-18).
        if kind == _CONTEXT_RESULT and len(value) >= 4 and value[2] == 0:  # noqa: PLR2004
            syntax = next((v for k, v in _items(value, 4) if k == _SYNTAX), b"")
            contexts[value[0]] = syntax.rstrip(b"\0 ").decode("ascii")
        elif kind == _USER:
            for sub, subvalue in _items(value, 0):
                if sub == _MAX_LENGTH and len(subvalue) == 4:  # noqa: PLR2004
                    (max_length,) = struct.unpack(">I", subvalue)
    return Accepted(contexts=contexts, max_length=max_length)


def _items(data: bytes, start: int) -> list[tuple[int, bytes]]:
    found = []
    position = start
    while position + 4 <= len(data):
        kind, length = _ITEM.unpack_from(data, position)
        end = position + 4 + length
        if end > len(data):
            raise ValueError(f"item 0x{kind:02X} runs past the end of its PDU")
        found.append((kind, data[position + 4 : end]))
        position = end
    return found


def rejection_reason(result: int, source: int, diagnostic: int) -> str:
    """Put an A-ASSOCIATE-RJ's reason in words (PS3.8 9.3.4), with a hint for AE titles."""
    words = _REASONS.get(source, {}).get(diagnostic)
    if words is None:  # a reason PS3.8 Table 9-21 does not define
        return f"result {result}, source {source}, reason {diagnostic}"
    reason = words[0].lower() + words[1:]
    if "AE title" in reason:
        return f"{reason}: check the called and calling AE titles"
    return reason


def store_request(sop_class: str, sop_instance: str, message_id: int) -> bytes:
    """Encode a C-STORE-RQ command set (PS3.7 9.3.1.1) in implicit VR little endian (6.3.1)."""
    body = b"".join(
        (
            _element(0x0002, _ui(sop_class)),
            _element(0x0100, struct.pack("<H", _STORE_RQ)),
            _element(0x0110, struct.pack("<H", message_id)),
            _element(0x0700, struct.pack("<H", _PRIORITY_MEDIUM)),
            _element(0x0800, struct.pack("<H", _DATA_SET_PRESENT)),
            _element(0x1000, _ui(sop_instance)),
        )
    )
    return _element(0x0000, struct.pack("<I", len(body))) + body


def _ui(uid: str) -> bytes:
    value = uid.encode("ascii")
    return value + b"\0" if len(value) % 2 else value  # UI pads with NULL (PS3.5 6.2)


def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0x0000, element, len(value)) + value


def command_fields(data: bytes) -> dict[int, int | str]:
    """Decode a command set (group 0000, implicit VR little endian): element → value.

    US values come as numbers, UI and LO as text; what PS3.7 E.1 defines as
    other VRs (UL group length, AT lists) is kept as raw little-endian numbers
    when 2 bytes long and left out otherwise.

    Raises
    ------
    ValueError
        When an element runs past the end or leaves group 0000.
    """
    fields: dict[int, int | str] = {}
    position = 0
    while position + 8 <= len(data):
        group, element, length = struct.unpack_from("<HHI", data, position)
        value = data[position + 8 : position + 8 + length]
        if group != 0 or len(value) != length:
            raise ValueError("not a command set")
        if element in _TEXT_FIELDS:
            fields[element] = value.rstrip(b"\0 ").decode("ascii", "replace")
        elif length == 2:  # noqa: PLR2004
            (fields[element],) = struct.unpack("<H", value)
        position += 8 + length
    return fields


@dataclass(frozen=True, slots=True)
class MetaInformation:
    """A Part 10 file's File Meta Information, as far as sending needs it (PS3.10 7.1)."""

    sop_class: str
    sop_instance: str
    transfer_syntax: str
    #: Where the data set starts: after the preamble, "DICM" and group 0002.
    offset: int


_META = {0x0002: "sop_class", 0x0003: "sop_instance", 0x0010: "transfer_syntax"}
_KEYWORDS = {
    "sop_class": "MediaStorageSOPClassUID",
    "sop_instance": "MediaStorageSOPInstanceUID",
    "transfer_syntax": "TransferSyntaxUID",
}
# PS3.5 7.1.2: these VRs have a 2-byte reserved field and a 4-byte length.
_LONG = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"})


def read_meta(head: bytes) -> MetaInformation:
    """Read the File Meta Information from the first bytes of a Part 10 file.

    Group 0002 is always explicit VR little endian (PS3.10 7.1); it ends at the
    first element of another group. `head` must hold all of it (a few hundred
    bytes; 64 KiB is plenty).

    Raises
    ------
    ValueError
        No "DICM" prefix, group 0002 cut short, or a required element missing.
    """
    if head[128:132] != b"DICM":
        raise ValueError("no DICM prefix after the preamble")
    found: dict[str, str] = {}
    position = 132
    while True:
        if position + 8 > len(head):
            raise ValueError("the File Meta Information is cut short")
        group, element, _, length = _SHORT.unpack_from(head, position)
        if group != 0x0002:  # noqa: PLR2004
            break
        raw_vr = head[position + 4 : position + 6]
        if raw_vr in _LONG:
            (length,) = struct.unpack_from("<I", head, position + 8)
            start = position + 12
        else:
            start = position + 8
        if start + length > len(head):
            raise ValueError("the File Meta Information is cut short")
        name = _META.get(element)
        if name is not None:
            found[name] = head[start : start + length].rstrip(b"\0 ").decode("ascii")
        position = start + length
    missing = [_KEYWORDS[name] for name in _META.values() if not found.get(name)]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    return MetaInformation(offset=position, **found)

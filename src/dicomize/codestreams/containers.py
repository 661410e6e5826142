"""Which video container a file's first bytes open: MP4/MOV, Matroska/WebM, AVI, MPEG PS/TS.

Kept apart from :mod:`dicomize.video` (PyAV, the PS3.5 rules): every input is
sniffed, and telling a clip from a picture must not load what handles clips.
"""

from __future__ import annotations

from dicomize.codestreams.heif import AVIF_BRANDS, HEIF_BRANDS, brands

__all__ = ["VIDEO_SUFFIXES", "is_video"]

#: File names a clip goes by: a file no picture format takes is handed to FFmpeg by them.
VIDEO_SUFFIXES = frozenset(
    (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".m2ts", ".vob")
)
_MP4_BRANDS_OF_PICTURES = frozenset(
    (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis")
)


def is_video(head: bytes) -> bool:
    """Tell whether a file's first bytes open a video container (never a HEIF/AVIF picture)."""
    if head[4:8] == b"ftyp":
        # HEIF and AVIF pictures are ISO BMFF too: any picture brand makes it a picture.
        return head[8:12] not in _MP4_BRANDS_OF_PICTURES and not brands(head) & (
            HEIF_BRANDS | AVIF_BRANDS
        )
    return (
        head[4:8] in {b"moov", b"mdat", b"wide", b"free"}  # QuickTime without ftyp
        or head.startswith(b"\x1a\x45\xdf\xa3")  # Matroska, WebM
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
        or head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"))  # MPEG PS, MPEG-2 ES
        or (len(head) > 376 and head[0] == head[188] == head[376] == 0x47)  # TS
    )

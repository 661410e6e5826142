r"""PDF, kept byte for byte (Encapsulated PDF, A.45.1), checked by PDFium.

A PDF is opened with PDFium (pypdfium2), so a file that PDFium cannot read is
refused here rather than in a viewer. Refused too: a file that does not end in
``%%EOF`` (truncated), and an encrypted PDF, which a PACS can neither render nor
index.
"""

from __future__ import annotations

import datetime as dt
import re

from dicomize.documents import HEAD, Document
from dicomize.errors import CorruptImage, UnsupportedInput

__all__ = ["PDF_MIME_TYPE", "read"]

PDF_MIME_TYPE = "application/pdf"
#: ISO 32000-1 7.5.5: %%EOF is the last line; tools append a few bytes of whitespace or junk.
_TAIL = 1024
_PDF_DATE = re.compile(
    r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:([+\-Z])(\d{2})?'?(\d{2})?'?)?"
)


def read(data: bytes) -> Document:
    """Check a PDF with PDFium and read its title and creation date."""
    if b"%PDF-" not in data[:HEAD]:
        raise UnsupportedInput("not a PDF (no %PDF- header)")
    if b"%%EOF" not in data[-_TAIL:]:
        raise CorruptImage("PDF does not end with %%EOF (truncated)")
    import pypdfium2  # PDFium loads only for documents
    import pypdfium2.raw as pdfium_c

    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise UnsupportedInput(
                "PDF is encrypted with a password: a PACS can neither show nor index it"
            ) from None
        raise CorruptImage(f"PDF cannot be read by PDFium: {exc}") from None
    try:
        if pdfium_c.FPDF_GetSecurityHandlerRevision(document.raw) != -1:
            raise UnsupportedInput(
                "PDF is encrypted: a PACS can neither index nor reliably show it; "
                "save an unencrypted copy"
            )
        if len(document) == 0:
            raise CorruptImage("PDF has no pages")
        title = (document.get_metadata_value("Title") or "").strip() or None
        created = _pdf_date(document.get_metadata_value("CreationDate") or "")
    finally:
        document.close()
    return Document(
        data=data, mime_type=PDF_MIME_TYPE, source_format="PDF", title=title, created=created
    )


def _pdf_date(text: str) -> dt.datetime | None:
    """Parse a PDF date (ISO 32000-1 7.9.4: ``D:YYYYMMDDHHmmSSOHH'mm'``); None if unusable."""
    match = _PDF_DATE.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, sign, off_hours, off_minutes = match.groups()
    zone = None
    if sign == "Z":
        zone = dt.UTC
    elif sign:
        offset = dt.timedelta(hours=int(off_hours or 0), minutes=int(off_minutes or 0))
        zone = dt.timezone(offset if sign == "+" else -offset)
    try:
        return dt.datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=zone,
        )
    except ValueError:
        return None

"""Codestreams read by their markers and boxes, never decoded: what DICOM may store unchanged.

* :mod:`~dicomize.codestreams.jpeg`: JPEG, JPEG-LS (PS3.5 8.2.1, 8.2.3).
* :mod:`~dicomize.codestreams.j2k`: JPEG 2000, HTJ2K and the JP2 wrapper (PS3.5 8.2.4, 8.2.14).
* :mod:`~dicomize.codestreams.passthrough`: the description of a legal codestream.
* :mod:`~dicomize.codestreams.exif`: when an EXIF block says its picture was taken.

These modules parse bytes only. Reading files, decoding and transcoding belong to
:mod:`dicomize.readers`; choosing an output transfer syntax to :mod:`dicomize.syntaxes`.
"""

"""The wire format and its vocabulary, in one place.

* :mod:`~dicomize.dicom.part10`: the Part 10 encoder (Explicit VR Little Endian,
  byte-identical to pydicom's ``dcmwrite``) and :class:`~dicomize.dicom.part10.Part10Object`,
  dicomize's internal model of an object; pydicom's ``Dataset`` is the API's boundary.
* :mod:`~dicomize.dicom.dictionary`: tag, VR and VM of the attributes dicomize writes.
* :mod:`~dicomize.dicom.vr`: the one table of VRs, used to validate what users give
  and to encode it.
* :mod:`~dicomize.dicom.uids`: every DICOM UID dicomize uses, named; UID generation.
* :mod:`~dicomize.dicom.icc`: ICC profiles and the sRGB profile dicomize ships.
"""

"""The hand-written way: render every page of a PDF with pypdfium2, stack, save with pydicom.

A peer for ``dicomize convert --pdf-as-images`` in ``bench/run.py``: what people
write when no tool does it. It holds every page in memory before writing, and
writes True Color whatever the pages hold. Usage: pdf_pages_naive.py IN.pdf OUT.dcm DPI
"""

from __future__ import annotations

import sys

import numpy as np
import pypdfium2
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

source, output, dpi = sys.argv[1], sys.argv[2], int(sys.argv[3])
pdf = pypdfium2.PdfDocument(source)
pages = [
    pdf[i].render(scale=dpi / 72, rev_byteorder=True).to_numpy()[:, :, :3] for i in range(len(pdf))
]
frames = np.stack(pages)
ds = Dataset()
ds.file_meta = FileMetaDataset()
ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7.4"
ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
ds.NumberOfFrames, ds.Rows, ds.Columns = len(pages), frames.shape[1], frames.shape[2]
ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
ds.PixelData = frames.tobytes()
ds.save_as(output, enforce_file_format=True)

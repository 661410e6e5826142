"""The hand-written way: read a whole MP4 into memory and save it with pydicom.

A peer for ``dicomize convert clip.mp4`` in ``bench/run.py``: what a script
written against pydicom's documentation does. It holds the clip (and a copy
made by encapsulation) in memory. Usage: video_naive.py IN.mp4 OUT.dcm
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid

source, output = sys.argv[1], sys.argv[2]
with Path(source).open("rb") as stream:
    data = stream.read()
ds = Dataset()
ds.file_meta = FileMetaDataset()
ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.102"
ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.4.1"
ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
ds.Rows, ds.Columns, ds.NumberOfFrames = 1080, 1920, 1
ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_PARTIAL_420", 0
ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
ds.PixelData = encapsulate([data + b"\0" * (len(data) % 2)])
ds["PixelData"].VR = "OB"
ds.save_as(output, enforce_file_format=True)

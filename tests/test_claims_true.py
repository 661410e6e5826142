"""Claims an object makes must be true: the lossy history, Burned In Annotation (issue 30).

PS3.3 C.7.6.1.1.5: the two lists describe the same steps. A step whose method has no
Defined Term (WebP, VP9) cannot be listed in Method without shifting the steps
after it: Method is left out and Derivation Description says why, while Ratio keeps
one value per step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

import dicomize
from clips import make_clip
from conftest import CLIP_REGION, LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN, assert_conforms


def test_a_lossy_webp_re_encoded_lists_no_method_rather_than_a_misaligned_one(
    tmp_path: Path,
) -> None:
    source = tmp_path / "photo.webp"
    pixels = np.random.default_rng(1).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(source, quality=50)
    options = dicomize.ConvertOptions(transfer_syntax="jpeg2000")
    ds = dicomize.convert(source, {"PatientID": "1"}, options=options)
    dicomize.write(ds, tmp_path / "photo.dcm")
    # Nothing but what the defaults say is unknown: the side and the Study ID.
    assert_conforms(tmp_path / "photo.dcm", allowed_warnings=(LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN))
    assert ds.LossyImageCompression == "01"
    assert len(ds.LossyImageCompressionRatio) == 2  # the WebP step, then JPEG 2000
    assert "LossyImageCompressionMethod" not in ds  # WebP has no Defined Term
    assert "Lossy Image Compression Method left out" in ds.DerivationDescription


def test_a_jpeg_re_encoded_as_jpeg_2000_lists_both_steps_in_both_lists(tmp_path: Path) -> None:
    source = tmp_path / "photo.jpg"
    pixels = np.random.default_rng(2).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(source, quality=60)
    options = dicomize.ConvertOptions(transfer_syntax="jpeg2000", passthrough=False)
    ds = dicomize.convert(source, {"PatientID": "1"}, options=options)
    assert list(ds.LossyImageCompressionMethod) == ["ISO_10918_1", "ISO_15444_1"]
    assert len(ds.LossyImageCompressionRatio) == len(ds.LossyImageCompressionMethod)


def test_a_vp9_clip_transcoded_lists_no_method_rather_than_a_misaligned_one(
    tmp_path: Path,
) -> None:
    source = make_clip(tmp_path / "web.webm", "libvpx-vp9", (320, 240), 25, frames=3)
    written = tmp_path / "web.dcm"
    dicomize.write(dicomize.convert(source, {"PatientID": "1", **CLIP_REGION}), written)
    ds = pydicom.dcmread(written, stop_before_pixels=True)
    methods = ds.get("LossyImageCompressionMethod")
    ratios = ds.LossyImageCompressionRatio
    count = len(ratios) if isinstance(ratios, pydicom.multival.MultiValue) else 1
    assert methods is None or len(methods) == count
    assert count == 2
    assert "Lossy Image Compression Method left out" in ds.DerivationDescription


def test_photographs_and_clips_do_not_claim_their_pixels_free_of_text(tmp_path: Path) -> None:
    """Issue 30, point 5: Burned In Annotation NO is a claim dicomize cannot make."""
    source = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(source)
    photo = dicomize.convert(source, options=dicomize.ConvertOptions(iod="vl-photo"))
    assert photo.BurnedInAnnotation == "YES"
    told = dicomize.convert(
        source, {"BurnedInAnnotation": "NO"}, options=dicomize.ConvertOptions(iod="vl-photo")
    )
    assert told.BurnedInAnnotation == "NO"  # the user knows; dicomize does not
    clip = make_clip(tmp_path / "clip.mp4", "libx264", (320, 240), 25, frames=3)
    video = dicomize.convert(clip, CLIP_REGION, options=dicomize.ConvertOptions(iod="video-photo"))
    assert video.BurnedInAnnotation == "YES"

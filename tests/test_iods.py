"""Attributes outside the chosen IOD are refused (or kept on request), by the standard's tables."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image

import dicomize
from conftest import FULL_METADATA, LATERALITY_UNKNOWN, assert_conforms, encode, gradient
from dicomize.iods import IODS, attributes_of


@pytest.mark.parametrize(
    ("source", "iod"),
    [
        (gradient(), "sc"),
        (np.stack([gradient(channels=1)] * 2), "sc"),  # Multi-frame Grayscale Byte
        (np.stack([gradient(channels=1).astype(np.uint16)] * 2), "sc"),  # Grayscale Word
        (np.stack([gradient()] * 2), "sc"),  # True Color
        (np.stack([gradient(channels=1) > 100] * 2), "sc"),  # Single Bit
        (gradient(), "vl-photo"),
    ],
)
def test_every_attribute_dicomize_writes_is_in_the_table_of_its_iod(source: Any, iod: str) -> None:
    ds = dicomize.convert(source, FULL_METADATA, options=dicomize.ConvertOptions(iod=iod))
    assert ds.SOPClassUID in IODS[iod].sop_classes
    written = {element.keyword for element in ds if element.tag.group != 0x0002}
    assert written - attributes_of(ds.SOPClassUID) == set()


def test_the_table_names_only_keywords_pydicom_knows() -> None:
    for family in IODS.values():
        for sop_class in family.sop_classes:
            keywords = attributes_of(sop_class)
            assert len(keywords) > 200
            unknown = [
                k
                for k in keywords
                if pydicom.datadict.tag_for_keyword(k) is None
                and not pydicom.datadict.repeater_has_keyword(k)  # overlays, (60xx,eeee)
            ]
            assert unknown == [], sop_class


def test_an_attribute_outside_the_iod_is_refused_naming_it(
    tmp_path: Path, dicomize_cli: list[str]
) -> None:
    picture = tmp_path / "p.png"
    picture.write_bytes(encode(Image.fromarray(gradient()), "PNG"))
    output = tmp_path / "p.dcm"
    command = [*dicomize_cli, "convert", str(picture), "-o", str(output), "--patient-id", "1"]
    extra = ["--set", "ReferencedSOPInstanceUID=1.2.3"]
    refused = subprocess.run(
        [*command, *extra], capture_output=True, text=True, timeout=120, check=False
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith("dicomize: invalid metadata: ReferencedSOPInstanceUID")
    assert "Standard Extended SOP Class" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert not output.exists()

    kept = subprocess.run(
        [*command, *extra, "--allow-extra"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert kept.returncode == 0, kept.stderr
    assert pydicom.dcmread(output).ReferencedSOPInstanceUID == "1.2.3"
    assert_conforms(
        output,
        allowed_warnings=("not present in standard DICOM IOD", "DICOMDIR", LATERALITY_UNKNOWN),
    )


def test_vl_photographic_refuses_what_only_secondary_capture_has() -> None:
    with pytest.raises(dicomize.MetadataError, match="not part of the VL Photographic Image IOD"):
        dicomize.convert(
            gradient(),
            {"DateOfSecondaryCapture": "20260101"},
            options=dicomize.ConvertOptions(iod="vl-photo"),
        )
    assert dicomize.convert(gradient(), {"DateOfSecondaryCapture": "20260101"}).SOPClassUID.name

"""Property: any supported array survives array → DICOM file → array unchanged."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dicomize
from conftest import LATERALITY_UNKNOWN, STUDY_ID_UNKNOWN, run_dciodvfy

_DTYPES = st.sampled_from([np.bool_, np.uint8, np.uint16, np.int16])


@st.composite
def supported_arrays(draw: st.DrawFn) -> npt.NDArray[Any]:
    dtype = draw(_DTYPES)
    rows, columns = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    colour = dtype != np.int16 and draw(st.booleans())
    shape = (rows, columns, 3) if colour else (rows, columns)
    array: npt.NDArray[Any] = draw(hnp.arrays(dtype, shape))
    if draw(st.booleans()):  # non-contiguous and big-endian layouts must work too
        array = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
        array = np.asfortranarray(array)
    return array


@settings(max_examples=150, deadline=None)
@given(supported_arrays())
def test_array_roundtrips_bit_exact(array: npt.NDArray[Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "example.dcm"
        dicomize.write(dicomize.convert(array, {"PatientID": "1"}), path)
        verdict = run_dciodvfy(path)
        ds = pydicom.dcmread(path)
    assert verdict.errors == [], verdict.output
    # Only what the metadata leaves unknown: the Study ID, and the side (but for a waveform).
    unknown = (STUDY_ID_UNKNOWN, LATERALITY_UNKNOWN)
    assert [w for w in verdict.warnings if not any(u in w for u in unknown)] == [], verdict.output

    expected = array.astype(np.uint8) * 255 if array.dtype == np.bool_ else array
    stored = ds.pixel_array
    assert stored.shape == expected.shape
    assert stored.dtype.kind == expected.dtype.kind
    assert stored.dtype.itemsize == expected.dtype.itemsize
    np.testing.assert_array_equal(stored, expected)
    assert ds.PixelRepresentation == (1 if array.dtype.kind == "i" else 0)
    assert ds.HighBit == ds.BitsStored - 1 == ds.BitsAllocated - 1


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.int16, st.tuples(st.integers(1, 8), st.integers(1, 8), st.just(3))))
def test_signed_colour_is_always_refused(array: npt.NDArray[np.int16]) -> None:
    with pytest.raises(dicomize.UnsupportedInput, match="unsigned"):
        dicomize.convert(array)

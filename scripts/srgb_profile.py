#!/usr/bin/env python3
"""Regenerate src/dicomize/data/srgb.icc: the Input-class sRGB profile of colour objects.

LittleCMS (through Pillow) builds the sRGB profile; dicomize ships the result so
that a colour picture does not load LittleCMS to label itself, and so that every
object carries the same bytes (LittleCMS stamps each profile it builds with the
time). tests/test_icc.py checks the file is still an Input-class sRGB profile.

    .venv/bin/python scripts/srgb_profile.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import ImageCms

from dicomize.dicom.icc import as_input_profile


def main() -> None:
    built = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    profile = as_input_profile(built)
    if profile is None:
        raise SystemExit("LittleCMS built an unusable sRGB profile")
    target = Path(__file__).resolve().parents[1] / "src/dicomize/data/srgb.icc"
    target.write_bytes(profile)
    print(f"{target}: {len(profile)} bytes")


if __name__ == "__main__":
    main()

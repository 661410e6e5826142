"""The shipped sRGB profile: still what LittleCMS builds, as an Input-class profile."""

from __future__ import annotations

import io

from PIL import ImageCms

from dicomize.dicom.icc import srgb_profile


def test_the_shipped_profile_is_an_input_class_srgb_profile() -> None:
    profile = srgb_profile()
    assert profile[12:16] == b"scnr"  # Input class, as PS3.3 C.11.15.1.1 requires
    assert profile[16:20] == b"RGB "
    parsed = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    assert "sRGB" in ImageCms.getProfileDescription(parsed)


def test_it_describes_the_same_colours_as_the_profile_littlecms_builds_now() -> None:
    built = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    shipped = srgb_profile()
    # The header (128 bytes) holds the class, the creation time and the profile ID;
    # the tags after it are the colour transform.
    assert shipped[128:] == built[128:]

"""Video clips into the DICOM video transfer syntaxes (:mod:`dicomize.video.transcode`).

The module is moved whole into a package, to be split by job in the next commit.
"""

from __future__ import annotations

from dicomize.video.transcode import (
    MAX_FRAGMENT,
    VIDEO_SUFFIXES,
    VIDEO_SYNTAXES,
    AudioTrack,
    PreparedVideo,
    Video,
    choose_syntax,
    encode_pictures,
    is_video,
    prepare_video,
    probe,
    probe_stream,
)

__all__ = [
    "MAX_FRAGMENT",
    "VIDEO_SUFFIXES",
    "VIDEO_SYNTAXES",
    "AudioTrack",
    "PreparedVideo",
    "Video",
    "choose_syntax",
    "encode_pictures",
    "is_video",
    "prepare_video",
    "probe",
    "probe_stream",
]

"""Video clips into the DICOM video transfer syntaxes: passed through when legal, else transcoded.

* :mod:`~dicomize.video.probe`: what a clip holds, read with PyAV (FFmpeg's
  libraries, in its wheels): :class:`~dicomize.video.probe.Video` and its
  :class:`~dicomize.video.probe.AudioTrack` records, every packet counted, the first
  picture decoded, MPEG-2 TS and PS checked for a cut-short end.
* :mod:`~dicomize.video.syntax`: PS3.5 8.2.5-8.2.12 rule by rule:
  :func:`~dicomize.video.syntax.choose_syntax` (MPEG-2, H.264 with the BD table,
  HEVC), the audio each syntax allows, the largest fragment (:data:`MAX_FRAGMENT`).
* :mod:`~dicomize.video.transcode`: the stream to store,
  :class:`~dicomize.video.transcode.PreparedVideo`: the clip as it is, its stream
  remuxed into MP4, or transcoded to H.264 High or HEVC Main (libx264 / libx265);
  :func:`~dicomize.video.transcode.encode_pictures` joins pictures into a clip.

Imports run one way: ``probe`` <- ``syntax`` <- ``transcode``. PyAV loads only
when a clip is handled, never on import. The names other modules use are here;
:func:`dicomize.video.probe.probe` is reached through its module, whose name it
shares.
"""

from __future__ import annotations

from dicomize.codestreams.containers import VIDEO_SUFFIXES, is_video
from dicomize.video.probe import AudioTrack, Video
from dicomize.video.syntax import MAX_FRAGMENT, VIDEO_SYNTAXES, choose_syntax, probe_stream
from dicomize.video.transcode import PreparedVideo, encode_pictures, prepare_video

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
    "probe_stream",
]

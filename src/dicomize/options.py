"""Frozen options objects, validated when made: each default is written here and nowhere else.

:class:`ConvertOptions` says how pictures are read, encoded and identified;
:class:`SendOptions` how files are delivered. An impossible value raises
:class:`~dicomize.errors.ConfigError` before any input is read. The command
line shows these defaults in its ``--help``, read from the fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dicomize.errors import ConfigError
from dicomize.iods import IODS, chosen
from dicomize.syntaxes import resolve_transfer_syntax

__all__ = ["MODEL_UNITS", "ConvertOptions", "SendOptions"]

#: CID 7063 Model Scale Unit (UCUM, non-extensible): the units a 3D model's numbers can be in.
MODEL_UNITS = ("m", "cm", "mm", "um")
#: Rendering resolutions of PDF pages: below 36 dpi text is unreadable; above 1200 a
#: page alone is over 130 megapixels.
_DPI_RANGE = (36, 1200)
#: x264 and x265 constant rate factors run 0 (lossless) to 51.
_MAX_CRF = 51
#: A pixel of a whole-slide image is at most this wide (micrometres): a 1 mm pixel is no scan.
_MAX_MPP = 1000.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ConvertOptions:
    """How pictures are read, encoded and identified.

    Parameters
    ----------
    background : tuple of int
        8-bit RGB colour that transparent pixels are composited onto (white).
    max_pixels : int
        Refuse pictures with more pixels (decompression-bomb guard; the
        default, 150 megapixels, is six 6000x4000 photos).
    max_slide_pixels : int
        Refuse whole-slide images whose largest level has more pixels. A slide is
        never decoded whole (its tiles stream through), so the limit is a sanity
        check on its header: the default, 40 gigapixels, is twice the largest
        slides scanned at 80x.
    mpp : float or None
        Whole-slide images: micrometres per pixel of the largest level, for a slide
        whose file does not record it (or records it wrongly). None: the file's.
    uid_root : str or None
        Organisation UID root for new UIDs; None gives ``2.25.<uuid>`` UIDs.
    passthrough : bool
        Store compressed inputs (JPEG) as they are when DICOM allows it,
        instead of decoding them.
    keep_jpeg_metadata : bool
        Keep EXIF, XMP, IPTC and comment segments in a passed-through JPEG.
        Off by default: they can hold GPS positions, serial numbers and names.
    transfer_syntax : str
        Transfer syntax for decoded pictures, by name (``"jpeg-ls-lossless"``,
        see :data:`dicomize.syntaxes.CODECS`) or UID. Passed-through
        codestreams keep their own.
    jpeg_quality : int
        Quality 1-100 of baseline JPEG output.
    jpegls_error : int
        Largest error per sample (NEAR) of near-lossless JPEG-LS output.
    j2k_ratio : float
        Compression ratio of lossy JPEG 2000 output.
    uid_seed : str or None
        Derive every generated UID from this seed and the content, so the
        same conversion run again gives the same UIDs (a PACS then sees the
        same instances, not duplicates). None makes new UIDs each time.
    series_per_input : bool
        Give each input its own series instead of one series for all.
    iod : str
        The IOD pictures or clips are stored as: a name of
        :data:`dicomize.iods.IODS` that the user may choose (``sc``, ``vl-photo``,
        ``vl-endoscopic``, ``vl-microscopic``, ``ophthalmic``, ``dermoscopic``,
        ``video-photo``, ``video-endoscopic``, ``video-microscopic``). The default,
        ``sc``, stores every kind of content as its default IOD: pictures as
        Secondary Capture, clips as Video Photographic, documents and models as the
        IOD of their format.
    keep_gps : bool
        Copy the EXIF GPS position, for an IOD with a Geolocation module (VL
        Photographic, C.8.12.10). Off by default: a position can identify a
        patient's home.
    allow_extra : bool
        Keep given attributes that the IOD does not define; the object is then
        a Standard Extended SOP Class (PS3.4 B.1.3). Off: they are refused.
    pdf_as_images : bool
        Store a PDF's pages as one multi-frame SC object, rendered by PDFium,
        for viewers that cannot show Encapsulated PDF. Off: Encapsulated PDF.
    dpi : int
        Resolution of those pages (36 to 1200).
    model_units : str
        The unit of a 3D model's coordinates (STL, OBJ, MTL): one of
        :data:`MODEL_UNITS`.
    frame_of_reference_uid : str or None
        Frame of Reference UID of 3D models (STL, OBJ): that of the images they
        were segmented from, so that a viewer can lay one over the other. None
        gives the models of one call a new one of their own.
    transcode : bool
        Re-encode a clip whose stream fits no DICOM video transfer syntax (H.264
        High or HEVC Main). Off: such a clip is refused.
    crf : int
        Constant rate factor of that re-encoding, 0 (lossless) to 51; 18 is
        visually lossless for most clinical video.
    temporary_folder : str or None
        Where a remuxed or transcoded clip is kept until it is written (the
        output folder, so nothing goes elsewhere); None is the system's.
    """

    background: tuple[int, int, int] = (255, 255, 255)
    max_pixels: int = 150_000_000
    max_slide_pixels: int = 40_000_000_000
    mpp: float | None = None
    uid_root: str | None = None
    passthrough: bool = True
    keep_jpeg_metadata: bool = False
    transfer_syntax: str = "explicit"
    jpeg_quality: int = 90
    jpegls_error: int = 2
    j2k_ratio: float = 10.0
    uid_seed: str | None = None
    series_per_input: bool = False
    iod: str = "sc"
    keep_gps: bool = False
    allow_extra: bool = False
    pdf_as_images: bool = False
    dpi: int = 150
    model_units: str = "mm"
    frame_of_reference_uid: str | None = None
    transcode: bool = True
    crf: int = 18
    temporary_folder: str | None = None

    def __post_init__(self) -> None:
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):  # noqa: PLR2004
            raise ConfigError(f"background must be three values 0-255, got {self.background!r}")
        if self.max_pixels < 1:
            raise ConfigError("max_pixels must be positive")
        if self.max_slide_pixels < 1:
            raise ConfigError("max_slide_pixels must be positive")
        if self.mpp is not None and not 0 < self.mpp < _MAX_MPP:
            raise ConfigError(f"mpp must be between 0 and {_MAX_MPP} micrometres, got {self.mpp}")
        if self.uid_root is not None:
            from dicomize.dicom.uids import check_uid_root  # not for --help

            object.__setattr__(self, "uid_root", check_uid_root(self.uid_root))
        if not 1 <= self.jpeg_quality <= 100:  # noqa: PLR2004
            raise ConfigError("jpeg_quality must be 1 to 100")
        if not 1 <= self.jpegls_error <= 255:  # noqa: PLR2004
            raise ConfigError("jpegls_error (NEAR) must be 1 to 255; 0 is lossless JPEG-LS")
        if self.iod not in IODS or not IODS[self.iod].chosen:
            names = ", ".join(iod.name for iod in chosen())
            raise ConfigError(f"iod must be one of {names}, got {self.iod!r}")
        if self.keep_gps:
            self._check_gps()
        if self.uid_seed is not None and not self.uid_seed:
            raise ConfigError("uid_seed must not be empty")
        if not self.j2k_ratio > 1:
            raise ConfigError("j2k_ratio must be greater than 1")
        self._check_documents()
        object.__setattr__(self, "transfer_syntax", resolve_transfer_syntax(self.transfer_syntax))

    def _check_gps(self) -> None:
        from dicomize.iods import attributes_of  # the IODs' tables: only with keep_gps

        def located(name: str) -> bool:
            # A position needs a module to hold it (VL Photographic Geolocation, C.8.12.10).
            return any("GPSLatitude" in attributes_of(uid) for uid in IODS[name].sop_classes)

        if not located(self.iod):
            names = ", ".join(repr(iod.name) for iod in chosen() if located(iod.name))
            raise ConfigError(f"keep_gps applies only to iod {names}", option="keep_gps")

    def _check_documents(self) -> None:
        if not 0 <= self.crf <= _MAX_CRF:
            raise ConfigError(f"crf must be 0 to {_MAX_CRF}, got {self.crf}")
        if not _DPI_RANGE[0] <= self.dpi <= _DPI_RANGE[1]:
            raise ConfigError(f"dpi must be {_DPI_RANGE[0]} to {_DPI_RANGE[1]}, got {self.dpi}")
        if self.model_units not in MODEL_UNITS:
            raise ConfigError(
                f"model_units must be one of {', '.join(MODEL_UNITS)} (CID 7063), "
                f"got {self.model_units!r}"
            )
        if self.frame_of_reference_uid is not None:
            from dicomize.dicom.uids import is_valid_uid

            if not is_valid_uid(self.frame_of_reference_uid):
                raise ConfigError(
                    f"frame_of_reference_uid {self.frame_of_reference_uid!r} is not a valid UID"
                )


@dataclass(frozen=True, kw_only=True, slots=True)
class SendOptions:
    """How to connect, authenticate, retry and clean up when sending.

    Secrets (`token`, `basic`) come from the environment or a file, never
    from a command line, and are never logged or shown in a report.

    Parameters
    ----------
    calling_aet : str
        Our AE title (DIMSE).
    tls : bool
        DICOM TLS for ``dicom://``.
    ca_file, cert_file, key_file : str or None
        PEM files: the CA certificates to trust (HTTPS too), and the client
        certificate and private key that DICOM TLS presents.
    connect_timeout : float
        Seconds to open a connection (DIMSE and HTTP).
    acse_timeout, dimse_timeout : float
        Seconds to wait for association and DIMSE answers.
    http_timeout : float
        Seconds to wait for an HTTP answer (STOW-RS); a large batch is
        stored before the server answers, so this is longer than a DIMSE reply.
    retries : int
        Retries after a lost connection or a 5xx answer.
    backoff : float
        Seconds before the first retry; doubled for each next one.
    batch_size : int
        Instances per STOW-RS request.
    associations : int
        Associations (DIMSE) or requests (STOW-RS) in flight at once. Each
        association has its own presentation contexts; a file whose association
        is lost goes to another or is retried, so none is sent twice or lost.
    delete_after_store : bool
        Delete each file after the peer confirmed storing it (with `commit`: after
        the peer committed to it).
    commit : bool
        Ask the peer for Storage Commitment (PS3.4 Annex J) of what it stored.
    commit_listen : str or None
        ``HOST:PORT`` where dicomize listens for the commitment report a PACS sends
        on a new association (most do; the PACS must know this address and our AE
        title). None: only a report on the requesting association is taken.
    commit_timeout : float
        Seconds to wait for the commitment report.
    commit_batch : int
        Instances named in one commitment request (N-ACTION); a long send asks
        for commitment as it goes, a batch at a time.
    """

    calling_aet: str = "DICOMIZE"
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    connect_timeout: float = 10.0
    acse_timeout: float = 30.0
    dimse_timeout: float = 60.0
    http_timeout: float = 300.0
    retries: int = 3
    backoff: float = 1.0
    batch_size: int = 20
    associations: int = 4
    token: str | None = field(default=None, repr=False)
    basic: tuple[str, str] | None = field(default=None, repr=False)
    delete_after_store: bool = False
    commit: bool = False
    commit_listen: str | None = None
    commit_timeout: float = 60.0
    commit_batch: int = 1000

    def __post_init__(self) -> None:
        aet = self.calling_aet
        # AE VR (PS3.5 6.2): 1-16 characters of the default repertoire, no backslash.
        if not aet.strip() or len(aet) > 16 or not aet.isascii() or "\\" in aet:  # noqa: PLR2004
            raise ConfigError(f"calling AE title {aet!r} must be 1 to 16 ASCII characters")
        for name in ("connect_timeout", "acse_timeout", "dimse_timeout", "http_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be more than 0 seconds")
        if self.retries < 0:
            raise ConfigError("retries must be 0 or more")
        if self.backoff < 0:
            raise ConfigError("backoff must be 0 or more seconds")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be at least 1")
        if self.associations < 1:
            raise ConfigError("associations must be at least 1")
        if self.commit_batch < 1:
            raise ConfigError("commit_batch must be at least 1")
        if not self.commit_timeout > 0:
            raise ConfigError("commit_timeout must be more than 0 seconds")
        if self.commit_listen is not None:
            host, _, port = self.commit_listen.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:  # noqa: PLR2004
                raise ConfigError(f"commit_listen must be HOST:PORT, got {self.commit_listen!r}")

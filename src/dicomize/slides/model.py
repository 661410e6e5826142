"""What a slide is once read: its images, their frames, and what the scanner says."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: it costs start-up
if TYPE_CHECKING:
    from dicomize.slides.frames import Frames

__all__ = ["Slide", "SlideImage"]


class SlideImage:
    """One image of a slide: a pyramid level, or the label, overview or thumbnail."""

    __slots__ = ("flavour", "frames", "height", "resampled", "width")

    #: Value 3 of Image Type (C.8.12.4.1.1): VOLUME, THUMBNAIL, LABEL or OVERVIEW.
    flavour: str
    #: Its size in pixels (the Total Pixel Matrix).
    width: int
    height: int
    #: Made from another image by the scanner (a lower level, a thumbnail): Image Type
    #: DERIVED ... RESAMPLED.
    resampled: bool
    frames: Frames

    def __init__(
        self, flavour: str, width: int, height: int, frames: Frames, *, resampled: bool
    ) -> None:
        self.flavour = flavour
        self.width = width
        self.height = height
        self.frames = frames
        self.resampled = resampled

    def __repr__(self) -> str:
        return f"SlideImage({self.flavour}, {self.width}x{self.height}, {self.frames.count} frames)"


class Slide:
    """A slide read from its file: its images and what the scanner says of itself.

    Close it (or use it as a context manager) to release spooled tiles.
    """

    __slots__ = (
        "acquired",
        "format",
        "icc_profile",
        "images",
        "magnification",
        "manufacturer",
        "model",
        "mpp",
        "name",
        "serial_number",
        "software",
    )

    #: The file's stem: the Container Identifier unless the user gives one.
    name: str
    #: The format, as :data:`SLIDE_FORMATS` names it.
    format: str
    #: Levels first, largest first, then the label, overview and thumbnail.
    images: list[SlideImage]
    #: Micrometres per pixel of the largest level, (across, down); None when unknown.
    mpp: tuple[float, float] | None
    #: The objective's power (AppMag, NominalMagnification); None when unknown.
    magnification: float | None
    #: The scanner, as the file names it; None when it does not.
    manufacturer: str | None
    model: str | None
    serial_number: str | None
    software: str | None
    #: When the slide was scanned, as a DICOM DT; None when the file does not say.
    acquired: str | None
    #: The scanner's colour profile; None when the file has none.
    icc_profile: bytes | None

    def __init__(self, name: str, fmt: str) -> None:
        self.name = name
        self.format = fmt
        self.images = []
        self.mpp = None
        self.magnification = None
        self.manufacturer = self.model = self.serial_number = self.software = None
        self.acquired = None
        self.icc_profile = None

    @property
    def levels(self) -> list[SlideImage]:
        """The pyramid's levels, largest first."""
        return [image for image in self.images if image.flavour == "VOLUME"]

    def close(self) -> None:
        """Release the spooled frames of every image."""
        for image in self.images:
            image.frames.close()

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Slide({self.name!r}, {self.format}, {len(self.images)} images)"

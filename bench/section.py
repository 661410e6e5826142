"""What the bench's sections share: the suite they write into, and the JPEGs they time.

bench/run.py defines the suite and the sections that fit in it; sections in modules of
their own (bench/scale.py, bench/wsi.py) are given it as a :class:`Suite`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image


class Suite(Protocol):
    """What bench/run.py's Suite gives a section."""

    work: Path
    runs: int
    quick: bool
    lines: list[str]
    notes: list[str]

    def table(self, title: str, header: list[str], rows: list[list[str]]) -> None:
        """Add a markdown table to the results."""


def baseline_jpegs(folder: Path, count: int) -> None:
    """Write `count` noisy 1024x768 baseline JPEGs (quality 85, about 143 KB each) into `folder`."""
    folder.mkdir()
    rng = np.random.default_rng(2026)
    y, x = np.mgrid[0:768, 0:1024]
    base = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.int16)
    for index in range(count):
        noise = rng.integers(-12, 13, base.shape, dtype=np.int16)
        pixels = np.clip(base + noise + index % 50, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"photo{index:04d}.jpg", quality=85)

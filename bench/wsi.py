"""Whole-slide images (issue 25): dicomize's slide conversion against its peers.

Run from bench/run.py (`--only wsi`), never on its own. Every tool converts the same
generated Aperio SVS slides (tests/slides.py: JPEG tiles sharing one JPEGTables, written
in seconds by repeating one encoded tile), in the same run, round by round:

- cp of the slide file, the floor;
- dicomize convert SLIDE -o OUT/ --model-name ScanScope (one instance per pyramid level, the
  label, the overview and a thumbnail; an SVS names no scanner model, which DICOM requires);
- wsidicomizer -i SLIDE -o OUT (pip, the bench extra): its defaults keep the label and the
  overview (--no-label and --no-overview leave them out), pass SVS tiles through (opentile
  reads them; --force-transcoding would re-encode) and use one worker thread per core.
  wsidicomizer 0.26.1 requires wsidicom 0.31, which the test extra pins too, so the bench
  and test extras share one environment (the first wsidicomizer on PATH is run).

- OrthancWSIDicomizer --threads=CORES --folder=OUT SLIDE (Debian orthanc-wsi): its default
  passes the tiles through (--reencode 0) and writes no label, overview or thumbnail; its
  --max-size default (10 MB) splits each level into a concatenation of instances, kept as is.

Each output is then judged: instances written, dciodvfy errors (`dciodvfy -new`, lines
starting with "Error", summed and the most in one instance), the level-0 tiles kept (the
share of the source's level-0 tiles whose JPEG entropy-coded data, from the end of the SOS
segment through EOI, is found byte for byte in the frame at the same position; a tool
that writes tiles of another size, or re-encodes them, keeps 0%), and whether a label,
an overview and a thumbnail were written.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from section import Suite

if TYPE_CHECKING:
    from pydicom import Dataset

HERE = Path(__file__).resolve().parent
DICOMIZE = [sys.executable, "-m", "dicomize"]
# Bytes of the two slides: their sides are worked out from the size of tests/slides.py's tile.
SMALL, LARGE = 100 * 10**6, 3200 * 10**6
TILE = 256
CP = "cp (the floor)"
DICOMIZE_ROW = "dicomize convert"
JPEG_SYNTAXES = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}
EOI = b"\xff\xd9"
# A command line from (slide, output folder), and whether the folder must exist first.
Tool = tuple[Callable[[Path, Path], list[str]], bool]


class ToolFailedError(Exception):
    """A converter exited with an error; the message is the end of what it printed."""


@dataclass
class Outcome:
    """One tool's measurements on one slide."""

    seconds: list[float] = field(default_factory=list)
    peaks_kb: list[int] = field(default_factory=list)
    error: str = ""
    instances: int = 0
    errors: list[int] = field(default_factory=list)
    kept: float | None = None
    kinds: set[str] = field(default_factory=set)

    @property
    def median(self) -> float:
        """Median wall time in seconds."""
        return statistics.median(self.seconds)

    @property
    def peak_mb(self) -> float:
        """Largest peak RSS of the runs, MiB."""
        return max(self.peaks_kb) / 1024


def section(suite: Suite, target: str) -> None:
    """Measure every tool on the slides; add their tables and `target`, measured, to `suite`."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from slides import write_large_svs  # the test suite's slide generator

    work = suite.work / "wsi"
    work.mkdir()
    tools = _tools(suite.notes)
    measured: dict[int, dict[str, Outcome]] = {}
    for target_bytes in [SMALL] if suite.quick else [SMALL, LARGE]:
        size = _side(write_large_svs, work, target_bytes)
        slide = write_large_svs(work / f"slide{size}.svs", size=size, tile=TILE)
        # Fewer runs of the large slide: each tool writes 3 GB or more per run.
        runs = suite.runs if target_bytes == SMALL else max(1, min(3, suite.runs // 2 + 1))
        outcomes = _measure(work, slide, tools, runs)
        measured[target_bytes] = outcomes
        megabytes = slide.stat().st_size / 1e6
        width, height = _source_tiles(slide)[:2]
        suite.table(
            f"One Aperio SVS slide of {megabytes:,.0f} MB ({width}x{height}, JPEG tiles "
            f"{TILE}x{TILE}), {_runs_text(runs)}",
            [
                "tool",
                "seconds",
                "MB/s",
                "time vs cp",
                "peak RSS MiB",
                "instances",
                "dciodvfy errors (all / most in one)",
                "level-0 tiles kept",
                "label / overview / thumbnail",
            ],
            _rows(outcomes, megabytes),
        )
        shutil.rmtree(work / "set-aside", ignore_errors=True)
        slide.unlink()
        os.sync()
    suite.lines.append(
        "Round by round, every tool once per round, who goes first rotating. Each slide is "
        "written just before its runs, so every tool reads it from the page cache; outputs go "
        "to the same disk. Peak RSS is the largest of the runs (/usr/bin/time's %M). dciodvfy "
        "and the tile check judge each tool's last output.\n"
    )
    suite.lines.append(f"Versions: {_peer_versions()}.\n")
    suite.lines.append(f"Target: {target}. Measured: {_against_target(measured)}.\n")


def _side(write: Callable[..., Path], work: Path, target_bytes: int) -> int:
    """Give the side, in pixels, of the slide of about `target_bytes` that `write` makes.

    Its every tile is one encoded tile: a small slide tells that tile's size.
    """
    probe = write(work / "probe.svs", size=4 * TILE, tile=TILE)
    tile_bytes = _source_tiles(probe)[3][0]
    probe.unlink()
    # Levels at 1, 4 and 16 times smaller (tests/slides.py's default): 1 + 1/16 + 1/256.
    across = math.sqrt(target_bytes / tile_bytes / (1 + 1 / 16 + 1 / 256))
    return int(across * TILE) // 100 * 100


def _tools(notes: list[str]) -> dict[str, Tool]:
    """Name each tool present: its command, a function of (slide, out), and if out must exist."""
    cores = os.cpu_count() or 1
    tools: dict[str, Tool] = {
        CP: (lambda slide, out: ["cp", str(slide), str(out)], True),
        DICOMIZE_ROW: (
            # An SVS names no scanner model (Type 1 in DICOM); dicomize asks for it.
            lambda slide, out: [
                *DICOMIZE,
                "convert",
                str(slide),
                "-o",
                f"{out}/",
                "-q",
                "--model-name",
                "ScanScope",
            ],
            True,
        ),
    }
    if shutil.which("wsidicomizer"):
        tools[f"wsidicomizer ({cores} workers)"] = (
            lambda slide, out: ["wsidicomizer", "-i", str(slide), "-o", str(out)],
            False,
        )
    else:
        notes.append("wsidicomizer not installed (pip install -e '.[bench]'): left out")
    if shutil.which("OrthancWSIDicomizer"):
        tools[f"OrthancWSIDicomizer ({cores} threads)"] = (
            lambda slide, out: [
                "OrthancWSIDicomizer",
                f"--threads={cores}",
                f"--folder={out}",
                str(slide),
            ],
            True,
        )
    else:
        notes.append("OrthancWSIDicomizer (Debian orthanc-wsi) not installed: left out")
    return tools


def _measure(work: Path, slide: Path, tools: dict[str, Tool], runs: int) -> dict[str, Outcome]:
    """Time every tool round by round, then judge each one's last output."""
    outcomes = {name: Outcome() for name in tools}
    outs = {name: work / f"out-{index}" for index, name in enumerate(tools)}
    # Round by round, every tool once per round, who goes first rotating: this machine's
    # disk speed drifts within minutes (cp of the 3 GB slide took 1.1 to 7.6 s), and
    # interleaving keeps the ratios fair.
    names = list(tools)
    for round_ in range(runs):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            (command, existing), outcome, out = tools[name], outcomes[name], outs[name]
            if outcome.error:
                continue
            _set_aside(out)
            if existing:
                out.mkdir()
            try:
                seconds, peak_kb = _timed(command(slide, out))
            except ToolFailedError as error:
                outcome.error = str(error)
                continue
            outcome.seconds.append(seconds)
            outcome.peaks_kb.append(peak_kb)
    for name, outcome in outcomes.items():
        if not outcome.error and name != CP:
            _judge(outcome, outs[name], slide)
    return outcomes


def _set_aside(path: Path) -> None:
    """Move a previous run's output out of the way (see run.py's set_aside)."""
    if path.exists():
        aside = path.parent / "set-aside"
        aside.mkdir(exist_ok=True)
        path.rename(aside / f"{path.name}.{time.monotonic_ns()}")


def _timed(command: list[str]) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of a command; ToolFailedError if it fails."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        if Path("/usr/bin/time").exists():
            wrapped = ["/usr/bin/time", "-f", "%M", "-o", rss.name, *command]
        else:
            code = (
                "import resource, subprocess, sys; code = subprocess.run(sys.argv[2:]).returncode; "
                "open(sys.argv[1], 'w').write(str(resource.getrusage("
                "resource.RUSAGE_CHILDREN).ru_maxrss)); sys.exit(code)"
            )
            wrapped = [sys.executable, "-c", code, rss.name, *command]
        # The previous run's writes are flushed first, or their writeback slows this one.
        os.sync()
        started = time.perf_counter()
        done = subprocess.run(wrapped, check=False, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode:
            lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
            message = lines[-1].strip() if lines else f"exit status {done.returncode}"
            raise ToolFailedError(message.replace("|", "/")[:160])
        return seconds, int(Path(rss.name).read_text().split()[-1])


def _judge(outcome: Outcome, out: Path, slide: Path) -> None:
    """Count the instances, validate them, and compare level 0's frames with the source."""
    import pydicom

    instances = sorted(path for path in out.rglob("*") if _is_dicom(path))
    outcome.instances = len(instances)
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        outcome.errors = list(pool.map(_dciodvfy_errors, instances))
    width, height, offsets, counts = _source_tiles(slide)
    across = -(-width // TILE)
    found: dict[int, bool] = {}
    for path in instances:
        with path.open("rb") as file:
            header = pydicom.dcmread(file, stop_before_pixels=True)
            image_type = [str(value) for value in header.get("ImageType", [])]
            if len(image_type) > 2:  # noqa: PLR2004 (value 3: LABEL, OVERVIEW, VOLUME...)
                outcome.kinds.add(image_type[2])
            if (header.get("TotalPixelMatrixColumns"), header.get("TotalPixelMatrixRows")) != (
                width,
                height,
            ):
                continue
            positions = _frame_tiles(header, across)
            if positions is None:
                continue  # tiles of another size, or not JPEG: none kept
            with slide.open("rb") as source:
                for index, frame in zip(positions, _frames(file, header), strict=False):
                    source.seek(offsets[index])
                    tile = _entropy(source.read(counts[index]))
                    found[index] = found.get(index, False) or (
                        bool(tile) and _entropy(frame) == tile
                    )
    outcome.kept = sum(found.values()) / len(offsets)


def _is_dicom(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size < 132:  # noqa: PLR2004 (preamble + DICM)
        return False
    with path.open("rb") as file:
        file.seek(128)
        return file.read(4) == b"DICM"


def _dciodvfy_errors(path: Path) -> int:
    done = subprocess.run(
        ["dciodvfy", "-new", str(path)], check=False, capture_output=True, text=True
    )
    return sum(line.startswith("Error") for line in (done.stdout + done.stderr).splitlines())


def _source_tiles(slide: Path) -> tuple[int, int, tuple[int, ...], tuple[int, ...]]:
    """Width, height and the level-0 tiles' offsets and byte counts of an SVS."""
    import tifffile

    with tifffile.TiffFile(slide) as tiff:
        page = tiff.pages.first
        return page.imagewidth, page.imagelength, page.dataoffsets, page.databytecounts


def _frame_tiles(header: Dataset, across: int) -> list[int] | None:
    """Give the source tile index of each frame of a level-0 instance; None if none can match."""
    if (header.Columns, header.Rows) != (TILE, TILE):
        return None
    if str(header.file_meta.TransferSyntaxUID) not in JPEG_SYNTAXES:
        return None
    frames = int(header.get("NumberOfFrames", 1))
    if header.get("DimensionOrganizationType", "") != "TILED_SPARSE":
        first = int(header.get("ConcatenationFrameOffsetNumber", 0))
        return list(range(first, first + frames))
    positions = []
    for item in header.PerFrameFunctionalGroupsSequence:
        plane = item.PlanePositionSlideSequence[0]
        column = int(plane.ColumnPositionInTotalImagePixelMatrix) - 1
        row = int(plane.RowPositionInTotalImagePixelMatrix) - 1
        positions.append(row // TILE * across + column // TILE)
    return positions


def _frames(file: BinaryIO, header: Dataset) -> Iterator[bytes]:
    """Read the frames of an encapsulated Pixel Data from `file`, one at a time."""
    from pydicom.encaps import generate_fragmented_frames

    # dcmread(stop_before_pixels) leaves the file at the Pixel Data element: skip its
    # tag, VR, reserved bytes and undefined length (12 bytes) to the Basic Offset Table.
    file.seek(12, os.SEEK_CUR)
    extended = None
    if "ExtendedOffsetTable" in header:
        extended = (header.ExtendedOffsetTable, header.ExtendedOffsetTableLengths)
    for fragments in generate_fragmented_frames(
        file, number_of_frames=int(header.get("NumberOfFrames", 1)), extended_offsets=extended
    ):
        yield b"".join(fragments)


def _entropy(jpeg: bytes) -> bytes:
    """Return a baseline JPEG's entropy-coded data: from the SOS segment's end through EOI."""
    position = 2
    while position + 4 <= len(jpeg):
        if jpeg[position] != 0xFF:  # noqa: PLR2004 (a marker's first byte)
            return b""
        marker = jpeg[position + 1]
        if marker == 0xFF:  # noqa: PLR2004 (a fill byte)
            position += 1
            continue
        length = int.from_bytes(jpeg[position + 2 : position + 4], "big")
        if marker == 0xDA:  # noqa: PLR2004 (SOS)
            start, end = position + 2 + length, jpeg.rfind(EOI)
            return jpeg[start : end + 2] if end >= start else b""
        position += 2 + length
    return b""


def _runs_text(runs: int) -> str:
    return f"median of {runs} runs" if runs > 1 else "1 run"


def _rows(outcomes: dict[str, Outcome], megabytes: float) -> list[list[str]]:
    floor = outcomes[CP].median
    rows = []
    for name, outcome in outcomes.items():
        if outcome.error:
            rows.append([name, f"error: {outcome.error}", *["-"] * 7])
            continue
        judged = name != CP
        seconds = outcome.median
        kinds = " / ".join(
            "yes" if kind in outcome.kinds else "no" for kind in ("LABEL", "OVERVIEW", "THUMBNAIL")
        )
        rows.append(
            [
                name,
                f"{seconds:.2f}",
                f"{megabytes / seconds:.0f}",
                f"{seconds / floor:.1f}x",
                f"{outcome.peak_mb:.0f}",
                str(outcome.instances) if judged else "-",
                f"{sum(outcome.errors)} / {max(outcome.errors, default=0)}" if judged else "-",
                f"{outcome.kept:.0%}" if judged and outcome.kept is not None else "-",
                kinds if judged else "-",
            ]
        )
    return rows


def _against_target(measured: dict[int, dict[str, Outcome]]) -> str:
    """Give the figures the target names, for dicomize, from the tables."""
    parts = []
    peaks = []
    for size, outcomes in measured.items():
        ours = outcomes.get(DICOMIZE_ROW)
        label = "small slide" if size == SMALL else "large slide"
        if ours is None or ours.error:
            parts.append(f"{label}: dicomize failed")
            continue
        wsidicomizer = next((o for n, o in outcomes.items() if n.startswith("wsidicomizer")), None)
        figures = []
        if wsidicomizer is not None and not wsidicomizer.error:
            figures.append(f"{wsidicomizer.median / ours.median:.1f}x wsidicomizer's throughput")
        figures.append(f"{ours.median / outcomes[CP].median:.1f}x cp's time")
        figures.append(f"peak RSS {ours.peak_mb:.0f} MiB ({ours.peak_mb * 2**20 / 1e6:.0f} MB)")
        figures.append(f"{sum(ours.errors)} dciodvfy errors")
        peaks.append(ours.peak_mb)
        parts.append(f"{label}: " + ", ".join(figures))
    if len(peaks) == 2:  # noqa: PLR2004 (the small and the large slide)
        parts.append(f"peak RSS large / small: {peaks[1] / peaks[0]:.2f}x")
    return "; ".join(parts)


def _peer_versions() -> str:
    parts = []
    script = shutil.which("wsidicomizer")
    if script:
        # Asked of the interpreter that runs it, which may be a virtual environment of its own.
        with Path(script).open("rb") as file:
            interpreter = file.readline().removeprefix(b"#!").decode().strip()
        code = (
            "from importlib.metadata import version\n"
            "names = 'wsidicomizer', 'wsidicom', 'opentile'\n"
            "print(', '.join(f'{name} {version(name)}' for name in names))"
        )
        done = subprocess.run(
            [interpreter, "-c", code], check=False, capture_output=True, text=True
        )
        parts.append(done.stdout.strip() or "wsidicomizer")
    if shutil.which("OrthancWSIDicomizer"):
        done = subprocess.run(
            ["OrthancWSIDicomizer", "--version"], check=False, capture_output=True, text=True
        )
        # Its first line of standard output: "OrthancWSIDicomizer 1.1".
        parts.append((done.stdout.strip().splitlines() or ["OrthancWSIDicomizer"])[0])
    return ", ".join(parts) or "no peers"

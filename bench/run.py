"""dicomize's benchmark suite: one command, peers measured in the same run, a table.

Run by hand, never in the test suite:

    .venv/bin/pip install -e '.[bench]'                 # highdicom, a peer
    sudo apt-get install dcmtk libgdcm-tools            # img2dcm and gdcmimg, peers
    sudo apt-get install libturbojpeg0 orthanc-wsi      # wsidicomizer's JPEG library; a peer
    .venv/bin/python bench/run.py                       # prints tables, writes bench/RESULTS.md
    .venv/bin/python bench/run.py --quick               # fewer files and runs, for a smoke test

Peers that are not installed are left out of the tables and named. Every time
is the median of several runs; pictures are generated, never downloaded. Outputs
are set aside rather than deleted between runs (see set_aside) and removed at the
end: the whole suite needs about 35 GB free in the temporary folder, most of it the
4 GB clip's copies. The slide section (wsi, bench/wsi.py) removes its outputs after each
slide, but needs about 45 GB while the 3.2 GB slide's three rounds run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image
from section import baseline_jpegs

HERE = Path(__file__).resolve().parent
DICOMIZE = [sys.executable, "-m", "dicomize"]
SEND_TARGETS = {
    "nodelay": "one association to a TCP_NODELAY receiver: dicomize >= 0.8x storescu's objects/s",
    "nagle": "to a receiver without TCP_NODELAY: 4 associations >= 3x one association",
    "orthanc": "to Orthanc: >= 3x storescu's objects/s with the default 4 associations",
}
TARGETS = {
    "jpeg": (
        "dicomize batch >= 20x img2dcm's throughput, within 4x of the cp floor; output <= 1.01x"
    ),
    "scale": (
        "<= 15 system calls per passed-through JPEG; per file <= 3x cp on 2 cores; with 16"
        " cores or more, throughput rising up to at least 8 workers and <= 2x cp -r at the best"
    ),
    "png": "dicomize (one process) within 1.3x of Pillow decoding the same files",
    "big": "peak RSS above the interpreter's baseline <= 2x the decoded frame",
    "cold-jpeg": "<= 100 ms and <= 5x img2dcm",
    "cold-png": "<= 150 ms",
    "cold-help": "<= 50 ms",
    "pdf": "200-page PDF at 150 dpi as images: peak RSS above the baseline < 2x one page's pixels",
    "video": "a 4 GB H.264 clip passed through: peak RSS above the baseline < 100 MB",
    "watch": "no target set: watch against batch + send, and drop-to-stored latency",
    "send": "; ".join(SEND_TARGETS.values()),
    "wsi": (
        "slide passthrough >= 2x wsidicomizer's throughput and <= 3x cp's time; peak RSS"
        " <= 300 MB and not growing from the 100 MB slide to the >= 3 GB one; 0 dciodvfy"
        " errors on every instance"
    ),
}
PAGES = 200
SEND_RECEIVERS = {
    "nodelay": "storescp --ignore +xa --fork, TCP_NODELAY=1",
    "nagle": "storescp --ignore +xa --fork, TCP_NODELAY=0",
    "orthanc": "Orthanc, default configuration, no TCP_NODELAY",
}
SEND_STORESCU = "dcmtk storescu -xy"
SEND_ONE = "dicomize send --associations 1"
SEND_FOUR = "dicomize send --associations 4 (the default)"
# Starts a receiver for one run: a context manager giving its AE title and port.
Receiver = Callable[[], contextlib.AbstractContextManager[tuple[str, int]]]
# A send row's runs stop once they have taken this long (at least one run each): a run of
# 2,000 objects to a receiver that holds each answer for a delayed ACK takes minutes.
SEND_ROW_SECONDS = 60.0


def run(command: list[str]) -> None:
    """Run a command, failing loudly."""
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def median_seconds(action: Callable[[], None], runs: int, reset: Callable[[], None]) -> float:
    """Median wall time of `runs` runs of `action`, calling `reset` before each."""
    times = []
    for _ in range(runs):
        reset()
        # The previous run's writes are flushed first, or their writeback slows this one.
        os.sync()
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def set_aside(path: Path) -> None:
    """Move a previous run's output out of the way; the suite's folder is deleted at the end.

    Deleting it instead skewed the next timed run: this machine's root file system is
    mounted with online discard, and creating 500 files right after deleting 500 took
    5-10x longer, for cp as for every other tool (measured 2026-12-03).
    """
    if path.exists():
        aside = path.parent / "set-aside"
        aside.mkdir(exist_ok=True)
        path.rename(aside / f"{path.name}.{time.monotonic_ns()}")


def folder_bytes(folder: Path, suffix: str) -> int:
    """Bytes of the files with `suffix` under `folder`."""
    return sum(p.stat().st_size for p in folder.rglob(f"*{suffix}") if p.is_file())


def text_pdf(pages: int, size: int = 0) -> bytes:
    """Write a letter-size (or `size`-point square) PDF of `pages` pages of text, by hand."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for number in range(pages):
        lines = b"".join(
            b"1 0 0 1 72 %d Tm (Page %d, line %d: the quick brown fox jumps over a dog.) Tj\n"
            % (720 - 14 * line, number + 1, line + 1)
            for line in range(45)
        )
        text = b"BT /F1 11 Tf\n" + lines + b"ET"
        content = len(objects) + 1
        objects.append(b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream")
        kids.append(len(objects) + 1)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R"
            b" /Resources << /Font << /F1 %d 0 R >> >> >>"
            % (size or 612, size or 792, content, 3 + 2 * pages)
        )
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        pages,
    )
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def large_clip(path: Path, size: int) -> int:
    """Write an H.264 MP4 of about `size` bytes: one noisy segment, its packets repeated.

    Encoding 4 GB would take long; repeating a segment's packets (timestamps
    shifted) makes a valid stream of any length at the speed of the disk.
    Returns the number of frames.
    """
    import av

    segment = path.with_suffix(".segment.mp4")
    rng = np.random.default_rng(5)
    with av.open(str(segment), "w") as out:
        # Not crf 0: lossless x264 is High 4:4:4, which no DICOM syntax holds as it is.
        options = {"crf": "1", "preset": "ultrafast", "level": "4.1"}
        stream = out.add_stream("libx264", rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        for index in range(25):
            pixels = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, "rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    repeats = max(1, size // segment.stat().st_size)
    frames = 0
    with av.open(str(segment)) as source, av.open(str(path), "w") as out:
        template = source.streams.video[0]
        stream = out.add_stream_from_template(template)
        packets = [p for p in source.demux(template) if p.size]
        step = 25 * (packets[1].duration or 512)
        for repeat in range(repeats):
            for packet in packets:
                copy = av.Packet(bytes(packet))
                copy.pts = packet.pts + repeat * step if packet.pts is not None else None
                copy.dts = packet.dts + repeat * step if packet.dts is not None else None
                copy.duration, copy.time_base = packet.duration, packet.time_base
                copy.is_keyframe = packet.is_keyframe
                copy.stream = stream
                out.mux(copy)
                frames += 1
    segment.unlink()
    return frames


def peak_rss_kb(command: list[str]) -> int:
    """Peak resident memory of a child process, in KiB (ru_maxrss of the finished child)."""
    code = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *command], check=True, capture_output=True, text=True
    )
    return int(out.stdout.strip())


def timed_child(
    command: list[str], env: dict[str, str], limit: float = 600
) -> tuple[float, float, int]:
    """Run `command` once: its wall seconds, CPU seconds (user + sys) and peak RSS in KiB.

    The CPU time is the child's, from os.wait4. The peak comes from GNU time (%M), which
    forks the command from its own small process: a child this process starts directly
    reports this process's own peak as its ru_maxrss (Linux carries the old memory's
    high-water mark over an exec, and subprocess forks with vfork), 90 MiB and more here.
    0 without /usr/bin/time. The command fails loudly: a non-zero status, or an error line
    (dcmtk's "E: ") on its standard error, raises with that output's end.
    """
    with tempfile.TemporaryFile() as errors, tempfile.NamedTemporaryFile("r") as peak:
        wrapper = ["/usr/bin/time", "-f", "%M", "-o", peak.name]
        wrapped = [*wrapper, *command] if Path(wrapper[0]).exists() else command
        started = time.perf_counter()
        process = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        killer = threading.Timer(limit, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        text = errors.read().decode(errors="replace")
        peak_kb = int(peak.read().split()[-1]) if wrapped is not command else 0
    if process.returncode or any(line.startswith("E: ") for line in text.splitlines()):
        status_line = f"{' '.join(command)} exited {process.returncode} after {seconds:.1f} s"
        raise RuntimeError(f"{status_line}:\n{text[-3000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, peak_kb


def child_env(tcp_nodelay: str | None) -> dict[str, str]:
    """Copy this process's environment without TCP_NODELAY, or with it set to `tcp_nodelay`."""
    env = {key: value for key, value in os.environ.items() if key != "TCP_NODELAY"}
    if tcp_nodelay is not None:
        env["TCP_NODELAY"] = tcp_nodelay
    return env


def wait_listening(port: int, what: str, seconds: float = 30) -> None:
    """Wait until something accepts connections on 127.0.0.1:`port`."""
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not listen on port {port} within {seconds} s")


class Suite:
    """The benchmarks, writing their tables into `lines`."""

    def __init__(self, work: Path, runs: int, quick: bool) -> None:
        self.work, self.runs, self.quick = work, runs, quick
        self.lines: list[str] = []
        self.notes: list[str] = []

    def table(self, title: str, header: list[str], rows: list[list[str]]) -> None:
        """Add a markdown table to the results."""
        self.lines += [
            f"### {title}",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        self.lines += ["| " + " | ".join(row) + " |" for row in rows]
        self.lines.append("")

    def jpeg_batch(self) -> None:
        """Batch of baseline JPEGs against the peers and the cp floor."""
        count = 100 if self.quick else 500
        source = self.work / "jpegs"
        baseline_jpegs(source, count)
        size = folder_bytes(source, ".jpg")
        out = self.work / "jpeg-out"

        def reset() -> None:
            set_aside(out)

        tools: dict[str, Callable[[], None]] = {
            "cp -r (floor)": lambda: run(["cp", "-r", str(source), str(out)]),
            f"dicomize batch ({os.cpu_count()} cores)": lambda: run(
                [*DICOMIZE, "batch", str(source), "-o", str(out), "-q", "--patient-id", "B"]
            ),
        }
        files = sorted(source.iterdir())
        if shutil.which("img2dcm"):

            def img2dcm() -> None:
                out.mkdir()
                for path in files:
                    run(["img2dcm", "-q", str(path), str(out / (path.stem + ".dcm"))])

            tools["dcmtk img2dcm, one process per file"] = img2dcm
        else:
            self.notes.append("img2dcm (Debian dcmtk) not installed: left out")
        if shutil.which("gdcmimg"):

            def gdcmimg() -> None:
                out.mkdir()
                for path in files:
                    run(["gdcmimg", "-i", str(path), "-o", str(out / (path.stem + ".dcm"))])

            tools["GDCM gdcmimg, one process per file"] = gdcmimg
        else:
            self.notes.append("gdcmimg (Debian libgdcm-tools) not installed: left out")
        if _has_highdicom():
            tools["highdicom SCImage, one process (decodes)"] = lambda: _highdicom_batch(files, out)
        else:
            self.notes.append("highdicom not installed (pip install -e '.[bench]'): left out")
        results = {}
        for name, action in tools.items():
            seconds = median_seconds(action, self.runs, reset)
            results[name] = (seconds, folder_bytes(out, ".dcm") or folder_bytes(out, ".jpg"))
        floor = results["cp -r (floor)"][0]
        dicomize_time = next(v[0] for k, v in results.items() if k.startswith("dicomize"))
        # The same command on one file: what starting up costs (Python, pydicom, workers).
        one = self.work / "one-jpeg"
        one.mkdir()
        shutil.copy(files[0], one)
        startup = median_seconds(
            lambda: run([*DICOMIZE, "batch", str(one), "-o", str(out), "-q", "--patient-id", "B"]),
            max(self.runs, 5),
            reset,
        )
        rows = [
            [
                name,
                f"{seconds:.2f}",
                f"{count / seconds:.0f}",
                f"{written / size:.3f}",
                f"{seconds / dicomize_time:.1f}x",
            ]
            for name, (seconds, written) in results.items()
        ]
        self.table(
            f"{count} baseline JPEGs, 1024x768 ({size / 1e6:.1f} MB)",
            ["tool", "seconds", "files/s", "output / input bytes", "time vs dicomize"],
            rows,
        )
        img = results.get("dcmtk img2dcm, one process per file")
        per_file = (dicomize_time - startup) / (count - 1)
        self.lines.append(
            f"dicomize batch start-up (the same command on 1 file): {startup:.2f} s. "
            f"After it, {per_file * 1e3:.2f} ms per file ({1 / per_file:.0f} files/s)"
            + (f", {img[0] / count / per_file:.1f}x img2dcm's rate" if img else "")
            + f", {per_file / (floor / count):.1f}x cp's time per file.\n"
        )
        self.lines.append(
            f"Target: {TARGETS['jpeg']}. Measured end to end: "
            + (f"{img[0] / dicomize_time:.1f}x img2dcm, " if img else "")
            + f"{dicomize_time / floor:.1f}x the cp floor.\n"
        )

    def png_batch(self) -> None:
        """Batch of PNGs against Pillow decoding the same files."""
        count = 40 if self.quick else 200
        source = self.work / "pngs"
        source.mkdir()
        rng = np.random.default_rng(7)
        for index in range(count):
            if index % 2:
                pixels = rng.integers(0, 4096, (768, 1024), dtype=np.uint16)
            else:
                pixels = rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(source / f"p{index:04d}.png", compress_level=1)
        out = self.work / "png-out"

        def reset() -> None:
            set_aside(out)

        files = sorted(source.iterdir())
        decode = median_seconds(
            lambda: run([sys.executable, "-c", _PILLOW_DECODE, *map(str, files)]), self.runs, reset
        )
        single = median_seconds(
            lambda: run([*DICOMIZE, "batch", str(source), "-o", str(out), "-q", "--workers", "1"]),
            self.runs,
            reset,
        )
        every = median_seconds(
            lambda: run([*DICOMIZE, "batch", str(source), "-o", str(out), "-q"]), self.runs, reset
        )
        # Each side on one file: its start-up, taken out for the per-file ratio.
        one = self.work / "one-png"
        one.mkdir()
        shutil.copy(files[0], one)
        decode_one = median_seconds(
            lambda: run([sys.executable, "-c", _PILLOW_DECODE, str(one / files[0].name)]),
            max(self.runs, 5),
            reset,
        )
        single_one = median_seconds(
            lambda: run([*DICOMIZE, "batch", str(one), "-o", str(out), "-q", "--workers", "1"]),
            max(self.runs, 5),
            reset,
        )
        per_file = ((single - single_one) / (count - 1)) / ((decode - decode_one) / (count - 1))
        self.table(
            f"{count} PNGs, 1024x768, half 8-bit RGB and half 16-bit gray",
            ["what", "seconds", "vs Pillow decode"],
            [
                ["Pillow decode only, one process", f"{decode:.2f}", "1.00x"],
                ["dicomize batch --workers 1", f"{single:.2f}", f"{single / decode:.2f}x"],
                [
                    f"dicomize batch ({os.cpu_count()} cores)",
                    f"{every:.2f}",
                    f"{every / decode:.2f}x",
                ],
            ],
        )
        self.lines.append(
            f"Start-up (each command on 1 file): Pillow {decode_one:.2f} s, dicomize "
            f"{single_one:.2f} s. Per file after start-up, one process: {per_file:.2f}x "
            "Pillow's decode.\n"
        )
        self.lines.append(
            f"Target: {TARGETS['png']}. Measured: {single / decode:.2f}x end to end, "
            f"{per_file:.2f}x per file.\n"
        )

    def big_png(self) -> None:
        """One 6000x4000 RGB PNG: wall time and peak memory."""
        path = self.work / "big.png"
        rng = np.random.default_rng(3)
        Image.fromarray(rng.integers(0, 256, (4000, 6000, 3), dtype=np.uint8)).save(
            path, compress_level=1
        )
        out = self.work / "big.dcm"
        frame_mb = 6000 * 4000 * 3 / 2**20  # MiB, as ru_maxrss / 1024 is
        baseline_kb = peak_rss_kb(
            [sys.executable, "-c", "import dicomize, numpy, PIL.Image, pydicom"]
        )
        seconds = median_seconds(
            lambda: run([*DICOMIZE, "convert", str(path), "-o", str(out), "-q", "--overwrite"]),
            self.runs,
            lambda: None,
        )
        peak_kb = peak_rss_kb(
            [*DICOMIZE, "convert", str(path), "-o", str(out), "-q", "--overwrite"]
        )
        above_mb = (peak_kb - baseline_kb) / 1024
        self.table(
            "One 6000x4000 RGB PNG",
            ["seconds", "peak RSS MiB", "interpreter baseline MiB", "above baseline / frame"],
            [
                [
                    f"{seconds:.2f}",
                    f"{peak_kb / 1024:.0f}",
                    f"{baseline_kb / 1024:.0f}",
                    f"{above_mb / frame_mb:.2f}x ({frame_mb:.0f} MiB frame)",
                ]
            ],
        )
        self.lines.append(f"Target: {TARGETS['big']}. Measured: {above_mb / frame_mb:.2f}x.\n")

    def pdf_pages(self) -> None:
        """Time a 200-page PDF: Encapsulated against pdf2dcm, as images against a script."""
        source = self.work / "report.pdf"
        source.write_bytes(text_pdf(PAGES))
        out = self.work / "report.dcm"
        # The baseline is the same command on a one-page PDF of 10x10 points: the
        # interpreter, the libraries and PDFium loaded, but no page worth measuring.
        tiny = self.work / "tiny.pdf"
        tiny.write_bytes(text_pdf(1, size=10))
        baseline_kb = peak_rss_kb(
            [
                *DICOMIZE,
                "convert",
                str(tiny),
                "-o",
                str(self.work / "tiny.dcm"),
                "-q",
                "--pdf-as-images",
            ]
        )
        rows = []
        commands = {
            "dicomize convert (Encapsulated PDF)": [
                *DICOMIZE,
                "convert",
                str(source),
                "-o",
                str(out),
                "-q",
                "--overwrite",
            ],
            "dcmtk pdf2dcm (Encapsulated PDF)": ["pdf2dcm", str(source), str(out)],
            "dicomize convert --pdf-as-images": [
                *DICOMIZE,
                "convert",
                str(source),
                "-o",
                str(out),
                "-q",
                "--overwrite",
                "--pdf-as-images",
                "--max-pixels",  # 420 megapixels in all: the default limit is 150
                "500000000",
            ],
            "pypdfium2 + pydicom script (all pages in memory)": [
                sys.executable,
                str(HERE / "peers" / "pdf_pages_naive.py"),
                str(source),
                str(out),
                "150",
            ],
        }
        for name, command in commands.items():
            if shutil.which(command[0]) is None:
                self.notes.append(f"{command[0]} not installed: left out")
                continue
            seconds = median_seconds(
                lambda command=command: run(command), self.runs, lambda: set_aside(out)
            )
            peak_kb = peak_rss_kb(command)
            rows.append(
                [
                    name,
                    f"{seconds:.2f}",
                    f"{peak_kb / 1024:.0f}",
                    f"{(peak_kb - baseline_kb) / 1024:.0f}",
                    f"{out.stat().st_size / 2**20:.1f}",
                ]
            )
        self.table(
            f"A {PAGES}-page text PDF, letter size (pages at 150 dpi: 1275x1650)",
            ["command", "seconds", "peak RSS MiB", "above baseline MiB", "output MiB"],
            rows,
        )
        page_mb = 1275 * 1650 * 3 / 2**20  # one page as PDFium renders it (RGB)
        pages_row = next(row for row in rows if row[0].endswith("--pdf-as-images"))
        above = float(pages_row[3])
        self.lines.append(
            f"Target: {TARGETS['pdf']} (one page rendered: {page_mb:.1f} MiB RGB; stored gray, "
            f"{page_mb / 3:.1f} MiB). Measured: {above / page_mb:.2f}x. Baseline: "
            f"{baseline_kb / 1024:.0f} MiB, the same command on a one-page PDF of 10x10 points "
            "(interpreter, libraries and PDFium loaded).\n"
        )

    def video(self) -> None:
        """Pass a large H.264 MP4 through: time and peak memory against a read-it-all script."""
        target = (400 if self.quick else 4000) * 10**6
        clip = self.work / "clip.mp4"
        frames = large_clip(clip, target)
        out = self.work / "clip.dcm"
        tiny = self.work / "segment.mp4"
        large_clip(tiny, 1)  # the baseline: the same command on a clip of one segment
        baseline_kb = peak_rss_kb(
            [*DICOMIZE, "convert", str(tiny), "-o", str(self.work / "segment.dcm"), "-q"]
        )
        commands = {
            "dicomize convert": [
                *DICOMIZE,
                "convert",
                str(clip),
                "-o",
                str(out),
                "-q",
                "--overwrite",
            ],
            "pydicom script (reads the clip into memory)": [
                sys.executable,
                str(HERE / "peers" / "video_naive.py"),
                str(clip),
                str(out),
            ],
            "cp (the floor)": ["cp", str(clip), str(out)],
        }
        rows = []
        for name, command in commands.items():
            seconds = median_seconds(
                lambda command=command: run(command),
                max(1, self.runs // 2),
                lambda: set_aside(out),
            )
            peak_kb = peak_rss_kb(command)
            rows.append(
                [
                    name,
                    f"{seconds:.1f}",
                    f"{peak_kb / 1024:.0f}",
                    f"{(peak_kb - baseline_kb) / 1024:.0f}",
                ]
            )
        size_gb = clip.stat().st_size / 10**9
        self.table(
            f"One {size_gb:.1f} GB H.264 MP4 (1920x1080, {frames} frames), passed through",
            ["command", "seconds", "peak RSS MiB", "above dicomize's baseline MiB"],
            rows,
        )
        above = float(rows[0][3])
        self.lines.append(
            f"Target: {TARGETS['video']}. Measured: {above:.0f} MiB above the baseline "
            f"({baseline_kb / 1024:.0f} MiB: the same command on a one-segment clip).\n"
        )

    def watch(self) -> None:
        """Time the hot folder delivering to a local Orthanc, against batch + send."""
        if shutil.which("Orthanc") is None:
            self.notes.append("Orthanc not installed: the watch benchmark is left out")
            return
        sys.path.insert(0, str(HERE.parent / "tests"))
        from peers import Orthanc  # the test suite's real Orthanc peer

        count = 50 if self.quick else 200
        staging = self.work / "watch-staging"
        staging.mkdir()
        y, x = np.mgrid[0:768, 0:1024]
        for index in range(count):
            pixels = np.stack([x % 256, y % 256, (x + y + index) % 256], axis=-1).astype(np.uint8)
            Image.fromarray(pixels).save(staging / f"photo{index:04d}.jpg", quality=85)
        (self.work / "orthanc").mkdir()
        pacs = Orthanc(self.work / "orthanc")
        pacs.start()
        try:
            url = f"dicom://ORTHANC@127.0.0.1:{pacs.dicom_port}"
            rows = self._watch_rows(staging, count, url)
            latency = self._drop_latency(staging, url)
        finally:
            pacs.stop()
        self.table(
            f"{count} JPEGs (1024x768) dropped at once, converted and C-STOREd to a local Orthanc",
            ["how", "seconds", "files/s"],
            rows,
        )
        self.table(
            "One photo: from the rename into the inbox to the journal's 'done' (stored in Orthanc)",
            ["watch flags", "median seconds", "of which settle"],
            latency,
        )
        self.lines.append(
            "The watcher runs one process (convert, then send over one association per round); "
            "batch uses every core and send one association. Orthanc's intake (about 50 ms per "
            "instance here) sets the pace of every row: dcmtk's storescu of the same objects "
            "is slower than dicomize send. Latency is dominated by --settle, the price of never "
            "taking a half-written file.\n"
        )

    def _watch_rows(self, staging: Path, count: int, url: str) -> list[list[str]]:
        send = ["--send", url, "-q", "--patient-id", "B"]
        host_port = url.rsplit("@", 1)[1].rsplit(":", 1)
        times: dict[str, list[float]] = {}
        for attempt in range(max(1, self.runs // 2)):
            inbox = self.work / f"watch-inbox-{attempt}"
            times.setdefault("dicomize watch (settle 0.5 s): drop to all stored", []).append(
                self._watch_once(staging, inbox, send, count)
            )
            batch_in = self.work / f"batch-in-{attempt}"
            shutil.copytree(staging, batch_in)
            out = self.work / f"batch-out-{attempt}"
            started = time.perf_counter()
            run([*DICOMIZE, "batch", str(batch_in), "-o", str(out), "-q", "--patient-id", "B"])
            converted = time.perf_counter()
            run([*DICOMIZE, "send", str(out), "--to", url, "-q"])
            ended = time.perf_counter()
            times.setdefault("dicomize batch, then dicomize send", []).append(ended - started)
            times.setdefault("  of which dicomize send", []).append(ended - converted)
            # dcmtk's, not pynetdicom's app of the same name in the virtual environment.
            storescu = shutil.which("storescu", path="/usr/bin:/bin")
            if storescu:
                started = time.perf_counter()
                # -xy: propose JPEG baseline; +sp: the objects only, not the batch's state file.
                run(
                    [
                        storescu,
                        "-aec",
                        "ORTHANC",
                        *host_port,
                        "-xy",
                        "+sd",
                        "+sp",
                        "*.dcm",
                        str(out),
                    ]
                )
                times.setdefault("dcmtk storescu of the same objects", []).append(
                    time.perf_counter() - started
                )
        return [
            [name, f"{statistics.median(values):.2f}", f"{count / statistics.median(values):.0f}"]
            for name, values in times.items()
        ]

    def _watch_once(self, staging: Path, inbox: Path, send: list[str], count: int) -> float:
        inbox.mkdir()
        watcher = subprocess.Popen(
            [*DICOMIZE, "watch", str(inbox), "--settle", "0.5", "--poll", "0.2", *send]
        )
        try:
            time.sleep(2)  # started and idle
            started = time.perf_counter()
            for path in sorted(staging.iterdir()):
                shutil.copy(path, inbox / f".{path.name}.part")
                (inbox / f".{path.name}.part").rename(inbox / path.name)
            done = inbox / "done"
            while not done.exists() or sum(1 for _ in done.iterdir()) < count:
                time.sleep(0.02)
            return time.perf_counter() - started
        finally:
            watcher.terminate()
            watcher.wait(timeout=60)

    def _drop_latency(self, staging: Path, url: str) -> list[list[str]]:
        photo = next(iter(sorted(staging.iterdir())))
        rows = []
        for settle in (2.0, 0.2):
            inbox = self.work / f"latency-{settle}"
            inbox.mkdir()
            watcher = subprocess.Popen(
                [*DICOMIZE, "watch", str(inbox), "--settle", str(settle), "--poll", "0.1",
                 "--send", url, "-q", "--patient-id", "B"]
            )  # fmt: skip
            times = []
            try:
                time.sleep(2)
                for index in range(max(self.runs, 5)):
                    name = f"drop{index}.jpg"
                    shutil.copy(photo, inbox / f".{name}.part")
                    started = time.perf_counter()
                    (inbox / f".{name}.part").rename(inbox / name)
                    while not (inbox / "done" / name).exists():
                        time.sleep(0.005)
                    times.append(time.perf_counter() - started)
            finally:
                watcher.terminate()
                watcher.wait(timeout=60)
            rows.append([f"--settle {settle:g}", f"{statistics.median(times):.2f}", f"{settle:g}"])
        return rows

    def send(self) -> None:
        """C-STORE of the same objects by dicomize and dcmtk's storescu (issue 27).

        Three receivers, each started for every run on a free loopback port and stopped
        after it: dcmtk's storescp --ignore with TCP_NODELAY=1 in its environment (dcmtk then
        turns Nagle's algorithm off on its sockets), the same with TCP_NODELAY=0 (Debian's
        dcmtk leaves it on, as with no variable at all), and Orthanc with its default
        configuration but for ports, storage and AE title, in a fresh folder every run.
        """
        storescp = shutil.which("storescp", path="/usr/bin:/bin")
        storescu = shutil.which("storescu", path="/usr/bin:/bin")
        if storescp is None or storescu is None:
            self.notes.append("dcmtk's storescp or storescu not installed: send is left out")
            return
        sys.path.insert(0, str(HERE.parent / "tests"))  # peers: free_port, Orthanc
        # Orthanc inherits this environment: no TCP_NODELAY, as a service started by hand.
        os.environ.pop("TCP_NODELAY", None)
        count = 200 if self.quick else 2000
        photos = self.work / "send-jpegs"
        baseline_jpegs(photos, count)
        objects = self.work / "send-objects"
        run([*DICOMIZE, "batch", str(photos), "-o", str(objects), "-q", "--patient-id", "B"])
        if sum(1 for _ in objects.rglob("*.dcm")) != count:
            raise RuntimeError(f"dicomize batch did not write {count} objects in {objects}")

        def senders(aet: str, port: int, folder: Path = objects) -> dict[str, list[str]]:
            url = f"dicom://{aet}@127.0.0.1:{port}"
            dicomize = [*DICOMIZE, "send", str(folder), "--to", url, "-q", "--associations"]
            return {
                # -xy: propose JPEG Baseline; +sd +sp: the objects under the folder, not the
                # batch's state file.
                SEND_STORESCU: [storescu, "-aec", aet, "127.0.0.1", str(port), "-xy",
                                "+sd", "+sp", "*.dcm", str(folder)],
                SEND_ONE: [*dicomize, "1"],
                SEND_FOUR: [*dicomize, "4"],
            }  # fmt: skip

        # Each receiver: its name, how to start one, the senders' TCP_NODELAY.
        receivers: dict[str, tuple[Receiver, str | None]] = {
            "nodelay": (lambda: self._storescp(storescp, "1"), "1"),
            "nagle": (lambda: self._storescp(storescp, "0"), None),
        }
        if shutil.which("Orthanc"):
            receivers["orthanc"] = (lambda: self._orthanc(count), None)
        else:
            self.notes.append("Orthanc not installed: left out of the send benchmark")
        rows, rates = [], {}
        for key, (start, tcp_nodelay) in receivers.items():
            results = self._send_rounds(start, senders, child_env(tcp_nodelay))
            for sender, (times, cpus, peak_kb) in results.items():
                seconds = statistics.median(times)
                rates[key, sender] = count / seconds
                rows.append(
                    [
                        SEND_RECEIVERS[key],
                        sender,
                        f"TCP_NODELAY={tcp_nodelay}" if tcp_nodelay else "no TCP_NODELAY",
                        str(len(times)),
                        f"{seconds:.2f}",
                        f"{count / seconds:.0f}",
                        f"{seconds / count * 1e3:.2f}",
                        f"{statistics.median(cpus) / count * 1e3:.2f}",
                        f"{peak_kb / 1024:.0f}",
                    ]
                )
        self.table(
            f"{count} JPEG Secondary Capture objects ({folder_bytes(objects, '.dcm') / 1e6:.0f} MB"
            ", 1024x768 baseline JPEG, made by dicomize batch) sent by C-STORE over loopback",
            ["receiver", "sender", "sender's environment", "runs", "seconds (median)",
             "objects/s", "ms / object", "sender CPU ms / object", "sender peak RSS MiB"],
            rows,
        )  # fmt: skip
        self._send_notes(rates)
        # Start-up: each sender on one object to the TCP_NODELAY storescp, taken out of its
        # time for a rate per object after it.
        one = self.work / "send-one"
        one.mkdir()
        shutil.copy(next(objects.rglob("*.dcm")), one)
        env = child_env("1")
        startup = {}
        for name in (SEND_STORESCU, SEND_ONE):
            times = []
            for _ in range(max(self.runs, 5)):
                with self._storescp(storescp, "1") as (aet, port):
                    times.append(timed_child(senders(aet, port, one)[name], env)[0])
            startup[name] = statistics.median(times)
        after = {
            name: (count / rates["nodelay", name] - startup[name]) / (count - 1) for name in startup
        }
        self.lines.append(
            "Start-up (the same command on 1 object, to the TCP_NODELAY storescp, median of "
            f"{max(self.runs, 5)}): storescu {startup[SEND_STORESCU] * 1e3:.0f} ms, dicomize "
            f"{startup[SEND_ONE] * 1e3:.0f} ms. After it, one association: storescu "
            f"{after[SEND_STORESCU] * 1e3:.3f} ms per object, dicomize "
            f"{after[SEND_ONE] * 1e3:.3f} ms ({after[SEND_STORESCU] / after[SEND_ONE]:.3f}x "
            "storescu's rate).\n"
        )

    def _send_notes(self, rates: dict[tuple[str, str], float]) -> None:
        self.lines.append(
            "Each receiver is started for each run and stopped after it; runs go round by "
            f"round, every sender once a round, and a row's runs stop after {SEND_ROW_SECONDS:.0f}"
            f" s (at most {self.runs} runs). The receivers' own CPU time and memory are not "
            "counted. Sender CPU: the process's user + sys time (os.wait4), median run; peak "
            "RSS: the largest of its runs (GNU time's %M); for dicomize, the Python process. "
            "The objects are read from the page cache. storescp runs with TCP_NODELAY=1 or "
            "TCP_NODELAY=0 in its environment (0 does what no variable does in Debian's dcmtk: "
            "Nagle's algorithm stays on); each sender runs with the environment in its row "
            "(dicomize sets TCP_NODELAY on its socket whatever the environment). Orthanc runs "
            "with no TCP_NODELAY in its environment and its default configuration but for "
            "ports, storage, AE title and plug-ins (none; tests/peers.py's Orthanc), on an empty "
            "storage every run; its instance count is checked after each run.\n"
        )
        checks = {
            "nodelay": (SEND_ONE, SEND_STORESCU, 0.8),
            "nagle": (SEND_FOUR, SEND_ONE, 3.0),
            "orthanc": (SEND_FOUR, SEND_STORESCU, 3.0),
        }
        for key, (ours, theirs, wanted) in checks.items():
            if (key, ours) not in rates:
                continue
            ratio = rates[key, ours] / rates[key, theirs]
            self.lines.append(
                f"Target ({SEND_TARGETS[key]}): {ratio:.3f}x ({rates[key, ours]:.0f} against "
                f"{rates[key, theirs]:.0f} objects/s): {'met' if ratio >= wanted else 'missed'}.\n"
            )

    @contextlib.contextmanager
    def _storescp(self, executable: str, tcp_nodelay: str) -> Iterator[tuple[str, int]]:
        """Start dcmtk's storescp, discarding what it receives, with TCP_NODELAY set so."""
        from peers import free_port

        port = free_port()
        process = subprocess.Popen(
            [executable, "--ignore", "+xa", "--fork", "-aet", "RX", str(port)],
            env=child_env(tcp_nodelay),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_listening(port, "storescp")
            yield "RX", port
        finally:
            process.terminate()
            process.wait(timeout=20)

    @contextlib.contextmanager
    def _orthanc(self, count: int) -> Iterator[tuple[str, int]]:
        """Start an Orthanc on an empty storage; check that it holds `count` instances after."""
        from peers import Orthanc  # the test suite's real Orthanc peer

        folder = self.work / f"send-orthanc-{time.monotonic_ns()}"
        folder.mkdir()
        pacs = Orthanc(folder, Plugins=[])  # no DICOMweb: nothing but Orthanc's defaults
        try:
            pacs.start()
            wait_listening(pacs.dicom_port, "Orthanc's DICOM server")
            yield "ORTHANC", pacs.dicom_port
            stored = pacs.get("/statistics")["CountInstances"]
            if stored != count:
                raise RuntimeError(f"Orthanc holds {stored} instances, not {count}")
        finally:
            pacs.stop()

    def _send_rounds(
        self,
        start: Receiver,
        senders: Callable[[str, int], dict[str, list[str]]],
        env: dict[str, str],
    ) -> dict[str, tuple[list[float], list[float], int]]:
        """Each sender's wall times, CPU times and peak RSS (KiB), one run a round."""
        results: dict[str, tuple[list[float], list[float], int]] = {}
        for _ in range(self.runs):
            names = list(senders("AET", 0))
            pending = [
                name
                for name in names
                if name not in results or sum(results[name][0]) < SEND_ROW_SECONDS
            ]
            if not pending:
                break
            for name in pending:
                with start() as (aet, port):
                    os.sync()
                    seconds, cpu, peak_kb = timed_child(senders(aet, port)[name], env)
                times, cpus, peak = results.setdefault(name, ([], [], 0))
                times.append(seconds)
                cpus.append(cpu)
                results[name] = (times, cpus, max(peak, peak_kb))
        return results

    def cold_start(self) -> None:
        """Start-up: one file from a cold process, and --help, against img2dcm and Python."""
        jpeg, png = self.work / "photo.jpg", self.work / "small.png"
        y, x = np.mgrid[0:480, 0:640]
        pixels = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)
        Image.fromarray(pixels).save(jpeg, quality=90)
        Image.fromarray(pixels).save(png)
        out = self.work / "cold.dcm"
        # The console script users run, not python -m (which adds runpy).
        script = Path(sys.executable).parent / "dicomize"
        cli = [str(script)] if script.exists() else DICOMIZE
        one = ["-o", str(out), "--patient-id", "1", "-q", "--overwrite"]
        commands = {
            "python -c pass": ([sys.executable, "-c", "pass"], ""),
            "dicomize --help": ([*cli, "--help"], "help"),
            "dicomize convert --help": ([*cli, "convert", "--help"], "help"),
            "dicomize convert photo.jpg (JPEG passed through)": (
                [*cli, "convert", str(jpeg), *one],
                "jpeg",
            ),
            "dicomize convert small.png (640x480)": ([*cli, "convert", str(png), *one], "png"),
        }
        if shutil.which("img2dcm"):
            commands["dcmtk img2dcm photo.jpg"] = (["img2dcm", "-q", str(jpeg), str(out)], "")
        else:
            self.notes.append("img2dcm (Debian dcmtk) not installed: left out of start-up")
        runs = max(self.runs * 3, 15)
        for command, _ in commands.values():
            run(command)  # once before timing: byte code written, files in the page cache
        # Round by round, every command once per round: this machine's speed drifts by
        # tens of percent within minutes, and interleaving keeps the ratios fair.
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, (command, _) in commands.items():
                times[name].append(
                    median_seconds(lambda command=command: run(command), 1, lambda: set_aside(out))
                )
        seconds = {name: statistics.median(values) for name, values in times.items()}
        img2dcm = seconds.get("dcmtk img2dcm photo.jpg")
        rows = []
        for name, (_, target) in commands.items():
            ratio = f"{seconds[name] / img2dcm:.1f}x" if img2dcm else "-"
            rows.append(
                [name, f"{seconds[name] * 1000:.0f}", ratio, TARGETS.get(f"cold-{target}", "")]
            )
        self.table(
            f"Start-up from a cold process (median of {runs} runs)",
            ["command", "ms", "vs img2dcm", "target"],
            rows,
        )

    def wsi(self) -> None:
        """Whole-slide images: SVS slides of 100 MB and 3 GB, against wsidicomizer, Orthanc WSI, cp.

        The quick mode converts the 100 MB slide only. See bench/wsi.py.
        """
        import wsi

        wsi.section(self, TARGETS["wsi"])

    def scale(self) -> None:
        """Batch of JPEGs at 1, 2, 4, ... workers up to the cores, cp -r, system calls per file.

        See bench/scale.py (issue 28).
        """
        import scale

        scale.section(self, TARGETS["scale"])

    def lossless(self) -> None:
        """Output size and speed per lossless transfer syntax."""
        source = self.work / "lossless"
        source.mkdir()
        rng = np.random.default_rng(11)
        y, x = np.mgrid[0:768, 0:1024]
        for index in range(10):
            smooth = ((x * 0.2 + y * 0.1 + index) % 256).astype(np.uint8)
            noisy = np.clip(smooth.astype(int) + rng.integers(-3, 4, smooth.shape), 0, 255)
            rgb = np.stack([noisy, np.roll(noisy, 5, 1), np.roll(noisy, 9, 0)], -1).astype(np.uint8)
            Image.fromarray(rgb).save(source / f"rgb{index}.png")
            Image.fromarray(noisy.astype(np.uint16) * 16).save(source / f"gray{index}.png")
        out = self.work / "lossless-out"
        native = None
        rows = []
        for syntax in (
            "explicit",
            "deflated",
            "rle",
            "jpeg-lossless",
            "jpeg-ls-lossless",
            "jpeg2000-lossless",
            "htj2k-lossless",
        ):

            def reset() -> None:
                set_aside(out)

            seconds = median_seconds(
                lambda s=syntax: run(
                    [*DICOMIZE, "batch", str(source), "-o", str(out), "-q", "-t", s]
                ),
                self.runs,
                reset,
            )
            written = folder_bytes(out, ".dcm")
            native = native or written
            rows.append(
                [syntax, f"{seconds:.2f}", f"{written / 1e6:.1f}", f"{native / written:.2f}"]
            )
        self.table(
            "Lossless output per transfer syntax (10 RGB + 10 12-bit gray, 1024x768)",
            ["transfer syntax", "seconds", "MB written", "compression vs native"],
            rows,
        )


_PILLOW_DECODE = (
    "import sys; from PIL import Image\nfor p in sys.argv[1:]:\n    Image.open(p).load()"
)


def _has_highdicom() -> bool:
    try:
        import highdicom  # noqa: F401
    except ImportError:
        return False
    return True


def _highdicom_batch(files: list[Path], out: Path) -> None:
    """Highdicom in one process: decode each JPEG and build an SC image from the array."""
    code = f"""
import sys, highdicom as hd, numpy as np
from pathlib import Path
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian
out = Path({str(out)!r}); out.mkdir()
for name in sys.argv[1:]:
    pixels = np.asarray(Image.open(name).convert('RGB'))
    image = hd.sc.SCImage(
        pixel_array=pixels, photometric_interpretation='RGB', bits_allocated=8,
        coordinate_system='PATIENT', study_instance_uid=hd.UID(), series_instance_uid=hd.UID(),
        sop_instance_uid=hd.UID(), series_number=1, instance_number=1, manufacturer='bench',
        patient_orientation=('L', 'P'), transfer_syntax_uid=ExplicitVRLittleEndian)
    image.save_as(out / (Path(name).stem + '.dcm'))
"""
    run([sys.executable, "-c", code, *map(str, files)])


def _versions() -> str:
    import PIL
    import pydicom

    import dicomize

    parts = [
        f"dicomize {dicomize.__version__}",
        f"Python {platform.python_version()}",
        f"pydicom {pydicom.__version__}",
        f"Pillow {PIL.__version__}",
        f"numpy {np.__version__}",
    ]
    for tool, flag in (("img2dcm", "--version"), ("gdcmimg", "--version")):
        if shutil.which(tool):
            out = subprocess.run([tool, flag], capture_output=True, text=True, check=False)
            first = (out.stdout or out.stderr).strip().splitlines()
            parts.append(first[0].strip("$ ") if first else tool)
    return ", ".join(parts)


def main() -> int:
    """Run every benchmark, print the tables, write bench/RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer files and one run each")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[
            "jpeg",
            "scale",
            "png",
            "big",
            "cold",
            "lossless",
            "pdf",
            "video",
            "watch",
            "send",
            "wsi",
        ],
        help="run these benchmarks only (print only; RESULTS.md needs the whole suite)",
    )
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    # Measured as an installed dicomize runs: its byte code cached (pip compiles it), not
    # compiled from source at every start as PYTHONDONTWRITEBYTECODE=1 would make it.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory() as temporary:
        suite = Suite(Path(temporary), runs, args.quick)
        steps = {
            "jpeg": suite.jpeg_batch,
            "scale": suite.scale,
            "png": suite.png_batch,
            "big": suite.big_png,
            "cold": suite.cold_start,
            "lossless": suite.lossless,
            "pdf": suite.pdf_pages,
            "video": suite.video,
            "watch": suite.watch,
            "send": suite.send,
            "wsi": suite.wsi,
        }
        for name, step in steps.items():
            if not args.only or name in args.only:
                step()
    cpu = platform.processor() or platform.machine()
    header = (
        [
            "# Benchmark results",
            "",
            f"Measured {dt.date.today().isoformat()} with `python bench/run.py` (median of {runs} "
            f"run(s)) on {os.cpu_count()} cores ({cpu}), "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB.",
            f"Versions: {_versions()}.",
            "",
        ]
        + [f"- {note}" for note in suite.notes]
        + [""]
    )
    text = "\n".join(header + suite.lines)
    print(text)
    if not args.no_write and not args.quick and not args.only:
        (HERE / "RESULTS.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Batch benchmark: dicomize batch against dcmtk img2dcm and the cp floor, measured together.

Run by hand (not part of the test suite):

    .venv/bin/python bench/bench_batch.py            # 500 JPEGs, 3 runs each
    .venv/bin/python bench/bench_batch.py --files 100 --runs 1

It generates baseline JPEGs of about 1024x768 (camera-like noise and gradients),
then times, in the same run and on the same files:

* ``cp -r``: the floor, copying the same bytes;
* ``dicomize batch`` with all cores (passthrough: no decode, no re-encode);
* ``img2dcm`` from dcmtk, one process per file, as people script it.

It prints medians, files per second, output size against input size and the
ratios to the peers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
DICOMIZE = [sys.executable, "-m", "dicomize"]


def make_jpegs(folder: Path, count: int) -> int:
    """Write `count` camera-like baseline JPEGs into `folder`; return their total bytes."""
    rng = np.random.default_rng(2026)
    y, x = np.mgrid[0:768, 0:1024]
    base = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.int16)
    total = 0
    for index in range(count):
        noise = rng.integers(-12, 13, base.shape, dtype=np.int16)
        pixels = np.clip(base + noise + index % 50, 0, 255).astype(np.uint8)
        path = folder / f"photo{index:04d}.jpg"
        Image.fromarray(pixels).save(path, quality=85)
        total += path.stat().st_size
    return total


def folder_bytes(folder: Path) -> int:
    """Return the bytes of the pictures and DICOM files under `folder` (not batch state)."""
    return sum(
        p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.suffix in {".dcm", ".jpg"}
    )


def timed(run: Callable[[Path], None], workdir: Path, runs: int) -> tuple[float, int]:
    """Return the median seconds of `runs` runs of `run` and the bytes it wrote."""
    times, size = [], 0
    for attempt in range(runs):
        out = workdir / f"out{attempt}"
        started = time.perf_counter()
        run(out)
        times.append(time.perf_counter() - started)
        size = folder_bytes(out)
        shutil.rmtree(out)
    return statistics.median(times), size


def main() -> int:
    """Generate the pictures, time every tool on them, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        source = work / "jpegs"
        source.mkdir()
        input_bytes = make_jpegs(source, args.files)
        rows: list[tuple[str, float, int]] = []

        def cp(out: Path) -> None:
            subprocess.run(["cp", "-r", str(source), str(out)], check=True)

        def dicomize_batch(out: Path) -> None:
            subprocess.run(
                [*DICOMIZE, "batch", str(source), "-o", str(out), "-q", "--patient-id", "BENCH"],
                check=True,
            )

        def img2dcm(out: Path) -> None:
            out.mkdir()
            for path in sorted(source.iterdir()):
                subprocess.run(
                    ["img2dcm", "-q", str(path), str(out / (path.stem + ".dcm"))], check=True
                )

        rows.append(("cp -r (floor)", *timed(cp, work, args.runs)))
        rows.append(
            (f"dicomize batch ({os.cpu_count()} cores)", *timed(dicomize_batch, work, args.runs))
        )
        if shutil.which("img2dcm"):
            rows.append(("img2dcm, one process per file", *timed(img2dcm, work, args.runs)))
        else:
            print("img2dcm not installed (Debian package dcmtk): peer skipped", file=sys.stderr)

    print(
        f"{args.files} baseline JPEGs of 1024x768, {input_bytes / 1e6:.1f} MB; "
        f"median of {args.runs} run(s)\n"
    )
    print("| tool | seconds | files/s | output bytes / input bytes |")
    print("|---|---|---|---|")
    for name, seconds, size in rows:
        print(f"| {name} | {seconds:.2f} | {args.files / seconds:.0f} | {size / input_bytes:.3f} |")
    speed = {name.split(" ")[0]: args.files / seconds for name, seconds, _ in rows}
    print()
    print(f"dicomize / cp floor time: {speed['cp'] / speed['dicomize']:.2f}x")
    if "img2dcm," in speed:
        print(f"dicomize / img2dcm throughput: {speed['dicomize'] / speed['img2dcm,']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Batch scale-out and system calls per file (issue 28): dicomize batch against cp -r.

Run from bench/run.py (`--only scale`), never on its own. One folder of baseline JPEGs
(the jpeg section's pictures: 1024x768, quality 85, about 143 KB, every one passed
through) is converted by ``dicomize batch --workers N`` for N = 1, 2, 4, ... up to the
machine's cores (and the core count itself), and copied by ``cp -r`` in the same run:

- wall seconds (median of the suite's runs), files/s, the speed-up over one worker, the
  time against cp's, and the user and system CPU time per file of the whole process
  tree (``os.wait4``: the batch and the workers it waited for);
- the same command on one file, its start-up, taken out for the per-file ratio to cp;
- with strace installed, the system calls per file: ``strace -f -c`` over two batch sizes,
  the difference divided by the difference in files (so start-up cancels out), for
  ``--workers 1``, for all the cores, and for ``cp -r``.

Outputs are set aside, never deleted, between timed runs (see run.py's set_aside: deleting
files right before creating as many skews the next run on a disk mounted with discard),
and removed at the end of the section. The load average before and after is printed
with the table: a busy machine's numbers are not comparable.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from section import Suite, baseline_jpegs

HERE = Path(__file__).resolve().parent
DICOMIZE = [sys.executable, "-m", "dicomize"]
BATCH = ["batch", "-q", "--patient-id", "B"]
#: The issue's per-file target is for 2 cores: the ratio to cp is taken at 2 workers.
TARGET_WORKERS = 2
#: System calls rarer than this per file are left out of the table.
SHOWN = 0.05
#: The curve's target needs a machine this large.
CURVE_CORES, CURVE_WORKERS = 16, 8


def section(suite: Suite, target: str) -> None:
    """Time the batch at each worker count and cp; count system calls; add the tables."""
    work = suite.work / "scale"
    work.mkdir()
    count = 200 if suite.quick else 2000
    source = work / "jpegs"
    baseline_jpegs(source, count)
    one = work / "one"
    one.mkdir()
    shutil.copy(next(source.iterdir()), one)
    cores = os.cpu_count() or 1
    counts = sorted({*(2**k for k in range(cores.bit_length()) if 2**k <= cores), cores})
    load_before = os.getloadavg()
    out = work / "out"
    aside = work / "aside"
    aside.mkdir()

    def timed(command: list[str]) -> tuple[float, float, float]:
        """Median wall seconds, and that run's user and system seconds, of `command`."""
        runs = []
        for _ in range(suite.runs):
            if out.exists():
                out.rename(aside / f"out.{time.monotonic_ns()}")
            os.sync()  # the previous run's writeback does not fall on this one
            runs.append(_run(command))
        return sorted(runs)[len(runs) // 2]

    cp = timed(["cp", "-r", str(source), str(out)])
    startup = timed([*DICOMIZE, *BATCH, str(one), "-o", str(out), "--workers", "1"])[0]
    batches = {
        workers: timed([*DICOMIZE, *BATCH, str(source), "-o", str(out), "--workers", str(workers)])
        for workers in counts
    }
    load_after = os.getloadavg()
    shutil.rmtree(aside, ignore_errors=True)
    rows = [
        _row("cp -r (floor)", cp, count, cp[0], batches[1][0]),
        *(
            _row(f"dicomize batch --workers {workers}", batch, count, cp[0], batches[1][0])
            for workers, batch in batches.items()
        ),
    ]
    size = sum(path.stat().st_size for path in source.iterdir())
    suite.table(
        f"Scale-out: {count} baseline JPEGs passed through ({size / 1e6:.0f} MB), {cores} cores,"
        f" median of {suite.runs} run(s)",
        [
            "tool",
            "seconds",
            "files/s",
            "speed-up vs 1 worker",
            "time vs cp",
            "user ms/file",
            "sys ms/file",
        ],
        rows,
    )
    best_workers, best = min(batches.items(), key=lambda item: item[1][0])
    at = TARGET_WORKERS if TARGET_WORKERS in batches else 1
    per_file = (batches[at][0] - startup) / (count - 1)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=HERE,
    ).stdout.strip()
    suite.lines.append(
        f"Measured {dt.datetime.now().isoformat(timespec='minutes')} at commit `{commit}`; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after. Start-up (the "
        f"same command on 1 file): {startup:.2f} s. Per file after it, at "
        f"{at} worker(s): {per_file * 1e3:.2f} ms, {per_file / (cp[0] / count):.1f}x "
        f"cp's {cp[0] / count * 1e3:.3f} ms. Best: {best_workers} worker(s), "
        f"{best[0] / cp[0]:.1f}x cp -r end to end.\n"
    )
    calls = _system_calls(work, source, suite.notes)
    if calls:
        names = sorted(
            {name for counted in calls.values() for name in counted},
            key=lambda name: -max(counted.get(name, 0) for counted in calls.values()),
        )
        shown = [name for name in names if max(c.get(name, 0) for c in calls.values()) >= SHOWN]
        suite.table(
            "System calls per file (strace -f -c; the difference between two batch sizes,"
            " divided by the difference in files)",
            ["system call", *calls],
            [[name, *(f"{c.get(name, 0):.2f}" for c in calls.values())] for name in shown]
            + [["total", *(f"{sum(c.values()):.1f}" for c in calls.values())]],
        )
    total = sum(calls.get("dicomize --workers 1", {}).values()) if calls else None
    curve = (
        "rising to "
        + (
            f"at least {CURVE_WORKERS} workers"
            if _rising_to(batches, CURVE_WORKERS)
            else f"{_peak(batches)} workers"
        )
        if cores >= CURVE_CORES
        else f"not measurable on {cores} cores (the curve needs {CURVE_CORES} or more)"
    )
    suite.lines.append(
        f"Target: {target}. Measured: "
        + (f"{total:.1f} system calls per file; " if total is not None else "")
        + f"{per_file / (cp[0] / count):.1f}x cp per file on {at} worker(s); "
        f"throughput {curve}; best {best[0] / cp[0]:.1f}x cp -r.\n"
    )


def _run(command: list[str]) -> tuple[float, float, float]:
    """Run `command`: wall seconds, and the user and system seconds of it and its children."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait4's usage is the process's and that of the children it waited for (the workers).
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    errors = process.stderr.read() if process.stderr else b""
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{' '.join(command)} failed:\n{errors.decode()[-2000:]}")
    return seconds, usage.ru_utime, usage.ru_stime


def _row(
    name: str, measured: tuple[float, float, float], count: int, cp: float, single: float
) -> list[str]:
    seconds, user, system = measured
    return [
        name,
        f"{seconds:.2f}",
        f"{count / seconds:.0f}",
        "" if name.startswith("cp") else f"{single / seconds:.2f}x",
        f"{seconds / cp:.1f}x",
        f"{user / count * 1e3:.2f}",
        f"{system / count * 1e3:.3f}",
    ]


def _rising_to(batches: dict[int, tuple[float, float, float]], workers: int) -> bool:
    """Whether each worker count up to `workers` is faster than the one before."""
    upto = [seconds for count, (seconds, *_) in sorted(batches.items()) if count <= workers]
    return max(batches) >= workers and all(b < a for a, b in itertools.pairwise(upto))


def _peak(batches: dict[int, tuple[float, float, float]]) -> int:
    return min(batches.items(), key=lambda item: item[1][0])[0]


def _system_calls(work: Path, source: Path, notes: list[str]) -> dict[str, dict[str, float]]:
    """System calls per file: strace -f -c over two batch sizes, the difference per file."""
    strace = shutil.which("strace")
    if strace is None:
        notes.append("strace not installed: the system calls per file are left out")
        return {}
    files = sorted(source.iterdir())
    small, large = len(files) // 4, len(files) // 2
    folders = {}
    for size in (small, large):
        folder = work / f"calls{size}"
        folder.mkdir()
        for path in files[:size]:
            os.link(path, folder / path.name)
        folders[size] = folder
    cores = os.cpu_count() or 1
    tools = {
        "dicomize --workers 1": [*DICOMIZE, *BATCH, "--workers", "1"],
        f"dicomize --workers {cores}": [*DICOMIZE, *BATCH, "--workers", str(cores)],
        "cp -r": ["cp", "-r"],
    }
    per_file = {}
    for name, command in tools.items():
        counted = {}
        for size, folder in folders.items():
            out, report = work / f"strace-out-{size}", work / f"strace-{size}.txt"
            args = (
                [str(folder), "-o", str(out)]
                if name.startswith("dicomize")
                else [str(folder), str(out)]
            )
            subprocess.run(
                [strace, "-f", "-c", "-o", str(report), *command, *args],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            counted[size] = _strace_counts(report)
            shutil.rmtree(out)
        per_file[name] = {
            call: (counted[large].get(call, 0) - counted[small].get(call, 0)) / (large - small)
            for call in counted[small].keys() | counted[large].keys()
        }
    return per_file


def _strace_counts(report: Path) -> Counter[str]:
    """Return the calls column of an ``strace -c`` summary, by system call."""
    counts: Counter[str] = Counter()
    for line in report.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":  # noqa: PLR2004
            counts[fields[-1]] = int(fields[3])
    return counts

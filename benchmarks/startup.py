"""Start-up time: `avatar-live track STILL -o -` as a whole process, as a user runs it.

    python benchmarks/startup.py [--runs 7] [--source STILL] [--baseline CHECKOUT]

Each run is a fresh process (`python -m avatar_live`); one unmeasured run first warms the
disk cache, Python's bytecode caches (written even where PYTHONDONTWRITEBYTECODE is set,
as on a user's machine) and the built-in head's cache. Prints the median and the spread
of the wall time to the first JSON line on standard output and to the process's exit,
and of the CPU time the process used (user + system, all threads: less disturbed than
wall time by other work on the machine). With `--baseline`, runs of another checkout of
the project (e.g. `git worktree add /tmp/base HEAD`, put first on PYTHONPATH) alternate
with this one's, so that both see the same machine load.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_STILL = Path(os.environ.get("AVATAR_LIVE_DATA", REPO.parent / "shared" / "data")) / "images" / "single_face.jpg"


def time_track(still: Path, pythonpath: Path | None) -> tuple[float, float, float]:
    """Seconds from the start of one `track` process to its first output line and to its
    exit, and the CPU seconds it used."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "avatar_live", "track", str(still), "-o", "-"]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # From another folder, so that `-m` puts no checkout first on sys.path.
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd="/") as process:
        first_line = process.stdout.readline()
        first = time.perf_counter() - started
        process.stdout.read()
    total = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if process.returncode != 0 or not first_line.startswith(b"{"):
        raise SystemExit(f"{' '.join(command)} failed (exit status {process.returncode})")
    return first, total, cpu


def describe(name: str, times: list[tuple[float, float, float]]) -> str:
    columns = zip(("first line", "exit", "CPU"), zip(*times, strict=True), strict=True)
    return f"{name}, {len(times)} runs:\n" + "\n".join(
        f"  {label:<10} median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"
        for label, values in columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--source", type=Path, default=DEFAULT_STILL, help="the still (or video) to track")
    parser.add_argument("--baseline", type=Path, help="another checkout to time alternately, for comparison")
    args = parser.parse_args()
    checkouts = {"this checkout": REPO}
    if args.baseline is not None:
        checkouts["baseline " + str(args.baseline)] = args.baseline.resolve()
    for path in checkouts.values():
        time_track(args.source, path)  # warm-up
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in checkouts}
    for _ in range(args.runs):
        for name, path in checkouts.items():
            times[name].append(time_track(args.source, path))
    for name, measured in times.items():
        print(describe(name, measured))


if __name__ == "__main__":
    main()

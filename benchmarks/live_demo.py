"""The live app on the demo source, headless, for some seconds: fps and capture-to-output latency.

What `avatar-live --source demo --headless --duration S --params OUT.jsonl` does, with the
per-stage timings printed too. Latency runs from the moment a frame is due (the demo hands
out each frame at its time) to the moment its output is written.

Goal (issue 14): 30 fps with a median latency of at most 25 ms on a 2-core CPU.

    python benchmarks/live_demo.py [--seconds 20] [--size 640x480] [--camera-size 640x480] [--fps 30]
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
from pathlib import Path

from avatar_live.app import AppOptions, run_live
from avatar_live.arguments import _size
from avatar_live.bench import format_report
from avatar_live.capture.sources import open_source
from avatar_live.console import filter_native_stderr
from avatar_live.outputs.sinks import Outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--size", type=_size, default=(640, 480), help="the rendered avatar's size")
    parser.add_argument("--camera-size", type=_size, default=(640, 480), help="the demo frames' size")
    parser.add_argument("--fps", type=float, default=30.0, help="the demo's frame rate")
    args = parser.parse_args()
    filter_native_stderr()
    logging.basicConfig(level=logging.WARNING)
    source = open_source("demo", size=args.camera_size, fps=args.fps)
    with tempfile.TemporaryDirectory() as tmp:
        report = run_live(source, AppOptions(size=args.size, fps=args.fps), Outputs(params=Path(tmp) / "params.jsonl"),
                          headless=True, duration=args.seconds)
    latency = report.summaries()["end-to-end latency"]
    print(f"demo {args.camera_size[0]}x{args.camera_size[1]} @ {args.fps:g} fps -> avatar {args.size[0]}x{args.size[1]}, "
          f"headless, {args.seconds:g} s, {platform.processor() or platform.machine()}")
    print(format_report(report))
    print(f"latency median {latency.median_ms:.1f} ms, p95 {latency.p95_ms:.1f} ms; "
          f"{report.fps:.1f} fps, {report.dropped} stale frames skipped")


if __name__ == "__main__":
    main()

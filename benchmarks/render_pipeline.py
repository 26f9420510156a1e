"""Offline `render` of a real clip with the HUD: end-to-end fps and per-stage median/p95 ms.

Goal for the first slice: >= 30 fps end to end on a 2-core CPU.

    python benchmarks/render_pipeline.py [VIDEO] [--size 640x480] [--no-hud] [--avatar builtin|FILE.vrm]

VIDEO defaults to ../shared/data/video/WolfgangLanger_Pexels.mp4.
"""

from __future__ import annotations

import argparse
import logging
import platform
from pathlib import Path

from avatar_live.app import AppOptions
from avatar_live.arguments import _size
from avatar_live.bench import format_report, run_bench
from avatar_live.console import filter_native_stderr

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "WolfgangLanger_Pexels.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", default=str(DEFAULT_VIDEO))
    parser.add_argument("--size", type=_size, default=(640, 480))
    parser.add_argument("--no-hud", action="store_true")
    parser.add_argument("--avatar", default="builtin", help="builtin, or a .vrm/.glb file")
    args = parser.parse_args()
    filter_native_stderr()
    logging.basicConfig(level=logging.WARNING)
    report = run_bench(args.video, AppOptions(size=args.size, hud=not args.no_hud, avatar=args.avatar))
    print(f"{Path(args.video).name}, {args.avatar}, {args.size[0]}x{args.size[1]}, HUD {'off' if args.no_hud else 'on'}, "
          f"{platform.processor() or platform.machine()}")
    print(format_report(report))


if __name__ == "__main__":
    main()

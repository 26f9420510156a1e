"""`avatar-live bench`: the offline render pipeline, timed per stage and end to end."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from avatar_live.app import AppOptions, RunReport, render_file
from avatar_live.capture.base import Source
from avatar_live.capture.sources import open_source
from avatar_live.outputs.sinks import Outputs
from avatar_live.types import Frame


class DemoClip(Source):
    """A fixed number of demo frames as fast as they can be made (no real-time pacing)."""

    live = False

    def __init__(self, frames: int, options: AppOptions) -> None:
        from avatar_live.capture.demo import DemoOptions, DemoSource

        demo_options = DemoOptions(size=options.size, **({"fps": options.fps} if options.fps else {}))
        self._demo = DemoSource.create_from_options(demo_options)
        self.name = "demo"
        self.fps = demo_options.fps
        self.size = demo_options.size
        self.frame_count = frames
        self._index = 0

    def read(self) -> Frame | None:
        if self._index >= self.frame_count:
            return None
        t = self._index / self.fps
        frame = Frame(self._index, t, self._demo.frame_at(t), {"capture": time.perf_counter()})
        self._index += 1
        return frame


def run_bench(source_spec: str, options: AppOptions, *, frames: int | None = None) -> RunReport:
    """Render `frames` frames of a source (all of a file when None) to a temporary H.264 video,
    the HUD drawn in unless `options.hud` is off (a streamer's recording with its HUD)."""
    source: Source = DemoClip(frames or 300, options) if source_spec == "demo" else open_source(source_spec)
    options = dataclasses.replace(options, hud_out=options.hud)
    with tempfile.TemporaryDirectory() as tmp:
        return render_file(source, Outputs(video=Path(tmp) / "bench.mp4"), options, max_frames=frames)


def format_report(report: RunReport) -> str:
    """A table of per-stage median / p95 milliseconds and the end-to-end rate."""
    lines = [f"{'stage':<22}{'median ms':>10}{'p95 ms':>10}{'frames':>8}"]
    for stage, summary in report.summaries().items():
        lines.append(f"{stage:<22}{summary.median_ms:>10.2f}{summary.p95_ms:>10.2f}{summary.count:>8}")
    lines.append(f"end to end: {report.frames} frames in {report.seconds:.2f} s = {report.fps:.1f} fps")
    if report.frames:
        lines.append(f"CPU: {report.cpu_seconds:.2f} s = {report.cpu_seconds / report.frames * 1000.0:.1f} ms a frame "
                     f"(all threads; {report.cpu_seconds / report.seconds:.2f} cores busy)")
    return "\n".join(lines)

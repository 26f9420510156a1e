"""The landmark solver and the smoother per frame, on FaceMesh landmarks of a real clip.

The clip is tracked first (FaceMesh, not timed); then every frame with a face goes through
`LandmarkSolver.solve_video_frame` (calibration included, as the app runs it) and
`FaceParamsSmoother.update`, each timed on its own. Goal: the solver <= 1 ms a frame on
this CPU, so the default pipeline stays >= 60 fps offline (`render_pipeline.py`).

    python benchmarks/solver.py [VIDEO] [--passes 3]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from avatar_live.capture.sources import VideoFileSource
from avatar_live.console import filter_native_stderr
from avatar_live.errors import AvatarLiveError
from avatar_live.face.builtin import build_builtin_head
from avatar_live.smoothing import FaceParamsSmoother, SmootherOptions
from avatar_live.solver.landmark_solver import LandmarkSolver
from avatar_live.tracking.facemesh import FaceMeshTracker
from avatar_live.types import Track

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "WolfgangLanger_Pexels.mp4"
GOAL_MS = 1.0


def track_video(video: Path) -> tuple[list[tuple[Track, float]], tuple[int, int]]:
    """FaceMesh tracks of the frames with a face, with their times, and the frame size."""
    tracker = FaceMeshTracker.create_from_options()
    found = []
    try:
        with VideoFileSource(video) as source:
            while (frame := source.read()) is not None:
                track = tracker.detect_for_video(frame.image, frame.time)
                if track is not None:
                    found.append((track, frame.time))
            size = source.size
    finally:
        tracker.close()
    return found, size


def main() -> None:
    filter_native_stderr()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--passes", type=int, default=3, help="times the clip is solved (a fresh solver each)")
    args = parser.parse_args()

    try:
        tracks, size = track_video(args.video)
    except AvatarLiveError as error:
        raise SystemExit(f"error: {error}") from None
    if not tracks:
        raise SystemExit(f"no face found in {args.video}")
    rig = build_builtin_head()
    solve_times, smooth_times = [], []
    for _ in range(args.passes):
        solver = LandmarkSolver.create_from_options(rig)
        smoother = FaceParamsSmoother(SmootherOptions.default())
        for track, frame_time in tracks:
            start = time.perf_counter()
            params = solver.solve_video_frame(track, frame_time, size)
            middle = time.perf_counter()
            smoother.update(params, frame_time)
            solve_times.append(middle - start)
            smooth_times.append(time.perf_counter() - middle)

    print(f"{args.video.name}: {len(tracks)} frames with a face x {args.passes} passes, {platform.machine()}")
    print(f"{'stage':10s} {'median ms':>10s} {'p95 ms':>8s}")
    for name, times in (("solver", solve_times), ("smoother", smooth_times)):
        ms = np.array(times) * 1e3
        print(f"{name:10s} {np.median(ms):10.3f} {np.percentile(ms, 95):8.3f}")
    median = float(np.median(solve_times) * 1e3)
    print(f"solver goal <= {GOAL_MS} ms: {'met' if median <= GOAL_MS else 'NOT met'}")


if __name__ == "__main__":
    main()

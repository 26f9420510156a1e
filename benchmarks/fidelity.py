"""Fidelity of the default tracker (FaceMesh -> landmark solver -> smoother) against
MediaPipe FaceLandmarker's learned blendshapes, on the shared videos with a face.

Per clip: the correlation with the reference for every shape it moves, then a cross-check
of both against direct landmark measurements (`solver.fidelity.geometry_checks`), which
shows whose reading follows the face where the two disagree.

Usage: python benchmarks/fidelity.py [--data /work/shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from avatar_live.console import filter_native_stderr
from avatar_live.face.builtin_head import build_builtin_head
from avatar_live.solver.fidelity import (
    FLAT_STD,
    KEY_SHAPES,
    FidelityReport,
    GeometryCheck,
    compare,
    encode_clip,
    geometry_checks,
    track_clip,
)

CLIPS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov")
GOAL_MEAN = 0.8
GOAL_KEY = 0.85


def _print_report(report: FidelityReport) -> None:
    print(f"\n{report.clip}: {report.frames} frames with a face in both")
    print(f"  {'shape':22s} {'ref std':>8s} {'our std':>8s} {'r':>6s}")
    for shape in report.shapes:
        flat = "  flat: r is noise" if shape.flat else ""
        print(f"  {shape.name:22s} {shape.reference_std:8.3f} {shape.ours_std:8.3f} {shape.r:+6.2f}{flat}")
    print(f"  {'mean':22s} {'':17s} {report.mean_r:+6.2f}   ({report.mean_r_flat_as_zero:+.2f} with flat shapes as 0)")


def _print_geometry(checks: tuple[GeometryCheck, ...]) -> None:
    print(f"  {'cross-check: r with a landmark measurement':68s} {'ours':>5s} {'ref':>5s}")
    for check in checks:
        label = f"{'+'.join(check.shapes)} ~ {check.measure}"
        print(f"  {label:68s} {check.ours_r:+5.2f} {check.reference_r:+5.2f}")


def main() -> None:
    filter_native_stderr()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    task = args.data / "models" / "face_landmarker.task"
    rig = build_builtin_head()
    reports = []
    for clip in CLIPS:
        tracks = track_clip(args.data / "video" / clip, task)
        ours = encode_clip(tracks, rig)
        report = compare(clip, ours, tracks.reference)
        _print_report(report)
        _print_geometry(geometry_checks(tracks, ours))
        reports.append(report)

    mean = float(np.mean([r.mean_r for r in reports]))
    strict = float(np.mean([r.mean_r_flat_as_zero for r in reports]))
    print(f"\nmean r over clips: {mean:.3f}  (goal >= {GOAL_MEAN}: {'met' if mean >= GOAL_MEAN else 'NOT met'})")
    print(f"  with the shapes ours leaves flat (std < {FLAT_STD}) counted as r = 0: {strict:.3f}")
    for name in KEY_SHAPES:
        values = [r.r_of(name) for r in reports if r.r_of(name) is not None]
        if not values:
            print(f"{name:16s} varies in no clip")
            continue
        worst = min(values)
        listed = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:16s} r per clip {listed}  (goal >= {GOAL_KEY}: {'met' if worst >= GOAL_KEY else 'NOT met'})")


if __name__ == "__main__":
    main()

"""Fidelity of the expression read-outs against MediaPipe FaceLandmarker's learned blendshapes.

Two sets of people the learned read-out never trained on:
- the shared clips (`shared/data/video`, four with a face), tracked here;
- the training media's validation people (`training.datasets`, every frame), read from the
  training cache (tracked on first use: a few minutes).

Per clip, each read-out runs through the app's own encode stage (read-out, resting face
or calibration, smoother) and is correlated with the teacher, shape by shape, over the
shapes the teacher moves in that clip. "learned" is the default read-out, "solver" the
landmark solver it replaced. The shared clips also get the geometry cross-check: both
trackers against direct landmark measurements (`training.fidelity.geometry_checks`),
which shows whose reading follows the face where the two disagree.

Usage: python benchmarks/fidelity.py [--data DIR] [--cache DIR] [--skip-validation]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from avatar_live.app import AppOptions, make_encode_stage
from avatar_live.console import filter_native_stderr
from avatar_live.training import datasets
from avatar_live.training.command import default_cache
from avatar_live.training.expression import ExpressionRecipe
from avatar_live.training.extract import ClipPlan, extract_clips
from avatar_live.training.fidelity import (
    KEY_SHAPES,
    ClipTracks,
    FidelityReport,
    compare,
    encode_clip,
    geometry_checks,
    track_clip,
)
from avatar_live.types import Track

SHARED_CLIPS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov")
READOUTS = ("learned", "solver")
GOAL_MEAN = 0.85
GOAL_KEY = 0.9
MIN_FRAMES = 50
"""Validation clips shorter than this (the 20-frame TalkingHead-1KH tiles) are listed but
left out of the summary's second mean: a correlation over 20 frames is mostly noise."""


def _weights(tracks: ClipTracks, readout: str) -> np.ndarray:
    return encode_clip(tracks, make_encode_stage(AppOptions(readout=readout, emotion="rules"), stills=False))


def _validation_tracks(root: Path, cache: Path) -> list[tuple[str, ClipTracks]]:
    recipe = ExpressionRecipe()
    clips = [clip for clip in datasets.training_clips(root) if clip.validation]
    data = extract_clips([ClipPlan(clip, stride=1, augmented=0, seed=recipe.seed) for clip in clips],
                         datasets.teacher_model(root), cache / "clips")
    out = []
    for clip, clip_data in zip(clips, data):
        mesh = [None if not np.isfinite(points[0, 0]) else Track(points, (0.0, 0.0, 0.0, 0.0), 1.0)
                for points in clip_data.landmarks[0]]
        out.append((clip.person, ClipTracks(clip.path.name, clip_data.times, clip_data.size, mesh,
                                            clip_data.teacher.astype(np.float64))))
    return out


def _print_clip(tracks: ClipTracks, reports: dict[str, FidelityReport], ours: dict[str, np.ndarray],
                geometry: bool) -> None:
    first = reports[READOUTS[0]]
    print(f"\n{tracks.name}: {first.frames} frames with a face in both")
    print(f"  {'shape':22s} {'ref std':>8s} " + " ".join(f"{name:>8s}" for name in READOUTS))
    for n, shape in enumerate(first.shapes):
        values = " ".join(f"{reports[name].shapes[n].r:+8.2f}" for name in READOUTS)
        print(f"  {shape.name:22s} {shape.reference_std:8.3f} {values}")
    print(f"  {'mean r':22s} {'':8s} " + " ".join(f"{reports[name].mean_r:+8.3f}" for name in READOUTS))
    if geometry:
        checks = {name: geometry_checks(tracks, ours[name]) for name in READOUTS}
        print(f"  {'cross-check: r with a landmark measurement':56s} {'ref':>5s} "
              + " ".join(f"{name:>8s}" for name in READOUTS))
        for n, check in enumerate(checks[READOUTS[0]]):
            label = f"{'+'.join(check.shapes)} ~ {check.measure}"
            print(f"  {label:56s} {check.reference_r:+5.2f} "
                  + " ".join(f"{checks[name][n].ours_r:+8.2f}" for name in READOUTS))


def _run(named_tracks: list[tuple[str, ClipTracks]], geometry: bool) -> dict[str, list[FidelityReport]]:
    reports: dict[str, list[FidelityReport]] = {name: [] for name in READOUTS}
    for _, tracks in named_tracks:
        ours = {name: _weights(tracks, name) for name in READOUTS}
        clip_reports = {name: compare(tracks.name, ours[name], tracks.reference) for name in READOUTS}
        _print_clip(tracks, clip_reports, ours, geometry)
        for name in READOUTS:
            reports[name].append(clip_reports[name])
    return reports


def _summary(title: str, reports: dict[str, list[FidelityReport]], keep: list[bool] | None = None) -> None:
    print(f"\n{title}")
    for name in READOUTS:
        chosen = [r for r, k in zip(reports[name], keep or [True] * len(reports[name])) if k]
        mean = float(np.nanmean([r.mean_r for r in chosen]))
        strict = float(np.nanmean([r.mean_r_flat_as_zero for r in chosen]))
        verdict = "met" if mean >= GOAL_MEAN else "NOT met"
        print(f"  {name:8s} mean r over {len(chosen)} clips {mean:.3f} (goal >= {GOAL_MEAN}: {verdict}); "
              f"flat shapes as 0: {strict:.3f}")
        for shape in KEY_SHAPES:
            values = [r.r_of(shape) for r in chosen if r.r_of(shape) is not None]
            if values:
                worst = min(values)
                print(f"    {shape:16s} r per clip {' '.join(f'{v:.2f}' for v in values)}  "
                      f"(goal >= {GOAL_KEY}: {'met' if worst >= GOAL_KEY else 'NOT met'})")


def main() -> None:
    filter_native_stderr()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=datasets.default_data_root())
    parser.add_argument("--cache", type=Path, default=default_cache(), help="the training cache")
    parser.add_argument("--skip-validation", action="store_true", help="only the shared clips")
    args = parser.parse_args()
    task = datasets.teacher_model(args.data)
    shared = [("", track_clip(args.data / "video" / clip, task)) for clip in SHARED_CLIPS]
    shared_reports = _run(shared, geometry=True)
    validation_reports = None
    if not args.skip_validation:
        validation = _validation_tracks(args.data, args.cache)
        validation_reports = _run(validation, geometry=False)
    _summary("shared clips", shared_reports)
    if validation_reports is not None:
        people = len({person for person, _ in validation})
        _summary(f"validation people ({people} people never trained on), every clip", validation_reports)
        long_enough = [r.frames >= MIN_FRAMES for r in validation_reports[READOUTS[0]]]
        _summary(f"validation people, clips of {MIN_FRAMES}+ frames", validation_reports, long_enough)


if __name__ == "__main__":
    main()

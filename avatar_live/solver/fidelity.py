"""Fidelity of the landmark solver, measured against MediaPipe FaceLandmarker's learned blendshapes.

The learned model is trained independently of our rig and solver, so agreement with it over
a real video says how well the default path (FaceMesh -> `LandmarkSolver` -> smoother)
reads expressions. A clip is tracked once by both trackers (`track_clip`, the slow part),
then the default path is run over the cached landmarks (`encode_clip`), so solver settings
can be compared cheaply. `compare` correlates the two, shape by shape, over the frames where
both trackers saw a face, for the shapes the reference actually moves in that clip.

Shapes: F frames, 52 ARKit weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_live.face.rig import Rig
from avatar_live.smoothing import FaceParamsSmoother, SmootherOptions
from avatar_live.solver.landmark_solver import LandmarkSolver, SolverOptions
from avatar_live.types import ARKIT_NAMES, Track

MIN_REFERENCE_STD = 0.05
"""A shape is compared only where the reference's weight varies at least this much (std)
over the clip; a correlation with a shape that does not move measures only noise."""

KEY_SHAPES = ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileLeft", "mouthSmileRight")
"""The shapes an avatar's viewer notices first: talking, blinking, smiling."""


@dataclass(frozen=True)
class ClipTracks:
    """Both trackers' output over one video.

    Attributes:
        name: the video's file name.
        times: F frame times in seconds.
        size: (width, height) of the frames.
        mesh: F FaceMesh tracks (None where it found no face).
        reference: F x 52 FaceLandmarker weights in ARKIT_NAMES order, NaN rows where it
            found no face.
    """

    name: str
    times: np.ndarray
    size: tuple[int, int]
    mesh: list[Track | None]
    reference: np.ndarray


@dataclass(frozen=True)
class ShapeFidelity:
    """One shape's agreement over a clip.

    Attributes:
        name: ARKit name.
        reference_std: standard deviation of the reference weight.
        r: Pearson correlation of our weight with the reference (0 where ours is constant).
    """

    name: str
    reference_std: float
    r: float


@dataclass(frozen=True)
class FidelityReport:
    """Agreement over one clip.

    Attributes:
        clip: the clip's name.
        frames: frames where both trackers saw a face.
        shapes: the compared (varying) shapes, in ARKIT_NAMES order.
    """

    clip: str
    frames: int
    shapes: tuple[ShapeFidelity, ...]

    @property
    def mean_r(self) -> float:
        """Mean correlation over the compared shapes (NaN when none varies)."""
        return float(np.mean([s.r for s in self.shapes])) if self.shapes else float("nan")

    def r_of(self, name: str) -> float | None:
        """The correlation of one shape, or None when it did not vary in this clip."""
        return next((s.r for s in self.shapes if s.name == name), None)


def track_clip(video: Path, task: Path, max_frames: int | None = None) -> ClipTracks:
    """Run FaceMesh and FaceLandmarker (VIDEO mode) over a video file.

    Args:
        video: a video file OpenCV can decode.
        task: MediaPipe's `face_landmarker.task`.
        max_frames: stop after this many frames (None: all).

    Returns:
        Both trackers' output, frame by frame.

    Raises:
        AvatarLiveError: the video cannot be read or the model cannot be loaded.
    """
    from avatar_live.capture.sources import VideoFileSource
    from avatar_live.tracking.facemesh import FaceMeshTracker
    from avatar_live.tracking.landmarker import FaceLandmarkerTracker, LandmarkerOptions

    times: list[float] = []
    mesh: list[Track | None] = []
    reference: list[np.ndarray] = []
    missing = np.full(len(ARKIT_NAMES), np.nan)
    tracker = FaceMeshTracker.create_from_options()
    try:
        learned = FaceLandmarkerTracker.create_from_options(LandmarkerOptions(task))
        try:
            with VideoFileSource(video) as source:
                while (max_frames is None or len(times) < max_frames) and (frame := source.read()) is not None:
                    times.append(frame.time)
                    mesh.append(tracker.detect_for_video(frame.image, frame.time))
                    found = learned.detect_for_video(frame.image, frame.time)
                    reference.append(missing if found is None else found.blendshapes.astype(np.float64))
                size = source.size
        finally:
            learned.close()
    finally:
        tracker.close()
    return ClipTracks(name=video.name, times=np.array(times), size=size, mesh=mesh, reference=np.array(reference))


def encode_clip(
    tracks: ClipTracks,
    rig: Rig,
    solver_options: SolverOptions = SolverOptions(),
    smoother_options: SmootherOptions = SmootherOptions.default(),
) -> np.ndarray:
    """The default path's smoothed weights over a tracked clip, as the app computes them for
    video (`EncodeStage`: calibrating solver, then the smoother).

    Args:
        tracks: the clip's FaceMesh tracks.
        rig: the avatar the solver drives.
        solver_options: the solver's settings.
        smoother_options: the smoother's settings.

    Returns:
        F x 52 weights, NaN rows where FaceMesh found no face.
    """
    solver = LandmarkSolver.create_from_options(rig, solver_options)
    smoother = FaceParamsSmoother(smoother_options)
    weights = np.full((len(tracks.mesh), len(ARKIT_NAMES)), np.nan)
    for f, (track, time) in enumerate(zip(tracks.mesh, tracks.times)):
        raw = None if track is None else solver.solve_video_frame(track, float(time), tracks.size)
        params = smoother.update(raw, float(time))
        if params.face:
            weights[f] = params.arkit
    return weights


def compare(clip: str, ours: np.ndarray, reference: np.ndarray, min_std: float = MIN_REFERENCE_STD) -> FidelityReport:
    """Per-shape Pearson correlation over the frames where both have a face.

    Args:
        clip: name for the report.
        ours: F x 52 weights, NaN rows for frames without a face.
        reference: F x 52 reference weights, NaN rows for frames without a face.
        min_std: shapes whose reference std over those frames is below this are skipped.

    Returns:
        The report.

    Raises:
        ValueError: on mismatched shapes.
    """
    if ours.shape != reference.shape or ours.ndim != 2 or ours.shape[1] != len(ARKIT_NAMES):
        raise ValueError(f"ours and reference must both be F x {len(ARKIT_NAMES)}, got {ours.shape} and {reference.shape}")
    both = np.isfinite(ours).all(axis=1) & np.isfinite(reference).all(axis=1)
    ours, reference = ours[both], reference[both]
    shapes = []
    for s, name in enumerate(ARKIT_NAMES):
        spread = float(reference[:, s].std()) if len(reference) else 0.0
        if spread < min_std:
            continue
        # A constant estimate carries no information about the reference: r = 0.
        r = float(np.corrcoef(ours[:, s], reference[:, s])[0, 1]) if ours[:, s].std() > 0 else 0.0
        shapes.append(ShapeFidelity(name=name, reference_std=spread, r=r))
    return FidelityReport(clip=clip, frames=int(both.sum()), shapes=tuple(shapes))

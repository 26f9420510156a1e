"""Fidelity of the app's read-outs, measured against MediaPipe FaceLandmarker's learned blendshapes.

FaceLandmarker is the teacher the learned read-out was distilled from (on other people),
and independent of the landmark solver, so agreement with it over a real video says how
well a read-out (FaceMesh -> encode stage -> smoother) reads expressions. A clip is
tracked once by both trackers (`track_clip`, the slow part), then the app's encode stage is
run over the cached landmarks (`encode_clip`), so read-outs and settings can be compared
cheaply. `compare` correlates the two, shape by shape, over the frames where
both trackers saw a face, for the shapes the reference actually moves in that clip.

The reference is learned, not ground truth. `geometry_checks` says which of the two
follows the face where they disagree: it correlates both with direct measurements of what a
shape means (the chin's drop for jawOpen, the lid gap for a blink, ...), taken on the
FaceMesh landmarks in 3D, so head rotation does not change them.

Shapes: F frames, 52 ARKit weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_live.pipeline.stages import EncodeStage
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES, Frame, Packet, Track

MIN_REFERENCE_STD = 0.05
"""A shape is compared only where the reference's weight varies at least this much (std)
over the clip; a correlation with a shape that does not move measures only noise."""

FLAT_STD = 0.01
"""Our weight for a shape is flat where its std over the clip is below this: the motion is
invisible on the avatar, and its correlation with the reference measures only noise (a
weight that stays within 0.001 of zero can still correlate 0.7 with it)."""

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
        ours_std: standard deviation of ours.
        r: Pearson correlation of our weight with the reference (0 where ours is constant).
    """

    name: str
    reference_std: float
    ours_std: float
    r: float

    @property
    def flat(self) -> bool:
        """Ours barely moves (`FLAT_STD`), so `r` is noise."""
        return self.ours_std < FLAT_STD


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

    @property
    def mean_r_flat_as_zero(self) -> float:
        """`mean_r` with the shapes ours leaves flat counted as r = 0: the stricter reading."""
        return float(np.mean([0.0 if s.flat else s.r for s in self.shapes])) if self.shapes else float("nan")

    def r_of(self, name: str) -> float | None:
        """The correlation of one shape, or None when it did not vary in this clip."""
        return next((s.r for s in self.shapes if s.name == name), None)


@dataclass(frozen=True)
class GeometryCheck:
    """How well a shape follows a direct landmark measurement of its meaning, ours and the reference's.

    Attributes:
        shapes: the ARKit shape, or a left/right pair (their mean is used).
        measure: what was measured, in words.
        ours_r: Pearson r of our weight with the measurement.
        reference_r: the reference's.
    """

    shapes: tuple[str, ...]
    measure: str
    ours_r: float
    reference_r: float


# (shapes, measure, landmark pair, sign): sign -1 where the shape grows as the distance shrinks.
_MEASURES = (
    (("jawOpen",), "chin drop from the nose base", (152, 2), 1.0),
    (("mouthUpperUpLeft", "mouthUpperUpRight"), "upper lip rise to the nose base", (2, 0), -1.0),
    (("eyeBlinkLeft",), "left lids closing", (386, 374), -1.0),
    (("eyeBlinkRight",), "right lids closing", (159, 145), -1.0),
    (("mouthSmileLeft", "mouthSmileRight"), "mouth corners apart", (61, 291), 1.0),
)
_EYE_CORNERS = (33, 263)


def geometry_checks(tracks: ClipTracks, ours: np.ndarray) -> tuple[GeometryCheck, ...]:
    """Correlate our weights and the reference's with landmark measurements of the same motion.

    Distances are 3D (FaceMesh's z is in pixel units), divided by the distance between the
    outer eye corners so the face's size and distance from the camera cancel out.

    Args:
        tracks: the clip's tracks and reference weights.
        ours: F x 52 weights from `encode_clip`.

    Returns:
        One check per measurement, over the frames where both trackers saw a face.
    """
    both = [f for f, track in enumerate(tracks.mesh)
            if track is not None and np.isfinite(ours[f]).all() and np.isfinite(tracks.reference[f]).all()]
    points = np.stack([tracks.mesh[f].landmarks for f in both]).astype(np.float64)
    scale = np.linalg.norm(points[:, _EYE_CORNERS[0]] - points[:, _EYE_CORNERS[1]], axis=1)
    ours, reference = ours[both], tracks.reference[both]
    checks = []
    for shapes, measure, (a, b), sign in _MEASURES:
        value = sign * np.linalg.norm(points[:, a] - points[:, b], axis=1) / scale
        columns = [ARKIT_INDEX[name] for name in shapes]
        checks.append(GeometryCheck(shapes, measure, _pearson(ours[:, columns].mean(axis=1), value),
                                    _pearson(reference[:, columns].mean(axis=1), value)))
    return tuple(checks)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r, 0 where either side is constant (it carries no information)."""
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0


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


def encode_clip(tracks: ClipTracks, stage: EncodeStage) -> np.ndarray:
    """The app's smoothed weights over a tracked clip, through its own encode stage.

    Args:
        tracks: the clip's FaceMesh tracks.
        stage: a fresh video encode stage (`app.make_encode_stage`); no read-out in it may
            need the frames' pixels (EMOCA does), which this does not keep.

    Returns:
        F x 52 weights, NaN rows where FaceMesh found no face.
    """
    blank = np.zeros((tracks.size[1], tracks.size[0], 3), np.uint8)
    weights = np.full((len(tracks.mesh), len(ARKIT_NAMES)), np.nan)
    for f, (track, time) in enumerate(zip(tracks.mesh, tracks.times)):
        packet = stage(Packet(frame=Frame(f, float(time), blank), track=track))
        if packet.params.face:
            weights[f] = packet.params.arkit
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
        shapes.append(ShapeFidelity(name=name, reference_std=spread, ours_std=float(ours[:, s].std()),
                                    r=_pearson(ours[:, s], reference[:, s])))
    return FidelityReport(clip=clip, frames=int(both.sum()), shapes=tuple(shapes))

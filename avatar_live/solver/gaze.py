"""Eye gaze from the iris landmarks, measured inside each eye's opening.

Works on landmarks already brought into the head's own frame (x towards the subject's
left, y up), so head rotation does not read as gaze.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_live.tracking import topology
from avatar_live.types import ARKIT_INDEX, NUM_LANDMARKS

GAZE_LIMIT = np.radians(30.0)
"""Largest eye rotation reported; also the rotation at which an eyeLook weight reaches 1."""

IRIS_TRAVEL = 0.8
"""Iris displacement per unit sine of eye rotation, in half eye widths: the eyeball's
radius (about 12 mm) over half the width of the eye opening (about 15 mm)."""

OPEN_EYE = (0.08, 0.16)
"""Eye opening (lid gap over eye width) below which an eye's iris is not trusted, and
above which it is fully trusted; between, its vote fades in linearly."""


@dataclass(frozen=True)
class _Eye:
    outer: int
    inner: int
    upper: int
    lower: int
    iris: int


def _eye(upper: tuple[int, ...], lower: tuple[int, ...], iris: tuple[int, ...]) -> _Eye:
    # Contours run outer corner -> inner corner; their middles are the lids' midpoints.
    middle = len(upper) // 2
    return _Eye(outer=upper[0], inner=upper[-1], upper=upper[middle], lower=lower[middle], iris=iris[0])


_EYES = (
    _eye(topology.RIGHT_EYE_UPPER, topology.RIGHT_EYE_LOWER, topology.RIGHT_IRIS),
    _eye(topology.LEFT_EYE_UPPER, topology.LEFT_EYE_LOWER, topology.LEFT_IRIS),
)


@dataclass(frozen=True)
class IrisPositions:
    """Where each iris sits in its eye.

    Attributes:
        offsets: 2 x 2, per eye (subject's right, left): the iris centre's offset from the
            midpoint of the eye corners, in half eye widths, along (towards the subject's
            left, up).
        openness: 2, per eye: lid gap over eye width.
    """

    offsets: np.ndarray
    openness: np.ndarray


def measure_irises(points: np.ndarray) -> IrisPositions:
    """Iris positions in both eyes.

    Args:
        points: 478 x 3 landmarks in the head's frame (x towards the subject's left, y up).

    Returns:
        The irises' positions and the eyes' openness.
    """
    if points.shape != (NUM_LANDMARKS, 3):
        raise ValueError(f"points must be {NUM_LANDMARKS} x 3, got {points.shape}")
    offsets = np.empty((2, 2))
    openness = np.empty(2)
    for e, eye in enumerate(_EYES):
        outer, inner = points[eye.outer, :2], points[eye.inner, :2]
        # Axis along the eye towards the subject's left, whichever corner that is.
        along = inner - outer if inner[0] > outer[0] else outer - inner
        width = float(np.linalg.norm(along))
        along = along / width
        up = np.array([-along[1], along[0]])
        iris = points[eye.iris, :2] - (outer + inner) / 2.0
        offsets[e] = (iris @ along / (width / 2.0), iris @ up / (width / 2.0))
        openness[e] = float(np.linalg.norm(points[eye.upper, :2] - points[eye.lower, :2])) / width
    return IrisPositions(offsets=offsets, openness=openness)


def estimate_gaze(irises: IrisPositions, rest_offsets: np.ndarray) -> np.ndarray:
    """Gaze angles from iris positions, both eyes averaged.

    Args:
        irises: this frame's iris positions.
        rest_offsets: 2 x 2 iris offsets of the subject looking straight ahead (zeros for
            an average face).

    Returns:
        2 float64 (yaw, pitch) in radians, within +-GAZE_LIMIT; positive yaw looks to the
        subject's left, positive pitch up. Zero when both eyes are closed.
    """
    if rest_offsets.shape != (2, 2):
        raise ValueError(f"rest_offsets must be 2 x 2, got {rest_offsets.shape}")
    # A closed eye's iris landmark is a guess; let the open eye speak (a wink).
    trust = np.clip((irises.openness - OPEN_EYE[0]) / (OPEN_EYE[1] - OPEN_EYE[0]), 0.0, 1.0)
    if trust.sum() <= 0.0:
        return np.zeros(2)
    shift = trust @ (irises.offsets - rest_offsets) / trust.sum()
    angles = np.arcsin(np.clip(shift / IRIS_TRAVEL, -1.0, 1.0))
    return np.clip(angles, -GAZE_LIMIT, GAZE_LIMIT)


def eye_look_weights(gaze: np.ndarray) -> dict[int, float]:
    """ARKit eyeLook weights for a gaze direction, the same for both eyes.

    Args:
        gaze: 2 (yaw, pitch) radians as from `estimate_gaze`.

    Returns:
        ARKIT_INDEX position -> weight in [0, 1] for the eight eyeLook shapes. "In" is
        towards the nose: looking to the subject's left turns the left eye out and the
        right eye in.
    """
    yaw, pitch = np.clip(np.asarray(gaze, dtype=np.float64) / GAZE_LIMIT, -1.0, 1.0)
    to_left, to_right = max(yaw, 0.0), max(-yaw, 0.0)
    up, down = max(pitch, 0.0), max(-pitch, 0.0)
    weights = {
        "eyeLookOutLeft": to_left, "eyeLookInLeft": to_right,
        "eyeLookInRight": to_left, "eyeLookOutRight": to_right,
        "eyeLookUpLeft": up, "eyeLookUpRight": up,
        "eyeLookDownLeft": down, "eyeLookDownRight": down,
    }
    return {ARKIT_INDEX[name]: float(value) for name, value in weights.items()}


def gaze_from_eye_look(arkit: np.ndarray) -> np.ndarray:
    """The gaze that ARKit eyeLook weights describe, both eyes averaged: the inverse of
    `eye_look_weights`.

    Args:
        arkit: 52 ARKit weights, ARKIT_NAMES order.

    Returns:
        2 float64 (yaw, pitch) in radians, within +-GAZE_LIMIT.
    """
    w = {name: float(arkit[ARKIT_INDEX[name]]) for name in _EYE_LOOK_NAMES}
    yaw = (w["eyeLookOutLeft"] - w["eyeLookInLeft"] + w["eyeLookInRight"] - w["eyeLookOutRight"]) / 2.0
    pitch = (w["eyeLookUpLeft"] + w["eyeLookUpRight"] - w["eyeLookDownLeft"] - w["eyeLookDownRight"]) / 2.0
    return np.clip(np.array([yaw, pitch]), -1.0, 1.0) * GAZE_LIMIT


_EYE_LOOK_NAMES = tuple(f"eyeLook{way}{side}" for way in ("Out", "In", "Up", "Down") for side in ("Left", "Right"))

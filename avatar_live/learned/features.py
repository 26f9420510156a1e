"""FaceMesh landmarks -> a pose-free, size-free vector that the learned models read.

Each face is brought into its own head frame (`to_head_frame`), built from points that barely
move with expression (`topology.STABLE`): x along the pairs of eye corners, temples and
forehead points, y from the nose tip up to the forehead, the scale the pairs' spread. Its
landmarks' offsets there from a template face (the mean of the training faces in the same
frame, made symmetric) are expression and identity. The head's rotation is appended (the
frame's rotation matrix minus the identity): FaceMesh's landmarks of a turned face carry
perspective and occlusion errors that the network can learn to discount. Features are then
standardized.

Why not a least-squares (Procrustes) fit onto the template: it takes an SVD and ten times
the numpy calls, about 0.2 ms a face on a 2-core machine, most of the model's budget; a
frame from fixed point sets is a dozen array operations, and because its point sets are
symmetric it turns exactly into the mirror image's frame under mirroring.

Mirroring: a face seen in a mirror has its landmarks renumbered by `mirror_index` (each
point swaps with its counterpart across the face's midline) and x negated, and its
ARKit weights' Left and Right swapped (`mirror_arkit`).

Shapes: N faces, 478 landmarks, D = 478 * 3 + 9 features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avatar_live.solver.pose import HEAD_SPACE
from avatar_live.tracking import topology
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES, NUM_LANDMARKS

STABLE = np.array(topology.STABLE, dtype=np.int64)

FRAME_PAIRS = np.array([(33, 263), (133, 362), (109, 338), (67, 297), (234, 454), (93, 323)], dtype=np.int64)
"""Stable points of the subject's (right, left): outer and inner eye corners, forehead,
temples, cheeks at the face oval. Left minus right gives the frame's x axis."""

FRAME_TOP = np.array([10, 168], dtype=np.int64)  # forehead, between the eyes
FRAME_BOTTOM = np.array([4, 1], dtype=np.int64)  # nose tip

FEATURE_SIZE = NUM_LANDMARKS * 3 + 9


def _swap_left_right(name: str) -> str:
    if name.endswith("Left"):
        return name[:-4] + "Right"
    if name.endswith("Right"):
        return name[:-5] + "Left"
    return name


ARKIT_MIRROR = np.array([ARKIT_INDEX[_swap_left_right(name)] for name in ARKIT_NAMES], dtype=np.int64)
"""weights[ARKIT_MIRROR] are the weights of the mirrored face (Left and Right swapped)."""


def mirror_arkit(weights: np.ndarray) -> np.ndarray:
    """ARKit weights (..., 52) of the mirror image of a face."""
    return weights[..., ARKIT_MIRROR]


def mirror_landmarks(landmarks: np.ndarray, mirror_index: np.ndarray) -> np.ndarray:
    """Landmarks (... x 478 x 3) of the face's mirror image (x negated: features ignore where
    in the image a face is, so no image width is needed)."""
    return landmarks[..., mirror_index, :] * _MIRROR_X


_MIRROR_X = np.array([-1.0, 1.0, 1.0], np.float32)
_IDENTITY = np.eye(3)
_MIRROR_ROTATION = np.outer([-1.0, 1.0, 1.0], [-1.0, 1.0, 1.0])
"""D R D, elementwise: R * _MIRROR_ROTATION, for D = diag(-1, 1, 1)."""


def _frame_weights() -> np.ndarray:
    weights = np.zeros((3, NUM_LANDMARKS))
    np.add.at(weights[0], FRAME_PAIRS[:, 1], 1.0)  # x: left minus right
    np.add.at(weights[0], FRAME_PAIRS[:, 0], -1.0)
    weights[1, FRAME_TOP] += 1.0  # up: forehead minus nose tip
    weights[1, FRAME_BOTTOM] -= 1.0
    weights[2, STABLE] += 1.0 / len(STABLE)  # origin: the stable points' mean
    return weights


FRAME_WEIGHTS = _frame_weights()
"""3 x 478: FRAME_WEIGHTS @ landmarks gives the frame's raw x axis, raw up vector and origin
in one product (each is a fixed weighted sum of landmarks)."""


def to_head_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One face in its own frame (see the module docstring).

    Args:
        landmarks: 478 x 3 pixel landmarks.

    Returns:
        The landmarks in the frame (478 x 3 float64) and the frame's rotation (3 x 3, rows
        its axes in head-space axes: x towards the subject's left, y up, z towards the
        camera).
    """
    # Three weighted sums of landmarks in one product; the rest is on 3-vectors, in plain
    # Python floats (numpy's per-call cost would be most of the time).
    (ax, bx, ox), (ay, by, oy), (az, bz, oz) = (FRAME_WEIGHTS @ landmarks).T.tolist()
    ay, az, by, bz, oy, oz = -ay, -az, -by, -bz, -oy, -oz  # pixels (y down, z away) -> head space
    width = math.sqrt(ax * ax + ay * ay + az * az)
    x = (ax / width, ay / width, az / width)
    along = bx * x[0] + by * x[1] + bz * x[2]
    y = (bx - along * x[0], by - along * x[1], bz - along * x[2])
    norm = math.sqrt(y[0] * y[0] + y[1] * y[1] + y[2] * y[2])
    y = (y[0] / norm, y[1] / norm, y[2] / norm)
    z = (x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0])
    rotation = np.array((x, y, z))
    scale = width / len(FRAME_PAIRS)
    # (p * HEAD_SPACE - origin) @ R.T / scale, with HEAD_SPACE and the scale folded into R.
    axes = rotation.T * (HEAD_SPACE[:, None] / scale)
    return landmarks @ axes - rotation @ (ox, oy, oz) / scale, rotation


@dataclass(frozen=True)
class LandmarkFeatures:
    """The feature map, fitted to training data (see the module docstring).

    Attributes:
        template: 478 x 3 mean face in its own frame (`to_head_frame`), symmetric.
        mean: D feature means over the training set.
        std: D feature standard deviations (positive).
        mirror_index: 478 landmark indices, each point's counterpart across the midline.
    """

    template: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    mirror_index: np.ndarray

    def __post_init__(self) -> None:
        expected = {"template": (NUM_LANDMARKS, 3), "mean": (FEATURE_SIZE,), "std": (FEATURE_SIZE,),
                    "mirror_index": (NUM_LANDMARKS,)}
        for name, shape in expected.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"LandmarkFeatures.{name} must have shape {shape}, got {np.shape(getattr(self, name))}")
        if not (np.all(self.std > 0) and np.all(np.isfinite(self.mean))):
            raise ValueError("LandmarkFeatures needs finite means and positive standard deviations")

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Named arrays for a model file (`from_arrays` reads them back)."""
        return {"template": self.template, "mean": self.mean, "std": self.std, "mirror_index": self.mirror_index}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "LandmarkFeatures":
        """Raises KeyError or ValueError when the arrays are missing or malformed."""
        return cls(template=arrays["template"], mean=arrays["mean"], std=arrays["std"],
                   mirror_index=arrays["mirror_index"])

    def standardize(self, aligned: np.ndarray, rotation: np.ndarray) -> np.ndarray:
        """Features (D float32) of one face in its frame (`to_head_frame`)."""
        raw = np.concatenate([(aligned - self.template).ravel(), (rotation - _IDENTITY).ravel()])
        return ((raw - self.mean) / self.std).astype(np.float32)

    def with_mirror(self, landmarks: np.ndarray) -> np.ndarray:
        """Features of one face and of its mirror image (2 x D float32), from one frame:
        mirroring permutes the face's points in its frame and negates their x
        (`mirror_landmarks`), and its frame's axes turn to D R D (D = diag(-1, 1, 1))."""
        aligned, rotation = to_head_frame(np.asarray(landmarks, np.float64))
        mirrored = aligned[self.mirror_index] * _MIRROR_X
        return np.stack([self.standardize(aligned, rotation),
                         self.standardize(mirrored, rotation * _MIRROR_ROTATION)])

    def __call__(self, landmarks: np.ndarray) -> np.ndarray:
        """Standardized features: (... x 478 x 3) pixel landmarks -> (... x D) float32."""
        if landmarks.shape[-2:] != (NUM_LANDMARKS, 3):
            raise ValueError(f"landmarks must be (... x {NUM_LANDMARKS}) x 3, got {landmarks.shape}")
        if landmarks.ndim == 2:  # one face, the app's case: no batch bookkeeping
            return self.standardize(*to_head_frame(landmarks.astype(np.float64)))
        faces = np.asarray(landmarks, np.float64).reshape(-1, NUM_LANDMARKS, 3)
        rows = [self.standardize(*to_head_frame(face)) for face in faces]
        return np.stack(rows).reshape(*landmarks.shape[:-2], FEATURE_SIZE)

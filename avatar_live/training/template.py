"""The template face the learned models compare every face with, fitted to training faces."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from avatar_live.learned.features import to_head_frame


def fit_template(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean face of many in the head frame, made symmetric, and its mirror index.

    Args:
        faces: N x 478 x 3 pixel landmarks of different frames (N >= 1).

    Returns:
        478 x 3 template (`features.to_head_frame` coordinates) and 478 mirror indices.
    """
    mean = np.mean([to_head_frame(face)[0] for face in faces.astype(np.float64)], axis=0)
    mirror_index = mirror_index_of(mean)
    return symmetrize(mean, mirror_index), mirror_index


def mirror_index_of(face: np.ndarray) -> np.ndarray:
    """Each landmark's counterpart across the midline of a face in its head frame (x = 0 there)."""
    reflected = face * np.array([-1.0, 1.0, 1.0])
    cost = np.linalg.norm(face[:, None, :] - reflected[None, :, :], axis=2)
    rows, columns = linear_sum_assignment(cost)
    return columns[np.argsort(rows)].astype(np.int64)


def symmetrize(face: np.ndarray, mirror_index: np.ndarray) -> np.ndarray:
    """The mean of a face in its head frame and its mirror image."""
    return (face + face[mirror_index] * np.array([-1.0, 1.0, 1.0])) / 2.0

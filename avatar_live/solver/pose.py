"""Rigid head pose: pixel landmarks to head space, and the weighted similarity fit.

Shapes: K landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HEAD_SPACE = np.array([1.0, -1.0, -1.0])
"""Multiplies pixel landmarks into head-space axes (`pixels_to_head_space`)."""


def pixels_to_head_space(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks in pixels (x right, y down, smaller z closer) to avatar-like axes.

    Negating y and z is a rotation by 180 degrees about x, so handedness is kept and a
    rotation fitted in these axes is a rotation of the avatar (y up, z towards the viewer).

    Args:
        landmarks: K x 3 pixel coordinates, as in `Track.landmarks`.

    Returns:
        K x 3 float64: x right, y up, z towards the camera, still in pixels.
    """
    if landmarks.ndim != 2 or landmarks.shape[1] != 3:
        raise ValueError(f"landmarks must be K x 3, got {landmarks.shape}")
    return np.asarray(landmarks, dtype=np.float64) * HEAD_SPACE


@dataclass(frozen=True)
class Similarity:
    """x -> scale * rotation @ x + translation.

    Attributes:
        scale: positive uniform scale.
        rotation: 3 x 3 rotation matrix.
        translation: 3 vector.
    """

    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map K x 3 source points to the target; returns K x 3."""
        return self.scale * points @ self.rotation.T + self.translation

    def invert(self, points: np.ndarray) -> np.ndarray:
        """Map K x 3 target points back to the source; returns K x 3."""
        return (points - self.translation) @ self.rotation / self.scale


def fit_similarity(source: np.ndarray, target: np.ndarray) -> Similarity:
    """Least-squares similarity from source to target (Umeyama 1991).

    Minimises sum_k |scale * R @ source[k] + t - target[k]|^2 over a proper rotation R
    (det +1), a positive scale and a translation t.

    Args:
        source: K x 3 points, K >= 3 and not all on one line.
        target: K x 3 corresponding points.

    Returns:
        The similarity mapping source onto target.

    Raises:
        ValueError: on mismatched shapes or a degenerate (coincident or collinear) source.
    """
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 3:
        raise ValueError(f"source and target must both be K x 3, got {source.shape} and {target.shape}")
    mean_source = source.mean(axis=0)
    mean_target = target.mean(axis=0)
    centred_source = source - mean_source
    centred_target = target - mean_target
    covariance = centred_target.T @ centred_source / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    # A reflection would fit mirrored faces; flip the weakest axis to keep a rotation.
    signs = np.array([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = (u * signs) @ vt
    variance = float(np.einsum("kd,kd->", centred_source, centred_source)) / len(source)
    if variance <= 0.0 or singular[1] <= 1e-12 * singular[0]:
        raise ValueError("source points are degenerate (coincident or collinear)")
    scale = float(singular @ signs) / variance
    return Similarity(scale=scale, rotation=rotation, translation=mean_target - scale * rotation @ mean_source)

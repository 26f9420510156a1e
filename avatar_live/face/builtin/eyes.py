"""Eyes and lids: each eye's frame, the lid surface the skin around it lies on, and how lids turn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_live.face.builtin.design import (
    EYE_CENTRE,
    EYE_YAW,
    LID_LENGTH,
    LID_RADIUS,
    LOWER_LID_OPEN,
    LOWER_LID_PEAK,
    LOWER_LID_REACH,
    SLIT_ELEVATION,
    SLIT_TILT,
    UPPER_LID_OPEN,
    UPPER_LID_PEAK,
    UPPER_LID_REACH,
)
from avatar_live.face.builtin.geometry import ramp


@dataclass(frozen=True)
class EyeFrame:
    """One eye: its centre and axes (rows: lateral towards the outer corner, up, forward)."""

    side: float  # +1 the subject's left eye (+x), -1 the right
    centre: np.ndarray
    axes: np.ndarray

    def to_local(self, points: np.ndarray) -> np.ndarray:
        return (points - self.centre) @ self.axes.T

    def to_world(self, local: np.ndarray) -> np.ndarray:
        return local @ self.axes + self.centre


def eye_frame(side: float) -> EyeFrame:
    """The left (side +1) or right (-1) eye, its opening turned EYE_YAW outwards."""
    lateral = np.array([side * np.cos(EYE_YAW), 0.0, -np.sin(EYE_YAW)])
    forward = np.array([side * np.sin(EYE_YAW), 0.0, np.cos(EYE_YAW)])
    return EyeFrame(side, EYE_CENTRE * np.array([side, 1.0, 1.0]), np.stack([lateral, [0.0, 1.0, 0.0], forward]))


def raise_lid(local: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Eye-local points (N x 3) turned about the lateral axis; positive angles lift them."""
    c, s = np.cos(angle), np.sin(angle)
    v, w = local[:, 1], local[:, 2]
    return np.stack([local[:, 0], v * c + w * s, w * c - v * s], axis=1)


def elevation_angle(local: np.ndarray) -> np.ndarray:
    """Angle of eye-local points (N x 3) above the eye's forward axis, about its lateral axis; N."""
    return np.arctan2(local[:, 1], local[:, 2])


def project_to_lid(local: np.ndarray) -> np.ndarray:
    """Eye-local points moved along rays from the eye centre onto the lid surface."""
    scale = 1.0 / np.sqrt((local[:, 0] / LID_LENGTH) ** 2 + (local[:, 1] ** 2 + local[:, 2] ** 2) / LID_RADIUS**2)
    return local * scale[:, None]


def slit_elevation(s: np.ndarray) -> np.ndarray:
    """Elevation of the shut-lid line at slit positions s (-1 inner corner .. +1 outer)."""
    return SLIT_ELEVATION + SLIT_TILT * np.clip(s, -1.0, 1.0)


def lid_profile(s: np.ndarray, peak: float) -> np.ndarray:
    """Almond profile along a slit: 0 at the corners (s = -1 inner, +1 outer), 1 at `peak`."""
    warped = s - peak * (1.0 - s * s)
    return np.clip(1.0 - warped * warped, 0.0, 1.0) ** 0.75 * (np.abs(s) < 1.0)


@dataclass(frozen=True)
class Lids:
    """One eye's lid model over the skin vertices (N each).

    Attributes:
        frame: the eye.
        weight: 1 on the lid surface, fading to 0 on the face around it.
        s: the vertex column's place along the slit (inner corner -1, outer +1, else 2).
        upper: on the upper lid's side of the slit.
        gap: |elevation - slit elevation| with the eye shut (radians).
    """

    frame: EyeFrame
    weight: np.ndarray
    s: np.ndarray
    upper: np.ndarray
    gap: np.ndarray

    def angles(self, upper_extra: float = 0.0, lower_extra: float = 0.0, peak_shift: float = 0.0
               ) -> tuple[np.ndarray, np.ndarray]:
        """Per-vertex lift of the upper and drop of the lower lid edge: the resting almond
        plus extra radians at its peak; N each."""
        upper = (UPPER_LID_OPEN + upper_extra) * lid_profile(self.s, UPPER_LID_PEAK + peak_shift)
        lower = (LOWER_LID_OPEN + lower_extra) * lid_profile(self.s, LOWER_LID_PEAK + peak_shift)
        return upper, lower

    def pose(self, shut: np.ndarray, upper_angle: np.ndarray, lower_angle: np.ndarray) -> np.ndarray:
        """The skin (N x 3, this eye shut) with the lids turned open by the given angles (N each)."""
        reach = np.where(self.upper, UPPER_LID_REACH, LOWER_LID_REACH)
        angle = np.where(self.upper, upper_angle, -lower_angle) * (1.0 - ramp(self.gap, 0.0, reach)) * self.weight
        moving = angle != 0.0
        out = shut.copy()
        out[moving] = self.frame.to_world(raise_lid(self.frame.to_local(shut[moving]), angle[moving]))
        return out


def shut_eye(points: np.ndarray, row: np.ndarray, col: np.ndarray, dup: np.ndarray, eye_row: int,
             cols: np.ndarray, side: float) -> tuple[np.ndarray, Lids]:
    """Lay the skin around one eye on its lid surface, with the slit on the shut-lid line.

    Args:
        points: N x 3 skin.
        row, col, dup: N grid coordinates; dup marks the lower copies of slit vertices.
        eye_row: the slit row.
        cols: the eye's slit columns, outer corner to inner corner.
        side: +1 the left eye, -1 the right.

    Returns:
        The skin with this eye shut (N x 3) and its lid model.
    """
    frame = eye_frame(side)
    local = frame.to_local(points)
    # The lid region: an ellipse around the eye seen from the front, on the face's side.
    dx = (points[:, 0] - frame.centre[0]) / 1.75
    dy = (points[:, 1] - frame.centre[1]) / np.where(points[:, 1] > frame.centre[1], 1.55, 1.15)
    weight = (1.0 - ramp(np.hypot(dx, dy), 0.8, 1.4)) * ramp(local[:, 2], -0.4, 0.2)
    s_of_col = np.full(col.max() + 1, 2.0)
    s_of_col[cols] = np.linspace(1.0, -1.0, cols.size)
    s = s_of_col[col]
    laid = local + weight[:, None] * (project_to_lid(local) - local)
    # Turn each slit column about the lateral axis so its slit vertex is on the shut-lid
    # line; the turn fades over three columns past either corner.
    on_slit = row == eye_row
    turn = np.zeros(col.max() + 1)
    turn[col[on_slit]] = slit_elevation(s[on_slit]) - elevation_angle(laid[on_slit])
    keep = np.zeros(col.max() + 1, bool)
    keep[cols] = True
    step = int(np.sign(cols[-1] - cols[0]))
    for k in range(1, 4):
        for corner, beyond in ((cols[-1], cols[-1] + step * k), (cols[0], cols[0] - step * k)):
            turn[beyond] = turn[corner] * (1.0 - k / 4.0)
            keep[beyond] = True
    turn[~keep] = 0.0
    laid = raise_lid(laid, turn[col] * weight * (row >= 0))
    out = points.copy()
    moved = weight > 0.0
    out[moved] = frame.to_world(laid[moved])
    upper = (row < eye_row) | (on_slit & ~dup)
    gap = np.abs(elevation_angle(laid) - slit_elevation(s))
    return out, Lids(frame, weight, s, upper, gap)

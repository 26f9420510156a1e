"""Skin paint: lips, brows, blush, nose, lash line and scalp colours and materials."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_live.face.builtin.design import (
    MATERIAL_ID,
    MOUTH_Y,
)
from avatar_live.face.builtin.geometry import bump, mirror_x, ramp
from avatar_live.face.builtin.hair import under_hair_mask
from avatar_live.face.builtin.look import Look
from avatar_live.face.builtin.skin import Skin


@dataclass(frozen=True)
class Lips:
    """The lips' outline: corners at +-half_width on y = MOUTH_Y, vermilion heights by |x|."""

    half_width: float
    front_z: float

    def upper_height(self, x: np.ndarray) -> np.ndarray:
        """Height of the upper lip's red above the slit (a soft Cupid's bow); 0 at the corners."""
        t = np.clip(np.abs(x) / self.half_width, 0.0, 1.0)
        bow = 1.0 + 0.12 * np.exp(-(((t - 0.3) / 0.16) ** 2)) - 0.05 * np.exp(-((t / 0.12) ** 2))
        return 0.82 * (1.0 - t * t) ** 0.6 * bow

    def lower_height(self, x: np.ndarray) -> np.ndarray:
        t = np.clip(np.abs(x) / self.half_width, 0.0, 1.0)
        return 1.08 * (1.0 - t * t) ** 0.5

    def mask(self, points: np.ndarray) -> np.ndarray:
        """Soft 0..1 membership of the red of the lips; N x 3 -> N."""
        x, y = points[:, 0], points[:, 1]
        # Borders softer than the grid is fine, so they read as curves rather than steps.
        below_top = ramp(MOUTH_Y + self.upper_height(x) - y, -0.15, 0.15)
        inside = below_top * ramp(y - MOUTH_Y + self.lower_height(x), -0.15, 0.15)
        return inside * (np.abs(x) < self.half_width + 0.05) * (points[:, 2] > self.front_z - 2.5)


def lips_outline(skin: Skin, skin_points: np.ndarray) -> Lips:
    """The lips' outline, sized by where the mouth slit's corners and middle ended up."""
    corner = skin_points[skin.vertex(skin.mouth_row, skin.mouth_cols[-1])]
    middle = skin_points[skin.vertex(skin.mouth_row, int(np.argmin(np.abs(skin.lon))))]
    return Lips(half_width=float(corner[0]), front_z=float(middle[2]))


# Brow outline (cm): |x| from the outer end to the inner end, lower and upper edge heights.
BROW_X = np.array([6.0, 5.2, 4.2, 3.0, 1.3])
BROW_LOWER = np.array([1.3, 1.75, 2.05, 2.15, 1.75])
BROW_UPPER = np.array([1.8, 2.6, 3.05, 3.15, 2.9])


def brow_edge(ax: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """Height of a brow edge at |x| = ax."""
    return np.interp(ax, BROW_X[::-1], heights[::-1])


def brow_mask(points: np.ndarray) -> np.ndarray:
    """Soft 0..1 membership of both brows; N x 3 -> N."""
    ax, y = np.abs(points[:, 0]), points[:, 1]
    # Edges softer than the grid is fine, so they read as curves rather than steps.
    inside = ramp(y - brow_edge(ax, BROW_LOWER), -0.22, 0.22) * ramp(brow_edge(ax, BROW_UPPER) - y, -0.25, 0.25)
    ends = ramp(ax, BROW_X[-1] - 0.15, BROW_X[-1] + 0.35) * (1.0 - ramp(ax, BROW_X[0] - 0.5, BROW_X[0]))
    return inside * ends * (points[:, 2] > -3.0)


def both_sides(points: np.ndarray, centre, radii) -> np.ndarray:
    """A bump and its mirror image across x = 0; N."""
    return bump(points, centre, radii) + bump(mirror_x(points), centre, radii)


def skin_paint(skin: Skin, points: np.ndarray, look: Look) -> tuple[np.ndarray, np.ndarray]:
    """Material (N) and albedo (N x 3) of the skin: blush, nose, lips, brows, lash line, scalp."""
    n = len(points)
    skin_color = look.color("skin")
    colors = np.tile(skin_color, (n, 1))
    blush = 0.3 * both_sides(points, (3.9, -3.2, 0.0), (2.3, 1.7, 5.0))
    colors += blush[:, None] * (look.color("blush") - skin_color)
    # The nose's underside faces away from the light: lift it, and paint no nostrils, or the
    # shadow under the tip reads as a dark slit at webcam sizes.
    under_nose = bump(points, (0.0, -4.15, 1.2), (1.9, 0.75, 2.0))
    colors *= 1.0 + 0.1 * under_nose[:, None]
    lip = lips_outline(skin, points).mask(points)
    under_hair = under_hair_mask(points)
    brow = brow_mask(points)
    lash = np.zeros(n)
    for cols in skin.eye_cols:
        lash[skin.slit(skin.eye_row, cols, lower=False)] = 1.0
        lash[skin.ids[skin.eye_row - 1, cols[1:-1], 0]] = 0.35
    for mask, color in ((lip, look.color("lips")), (brow, look.color("brow")), (lash, look.color("lash")),
                        (under_hair, look.color("hair"))):
        colors += mask[:, None] * (color - colors)
    materials = np.full(n, MATERIAL_ID["skin"])
    materials[lip > 0.5] = MATERIAL_ID["lips"]
    materials[(brow > 0.5) | (lash > 0.5)] = MATERIAL_ID["brow"]
    materials[under_hair > 0.5] = MATERIAL_ID["hair"]
    return materials, colors

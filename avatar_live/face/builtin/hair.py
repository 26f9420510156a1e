"""The hair: the hairline, the scalp it covers, and a hair shell with volume, per style.

The shell is laid out by longitude and elevation seen from HAIR_CENTRE: each row is cast
onto the head and lifted off it by the row's height, so the hair keeps the skull's shape
with volume on top. A bob also hangs straight down past the widest part of the head (a
curtain over the ears) and its lower edge rolls back in to the scalp, so it has thickness.
"""

from __future__ import annotations

import numpy as np

from avatar_live.face.builtin.design import HAIR_CENTRE, MATERIAL_ID
from avatar_live.face.builtin.geometry import (
    fan_faces,
    orient,
    ramp,
    ring_faces,
    stations,
)
from avatar_live.face.builtin.look import HairStyle, Look
from avatar_live.face.builtin.parts import Part
from avatar_live.face.builtin.sdf import cast_rays, ray_directions

# Hairline elevation (degrees, about HAIR_CENTRE) by longitude: forehead, temple, sideburn,
# over the ear, nape. The scalp inside it is painted hair; every style covers it.
HAIRLINE_LON = np.array([0.0, 25.0, 45.0, 62.0, 72.0, 78.0, 84.0, 92.0, 105.0, 125.0, 150.0, 180.0])
HAIRLINE_ELEV = np.array([31.0, 30.0, 26.0, 18.0, 8.0, 2.0, 4.0, 8.0, 8.0, -8.0, -28.0, -34.0])

# A bob's lower edge: a fringe over the forehead, then down past the ears to the jaw line.
BOB_EDGE_LON = np.array([0.0, 25.0, 40.0, 50.0, 58.0, 70.0, 90.0, 180.0])
BOB_EDGE_ELEV = np.array([22.0, 21.0, 15.0, -8.0, -42.0, -56.0, -60.0, -60.0])

# Shell rows: (share of the way from the lower edge up to the crown, height above the scalp
# in cm). The first row tucks under the skin, so the edge is clean; the height grows to a
# full top, as a stylized cut has.
HAIR_ROWS: dict[HairStyle, np.ndarray] = {
    "short": np.array([[0.0, -0.25], [0.0, 0.3], [0.05, 0.7], [0.12, 1.3], [0.21, 1.95], [0.32, 2.5],
                       [0.45, 2.9], [0.6, 3.1], [0.76, 3.1], [0.92, 3.0]]),
    "bob": np.array([[0.0, -0.3], [0.0, 0.6], [0.03, 1.0], [0.08, 1.2], [0.15, 1.3], [0.24, 1.35], [0.35, 1.4],
                     [0.47, 1.5], [0.6, 1.6], [0.73, 1.7], [0.86, 1.75], [0.95, 1.8]]),
}

FRONT_QUIFF = 1.0
"""Extra height (cm) at the front of the top, so the hair rises off the forehead."""


def smooth_profile(knot_lon: np.ndarray, knot_elev: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Elevation (degrees) at longitudes (radians) of a symmetric profile given by knots
    (|longitude| degrees, elevation degrees), rounded off between the knots."""
    fine = np.radians(np.arange(-180.0, 180.0, 1.0))
    elev = np.interp(np.degrees(np.abs(fine)), knot_lon, knot_elev)
    kernel = np.exp(-0.5 * (np.arange(-12, 13) / 4.0) ** 2)
    smooth = np.convolve(np.concatenate([elev[-12:], elev, elev[:12]]), kernel / kernel.sum(), "valid")
    return np.interp(lon, fine, smooth, period=2.0 * np.pi)


def under_hair_mask(points: np.ndarray) -> np.ndarray:
    """1 on the scalp well inside the hairline (hidden by any style's hair), else 0; N."""
    rel = points - HAIR_CENTRE
    lon = np.arctan2(rel[:, 0], rel[:, 2])
    elev = np.degrees(np.arctan2(rel[:, 1], np.hypot(rel[:, 0], rel[:, 2])))
    return ramp(elev - smooth_profile(HAIRLINE_LON, HAIRLINE_ELEV, lon), 1.0, 3.0)


def hair_part(look: Look) -> Part:
    """The hair shell of `look.hair_style`, coloured `look.hair`."""
    style = look.hair_style
    lon = np.radians(stations([-180.0, 0.0, 180.0], lambda a: 6.0 + 6.0 * ramp(np.abs(a), 40.0, 120.0))[:-1])
    if style == "bob":
        start = smooth_profile(BOB_EDGE_LON, BOB_EDGE_ELEV, lon)
    else:
        # A fringe swept to the subject's right: a touch of asymmetry reads as a haircut.
        start = smooth_profile(HAIRLINE_LON, HAIRLINE_ELEV, lon) - 7.0 * np.exp(-(((lon + 0.35) / 0.3) ** 2))
    rows_spec = HAIR_ROWS[style]
    origins = np.tile(HAIR_CENTRE, (len(lon), 1))
    front = np.cos(lon).clip(0.0, 1.0) ** 2
    equator = cast_rays(origins, ray_directions(lon, np.zeros_like(lon))) - HAIR_CENTRE
    rows = []
    for share, height in rows_spec:
        elev = np.radians(start + share * (90.0 - start))
        dirs = ray_directions(lon, elev)
        # Less over the ears than on top, so the cut hugs the sides instead of a bowl.
        sides = 1.0 - 0.5 * np.sin(lon) ** 2 * (1.0 - ramp(share, 0.25, 0.75))
        lift = height * sides + FRONT_QUIFF * front * ramp(share, 0.1, 0.4) * (1.0 - ramp(share, 0.6, 0.95))
        row = cast_rays(origins, dirs) + lift[:, None] * dirs
        if style == "bob" and height > 0.0:
            # Below the widest part of the head the hair hangs straight down: at least as far
            # out (horizontally) as the equator plus the row's height, flaring a little at the ends.
            rel = row - HAIR_CENTRE
            flat = np.hypot(rel[:, 0], rel[:, 2])
            reach = np.hypot(equator[:, 0], equator[:, 2]) + height + 0.6 * ramp(-np.degrees(elev), 10.0, 45.0)
            scale = np.where(elev < 0.0, np.maximum(reach / np.maximum(flat, 1e-9), 1.0), 1.0)
            row = HAIR_CENTRE + rel * np.stack([scale, np.ones_like(scale), scale], axis=1)
        rows.append(row)
    up = np.array([[0.0, 1.0, 0.0]])
    points = np.concatenate(rows + [cast_rays(HAIR_CENTRE[None], up) + (rows_spec[-1, 1] + 0.3) * up])
    ids = np.arange(len(rows) * len(lon)).reshape(len(rows), len(lon))
    faces = np.concatenate([ring_faces(ids[k], ids[k + 1]) for k in range(len(rows) - 1)]
                           + [fan_faces(ids[-1], len(points) - 1, apex_first=False)])
    faces = orient(points, faces, points[faces].mean(axis=1) - HAIR_CENTRE)
    # Darker at the roots and under the edge, a soft sheen band across the top.
    share = np.concatenate([np.repeat(rows_spec[:, 0], len(lon)), [1.0]])
    sheen = np.exp(-(((share - 0.55) / 0.15) ** 2))
    shade = (0.72 + 0.28 * ramp(share, 0.0, 0.2) + 0.12 * sheen)[:, None]
    colors = np.clip(look.color("hair") * shade + 0.04 * sheen[:, None], 0.0, 1.0)
    return Part(points, faces, np.full(len(points), MATERIAL_ID["hair"]), colors)

"""The body: a short neck's collar, shoulders and a simple top, as one shell.

The top is its own mesh over an implicit torso (chest, shoulders and the neck it rises
around), laid out by longitude and elevation seen from a point inside the chest, so the
shoulders' slope is sampled as finely as their front. Its collar tucks in under the neck
skin, whose lower end stays inside the top; it follows the `global` joint, so the head
turns on the shoulders.
"""

from __future__ import annotations

import numpy as np

from avatar_live.face.builtin.design import MATERIAL_ID
from avatar_live.face.builtin.geometry import orient, ramp, ring_faces
from avatar_live.face.builtin.look import Look
from avatar_live.face.builtin.parts import Part
from avatar_live.face.builtin.sdf import (
    cast_rays,
    ray_directions,
    sd_ellipsoid,
    sd_round_cone,
    smooth_union,
)

BODY_CENTRE = np.array([0.0, -24.5, -8.8])
"""The top is laid out by longitude and elevation seen from this point (cm)."""

SHOULDER_Y = -20.5  # height (cm) of the shoulder line, about 10 cm below the chin: a short neck
SHOULDER_HALF_WIDTH = 13.5  # cm from the middle to each shoulder joint

# Collar elevation (degrees, about BODY_CENTRE) by |longitude|: a crew neck, lower in front.
COLLAR_LON = np.array([0.0, 60.0, 120.0, 180.0])
COLLAR_ELEV = np.array([48.0, 54.0, 62.0, 64.0])
BOTTOM_ELEV = -65.0  # the top's lower edge, well below the frame

# Shell rows: (share of the way from the collar down to the lower edge, height above the
# torso in cm). The first row tucks into the neck; the second is the collar's rim.
BODY_ROWS = np.array([[0.0, -0.45], [0.0, 0.4], [0.03, 0.35], [0.08, 0.3], [0.15, 0.3], [0.24, 0.3], [0.34, 0.3],
                      [0.46, 0.3], [0.6, 0.3], [0.78, 0.3], [1.0, 0.3]])
BODY_SEGMENTS = 40


def torso_field(p: np.ndarray) -> np.ndarray:
    """Distance-like field of the chest, shoulders and lower neck, negative inside; ... x 3 cm -> ...."""
    d = sd_ellipsoid(p, (0.0, -32.0, -8.8), (15.5, 12.5, 8.0))  # chest
    shoulders = sd_round_cone(p, (-SHOULDER_HALF_WIDTH, SHOULDER_Y, -9.2), (SHOULDER_HALF_WIDTH, SHOULDER_Y, -9.2),
                              5.0, 5.0)
    d = smooth_union(d, shoulders, 5.0)
    pm = p.copy()
    pm[..., 0] = np.abs(pm[..., 0])  # one primitive models each arm
    upper_arm = sd_round_cone(pm, (SHOULDER_HALF_WIDTH + 2.0, SHOULDER_Y - 1.5, -9.2),
                              (SHOULDER_HALF_WIDTH + 4.5, SHOULDER_Y - 26.0, -9.2), 5.0, 4.3)
    d = smooth_union(d, upper_arm, 2.0)
    return smooth_union(d, sd_round_cone(p, (0.0, -12.0, -8.3), (0.0, -30.0, -8.3), 5.95, 6.1), 4.0)  # neck


def body_part(look: Look) -> Part:
    """The top, coloured `look.top`, its collar rim a little darker."""
    lon = np.radians(np.linspace(-180.0, 180.0, BODY_SEGMENTS, endpoint=False))
    collar = np.interp(np.degrees(np.abs(lon)), COLLAR_LON, COLLAR_ELEV)
    origins = np.tile(BODY_CENTRE, (len(lon), 1))
    rows = []
    for share, height in BODY_ROWS:
        dirs = ray_directions(lon, np.radians(collar + share * (BOTTOM_ELEV - collar)))
        rows.append(cast_rays(origins, dirs, t_min=1.0, t_max=32.0, field=torso_field) + height * dirs)
    points = np.concatenate(rows)
    ids = np.arange(len(points)).reshape(len(rows), len(lon))
    faces = np.concatenate([ring_faces(ids[k], ids[k + 1]) for k in range(len(rows) - 1)])
    faces = orient(points, faces, points[faces].mean(axis=1) - BODY_CENTRE)
    share = np.repeat(BODY_ROWS[:, 0], len(lon))
    rim = np.repeat(np.arange(len(rows)) <= 1, len(lon))
    shade = np.where(rim, 0.72, 0.9 + 0.1 * ramp(share, 0.0, 0.1) - 0.15 * ramp(share, 0.4, 1.0))
    # The renderer has no cloth material; the brows' matte response suits fabric.
    return Part(points, faces, np.full(len(points), MATERIAL_ID["cloth"]), look.color("top") * shade[:, None])

"""The built-in head: the embedded default avatar, generated here from numbers alone.

No mesh file is read. The head is designed in centimetres of an average adult face (x
towards the subject's left, y up, z forward; the eye corners on y = 0, the fronts of the
eyeballs near z = 0) and scaled to rig units at the end (about 2 units from chin to crown).

Construction:

1. An implicit surface (smooth unions of ellipsoids and rounded cones: skull, cheeks, jaw,
   chin, nose, lips, lids, neck, ears) is sampled by rays from a vertical axis inside the
   head. The rays form a latitude/longitude grid, dense across the face, so the skin is one
   grid of quads plus a crown pole and a neck cap.
2. The mouth and both eyes are slits along grid rows whose vertices are duplicated, so the
   upper and lower lip (lid) can part. Around each eye the skin lies on a lid surface, an
   ellipsoid of revolution about the eye's lateral axis that encloses the eyeball; lids
   open and close by turning about that axis, so they slide over the eyeball and never cut
   into it. At rest the lids are parted into an almond; `eyeBlink*` turns them back shut.
3. Separate meshes: two eyeballs (sclera, iris, pupil) on the eye joints, lid margins and
   a dark mouth cavity sewn to the slit edges, upper and lower teeth, a tongue, and a cap
   of short hair whose edge follows the hairline.
4. The 52 ARKit blendshapes are displacement fields on this mesh: lid turns, a rigid jaw
   motion weighted per vertex, and smooth local bumps, all sized in eye scales (the outer
   eye-corner distance) so a real face's landmark motion maps onto them.
5. MediaPipe FaceMesh landmarks sit on the matching features (lip and lid edges, brows,
   face oval, nose, irises), spaced by arc length along each ordered contour.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from avatar_live.face.rig import (
    JOINT_NAMES,
    MATERIALS,
    LandmarkEmbedding,
    Rig,
    axis_angle_to_matrix,
    vertex_normals,
)
from avatar_live.tracking import topology
from avatar_live.types import ARKIT_NAMES

CM_TO_RIG = 1.0 / 11.0
"""Rig units per design centimetre."""

RIG_ORIGIN_CM = np.array([0.0, 0.6, -7.5])
"""The design point (cm) that becomes the rig's origin: the middle of the head."""

# Skin grid.
AXIS_Z = -6.5  # the vertical axis the skin rays start from
CAP_Y = 4.0  # above this the rays fan up over the skull
JAW_Y = -9.5  # below this the rays sweep under the chin and down the neck
NECK_BOTTOM_Y = -31.0  # well below the frame's bottom edge (about 2.3 eye scales below the eyes)
EYE_SLIT_Y = 0.0
MOUTH_Y = -6.1
MOUTH_CORNER_LON = 19.8  # degrees of longitude (seen from the axis) of the mouth corners
EYE_INNER_LON = 15.5
EYE_OUTER_LON = 40.5

# Eyes (the subject's left eye; the right one is its mirror image).
EYE_CENTRE = np.array([3.05, 0.28, -1.32])
EYE_RADIUS = 1.30
LID_RADIUS = 1.42  # lid surface radius about the lateral axis; the margin over the eyeball is the lid
LID_LENGTH = 1.95  # lid surface semi-axis along the lateral axis (the opening is wider than tall)
EYE_YAW = np.radians(14.0)  # the opening faces this far outwards, so the outer corner sits further back
SLIT_ELEVATION = -0.19  # radians about the eye centre where the shut lids meet
SLIT_TILT = 0.14  # the outer corner this much higher (radians) than the inner one
UPPER_LID_OPEN = 0.64  # radians the upper lid is raised at rest (peak of the almond)
LOWER_LID_OPEN = 0.17
UPPER_LID_REACH = 1.45  # radians above the slit over which the upper lid's turn fades out
LOWER_LID_REACH = 0.95
UPPER_LID_PEAK = -0.12  # where along the slit the almond is tallest (-1 inner .. +1 outer)
LOWER_LID_PEAK = 0.15
SOCKET_DEPTH = 0.86  # the lid margins run in to this fraction of the eyeball radius
IRIS_ANGLE = 0.47  # half-angle of the iris seen from the eyeball centre
PUPIL_ANGLE = 0.17

# Joints and the jaw.
JAW_JOINT = np.array([0.0, -3.0, -6.8])
NECK_JOINT = np.array([0.0, -6.0, -8.5])
GLOBAL_JOINT = np.array([0.0, -13.5, -8.3])
JAW_OPEN_ANGLE = 0.47  # radians at jawOpen = 1
JAW_OPEN_PIVOT = JAW_JOINT + np.array([0.0, -2.0, -0.5])
"""The condyles glide forward as the mouth opens, so the jaw turns about a lower point."""

HAIR_CENTRE = np.array([0.0, 2.0, -8.0])
"""The hair is laid out by longitude and elevation seen from this point (cm)."""

SKIN_COLOR = np.array([0.93, 0.76, 0.64])
BLUSH_COLOR = np.array([0.95, 0.62, 0.58])
LIP_COLOR = np.array([0.80, 0.45, 0.45])
HAIR_COLOR = np.array([0.30, 0.19, 0.13])
BROW_COLOR = np.array([0.30, 0.20, 0.14])
LASH_COLOR = np.array([0.16, 0.11, 0.09])
SCLERA_COLOR = np.array([0.95, 0.94, 0.92])
IRIS_INNER_COLOR = np.array([0.52, 0.36, 0.18])
IRIS_OUTER_COLOR = np.array([0.33, 0.20, 0.10])
LIMBUS_COLOR = np.array([0.14, 0.09, 0.06])
PUPIL_COLOR = np.array([0.03, 0.03, 0.03])
CARUNCLE_COLOR = np.array([0.86, 0.52, 0.50])
MOUTH_COLOR = np.array([0.42, 0.12, 0.13])
THROAT_COLOR = np.array([0.10, 0.03, 0.04])
TEETH_COLOR = np.array([0.96, 0.94, 0.88])
TONGUE_COLOR = np.array([0.82, 0.40, 0.42])

_MAT = {name: i for i, name in enumerate(MATERIALS)}
_J = {name: i for i, name in enumerate(JOINT_NAMES)}

# What each vertex of the assembled head belongs to.
SKIN, SOCKET, EYEBALL, CAVITY, TEETH_UPPER, TEETH_LOWER, TONGUE, HAIR = range(8)


# ----------------------------------------------------------------------------- small helpers


def _ramp(x: np.ndarray | float, a: float, b: float) -> np.ndarray:
    """Smoothstep from 0 at `a` to 1 at `b` (either order)."""
    t = np.clip((np.asarray(x, dtype=np.float64) - a) / (b - a), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _bump(points: np.ndarray, centre, radii) -> np.ndarray:
    """Smooth compact bump: 1 at `centre`, 0 outside the ellipsoid `radii`; N x 3 -> N."""
    q = np.sum(((points - np.asarray(centre, dtype=np.float64)) / np.asarray(radii, dtype=np.float64)) ** 2, axis=-1)
    return np.clip(1.0 - q, 0.0, 1.0) ** 2


def _mirror_x(points: np.ndarray) -> np.ndarray:
    """Points reflected across x = 0 (the subject's left and right swapped)."""
    return points * np.array([-1.0, 1.0, 1.0])


def _rotate_about(points: np.ndarray, pivot: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Points (N x 3) turned by `angle` radians about the line through `pivot` along unit `axis`."""
    return (points - pivot) @ axis_angle_to_matrix(axis * angle).T + pivot


def _stations(keys: list[float], spacing, fine: int = 2000) -> np.ndarray:
    """Samples from keys[0] to keys[-1] that hit every key and lie about `spacing(x)` apart."""
    out = [np.array([keys[0]], dtype=np.float64)]
    for a, b in pairwise(keys):
        xs = np.linspace(a, b, fine)
        density = 1.0 / spacing(xs)
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.abs(np.diff(xs)))])
        count = max(1, round(cum[-1]))
        out.append(np.interp(np.linspace(0.0, cum[-1], count + 1)[1:], cum, xs))
    return np.concatenate(out)


def _arc_points(polyline: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` points evenly spaced by arc length on a polyline (P x 3), both ends included.

    Returns:
        segment index (count) and the parameter t in [0, 1] within that segment (count).
    """
    seg = np.linalg.norm(np.diff(polyline, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    targets = np.linspace(0.0, cum[-1], count)
    index = np.clip(np.searchsorted(cum, targets, side="right") - 1, 0, len(seg) - 1)
    t = np.clip((targets - cum[index]) / np.maximum(seg[index], 1e-12), 0.0, 1.0)
    return index, t


def _ring_faces(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """Triangles joining two closed rings of vertex ids of equal length."""
    nxt_inner, nxt_outer = np.roll(inner, -1), np.roll(outer, -1)
    return np.concatenate([np.stack([inner, outer, nxt_outer], 1), np.stack([inner, nxt_outer, nxt_inner], 1)])


def _fan(ring: np.ndarray, apex: int, apex_first: bool) -> np.ndarray:
    """Triangles closing a ring at an apex, wound like `_ring_faces` (apex before or after the ring)."""
    nxt = np.roll(ring, -1)
    apexes = np.full(len(ring), apex)
    return np.stack([apexes, ring, nxt] if apex_first else [ring, apexes, nxt], 1)


def _orient(points: np.ndarray, faces: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Consistently wound faces, flipped if their normals disagree on (area-weighted) average
    with `towards` (3, or F x 3 per face)."""
    tri = points[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return faces[:, ::-1].copy() if np.sum(normal * towards) < 0.0 else faces


def _sphere(polar: np.ndarray, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit UV sphere around +z: poles at polar angles 0 and pi, rings at the angles between.

    Returns:
        points (2 + rings * segments) x 3, vertex 0 the +z pole and the last the -z pole;
        faces wound outwards.
    """
    theta = polar[1:-1]
    phi = 2.0 * np.pi * np.arange(segments) / segments
    rings = np.stack([np.sin(theta)[:, None] * np.cos(phi), np.sin(theta)[:, None] * np.sin(phi),
                      np.cos(theta)[:, None] * np.ones_like(phi)], axis=-1).reshape(-1, 3)
    points = np.concatenate([[[0.0, 0.0, 1.0]], rings, [[0.0, 0.0, -1.0]]])
    ids = 1 + np.arange(theta.size * segments).reshape(theta.size, segments)
    faces = np.concatenate([_fan(ids[0], 0, apex_first=True)]
                           + [_ring_faces(ids[k], ids[k + 1]) for k in range(theta.size - 1)]
                           + [_fan(ids[-1], len(points) - 1, apex_first=False)])
    return points, _orient(points, faces, points[faces].mean(axis=1))


# ----------------------------------------------------------------------------- implicit head


def _sd_ellipsoid(p: np.ndarray, centre, radii) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipsoid (exact on its surface)."""
    qx, qy, qz = ((p[..., k] - centre[k]) / radii[k] for k in range(3))
    k0 = np.sqrt(qx * qx + qy * qy + qz * qz)
    k1 = np.sqrt((qx / radii[0]) ** 2 + (qy / radii[1]) ** 2 + (qz / radii[2]) ** 2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def _sd_round_cone(p: np.ndarray, a, b, ra: float, rb: float) -> np.ndarray:
    """Signed distance to the hull of two spheres: centre `a` radius ra, centre `b` radius rb."""
    a = np.asarray(a, dtype=np.float64)
    ba = np.asarray(b, dtype=np.float64) - a
    l2 = ba @ ba
    rr = ra - rb
    a2 = l2 - rr * rr
    pa = p - a
    y = pa @ ba
    z = y - l2
    x2 = np.sum((pa * l2 - y[..., None] * ba) ** 2, axis=-1)
    y2 = y * y * l2
    z2 = z * z * l2
    k = np.sign(rr) * rr * rr * x2
    d_b = np.sqrt(x2 + z2) / l2 - rb
    d_a = np.sqrt(x2 + y2) / l2 - ra
    d_side = (np.sqrt(x2 * a2 / l2) + y * rr) / l2 - ra
    return np.where(np.sign(z) * a2 * z2 > k, d_b, np.where(np.sign(y) * a2 * y2 < k, d_a, d_side))


def _smooth_union(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Union of two distance fields with a fillet of size k (polynomial smooth minimum)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1.0 - h) + a * h - k * h * (1.0 - h)


def _head_field(p: np.ndarray) -> np.ndarray:
    """Distance-like field of the bare head, negative inside; ... x 3 cm -> ...."""
    pm = p.copy()
    pm[..., 0] = np.abs(pm[..., 0])  # one primitive models each left/right pair
    d = _sd_ellipsoid(p, (0.0, 2.2, -8.0), (7.6, 9.0, 9.5))  # cranium
    d = _smooth_union(d, _sd_ellipsoid(p, (0.0, -3.2, -4.0), (6.9, 5.0, 5.0)), 1.8)  # midface
    d = _smooth_union(d, _sd_ellipsoid(pm, (4.5, -1.6, -2.0), (2.2, 1.4, 2.1)), 1.8)  # cheekbones
    d = _smooth_union(d, _sd_ellipsoid(pm, (3.4, -4.4, -2.1), (2.3, 2.1, 2.0)), 2.0)  # cheeks
    d = _smooth_union(d, _sd_ellipsoid(p, (0.0, -7.1, -4.3), (6.1, 4.5, 5.0)), 2.0)  # mandible
    d = _smooth_union(d, _sd_ellipsoid(p, (0.0, -10.1, -0.6), (2.5, 1.7, 1.3)), 1.6)  # chin
    d = _smooth_union(d, _sd_ellipsoid(p, (0.0, -5.8, -2.4), (2.8, 2.6, 3.8)), 1.2)  # muzzle
    d = _smooth_union(d, _sd_ellipsoid(p, (0.0, 1.9, -1.6), (5.6, 1.4, 2.7)), 1.2)  # brow ridge
    orbit = _sd_ellipsoid(pm, (3.1, 0.15, -0.6), (1.9, 1.25, 1.4))
    d = -_smooth_union(-d, orbit, 1.0)  # eye sockets carved out ...
    lid = _eye_frame(1.0).to_local(pm)  # ... and the lid surfaces laid in them
    d = _smooth_union(d, _sd_ellipsoid(lid, (0.0, 0.0, 0.0), (LID_LENGTH, LID_RADIUS, LID_RADIUS)), 0.9)
    d = _smooth_union(d, _sd_round_cone(p, (0.0, 0.6, 0.7), (0.0, -3.1, 2.3), 0.62, 0.72), 0.8)  # bridge
    d = _smooth_union(d, _sd_ellipsoid(p, (0.0, -3.45, 2.2), (0.82, 0.78, 0.85)), 0.6)  # nose tip
    d = _smooth_union(d, _sd_ellipsoid(pm, (1.02, -3.95, 1.3), (0.62, 0.55, 0.7)), 0.5)  # nose wings
    d = _smooth_union(d, _sd_ellipsoid(p, (0.0, -5.62, 0.6), (2.4, 0.78, 1.1)), 0.45)  # upper lip
    d = _smooth_union(d, _sd_ellipsoid(p, (0.0, -6.72, 0.42), (2.15, 0.78, 1.05)), 0.45)  # lower lip
    d = _smooth_union(d, _sd_round_cone(p, (0.0, -7.0, -8.3), (0.0, -36.0, -8.3), 5.4, 5.8), 2.5)  # neck
    d = _smooth_union(d, _sd_round_cone(p, (0.0, -19.0, -8.6), (0.0, -36.0, -8.6), 4.5, 9.5), 3.0)  # its base
    d = _smooth_union(d, _sd_ellipsoid(pm, (7.0, -1.3, -8.1), (1.5, 2.9, 1.9)), 1.6)  # ears
    return d


def _jaw_volume(p: np.ndarray) -> np.ndarray:
    """Distance-like field of the region the lower jaw carries (mandible and chin)."""
    return _smooth_union(_sd_ellipsoid(p, (0.0, -7.3, -3.6), (5.9, 4.4, 5.9)),
                         _sd_ellipsoid(p, (0.0, -9.6, -0.4), (2.6, 2.0, 1.9)), 1.0)


def _cast(origins: np.ndarray, dirs: np.ndarray, t_min: float = 2.5, t_max: float = 14.0) -> np.ndarray:
    """Where rays from inside the head first leave it; N x 3 each -> N x 3.

    Marches in 5 mm steps (every part of the head is thicker than that along the rays),
    then bisects the step where the field turns positive.
    """
    ts = np.arange(t_min, t_max, 0.5)
    inside = _head_field(origins[:, None, :] + ts[None, :, None] * dirs[:, None, :]) < 0.0
    first_out = np.argmax(~inside, axis=1)
    lo = ts[np.maximum(first_out - 1, 0)]
    hi = ts[first_out]
    for _ in range(14):
        mid = 0.5 * (lo + hi)
        out = _head_field(origins + mid[:, None] * dirs) >= 0.0
        hi = np.where(out, mid, hi)
        lo = np.where(out, lo, mid)
    return origins + (0.5 * (lo + hi))[:, None] * dirs


def _directions(lon: np.ndarray, elev: np.ndarray) -> np.ndarray:
    """Unit vectors for longitudes (0 = +z, positive towards +x) and elevations, radians."""
    return np.stack([np.cos(elev) * np.sin(lon), np.sin(elev) * np.ones_like(lon), np.cos(elev) * np.cos(lon)], -1)


# ----------------------------------------------------------------------------- eyes and lids


@dataclass(frozen=True)
class _EyeFrame:
    """One eye: its centre and axes (rows: lateral towards the outer corner, up, forward)."""

    side: float  # +1 the subject's left eye (+x), -1 the right
    centre: np.ndarray
    axes: np.ndarray

    def to_local(self, points: np.ndarray) -> np.ndarray:
        return (points - self.centre) @ self.axes.T

    def to_world(self, local: np.ndarray) -> np.ndarray:
        return local @ self.axes + self.centre


def _eye_frame(side: float) -> _EyeFrame:
    """The left (side +1) or right (-1) eye, its opening turned EYE_YAW outwards."""
    lateral = np.array([side * np.cos(EYE_YAW), 0.0, -np.sin(EYE_YAW)])
    forward = np.array([side * np.sin(EYE_YAW), 0.0, np.cos(EYE_YAW)])
    return _EyeFrame(side, EYE_CENTRE * np.array([side, 1.0, 1.0]), np.stack([lateral, [0.0, 1.0, 0.0], forward]))


def _raise(local: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Eye-local points (N x 3) turned about the lateral axis; positive angles lift them."""
    c, s = np.cos(angle), np.sin(angle)
    v, w = local[:, 1], local[:, 2]
    return np.stack([local[:, 0], v * c + w * s, w * c - v * s], axis=1)


def _elevation(local: np.ndarray) -> np.ndarray:
    """Angle of eye-local points (N x 3) above the eye's forward axis, about its lateral axis; N."""
    return np.arctan2(local[:, 1], local[:, 2])


def _project_to_lid(local: np.ndarray) -> np.ndarray:
    """Eye-local points moved along rays from the eye centre onto the lid surface."""
    scale = 1.0 / np.sqrt((local[:, 0] / LID_LENGTH) ** 2 + (local[:, 1] ** 2 + local[:, 2] ** 2) / LID_RADIUS**2)
    return local * scale[:, None]


def _slit_elevation(s: np.ndarray) -> np.ndarray:
    """Elevation of the shut-lid line at slit positions s (-1 inner corner .. +1 outer)."""
    return SLIT_ELEVATION + SLIT_TILT * np.clip(s, -1.0, 1.0)


def _lid_profile(s: np.ndarray, peak: float) -> np.ndarray:
    """Almond profile along a slit: 0 at the corners (s = -1 inner, +1 outer), 1 at `peak`."""
    warped = s - peak * (1.0 - s * s)
    return np.clip(1.0 - warped * warped, 0.0, 1.0) ** 0.75 * (np.abs(s) < 1.0)


@dataclass(frozen=True)
class _Lids:
    """One eye's lid model over the skin vertices (N each).

    Attributes:
        frame: the eye.
        weight: 1 on the lid surface, fading to 0 on the face around it.
        s: the vertex column's place along the slit (inner corner -1, outer +1, else 2).
        upper: on the upper lid's side of the slit.
        gap: |elevation - slit elevation| with the eye shut (radians).
    """

    frame: _EyeFrame
    weight: np.ndarray
    s: np.ndarray
    upper: np.ndarray
    gap: np.ndarray

    def angles(self, upper_extra: float = 0.0, lower_extra: float = 0.0, peak_shift: float = 0.0
               ) -> tuple[np.ndarray, np.ndarray]:
        """Per-vertex lift of the upper and drop of the lower lid edge: the resting almond
        plus extra radians at its peak; N each."""
        upper = (UPPER_LID_OPEN + upper_extra) * _lid_profile(self.s, UPPER_LID_PEAK + peak_shift)
        lower = (LOWER_LID_OPEN + lower_extra) * _lid_profile(self.s, LOWER_LID_PEAK + peak_shift)
        return upper, lower

    def pose(self, shut: np.ndarray, upper_angle: np.ndarray, lower_angle: np.ndarray) -> np.ndarray:
        """The skin (N x 3, this eye shut) with the lids turned open by the given angles (N each)."""
        reach = np.where(self.upper, UPPER_LID_REACH, LOWER_LID_REACH)
        angle = np.where(self.upper, upper_angle, -lower_angle) * (1.0 - _ramp(self.gap, 0.0, reach)) * self.weight
        moving = angle != 0.0
        out = shut.copy()
        out[moving] = self.frame.to_world(_raise(self.frame.to_local(shut[moving]), angle[moving]))
        return out


def _shut_eye(points: np.ndarray, row: np.ndarray, col: np.ndarray, dup: np.ndarray, eye_row: int,
              cols: np.ndarray, side: float) -> tuple[np.ndarray, _Lids]:
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
    frame = _eye_frame(side)
    local = frame.to_local(points)
    # The lid region: an ellipse around the eye seen from the front, on the face's side.
    dx = (points[:, 0] - frame.centre[0]) / 1.75
    dy = (points[:, 1] - frame.centre[1]) / np.where(points[:, 1] > frame.centre[1], 1.55, 1.15)
    weight = (1.0 - _ramp(np.hypot(dx, dy), 0.8, 1.4)) * _ramp(local[:, 2], -0.4, 0.2)
    s_of_col = np.full(col.max() + 1, 2.0)
    s_of_col[cols] = np.linspace(1.0, -1.0, cols.size)
    s = s_of_col[col]
    laid = local + weight[:, None] * (_project_to_lid(local) - local)
    # Turn each slit column about the lateral axis so its slit vertex is on the shut-lid
    # line; the turn fades over three columns past either corner.
    on_slit = row == eye_row
    turn = np.zeros(col.max() + 1)
    turn[col[on_slit]] = _slit_elevation(s[on_slit]) - _elevation(laid[on_slit])
    keep = np.zeros(col.max() + 1, bool)
    keep[cols] = True
    step = int(np.sign(cols[-1] - cols[0]))
    for k in range(1, 4):
        for corner, beyond in ((cols[-1], cols[-1] + step * k), (cols[0], cols[0] - step * k)):
            turn[beyond] = turn[corner] * (1.0 - k / 4.0)
            keep[beyond] = True
    turn[~keep] = 0.0
    laid = _raise(laid, turn[col] * weight * (row >= 0))
    out = points.copy()
    moved = weight > 0.0
    out[moved] = frame.to_world(laid[moved])
    upper = (row < eye_row) | (on_slit & ~dup)
    gap = np.abs(_elevation(laid) - _slit_elevation(s))
    return out, _Lids(frame, weight, s, upper, gap)


# ----------------------------------------------------------------------------- skin grid


def _grid_rays() -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """The skin's ray grid.

    Rows run from the crown down the neck, columns around the head by longitude. Over the
    skull the rays fan up from a point on the axis; across the face they are horizontal, so
    a row is a level line and the eye and mouth slits are rows; under the chin they sweep
    down and then slide down the neck.

    Returns:
        origins R x C x 3, directions R x C x 3, column longitudes C (radians, symmetric about
        0), the eye-slit row and the mouth row.
    """

    def column_spacing(lon: np.ndarray) -> np.ndarray:
        return 2.7 + 3.6 * _ramp(lon, 45.0, 75.0) + 15.0 * _ramp(lon, 75.0, 140.0)

    half = _stations([0.0, EYE_INNER_LON, MOUTH_CORNER_LON, EYE_OUTER_LON, 180.0], column_spacing)
    lon = np.radians(np.concatenate([-half[-2:0:-1], half]))

    def row_spacing(y: np.ndarray) -> np.ndarray:
        # Finest across the lids, which fold the most; the brows and lips need a little less.
        eyes = _ramp(y, -1.9, -1.1) * (1.0 - _ramp(y, 1.2, 1.9))
        brows = _ramp(y, 1.2, 1.9) * (1.0 - _ramp(y, 3.2, 3.9))
        mouth = 1.0 - _ramp(np.abs(y - MOUTH_Y), 1.4, 2.3)
        nose = 1.0 - _ramp(np.abs(y + 3.6), 0.8, 1.6)
        return 0.75 - np.maximum.reduce([0.53 * eyes, 0.45 * brows, 0.49 * mouth, 0.35 * nose])

    levels = _stations([CAP_Y, EYE_SLIT_Y, MOUTH_Y, JAW_Y], row_spacing)
    cap = np.radians([80.0, 62.0, 45.0, 30.0, 17.0, 7.0])  # coarse: the hair covers it
    sweep = np.linspace(0.0, 1.0, 8)[1:]
    neck = np.linspace(-18.0, NECK_BOTTOM_Y, 5)  # coarse: a plain cylinder, mostly out of frame
    # (origin height, elevation) for the front and the back of the head, blended by longitude.
    front_y = np.concatenate([np.full(cap.size, CAP_Y), levels, JAW_Y - 2.4 * _ramp(sweep, 0.55, 1.0), neck])
    front_el = np.concatenate([cap, np.zeros(levels.size), -np.radians(50.0) * np.minimum(sweep / 0.55, 1.0) ** 1.15,
                               np.zeros(neck.size)])
    back_y = np.concatenate([np.full(cap.size, CAP_Y), levels, JAW_Y - 5.9 * sweep, neck])
    back_el = np.concatenate([cap, np.zeros(levels.size + sweep.size + neck.size)])
    front = 1.0 - _ramp(np.degrees(np.abs(lon)), 55.0, 115.0)
    origin_y = back_y[:, None] + (front_y - back_y)[:, None] * front[None, :]
    elev = back_el[:, None] + (front_el - back_el)[:, None] * front[None, :]
    origins = np.stack([np.zeros_like(origin_y), origin_y, np.full_like(origin_y, AXIS_Z)], axis=-1)
    eye_row = cap.size + int(np.argmin(np.abs(levels - EYE_SLIT_Y)))
    mouth_row = cap.size + int(np.argmin(np.abs(levels - MOUTH_Y)))
    return origins, _directions(lon[None, :], elev), lon, eye_row, mouth_row


@dataclass(frozen=True)
class _Skin:
    """The skin grid.

    Attributes:
        closed: N x 3 with both eyes shut (the lids meet on the slits) and the mouth closed.
        faces: F x 3.
        row, col: N grid coordinates (crown pole row -1, neck-cap centre row R).
        dup: N bool, the lower copy of a slit vertex.
        ids: R x C x 2 vertex ids, [..., 0] the vertex (upper copy), [..., 1] its lower copy.
        lon: C column longitudes (radians); eye_row, mouth_row: the slit rows.
        mouth_cols: the mouth slit's columns, subject's right corner to left corner.
        eye_cols: per eye (left, right) its slit's columns, outer corner to inner corner.
        lids: per eye (left, right) the lid model.
        under_hair: N, 1 on the scalp the hair covers.
    """

    closed: np.ndarray
    faces: np.ndarray
    row: np.ndarray
    col: np.ndarray
    dup: np.ndarray
    ids: np.ndarray
    lon: np.ndarray
    eye_row: int
    mouth_row: int
    mouth_cols: np.ndarray
    eye_cols: tuple[np.ndarray, np.ndarray]
    lids: tuple[_Lids, _Lids]
    under_hair: np.ndarray

    def neutral(self) -> np.ndarray:
        """N x 3 skin with the lids parted into the resting almond."""
        out = self.closed
        for lids in self.lids:
            out = lids.pose(out, *lids.angles())
        return out

    def vertex(self, row: int, col: int, lower: bool = False) -> int:
        """Id of a grid vertex; with `lower`, its lower copy where a slit duplicates it."""
        return int(self.ids[row, col, int(lower)])

    def slit(self, row: int, cols: np.ndarray, lower: bool) -> np.ndarray:
        """Ids along one edge of a slit."""
        return self.ids[row, cols, int(lower)]


def _slit_columns(lon: np.ndarray, lo_deg: float, hi_deg: float) -> np.ndarray:
    """Ids of the columns whose longitude lies in [lo_deg, hi_deg], corners included."""
    lon_deg = np.degrees(lon)
    return np.flatnonzero((lon_deg >= lo_deg - 1e-6) & (lon_deg <= hi_deg + 1e-6))


def _build_skin() -> _Skin:
    """Cast the grid, cut the slits (duplicated vertices) and lay both eyes shut on their lids."""
    origins, dirs, lon, eye_row, mouth_row = _grid_rays()
    n_rows, n_cols = origins.shape[:2]
    n_grid = n_rows * n_cols
    base = _cast(origins.reshape(-1, 3), dirs.reshape(-1, 3))
    mouth_cols = _slit_columns(lon, -MOUTH_CORNER_LON, MOUTH_CORNER_LON)
    left_cols = _slit_columns(lon, EYE_INNER_LON, EYE_OUTER_LON)[::-1]
    right_cols = _slit_columns(lon, -EYE_OUTER_LON, -EYE_INNER_LON)

    # Duplicate the slit vertices between the corners: the copies belong to the faces below.
    ids = np.repeat(np.arange(n_grid).reshape(n_rows, n_cols, 1), 2, axis=2)
    copied = [(r, c) for r, cols in ((mouth_row, mouth_cols), (eye_row, left_cols), (eye_row, right_cols))
              for c in np.sort(cols)[1:-1]]
    for k, (r, c) in enumerate(copied):
        ids[r, c, 1] = n_grid + k
    copied = np.array(copied)
    source = copied[:, 0] * n_cols + copied[:, 1]
    top = np.array([0.0, base[:n_cols, 1].max() + 0.05, base[:n_cols, 2].mean()])
    bottom = base[-n_cols:].mean(axis=0)
    points = np.concatenate([base, base[source], [top, bottom]])
    row = np.concatenate([np.repeat(np.arange(n_rows), n_cols), copied[:, 0], [-1, n_rows]])
    col = np.concatenate([np.tile(np.arange(n_cols), n_rows), copied[:, 1], [0, 0]])
    dup = np.arange(len(points)) >= n_grid
    dup[-2:] = False

    lids = []
    for side, cols in ((1.0, left_cols), (-1.0, right_cols)):
        points, eye_lids = _shut_eye(points, row, col, dup, eye_row, cols, side)
        lids.append(eye_lids)
    faces = _grid_faces(ids, len(points) - 2, len(points) - 1)
    return _Skin(points, faces, row, col, dup, ids, lon, eye_row, mouth_row, mouth_cols,
                 (left_cols, right_cols), tuple(lids), _under_hair(points))


def _grid_faces(ids: np.ndarray, top_id: int, bottom_id: int) -> np.ndarray:
    """Triangles of the grid (counter-clockwise from outside), crown fan and neck cap."""
    n_cols = ids.shape[1]
    nxt = (np.arange(n_cols) + 1) % n_cols
    upper, lower = ids[..., 0], ids[..., 1]
    a, b = lower[:-1, :], lower[:-1, nxt]  # top-left, top-right of each quad (lower copies on a slit)
    c, d = upper[1:, nxt], upper[1:, :]  # bottom-right, bottom-left
    # Every quad is split the same way: a mirrored pattern would give the midline vertices
    # a different fan of triangles, and their area-weighted normals would show a seam.
    quads = np.concatenate([np.stack([a, d, c], -1).reshape(-1, 3), np.stack([a, c, b], -1).reshape(-1, 3)])
    crown = _fan(upper[0], top_id, apex_first=True)
    cap = _fan(lower[-1], bottom_id, apex_first=False)
    return np.concatenate([quads, crown, cap]).astype(np.int64)


# ----------------------------------------------------------------------------- hair

# Hairline elevation (degrees, about HAIR_CENTRE) by longitude: forehead, temple, sideburn,
# over the ear, nape.
_HAIRLINE_LON = np.array([0.0, 25.0, 45.0, 62.0, 72.0, 78.0, 84.0, 92.0, 105.0, 125.0, 150.0, 180.0])
_HAIRLINE_ELEV = np.array([31.0, 30.0, 26.0, 18.0, 8.0, 2.0, 4.0, 8.0, 8.0, -8.0, -28.0, -34.0])

# Hair shell rows: (share of the way from the hairline up to the crown, height above the
# scalp in cm). The first row tucks under the skin, so the hairline is a clean edge.
_HAIR_ROWS = np.array([[0.0, -0.25], [0.0, 0.12], [0.04, 0.5], [0.1, 0.85], [0.2, 1.05], [0.33, 1.15],
                       [0.48, 1.25], [0.64, 1.35], [0.8, 1.45], [0.93, 1.5]])


def _hairline(lon: np.ndarray) -> np.ndarray:
    """Hairline elevation (degrees) at longitudes (radians), rounded off between the knots."""
    fine = np.radians(np.arange(-180.0, 180.0, 1.0))
    elev = np.interp(np.degrees(np.abs(fine)), _HAIRLINE_LON, _HAIRLINE_ELEV)
    kernel = np.exp(-0.5 * (np.arange(-12, 13) / 4.0) ** 2)
    smooth = np.convolve(np.concatenate([elev[-12:], elev, elev[:12]]), kernel / kernel.sum(), "valid")
    return np.interp(lon, fine, smooth, period=2.0 * np.pi)


def _under_hair(points: np.ndarray) -> np.ndarray:
    """1 on the scalp well inside the hairline (hidden by the hair), else 0; N."""
    rel = points - HAIR_CENTRE
    lon = np.arctan2(rel[:, 0], rel[:, 2])
    elev = np.degrees(np.arctan2(rel[:, 1], np.hypot(rel[:, 0], rel[:, 2])))
    return _ramp(elev - _hairline(lon), 1.0, 3.0)


# ----------------------------------------------------------------------------- other parts


@dataclass(frozen=True)
class _Part:
    """A piece of the head before assembly.

    Face indices are local to the part; a part sewn to the skin (see `_assemble`) numbers
    the skin loop it is sewn to first.
    """

    points: np.ndarray  # N x 3 cm, at rest
    faces: np.ndarray  # F x 3
    materials: np.ndarray  # N
    colors: np.ndarray  # N x 3


def _hair() -> _Part:
    """A cap of short hair: a shell over the scalp whose edge follows the hairline."""
    lon = np.radians(_stations([-180.0, 0.0, 180.0], lambda a: 6.0 + 8.0 * _ramp(np.abs(a), 40.0, 120.0))[:-1])
    start = _hairline(lon)
    origins = np.tile(HAIR_CENTRE, (len(lon), 1))
    rows = []
    for share, height in _HAIR_ROWS:
        dirs = _directions(lon, np.radians(start + share * (90.0 - start)))
        rows.append(_cast(origins, dirs) + height * dirs)
    up = np.array([[0.0, 1.0, 0.0]])
    points = np.concatenate(rows + [_cast(HAIR_CENTRE[None], up) + _HAIR_ROWS[-1, 1] * up])
    ids = np.arange(len(rows) * len(lon)).reshape(len(rows), len(lon))
    faces = np.concatenate([_ring_faces(ids[k], ids[k + 1]) for k in range(len(rows) - 1)]
                           + [_fan(ids[-1], len(points) - 1, apex_first=False)])
    faces = _orient(points, faces, points[faces].mean(axis=1) - HAIR_CENTRE)
    edge = np.repeat(_ramp(_HAIR_ROWS[:, 0], 0.0, 0.15), len(lon))
    shade = np.concatenate([0.8 + 0.2 * edge, [1.05]])[:, None]
    return _Part(points, faces, np.full(len(points), _MAT["hair"]), np.clip(HAIR_COLOR * shade, 0.0, 1.0))


_EYE_RINGS = np.array([0.0, 0.09, PUPIL_ANGLE, PUPIL_ANGLE + 0.02, 0.3, IRIS_ANGLE - 0.03, IRIS_ANGLE,
                       IRIS_ANGLE + 0.025, 0.75, 1.1, 1.6, 2.2, np.pi])
_EYE_SEGMENTS = 16  # divisible by 4: the iris-rim landmarks sit on vertices at 0, 90, 180, 270 degrees


def _eyeball(frame: _EyeFrame) -> tuple[_Part, np.ndarray]:
    """An eyeball looking along +z.

    Returns:
        The part, and the local ids of the pupil centre and the iris rim at +x, +y, -x, -y.
    """
    unit, faces = _sphere(_EYE_RINGS, _EYE_SEGMENTS)
    angle = np.arccos(np.clip(unit[:, 2], -1.0, 1.0))
    iris_t = _ramp(angle, PUPIL_ANGLE, IRIS_ANGLE - 0.03)[:, None]
    pupil, iris, limbus = angle <= PUPIL_ANGLE + 1e-6, angle < IRIS_ANGLE - 0.01, angle < IRIS_ANGLE + 0.01
    colors = np.where(pupil[:, None], PUPIL_COLOR,
                      np.where(iris[:, None], IRIS_INNER_COLOR * (1 - iris_t) + IRIS_OUTER_COLOR * iris_t,
                               np.where(limbus[:, None], LIMBUS_COLOR, SCLERA_COLOR)))
    materials = np.where(pupil, _MAT["pupil"], np.where(limbus, _MAT["iris"], _MAT["sclera"]))
    rim = 1 + (np.searchsorted(_EYE_RINGS, IRIS_ANGLE) - 1) * _EYE_SEGMENTS
    landmarks = np.array([0] + [rim + k * _EYE_SEGMENTS // 4 for k in range(4)])
    return _Part(frame.centre + EYE_RADIUS * unit, faces, materials, colors), landmarks


def _socket_points(loop_points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The lid margins' inner edge: each lid-edge point pulled in towards the eye centre."""
    direction = loop_points - centre
    return centre + SOCKET_DEPTH * EYE_RADIUS * direction / np.linalg.norm(direction, axis=1, keepdims=True)


def _eye_socket(loop_points: np.ndarray, frame: _EyeFrame) -> _Part:
    """The lid margins: a strip from the lid edges in behind the eyeball's surface, so no gap
    between lid and eyeball shows. Sewn to the lid-edge loop (L x 3, outer corner first)."""
    points = _socket_points(loop_points, frame.centre)
    n = len(loop_points)
    faces = _orient(np.concatenate([loop_points, points]), _ring_faces(np.arange(n), n + np.arange(n)), frame.axes[2])
    local = frame.to_local(points)
    corner = _ramp(np.abs(local[:, 0]) / LID_LENGTH, 0.45, 0.7)[:, None]
    upper = (local[:, 1] > local[0, 1])[:, None]
    colors = np.where(upper, LASH_COLOR, CARUNCLE_COLOR * 0.8) * (1 - corner) + CARUNCLE_COLOR * corner
    return _Part(points, faces, np.full(n, _MAT["skin"]), colors)


# Cavity rings behind the lips: (width factor, half height, depth behind the lip edge, share
# of the way from the edge's own depth to the mouth centre's).
_CAVITY_RINGS = np.array([[0.96, 0.30, 0.45, 0.0], [1.00, 0.62, 1.15, 0.3], [1.10, 1.00, 2.40, 0.7],
                          [0.85, 1.10, 4.00, 1.0]])
CAVITY_FOLLOW = np.array([1.0, 0.7, 0.3, 0.0])
"""How much each cavity ring follows the lip edge's motion (the rest is the jaw's)."""


def _mouth_cavity(loop_points: np.ndarray, side: np.ndarray) -> _Part:
    """A dark bag behind the lips, closed at the throat. Sewn to the lip-edge loop (L x 3;
    side L: +1 upper lip, -1 lower, 0 corner)."""
    centre_z = loop_points[:, 2].max()
    x = loop_points[:, 0]
    roundness = np.sqrt(np.clip(1.0 - (x / np.abs(x).max()) ** 4, 0.0, 1.0))
    rings = [np.stack([x * width, MOUTH_Y + side * roundness * height,
                       loop_points[:, 2] * (1.0 - share) + centre_z * share - depth], axis=1)
             for width, height, depth, share in _CAVITY_RINGS]
    throat = np.array([[0.0, MOUTH_Y, centre_z - _CAVITY_RINGS[-1, 2] - 0.8]])
    points = np.concatenate(rings + [throat])
    n = len(loop_points)
    ids = [np.arange(n) + k * n for k in range(len(rings) + 1)]
    faces = np.concatenate([_ring_faces(ids[k], ids[k + 1]) for k in range(len(rings))]
                           + [_fan(ids[-1], n + len(points) - 1, apex_first=False)])
    towards = np.zeros((len(faces), 3))
    towards[-n:, 2] = 1.0  # the throat faces the viewer
    faces = _orient(np.concatenate([loop_points, points]), faces, towards)
    depth = np.concatenate([np.repeat(np.arange(1, len(rings) + 1), n), [len(rings) + 1]])
    shade = _ramp(depth, 1, len(rings) + 1)[:, None]
    colors = MOUTH_COLOR * (1 - shade) + THROAT_COLOR * shade
    colors[:n] = LIP_COLOR * 0.75  # the inner side of the lips
    materials = np.where(depth == 1, _MAT["lips"], _MAT["mouth"])
    return _Part(points, faces, materials, colors)


# Tooth edges along the arch (cm from the middle); the gaps get a darker, recessed column.
_TOOTH_EDGES = np.array([0.0, 0.43, 0.8, 1.13, 1.45, 1.78, 2.1])
# Tooth cross-section: (height from the biting edge, depth behind the front face), cm.
_TOOTH_PROFILE = np.array([[1.0, 0.04], [0.1, 0.0], [0.0, 0.13], [0.1, 0.27], [1.0, 0.3]])


def _teeth(front_z: float, upper: bool) -> _Part:
    """One dental arch: a rounded slab along a parabola behind the lips."""
    edges = _TOOTH_EDGES * (1.0 if upper else 0.9)
    half = np.sort(np.concatenate([edges, 0.5 * (edges[1:] + edges[:-1])]))
    x = np.concatenate([-half[:0:-1], half])
    gap = np.isin(np.round(np.abs(x), 6), np.round(edges[:-1], 6))
    curve = 0.27
    arch = np.stack([x, np.zeros_like(x), front_z - curve * x * x], 1)
    outward = np.stack([2.0 * curve * x, np.zeros_like(x), np.ones_like(x)], 1)
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    # The upper incisors reach a little below the upper lip, so they show when the mouth opens.
    sign, bite = (1.0, MOUTH_Y - 0.5) if upper else (-1.0, MOUTH_Y + 0.07)
    recess = np.where(gap, 0.05, 0.0)
    points = np.concatenate([arch + np.array([0.0, bite + sign * height, 0.0]) - (depth + recess)[:, None] * outward
                             for height, depth in _TOOTH_PROFILE])
    n = x.size
    ids = np.arange(len(_TOOTH_PROFILE) * n).reshape(len(_TOOTH_PROFILE), n)
    faces = np.concatenate([np.concatenate([np.stack([ids[r, :-1], ids[r + 1, :-1], ids[r + 1, 1:]], 1),
                                            np.stack([ids[r, :-1], ids[r + 1, 1:], ids[r, 1:]], 1)])
                            for r in range(len(_TOOTH_PROFILE) - 1)])
    towards = np.zeros((len(faces), 3))
    towards[np.isin(faces, ids[:2]).all(axis=1), 2] = 1.0  # the front faces the viewer
    colors = TEETH_COLOR * np.where(np.tile(gap, len(_TOOTH_PROFILE)), 0.88, 1.0)[:, None]
    return _Part(points, _orient(points, faces, towards), np.full(len(points), _MAT["teeth"]), colors)


def _tongue(front_z: float) -> _Part:
    """A flattened ellipsoid lying on the floor of the mouth, tip forward."""
    unit, faces = _sphere(np.linspace(0.0, np.pi, 9), 12)
    points = np.array([0.0, MOUTH_Y - 0.9, front_z - 3.1]) + unit * np.array([1.65, 0.55, 2.1])
    shade = 0.85 + 0.15 * _ramp(unit[:, 1], -0.6, 0.6)
    return _Part(points, faces, np.full(len(points), _MAT["tongue"]), TONGUE_COLOR * shade[:, None])


# ----------------------------------------------------------------------------- paint


@dataclass(frozen=True)
class _Lips:
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
        below_top = _ramp(MOUTH_Y + self.upper_height(x) - y, -0.15, 0.15)
        inside = below_top * _ramp(y - MOUTH_Y + self.lower_height(x), -0.15, 0.15)
        return inside * (np.abs(x) < self.half_width + 0.05) * (points[:, 2] > self.front_z - 2.5)


def _lips(skin: _Skin, skin_points: np.ndarray) -> _Lips:
    """The lips' outline, sized by where the mouth slit's corners and middle ended up."""
    corner = skin_points[skin.vertex(skin.mouth_row, skin.mouth_cols[-1])]
    middle = skin_points[skin.vertex(skin.mouth_row, int(np.argmin(np.abs(skin.lon))))]
    return _Lips(half_width=float(corner[0]), front_z=float(middle[2]))


# Brow outline (cm): |x| from the outer end to the inner end, lower and upper edge heights.
_BROW_X = np.array([6.0, 5.2, 4.2, 3.0, 1.3])
_BROW_LOWER = np.array([1.35, 1.85, 2.2, 2.3, 1.85])
_BROW_UPPER = np.array([1.7, 2.45, 2.85, 2.95, 2.7])


def _brow_edge(ax: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """Height of a brow edge at |x| = ax."""
    return np.interp(ax, _BROW_X[::-1], heights[::-1])


def _brow_mask(points: np.ndarray) -> np.ndarray:
    """Soft 0..1 membership of both brows; N x 3 -> N."""
    ax, y = np.abs(points[:, 0]), points[:, 1]
    # Edges softer than the grid is fine, so they read as curves rather than steps.
    inside = _ramp(y - _brow_edge(ax, _BROW_LOWER), -0.15, 0.15) * _ramp(_brow_edge(ax, _BROW_UPPER) - y, -0.2, 0.2)
    ends = _ramp(ax, _BROW_X[-1] - 0.15, _BROW_X[-1] + 0.35) * (1.0 - _ramp(ax, _BROW_X[0] - 0.5, _BROW_X[0]))
    return inside * ends * (points[:, 2] > -3.0)


def _both_sides(points: np.ndarray, centre, radii) -> np.ndarray:
    """A bump and its mirror image across x = 0; N."""
    return _bump(points, centre, radii) + _bump(_mirror_x(points), centre, radii)


def _skin_paint(skin: _Skin, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Material (N) and albedo (N x 3) of the skin: blush, nostrils, lips, brows, lash line, scalp."""
    n = len(points)
    colors = np.tile(SKIN_COLOR, (n, 1))
    blush = 0.3 * _both_sides(points, (3.9, -3.2, 0.0), (2.3, 1.7, 5.0))
    colors += blush[:, None] * (BLUSH_COLOR - SKIN_COLOR)
    nostrils = np.clip(1.5 * _both_sides(points, (0.5, -4.2, 1.75), (0.32, 0.26, 0.45)), 0.0, 1.0)
    colors *= 1.0 - 0.5 * nostrils[:, None]
    lip = _lips(skin, points).mask(points)
    brow = _brow_mask(points)
    lash = np.zeros(n)
    for cols in skin.eye_cols:
        lash[skin.slit(skin.eye_row, cols, lower=False)] = 1.0
        lash[skin.ids[skin.eye_row - 1, cols[1:-1], 0]] = 0.35
    for mask, color in ((lip, LIP_COLOR), (brow, BROW_COLOR), (lash, LASH_COLOR), (skin.under_hair, HAIR_COLOR)):
        colors += mask[:, None] * (color - colors)
    materials = np.full(n, _MAT["skin"])
    materials[lip > 0.5] = _MAT["lips"]
    materials[(brow > 0.5) | (lash > 0.5)] = _MAT["brow"]
    materials[skin.under_hair > 0.5] = _MAT["hair"]
    return materials, colors


# ----------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class _Head:
    """The assembled head in design centimetres, with the bookkeeping the shapes need.

    Attributes:
        neutral: N x 3 rest pose (lids parted).
        closed: N x 3 with both eyes shut (equal to `neutral` away from the lids).
        faces: F x 3; materials N; colors N x 3; kind N (SKIN, SOCKET, ...).
        skin: the skin grid (its vertices come first).
        eye_loops, sockets: per eye (left, right) the lid-edge loop (skin ids) and the ids of
            the lid margin sewn to it.
        mouth_loop: the lip-edge loop (skin ids), subject's right corner first, upper edge next.
        cavity: 4 x L ids of the cavity rings behind `mouth_loop`; throat: its last vertex.
        eyeballs: per eye its vertex ids; irises: per eye (pupil centre, rim at +x, +y, -x, -y).
        mouth_side: N, +1 on the upper lip's side of the mouth, -1 on the jaw's, 0 neither.
        jaw: N, how much of the lower jaw's motion each vertex takes.
    """

    neutral: np.ndarray
    closed: np.ndarray
    faces: np.ndarray
    materials: np.ndarray
    colors: np.ndarray
    kind: np.ndarray
    skin: _Skin
    eye_loops: tuple[np.ndarray, np.ndarray]
    sockets: tuple[np.ndarray, np.ndarray]
    mouth_loop: np.ndarray
    cavity: np.ndarray
    throat: int
    eyeballs: tuple[np.ndarray, np.ndarray]
    irises: tuple[np.ndarray, np.ndarray]
    mouth_side: np.ndarray
    jaw: np.ndarray


def _eye_loop(skin: _Skin, eye: int) -> np.ndarray:
    """Skin ids around an eye opening: outer corner, upper lid edge, inner corner, lower edge back."""
    cols = skin.eye_cols[eye]
    return np.concatenate([skin.slit(skin.eye_row, cols, lower=False),
                           skin.slit(skin.eye_row, cols[-2:0:-1], lower=True)])


def _mouth_loop(skin: _Skin) -> tuple[np.ndarray, np.ndarray]:
    """Skin ids around the lips' opening (right corner, upper edge, left corner, lower edge
    back) and each one's side: +1 upper lip, -1 lower lip, 0 a corner."""
    cols = skin.mouth_cols
    loop = np.concatenate([skin.slit(skin.mouth_row, cols, lower=False),
                           skin.slit(skin.mouth_row, cols[-2:0:-1], lower=True)])
    side = np.concatenate([[0.0], np.ones(cols.size - 2), [0.0], -np.ones(cols.size - 2)])
    return loop, side


def _assemble() -> _Head:
    """Skin plus every other part in one mesh, painted, with the shapes' bookkeeping."""
    skin = _build_skin()
    skin_neutral = skin.neutral()
    skin_materials, skin_colors = _skin_paint(skin, skin_neutral)
    neutral, closed, faces = [skin_neutral], [skin.closed], [skin.faces]
    materials, colors, kind = [skin_materials], [skin_colors], [np.full(len(skin_neutral), SKIN)]

    def add(part: _Part, part_kind: int, shut: np.ndarray | None = None, loop: np.ndarray | None = None
            ) -> np.ndarray:
        """Append a part (its shut-eye points if they differ); with `loop`, its faces' first
        len(loop) indices name those skin vertices. Returns the part's vertex ids."""
        start = sum(len(p) for p in neutral)
        part_faces = part.faces + start
        if loop is not None:
            part_faces = np.where(part.faces < len(loop), loop[np.minimum(part.faces, len(loop) - 1)],
                                  part.faces - len(loop) + start)
        neutral.append(part.points)
        closed.append(part.points if shut is None else shut)
        faces.append(part_faces)
        materials.append(part.materials)
        colors.append(part.colors)
        kind.append(np.full(len(part.points), part_kind))
        return start + np.arange(len(part.points))

    frames = (_eye_frame(1.0), _eye_frame(-1.0))
    eye_loops = (_eye_loop(skin, 0), _eye_loop(skin, 1))
    sockets = tuple(add(_eye_socket(skin_neutral[loop], frame), SOCKET, _socket_points(skin.closed[loop], frame.centre),
                        loop) for loop, frame in zip(eye_loops, frames, strict=True))
    mouth_loop, loop_side = _mouth_loop(skin)
    cavity = add(_mouth_cavity(skin_neutral[mouth_loop], loop_side), CAVITY, loop=mouth_loop)
    eyeballs, irises = [], []
    for frame in frames:
        part, landmarks = _eyeball(frame)
        eyeballs.append(add(part, EYEBALL))
        irises.append(eyeballs[-1][landmarks])
    front_z = skin_neutral[mouth_loop, 2].max()
    add(_teeth(front_z - 0.72, upper=True), TEETH_UPPER)
    add(_teeth(front_z - 1.05, upper=False), TEETH_LOWER)
    add(_tongue(front_z), TONGUE)
    add(_hair(), HAIR)

    kind = np.concatenate(kind)
    neutral = np.concatenate(neutral)
    rings = cavity[:-1].reshape(len(_CAVITY_RINGS), len(mouth_loop))
    mouth_side = _mouth_sides(skin, kind, rings, loop_side)
    jaw = _jaw_weights(skin, neutral, kind, mouth_side, mouth_loop, rings, loop_side, int(cavity[-1]))
    return _Head(
        neutral=neutral, closed=np.concatenate(closed), faces=np.concatenate(faces),
        materials=np.concatenate(materials).astype(np.uint8), colors=np.concatenate(colors), kind=kind, skin=skin,
        eye_loops=eye_loops, sockets=sockets, mouth_loop=mouth_loop, cavity=rings, throat=int(cavity[-1]),
        eyeballs=tuple(eyeballs), irises=tuple(irises), mouth_side=mouth_side, jaw=jaw)


def _mouth_sides(skin: _Skin, kind: np.ndarray, cavity: np.ndarray, loop_side: np.ndarray) -> np.ndarray:
    """+1 on the upper lip's side of the mouth, -1 on the jaw's, 0 neither; N."""
    side = np.zeros(len(kind))
    n_skin = len(skin.row)
    on_row = skin.row == skin.mouth_row
    in_slit = np.isin(skin.col, skin.mouth_cols[1:-1])
    side[:n_skin] = np.where(skin.row < skin.mouth_row, 1.0, -1.0)
    side[:n_skin][on_row] = np.where(in_slit[on_row], np.where(skin.dup[on_row], -1.0, 1.0), 0.0)
    side[cavity] = loop_side[None, :]
    side[kind == TEETH_UPPER] = 1.0
    side[np.isin(kind, (TEETH_LOWER, TONGUE))] = -1.0
    return side


def _jaw_weights(skin: _Skin, points: np.ndarray, kind: np.ndarray, mouth_side: np.ndarray, mouth_loop: np.ndarray,
                 cavity: np.ndarray, loop_side: np.ndarray, throat: int) -> np.ndarray:
    """How much of the lower jaw's motion each vertex takes (0..1); N.

    On the skin: 0 above the mouth, 1 on the lower lip and chin, fading out towards the
    ears and down the neck. Along the lip edges the weights meet at the corners, so the
    opening is an ellipse rather than a slot: the lower edge takes 0.5 + 0.5 h and the
    upper edge 0.5 - 0.5 h, with h = sqrt(1 - (x / half width)^2). The cavity blends from
    its lip edge's weight to the floor's 1 and the roof's 0.
    """
    n_skin = len(skin.row)
    p = points[:n_skin]
    half_width = _lips(skin, points).half_width
    mouth_row = points[skin.ids[skin.mouth_row, :, 0]]
    col = np.clip(skin.col, 0, len(skin.lon) - 1)
    below = mouth_row[col, 1] - p[:, 1]  # cm below the mouth row in the same column
    lateral = np.abs(mouth_row[col, 0])
    h = np.sqrt(np.clip(1.0 - (lateral / half_width) ** 2, 0.0, 1.0)) * np.isin(skin.col, skin.mouth_cols)
    width = 0.5 + np.maximum(lateral - half_width, 0.0)  # the cheeks share the motion more widely
    reach = 1.0 - (1.0 - h) * np.exp(-np.abs(below) / width)
    weight = np.zeros(len(points))
    # A wide fade under the jaw: the skin there stretches over the open jaw instead of folding.
    weight[:n_skin] = (0.5 - 0.5 * mouth_side[:n_skin] * reach) * (1.0 - _ramp(_jaw_volume(p), 0.0, 3.2))
    weight[:n_skin][skin.row < 0] = 0.0
    for ring, follow in zip(cavity, CAVITY_FOLLOW, strict=True):
        weight[ring] = follow * weight[mouth_loop] + (1.0 - follow) * (0.5 - 0.5 * loop_side)
    weight[throat] = 0.5
    weight[np.isin(kind, (TEETH_LOWER, TONGUE))] = 1.0
    return weight


# ----------------------------------------------------------------------------- blendshapes


@dataclass(frozen=True)
class _JawMotion:
    """A rigid motion of the lower jaw, applied in proportion to each vertex's jaw weight."""

    open_angle: float = 0.0  # radians about JAW_OPEN_PIVOT's x axis, positive opens
    yaw: float = 0.0  # radians about the jaw joint's vertical axis, positive swings the chin to +x
    shift: tuple[float, float, float] = (0.0, 0.0, 0.0)  # cm

    def offsets(self, points: np.ndarray, weights: np.ndarray) -> np.ndarray:
        moved = _rotate_about(points, JAW_OPEN_PIVOT, np.array([1.0, 0.0, 0.0]), self.open_angle)
        moved = _rotate_about(moved, JAW_JOINT, np.array([0.0, 1.0, 0.0]), self.yaw)
        return weights[:, None] * (moved + np.asarray(self.shift) - points)


class _Shaper:
    """The ARKit shapes of one head, as vertex offsets in centimetres.

    Each shape is a lid pose, a jaw motion and/or a soft field on the face; the lid margins
    and the mouth cavity then follow the slit edges they are sewn to. Magnitudes are in eye
    scales. `side` arguments are +1 for the subject's left (+x), -1 for the right.
    """

    def __init__(self, head: _Head):
        self.head = head
        self.p = head.neutral
        self.n_skin = len(head.skin.row)
        self.lips = _lips(head.skin, head.neutral)
        self.eye_scale = float(np.linalg.norm(head.neutral[head.eye_loops[0][0]] - head.neutral[head.eye_loops[1][0]]))
        self.skin_mask = (head.kind == SKIN).astype(np.float64)
        # Soft fields act on the face only, never on the back of the head or the ears.
        self.face_mask = self.skin_mask * _ramp(head.neutral[:, 2], -5.0, -3.5)

    def shapes(self) -> np.ndarray:
        """S x N x 3 offsets in ARKIT_NAMES order."""
        sided = {
            "eyeBlink": self.eye_blink, "eyeLookDown": self.eye_look_down, "eyeLookIn": self.eye_look_in,
            "eyeLookOut": self.eye_look_out, "eyeLookUp": self.eye_look_up, "eyeSquint": self.eye_squint,
            "eyeWide": self.eye_wide, "jaw": self.jaw_sideways, "mouth": self.mouth_sideways,
            "mouthSmile": self.mouth_smile, "mouthFrown": self.mouth_frown, "mouthDimple": self.mouth_dimple,
            "mouthStretch": self.mouth_stretch, "mouthPress": self.mouth_press, "mouthLowerDown": self.mouth_lower_down,
            "mouthUpperUp": self.mouth_upper_up, "browDown": self.brow_down, "browOuterUp": self.brow_outer_up,
            "cheekSquint": self.cheek_squint, "noseSneer": self.nose_sneer,
        }
        both = {
            "jawForward": self.jaw_forward, "jawOpen": self.jaw_open, "mouthClose": self.mouth_close,
            "mouthFunnel": self.mouth_funnel, "mouthPucker": self.mouth_pucker, "mouthRollLower": self.mouth_roll_lower,
            "mouthRollUpper": self.mouth_roll_upper, "mouthShrugLower": self.mouth_shrug_lower,
            "mouthShrugUpper": self.mouth_shrug_upper, "browInnerUp": self.brow_inner_up, "cheekPuff": self.cheek_puff,
            "tongueOut": self.tongue_out,
        }
        out = []
        for name in ARKIT_NAMES:
            for suffix, side in (("Left", 1.0), ("Right", -1.0)):
                if name.endswith(suffix):
                    out.append(sided[name[: -len(suffix)]](side))
                    break
            else:
                out.append(both[name]())
        shapes = np.stack(out)
        # Offsets far below a micron are rounding noise (a near-zero weight times a rotation
        # whose last bits depend on memory alignment); zero them so every build is identical.
        shapes[np.abs(shapes) < 1e-7] = 0.0
        return shapes

    # -- building blocks ------------------------------------------------------------------

    def bump(self, centre_xy: tuple[float, float], radii_xy: tuple[float, float]) -> np.ndarray:
        """A soft region of the face around (x, y) cm, as seen from the front; N."""
        flat = self.p * np.array([1.0, 1.0, 0.0])
        return _bump(flat, (centre_xy[0], centre_xy[1], 0.0), (radii_xy[0], radii_xy[1], 1.0)) * self.face_mask

    def corner(self, side: float, radii: tuple[float, float]) -> np.ndarray:
        return self.bump((side * self.lips.half_width, MOUTH_Y), radii)

    def lip_side(self, which: float) -> np.ndarray:
        """1 on the upper (which=+1) or lower (-1) lip's side of the mouth, else 0; N."""
        return (self.head.mouth_side == which).astype(np.float64)

    def lip_taper(self) -> np.ndarray:
        """Lip-parting shapes move the lip edges less towards the corners (0 at a corner); N."""
        at_edge = np.sqrt(np.clip(1.0 - (self.p[:, 0] / self.lips.half_width) ** 2, 0.0, 1.0))
        return at_edge + (1.0 - at_edge) * _ramp(np.abs(self.p[:, 1] - MOUTH_Y), 0.0, 1.2)

    def vec(self, mask: np.ndarray, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> np.ndarray:
        """Offsets mask * (x, y, z) eye scales; N x 3."""
        return mask[:, None] * (np.array([x, y, z]) * self.eye_scale)

    def lids(self, side: float, upper: float = 0.0, lower: float = 0.0, peak_shift: float = 0.0,
             shut: bool = False) -> np.ndarray:
        """Skin offsets when one eye's lids move: the upper edge `upper` eye scales further up
        than at rest, the lower edge `lower` further down (or both shut)."""
        eye = 0 if side > 0 else 1
        travel = self.eye_scale / LID_RADIUS  # radians per eye scale at the lid edge
        lids, other = self.head.skin.lids[eye], self.head.skin.lids[1 - eye]
        if shut:
            posed = self.head.skin.closed
        else:
            posed = lids.pose(self.head.skin.closed, *lids.angles(upper * travel, lower * travel, peak_shift))
        posed = other.pose(posed, *other.angles())
        out = np.zeros_like(self.p)
        out[: self.n_skin] = posed - self.p[: self.n_skin]
        return out

    def keep_off_eyeballs(self, offsets: np.ndarray) -> np.ndarray:
        """Soft-field offsets, but lid skin never comes closer to the eyeball centre than at rest."""
        out = offsets.copy()
        for lids in self.head.skin.lids:
            idx = np.flatnonzero(lids.weight > 0.0)
            before = self.p[idx] - lids.frame.centre
            after = before + offsets[idx]
            push = np.maximum(np.linalg.norm(before, axis=1) / np.maximum(np.linalg.norm(after, axis=1), 1e-9), 1.0)
            out[idx] = after * (1.0 + lids.weight[idx] * (push - 1.0))[:, None] - before
        return out

    def finish(self, soft: np.ndarray, jaw: _JawMotion | None = None) -> np.ndarray:
        """Total offsets: a soft field on the skin plus a jaw motion, with sewn parts following."""
        head = self.head
        out = self.keep_off_eyeballs(soft * self.skin_mask[:, None])
        rigid = jaw.offsets(self.p, head.jaw) if jaw is not None else np.zeros_like(self.p)
        out[: self.n_skin] += rigid[: self.n_skin]
        for loop, socket, lids in zip(head.eye_loops, head.sockets, head.skin.lids, strict=True):
            out[socket] = _socket_points(self.p[loop] + out[loop], lids.frame.centre) - self.p[socket]
        for ring, follow in zip(head.cavity, CAVITY_FOLLOW, strict=True):
            out[ring] = follow * out[head.mouth_loop] + (1.0 - follow) * rigid[ring]
        carried = np.isin(head.kind, (TEETH_LOWER, TONGUE))
        carried[head.throat] = True
        out[carried] = rigid[carried]
        return out

    # -- eyes -----------------------------------------------------------------------------

    def eye_blink(self, side: float) -> np.ndarray:
        return self.finish(self.lids(side, shut=True))

    def eye_look_down(self, side: float) -> np.ndarray:
        return self.finish(self.lids(side, upper=-0.035, lower=0.02))

    def eye_look_in(self, side: float) -> np.ndarray:
        return self.finish(self.lids(side, upper=0.005, peak_shift=-0.35))

    def eye_look_out(self, side: float) -> np.ndarray:
        return self.finish(self.lids(side, upper=0.005, peak_shift=0.35))

    def eye_look_up(self, side: float) -> np.ndarray:
        return self.finish(self.lids(side, upper=0.03, lower=-0.012))

    def eye_squint(self, side: float) -> np.ndarray:
        cheek = self.vec(self.bump((side * 3.4, -1.9), (2.0, 1.2)), y=0.015, z=0.005)
        return self.finish(self.lids(side, upper=-0.012, lower=-0.04) + cheek)

    def eye_wide(self, side: float) -> np.ndarray:
        return self.finish(self.lids(side, upper=0.06, lower=0.012))

    # -- jaw ------------------------------------------------------------------------------

    def jaw_forward(self) -> np.ndarray:
        return self.finish(np.zeros_like(self.p), _JawMotion(shift=(0.0, 0.0, 0.07 * self.eye_scale)))

    def jaw_sideways(self, side: float) -> np.ndarray:
        """The chin swings 0.1 eye scales towards `side`."""
        chin_reach = self.lips.front_z - JAW_JOINT[2]
        return self.finish(np.zeros_like(self.p), _JawMotion(yaw=side * 0.1 * self.eye_scale / chin_reach))

    def jaw_open(self) -> np.ndarray:
        # The lower lip drops a little further than the turn alone carries it.
        lower_lip = self.bump((0.0, MOUTH_Y - 0.5), (1.35 * self.lips.half_width, 2.0)) * self.lip_side(-1.0)
        return self.finish(self.vec(lower_lip * self.lip_taper(), y=-0.06), _JawMotion(open_angle=JAW_OPEN_ANGLE))

    # -- mouth ----------------------------------------------------------------------------

    def mouth_close(self) -> np.ndarray:
        """Lips closed over an open jaw: at the same weight as jawOpen the lip edges meet (the
        lower lip travels 80% of jawOpen's gap back up, the upper lip 20% down)."""
        skin = self.head.skin
        opened = self.jaw_open()
        gap = np.zeros((len(skin.lon), 3))
        cols = skin.mouth_cols
        gap[cols] = (opened[skin.slit(skin.mouth_row, cols, lower=True)]
                     - opened[skin.slit(skin.mouth_row, cols, lower=False)])
        column_gap = np.zeros_like(self.p)
        column_gap[: self.n_skin] = gap[skin.col]
        distance = np.abs(self.p[:, 1] - MOUTH_Y)
        lower = (1.0 - _ramp(distance, 0.7, 2.4)) * self.lip_side(-1.0)
        upper = (1.0 - _ramp(distance, 0.4, 1.6)) * self.lip_side(1.0)
        return self.finish((0.2 * upper - 0.8 * lower)[:, None] * column_gap)

    def narrowing(self, forward: float) -> np.ndarray:
        """The mouth drawn in to about 75% of its width and pushed `forward` (funnel, pucker)."""
        around = self.bump((0.0, MOUTH_Y), (1.7 * self.lips.half_width, 2.3))
        lips = self.bump((0.0, MOUTH_Y), (1.2 * self.lips.half_width, 1.4))
        inward = np.zeros_like(self.p)
        inward[:, 0] = -0.3 * self.p[:, 0] * _ramp(around, 0.0, 0.5)
        return inward + self.vec(lips, z=forward)

    def mouth_funnel(self) -> np.ndarray:
        edges = self.bump((0.0, MOUTH_Y), (1.1 * self.lips.half_width, 1.2)) * self.lip_taper()
        opening = self.vec(edges * self.lip_side(1.0), y=0.035) + self.vec(edges * self.lip_side(-1.0), y=-0.05)
        return self.finish(self.narrowing(0.09) + opening)

    def mouth_pucker(self) -> np.ndarray:
        lips = self.bump((0.0, MOUTH_Y), (1.1 * self.lips.half_width, 1.3))
        pressed = _ramp(np.abs(self.p[:, 1] - MOUTH_Y), 0.0, 0.8) * lips
        squeeze = self.vec(pressed * self.lip_side(1.0), y=-0.02) + self.vec(pressed * self.lip_side(-1.0), y=0.02)
        return self.finish(self.narrowing(0.13) + squeeze)

    def mouth_sideways(self, side: float) -> np.ndarray:
        """mouthLeft / mouthRight: the closed mouth slides 0.1 eye scales towards `side`."""
        around = self.bump((0.0, MOUTH_Y), (1.8 * self.lips.half_width, 2.4))
        return self.finish(self.vec(around, x=side * 0.12, z=-0.01))

    def mouth_smile(self, side: float) -> np.ndarray:
        # The corner's lift fades out further above the mouth than below it, so the upper lip
        # skin stretches up into the cheek instead of folding over the lip.
        above = self.p[:, 1] > MOUTH_Y
        reach = np.where(above, self.corner(side, (2.6, 3.4)), self.corner(side, (2.6, 1.9)))
        corner = self.vec(reach, x=side * 0.12, y=0.12, z=-0.03)
        cheek = self.vec(self.bump((side * 3.4, -3.7), (2.5, 2.0)), x=side * 0.01, y=0.05, z=0.025)
        under_eye = self.vec(self.bump((side * 3.2, -1.1), (1.9, 1.0)), y=0.015, z=0.005)
        return self.finish(corner + cheek + under_eye)

    def mouth_frown(self, side: float) -> np.ndarray:
        return self.finish(self.vec(self.corner(side, (2.0, 1.9)), x=side * 0.01, y=-0.08, z=-0.01))

    def mouth_dimple(self, side: float) -> np.ndarray:
        return self.finish(self.vec(self.corner(side, (1.7, 1.5)), x=side * 0.04, y=0.005, z=-0.045))

    def mouth_stretch(self, side: float) -> np.ndarray:
        corner = self.vec(self.corner(side, (2.3, 2.2)), x=side * 0.08, y=-0.03, z=-0.02)
        lower = self.bump((side * 0.5 * self.lips.half_width, MOUTH_Y - 0.6), (self.lips.half_width, 1.3))
        return self.finish(corner + self.vec(lower * self.lip_side(-1.0) * self.lip_taper(), y=-0.02))

    def mouth_roll_lower(self) -> np.ndarray:
        lip = self.bump((0.0, MOUTH_Y - 0.4), (1.15 * self.lips.half_width, 1.2)) * self.lip_side(-1.0)
        return self.finish(self.vec(lip * self.lip_taper(), y=0.04, z=-0.06))

    def mouth_roll_upper(self) -> np.ndarray:
        lip = self.bump((0.0, MOUTH_Y + 0.4), (1.15 * self.lips.half_width, 1.1)) * self.lip_side(1.0)
        return self.finish(self.vec(lip * self.lip_taper(), y=-0.03, z=-0.05))

    def mouth_shrug_lower(self) -> np.ndarray:
        chin = self.bump((0.0, MOUTH_Y - 1.3), (1.5 * self.lips.half_width, 2.4)) * self.lip_side(-1.0)
        return self.finish(self.vec(chin * self.lip_taper(), y=0.05, z=0.015))

    def mouth_shrug_upper(self) -> np.ndarray:
        lip = self.bump((0.0, MOUTH_Y + 0.6), (1.3 * self.lips.half_width, 1.5)) * self.lip_side(1.0)
        return self.finish(self.vec(lip * self.lip_taper(), y=0.035, z=0.01))

    def mouth_press(self, side: float) -> np.ndarray:
        half = self.bump((side * 0.55 * self.lips.half_width, MOUTH_Y), (0.9 * self.lips.half_width, 1.4))
        borders = half * _ramp(np.abs(self.p[:, 1] - MOUTH_Y), 0.0, 0.7)
        pressed = self.vec(borders * self.lip_side(1.0), y=-0.03) + self.vec(borders * self.lip_side(-1.0), y=0.03)
        return self.finish(pressed)

    def mouth_lower_down(self, side: float) -> np.ndarray:
        lip = self.bump((side * 0.45 * self.lips.half_width, MOUTH_Y - 0.6), (self.lips.half_width, 1.9))
        return self.finish(self.vec(lip * self.lip_side(-1.0) * self.lip_taper(), y=-0.12, z=0.01))

    def mouth_upper_up(self, side: float) -> np.ndarray:
        lip = self.bump((side * 0.45 * self.lips.half_width, MOUTH_Y + 0.7), (self.lips.half_width, 2.0))
        return self.finish(self.vec(lip * self.lip_side(1.0) * self.lip_taper(), y=0.1, z=0.01))

    # -- brows, cheeks, nose, tongue --------------------------------------------------------

    def brow_down(self, side: float) -> np.ndarray:
        brow = self.bump((side * 2.5, 2.1), (3.6, 1.8))
        inner = 0.7 + 0.3 * _ramp(np.abs(self.p[:, 0]), 5.0, 1.5)  # the inner end pulls down and in most
        return self.finish(self.vec(brow * inner, x=-side * 0.045, y=-0.095, z=0.01))

    def brow_inner_up(self) -> np.ndarray:
        both = self.bump((1.8, 2.3), (2.7, 2.5)) + self.bump((-1.8, 2.3), (2.7, 2.5))
        return self.finish(self.vec(np.minimum(both, 1.0), y=0.12))

    def brow_outer_up(self, side: float) -> np.ndarray:
        return self.finish(self.vec(self.bump((side * 5.3, 2.0), (2.9, 2.3)), x=side * 0.01, y=0.1))

    def cheek_puff(self) -> np.ndarray:
        cheeks = self.bump((3.3, -5.5), (2.4, 2.4)) + self.bump((-3.3, -5.5), (2.4, 2.4))
        normals = vertex_normals(self.p, self.head.faces).astype(np.float64)
        lips = self.bump((0.0, MOUTH_Y), (1.1 * self.lips.half_width, 1.2))
        return self.finish(0.08 * self.eye_scale * cheeks[:, None] * normals + self.vec(lips, z=0.02))

    def cheek_squint(self, side: float) -> np.ndarray:
        cheek = self.vec(self.bump((side * 3.7, -2.3), (2.4, 1.6)), y=0.05, z=0.015)
        lid = self.vec(self.bump((side * 3.0, -0.8), (1.9, 1.0)), y=0.02)
        return self.finish(cheek + lid)

    def nose_sneer(self, side: float) -> np.ndarray:
        wing = self.vec(self.bump((side * 1.1, -3.8), (1.3, 1.3)), x=side * 0.005, y=0.06)
        lip = self.vec(self.bump((side * 1.3, -4.7), (1.4, 1.2)), y=0.03)
        bridge = self.vec(self.bump((side * 0.8, -1.0), (1.0, 1.3)), y=0.02)
        brow = self.vec(self.bump((side * 1.6, 2.0), (1.5, 1.2)), y=-0.025)
        return self.finish(wing + lip + bridge + brow)

    def tongue_out(self) -> np.ndarray:
        """The tongue's front slides out over the lower lip, which it pushes down a little."""
        lip = self.bump((0.0, MOUTH_Y - 0.5), (self.lips.half_width, 1.6)) * self.lip_side(-1.0) * self.lip_taper()
        out = self.finish(self.vec(lip, y=-0.05, z=0.03))
        tongue = self.head.kind == TONGUE
        y, z = self.p[tongue, 1], self.p[tongue, 2]
        reach = _ramp(z, z.min() + 0.3 * (z.max() - z.min()), z.max())
        # The front rises over the lower teeth and flattens as it slides out.
        out[tongue, 1] = reach * (1.25 - 0.25 * (y - y.mean()))
        out[tongue, 2] = reach * 2.7
        return out


# ----------------------------------------------------------------------------- landmarks


def _on_chain(faces: np.ndarray, allowed: np.ndarray, ids: np.ndarray, spacing: np.ndarray, count: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """`count` landmarks evenly spaced by arc length along a chain of mesh vertices.

    Args:
        faces: F x 3.
        allowed: F bool, the faces a landmark may sit on.
        ids: P vertex ids along the chain; the first and last landmark sit on its ends.
        spacing: P x 3 positions that define the arc length.
        count: number of landmarks.

    Returns:
        face index (count) and barycentric coordinates (count x 3).
    """
    segment, t = _arc_points(spacing, count)
    face_idx = np.zeros(count, np.int64)
    bary = np.zeros((count, 3))
    for k, (s, tk) in enumerate(zip(segment, t, strict=True)):
        a, b = ids[s], ids[s + 1]
        face = int(np.flatnonzero(allowed & (faces == a).any(1) & (faces == b).any(1))[0])
        face_idx[k] = face
        bary[k] = np.where(faces[face] == a, 1.0 - tk, 0.0) + np.where(faces[face] == b, tk, 0.0)
    return face_idx, bary


def _cast_mesh(points: np.ndarray, faces: np.ndarray, allowed: np.ndarray, origins: np.ndarray, dirs: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """The first allowed triangle each ray (K) hits (Moller-Trumbore): face index K, bary K x 3."""
    candidates = np.flatnonzero(allowed)
    tri = points[faces[candidates]]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    face_idx = np.zeros(len(origins), np.int64)
    bary = np.zeros((len(origins), 3))
    for k, (origin, d) in enumerate(zip(origins, dirs, strict=True)):
        pvec = np.cross(d, e2)
        det = np.sum(e1 * pvec, axis=1)
        safe = np.where(np.abs(det) < 1e-12, 1e-12, det)
        tvec = origin - tri[:, 0]
        u = np.sum(tvec * pvec, axis=1) / safe
        qvec = np.cross(tvec, e1)
        v = (qvec @ d) / safe
        dist = np.sum(e2 * qvec, axis=1) / safe
        hit = np.flatnonzero((np.abs(det) > 1e-12) & (u >= 0) & (v >= 0) & (u + v <= 1) & (dist > 0))
        if hit.size == 0:
            raise RuntimeError(f"built-in head: landmark ray {k} from {origin} misses the mesh")
        best = hit[np.argmin(dist[hit])]
        face_idx[k] = candidates[best]
        bary[k] = (1.0 - u[best] - v[best], u[best], v[best])
    return face_idx, bary


def _cast_front(head: _Head, allowed: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks where lines of sight along -z through (x, y) cm (K x 2) meet the allowed faces."""
    origins = np.column_stack([xy, np.full(len(xy), 30.0)])
    return _cast_mesh(head.neutral, head.faces, allowed, origins, np.tile([0.0, 0.0, -1.0], (len(xy), 1)))


def _curve(x: np.ndarray, y: np.ndarray, count: int) -> np.ndarray:
    """`count` points (count x 2) evenly spaced by arc length along the 2D curve (x, y)."""
    polyline = np.column_stack([x, y, np.zeros_like(x)])
    segment, t = _arc_points(polyline, count)
    return (polyline[segment] * (1.0 - t)[:, None] + polyline[segment + 1] * t[:, None])[:, :2]


def _embedding(head: _Head) -> LandmarkEmbedding:
    """MediaPipe FaceMesh landmarks on the head, covering every index in `topology`."""
    skin, faces = head.skin, head.faces
    on_skin = (head.kind[faces] == SKIN).all(1)
    side = head.mouth_side[faces]
    upper_lip, lower_lip = on_skin & (side >= 0).all(1), on_skin & (side <= 0).all(1)
    placed: dict[int, tuple[int, np.ndarray]] = {}

    def put(indices, face_idx, bary) -> None:
        for index, face, b in zip(indices, face_idx, bary, strict=True):
            placed[int(index)] = (int(face), np.asarray(b, dtype=np.float64))

    # Lid edges: spaced along the shut slit, so each upper/lower pair meets when it shuts.
    for eye, (upper, lower) in enumerate(((topology.LEFT_EYE_UPPER, topology.LEFT_EYE_LOWER),
                                          (topology.RIGHT_EYE_UPPER, topology.RIGHT_EYE_LOWER))):
        for contour, lower_edge in ((upper, False), (lower, True)):
            ids = skin.slit(skin.eye_row, skin.eye_cols[eye], lower_edge)
            put(contour, *_on_chain(faces, on_skin, ids, head.closed[ids], len(contour)))
    # Inner lips: on the edges that part, subject's right corner to left corner.
    for contour, lower_edge, allowed in ((topology.LIPS_INNER_UPPER, False, upper_lip),
                                         (topology.LIPS_INNER_LOWER, True, lower_lip)):
        ids = skin.slit(skin.mouth_row, skin.mouth_cols, lower_edge)
        put(contour, *_on_chain(faces, allowed, ids, head.neutral[ids], len(contour)))
    # Outer lips: along the red's border through the outer corners, just inside the red.
    lips = _lips(skin, head.neutral)
    x = np.linspace(-lips.half_width - 0.12, lips.half_width + 0.12, 201)
    for contour, height, allowed, sign in ((topology.LIPS_OUTER_UPPER, lips.upper_height, upper_lip, 1.0),
                                           (topology.LIPS_OUTER_LOWER, lips.lower_height, lower_lip, -1.0)):
        xy = _curve(x, MOUTH_Y + sign * (height(x) + 0.02), len(contour))
        put(contour[1:-1], *_cast_front(head, allowed, xy[1:-1]))
        put(contour[::len(contour) - 1], *_cast_front(head, on_skin, xy[::len(contour) - 1]))
    # Brows, outer end to inner end, just inside the coloured band.
    brow_x = np.linspace(_BROW_X[0] - 0.15, _BROW_X[-1] + 0.1, 100)
    for sign, (upper, lower) in ((1.0, (topology.LEFT_BROW_UPPER, topology.LEFT_BROW_LOWER)),
                                 (-1.0, (topology.RIGHT_BROW_UPPER, topology.RIGHT_BROW_LOWER))):
        for contour, heights, inset in ((upper, _BROW_UPPER, -0.08), (lower, _BROW_LOWER, 0.08)):
            edge = _curve(sign * brow_x, _brow_edge(brow_x, heights) + inset, len(contour))
            put(contour, *_cast_front(head, on_skin, edge))
    # Irises: the pupil centre and the iris rim at +x, +y, -x, -y, on the eyeballs.
    for contour, ids in ((topology.LEFT_IRIS, head.irises[0]), (topology.RIGHT_IRIS, head.irises[1])):
        for index, vertex in zip(contour, ids, strict=True):
            face = int(np.flatnonzero((faces == vertex).any(1))[0])
            put([index], [face], [(faces[face] == vertex).astype(np.float64)])
    # Nose: down the midline from the nasion to the tip, then under the tip to the lip.
    column = skin.ids[: skin.mouth_row, int(np.argmin(np.abs(skin.lon))), 0]
    profile = head.neutral[column]
    nasion = int(np.argmin(np.where((profile[:, 1] > -0.5) & (profile[:, 1] < 2.5), profile[:, 2], np.inf)))
    tip = int(np.argmax(profile[:, 2]))
    subnasale = tip + int(np.argmin(np.where(profile[tip:, 1] > MOUTH_Y + 0.8, profile[tip:, 2], np.inf)))
    put(topology.NOSE_BRIDGE, *_on_chain(faces, on_skin, column[nasion:tip + 1], profile[nasion:tip + 1], 7))
    face_idx, bary = _on_chain(faces, on_skin, column[tip:subnasale + 1], profile[tip:subnasale + 1], 4)
    put(topology.NOSE_BOTTOM[::-1], face_idx[1:], bary[1:])  # 19, 94, 2 going back from the tip
    put(topology.NOSE_WINGS, *_cast_front(head, on_skin, np.array([[-1.52, -3.95], [1.52, -3.95]])))
    # Face oval: rays from inside the head through a design oval, clockwise in the image from
    # the top of the forehead (so towards the subject's left, +x, first).
    gamma = np.radians(90.0 - 360.0 * np.arange(len(topology.FACE_OVAL)) / len(topology.FACE_OVAL))
    centre = np.array([0.0, -2.0, -6.5])
    target = np.column_stack([7.0 * np.cos(gamma), centre[1] + np.where(np.sin(gamma) > 0, 8.0, 9.2) * np.sin(gamma),
                              centre[2] + 1.0 + 6.8 * np.abs(np.sin(gamma)) ** 0.7])
    dirs = (target - centre) / np.linalg.norm(target - centre, axis=1, keepdims=True)
    put(topology.FACE_OVAL, *_cast_mesh(head.neutral, faces, on_skin, np.tile(centre, (len(dirs), 1)), dirs))

    indices = np.array(sorted(placed), dtype=np.int64)
    return LandmarkEmbedding(
        landmark_indices=indices,
        face_idx=np.array([placed[i][0] for i in indices], dtype=np.int64),
        bary=np.array([placed[i][1] for i in indices], dtype=np.float32),
    )


# ----------------------------------------------------------------------------- the rig


def _skin_weights(head: _Head) -> np.ndarray:
    """N x 5 (JOINT_NAMES order).

    The head and face follow `neck` (the head's own joint, as in FLAME, so that turning the
    neck carries the eyes and the jaw, its children, along with the face), the lower neck
    blends to `global`, the jaw region to `jaw`, and the eyeballs are wholly on their eye joints.
    """
    weights = np.zeros((len(head.neutral), len(JOINT_NAMES)))
    low_neck = _ramp(-head.neutral[:, 1], 10.5, 14.5) * (head.kind == SKIN)
    weights[:, _J["global"]] = low_neck
    weights[:, _J["jaw"]] = head.jaw * (1.0 - low_neck)
    weights[:, _J["neck"]] = (1.0 - head.jaw) * (1.0 - low_neck)
    for ids, joint in zip(head.eyeballs, ("left_eye", "right_eye"), strict=True):
        weights[ids] = 0.0
        weights[ids, _J[joint]] = 1.0
    return weights


def _to_rig(points: np.ndarray) -> np.ndarray:
    """Design centimetres (N x 3) to rig units, float32."""
    return ((points - RIG_ORIGIN_CM) * CM_TO_RIG).astype(np.float32)


@functools.lru_cache(maxsize=1)
def build_builtin_head() -> Rig:
    """The built-in head: a stylized, fully rigged default avatar made from numbers alone.

    Deterministic. Built once per process (about half a second) and cached, so the arrays
    are shared: treat them as read-only.

    Returns:
        A `Rig` named "builtin" (about 10k triangles) with the 52 ARKit blendshapes in
        ARKIT_NAMES order, the five FLAME joints (eye joints at the eyeball centres) and a
        MediaPipe landmark embedding covering every index in `avatar_live.tracking.topology`.
    """
    head = _assemble()
    shaper = _Shaper(head)
    joints = np.stack([GLOBAL_JOINT, NECK_JOINT, JAW_JOINT, _eye_frame(1.0).centre, _eye_frame(-1.0).centre])
    return Rig(
        name="builtin",
        vertices=_to_rig(head.neutral),
        faces=head.faces.astype(np.int32),
        materials=head.materials,
        colors=np.clip(head.colors, 0.0, 1.0).astype(np.float32),
        blendshape_names=ARKIT_NAMES,
        blendshapes=(shaper.shapes() * CM_TO_RIG).astype(np.float32),
        joints=_to_rig(joints),
        skin_weights=_skin_weights(head).astype(np.float32),
        embedding=_embedding(head),
        eye_scale=shaper.eye_scale * CM_TO_RIG,
    )

"""Small geometry helpers: smooth ramps and bumps, sampling, ring and fan triangulation, spheres."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from avatar_live.face.rig import axis_angle_to_matrix


def ramp(x: np.ndarray | float, a: float, b: float) -> np.ndarray:
    """Smoothstep from 0 at `a` to 1 at `b` (either order)."""
    t = np.clip((np.asarray(x, dtype=np.float64) - a) / (b - a), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def bump(points: np.ndarray, centre, radii) -> np.ndarray:
    """Smooth compact bump: 1 at `centre`, 0 outside the ellipsoid `radii`; N x 3 -> N."""
    q = np.sum(((points - np.asarray(centre, dtype=np.float64)) / np.asarray(radii, dtype=np.float64)) ** 2, axis=-1)
    return np.clip(1.0 - q, 0.0, 1.0) ** 2


def mirror_x(points: np.ndarray) -> np.ndarray:
    """Points reflected across x = 0 (the subject's left and right swapped)."""
    return points * np.array([-1.0, 1.0, 1.0])


def rotate_about(points: np.ndarray, pivot: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Points (N x 3) turned by `angle` radians about the line through `pivot` along unit `axis`."""
    return (points - pivot) @ axis_angle_to_matrix(axis * angle).T + pivot


def stations(keys: list[float], spacing, fine: int = 2000) -> np.ndarray:
    """Samples from keys[0] to keys[-1] that hit every key and lie about `spacing(x)` apart."""
    out = [np.array([keys[0]], dtype=np.float64)]
    for a, b in pairwise(keys):
        xs = np.linspace(a, b, fine)
        density = 1.0 / spacing(xs)
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.abs(np.diff(xs)))])
        count = max(1, round(cum[-1]))
        out.append(np.interp(np.linspace(0.0, cum[-1], count + 1)[1:], cum, xs))
    return np.concatenate(out)


def arc_points(polyline: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
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


def ring_faces(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """Triangles joining two closed rings of vertex ids of equal length."""
    nxt_inner, nxt_outer = np.roll(inner, -1), np.roll(outer, -1)
    return np.concatenate([np.stack([inner, outer, nxt_outer], 1), np.stack([inner, nxt_outer, nxt_inner], 1)])


def fan_faces(ring: np.ndarray, apex: int, apex_first: bool) -> np.ndarray:
    """Triangles closing a ring at an apex, wound like `ring_faces` (apex before or after the ring)."""
    nxt = np.roll(ring, -1)
    apexes = np.full(len(ring), apex)
    return np.stack([apexes, ring, nxt] if apex_first else [ring, apexes, nxt], 1)


def orient(points: np.ndarray, faces: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Consistently wound faces, flipped if their normals disagree on (area-weighted) average
    with `towards` (3, or F x 3 per face)."""
    tri = points[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return faces[:, ::-1].copy() if np.sum(normal * towards) < 0.0 else faces


def uv_sphere(polar: np.ndarray, segments: int) -> tuple[np.ndarray, np.ndarray]:
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
    faces = np.concatenate([fan_faces(ids[0], 0, apex_first=True)]
                           + [ring_faces(ids[k], ids[k + 1]) for k in range(theta.size - 1)]
                           + [fan_faces(ids[-1], len(points) - 1, apex_first=False)])
    return points, orient(points, faces, points[faces].mean(axis=1))

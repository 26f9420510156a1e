"""The implicit head: signed-distance primitives, the head and jaw fields, and ray casting onto them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from avatar_live.face.builtin.design import LID_LENGTH, LID_RADIUS, NECK_BOTTOM_Y
from avatar_live.face.builtin.eyes import eye_frame


def sd_ellipsoid(p: np.ndarray, centre, radii) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipsoid (exact on its surface)."""
    qx, qy, qz = ((p[..., k] - centre[k]) / radii[k] for k in range(3))
    k0 = np.sqrt(qx * qx + qy * qy + qz * qz)
    k1 = np.sqrt((qx / radii[0]) ** 2 + (qy / radii[1]) ** 2 + (qz / radii[2]) ** 2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def sd_round_cone(p: np.ndarray, a, b, ra: float, rb: float) -> np.ndarray:
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


def smooth_union(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Union of two distance fields with a fillet of size k (polynomial smooth minimum)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1.0 - h) + a * h - k * h * (1.0 - h)


def head_field(p: np.ndarray) -> np.ndarray:
    """Distance-like field of the bare head, negative inside; ... x 3 cm -> ...."""
    pm = p.copy()
    pm[..., 0] = np.abs(pm[..., 0])  # one primitive models each left/right pair
    d = sd_ellipsoid(p, (0.0, 2.2, -8.0), (7.6, 9.0, 9.5))  # cranium
    d = smooth_union(d, sd_ellipsoid(p, (0.0, -3.2, -4.0), (6.9, 5.0, 5.0)), 1.8)  # midface
    d = smooth_union(d, sd_ellipsoid(pm, (4.5, -1.6, -2.0), (2.2, 1.4, 2.1)), 1.8)  # cheekbones
    d = smooth_union(d, sd_ellipsoid(pm, (3.4, -4.4, -2.1), (2.3, 2.1, 2.0)), 2.0)  # cheeks
    d = smooth_union(d, sd_ellipsoid(p, (0.0, -7.1, -4.3), (6.1, 4.5, 5.0)), 2.0)  # mandible
    d = smooth_union(d, sd_ellipsoid(p, (0.0, -10.0, -0.8), (2.8, 1.8, 1.45)), 2.0)  # chin, one soft round
    d = smooth_union(d, sd_ellipsoid(p, (0.0, -5.8, -2.4), (2.8, 2.6, 3.8)), 1.2)  # muzzle
    d = smooth_union(d, sd_ellipsoid(p, (0.0, 1.9, -1.6), (5.6, 1.4, 2.7)), 1.2)  # brow ridge
    orbit = sd_ellipsoid(pm, (3.1, 0.15, -0.6), (1.9, 1.25, 1.4))
    d = -smooth_union(-d, orbit, 1.0)  # eye sockets carved out ...
    lid = eye_frame(1.0).to_local(pm)  # ... and the lid surfaces laid in them
    d = smooth_union(d, sd_ellipsoid(lid, (0.0, 0.0, 0.0), (LID_LENGTH, LID_RADIUS, LID_RADIUS)), 0.9)
    d = smooth_union(d, sd_round_cone(p, (0.0, 0.6, 0.7), (0.0, -3.1, 2.3), 0.62, 0.72), 0.8)  # bridge
    d = smooth_union(d, sd_ellipsoid(p, (0.0, -3.45, 2.2), (0.82, 0.78, 0.85)), 0.6)  # nose tip
    d = smooth_union(d, sd_ellipsoid(pm, (1.02, -3.95, 1.3), (0.62, 0.55, 0.7)), 0.5)  # nose wings
    d = smooth_union(d, sd_ellipsoid(p, (0.0, -5.62, 0.6), (2.4, 0.78, 1.1)), 0.45)  # upper lip
    d = smooth_union(d, sd_ellipsoid(p, (0.0, -6.72, 0.42), (2.15, 0.78, 1.05)), 0.45)  # lower lip
    # A short neck: it ends inside the top (see `body`), which carries the shoulders. The ears
    # are separate parts (see `parts.ear_part`): the skin grid is too coarse there to shape them.
    d = smooth_union(d, sd_round_cone(p, (0.0, -7.0, -8.3), (0.0, NECK_BOTTOM_Y - 4.0, -8.3), 5.7, 6.0), 2.5)
    return d


def jaw_volume(p: np.ndarray) -> np.ndarray:
    """Distance-like field of the region the lower jaw carries (mandible and chin)."""
    return smooth_union(sd_ellipsoid(p, (0.0, -7.3, -3.6), (5.9, 4.4, 5.9)),
                        sd_ellipsoid(p, (0.0, -9.6, -0.4), (2.6, 2.0, 1.9)), 1.0)


def cast_rays(origins: np.ndarray, dirs: np.ndarray, t_min: float = 2.5, t_max: float = 14.0,
              field: Callable[[np.ndarray], np.ndarray] = head_field) -> np.ndarray:
    """Where rays from inside a field's volume (the head by default) first leave it; N x 3 each -> N x 3.

    Marches in 5 mm steps (every part of the volume is thicker than that along the rays),
    then bisects the step where the field turns positive.
    """
    ts = np.arange(t_min, t_max, 0.5)
    inside = field(origins[:, None, :] + ts[None, :, None] * dirs[:, None, :]) < 0.0
    first_out = np.argmax(~inside, axis=1)
    lo = ts[np.maximum(first_out - 1, 0)]
    hi = ts[first_out]
    for _ in range(14):
        mid = 0.5 * (lo + hi)
        out = field(origins + mid[:, None] * dirs) >= 0.0
        hi = np.where(out, mid, hi)
        lo = np.where(out, lo, mid)
    return origins + (0.5 * (lo + hi))[:, None] * dirs


def ray_directions(lon: np.ndarray, elev: np.ndarray) -> np.ndarray:
    """Unit vectors for longitudes (0 = +z, positive towards +x) and elevations, radians."""
    return np.stack([np.cos(elev) * np.sin(lon), np.sin(elev) * np.ones_like(lon), np.cos(elev) * np.cos(lon)], -1)

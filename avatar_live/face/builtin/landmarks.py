"""The MediaPipe FaceMesh landmark embedding on the built-in head."""

from __future__ import annotations

import numpy as np

from avatar_live.face.builtin.assembly import Head
from avatar_live.face.builtin.design import MOUTH_Y, SKIN
from avatar_live.face.builtin.geometry import arc_points
from avatar_live.face.builtin.paint import (
    BROW_LOWER,
    BROW_UPPER,
    BROW_X,
    brow_edge,
    lips_outline,
)
from avatar_live.face.rig import LandmarkEmbedding
from avatar_live.tracking import topology


def on_chain(faces: np.ndarray, allowed: np.ndarray, ids: np.ndarray, spacing: np.ndarray, count: int
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
    segment, t = arc_points(spacing, count)
    face_idx = np.zeros(count, np.int64)
    bary = np.zeros((count, 3))
    for k, (s, tk) in enumerate(zip(segment, t, strict=True)):
        a, b = ids[s], ids[s + 1]
        face = int(np.flatnonzero(allowed & (faces == a).any(1) & (faces == b).any(1))[0])
        face_idx[k] = face
        bary[k] = np.where(faces[face] == a, 1.0 - tk, 0.0) + np.where(faces[face] == b, tk, 0.0)
    return face_idx, bary


def cast_mesh(points: np.ndarray, faces: np.ndarray, allowed: np.ndarray, origins: np.ndarray, dirs: np.ndarray
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


def cast_front(head: Head, allowed: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks where lines of sight along -z through (x, y) cm (K x 2) meet the allowed faces."""
    origins = np.column_stack([xy, np.full(len(xy), 30.0)])
    return cast_mesh(head.neutral, head.faces, allowed, origins, np.tile([0.0, 0.0, -1.0], (len(xy), 1)))


def curve_points(x: np.ndarray, y: np.ndarray, count: int) -> np.ndarray:
    """`count` points (count x 2) evenly spaced by arc length along the 2D curve (x, y)."""
    polyline = np.column_stack([x, y, np.zeros_like(x)])
    segment, t = arc_points(polyline, count)
    return (polyline[segment] * (1.0 - t)[:, None] + polyline[segment + 1] * t[:, None])[:, :2]


def landmark_embedding(head: Head) -> LandmarkEmbedding:
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
            put(contour, *on_chain(faces, on_skin, ids, head.closed[ids], len(contour)))
    # Inner lips: on the edges that part, subject's right corner to left corner.
    for contour, lower_edge, allowed in ((topology.LIPS_INNER_UPPER, False, upper_lip),
                                         (topology.LIPS_INNER_LOWER, True, lower_lip)):
        ids = skin.slit(skin.mouth_row, skin.mouth_cols, lower_edge)
        put(contour, *on_chain(faces, allowed, ids, head.neutral[ids], len(contour)))
    # Outer lips: along the red's border through the outer corners, just inside the red.
    lips = lips_outline(skin, head.neutral)
    x = np.linspace(-lips.half_width - 0.12, lips.half_width + 0.12, 201)
    for contour, height, allowed, sign in ((topology.LIPS_OUTER_UPPER, lips.upper_height, upper_lip, 1.0),
                                           (topology.LIPS_OUTER_LOWER, lips.lower_height, lower_lip, -1.0)):
        xy = curve_points(x, MOUTH_Y + sign * (height(x) + 0.02), len(contour))
        put(contour[1:-1], *cast_front(head, allowed, xy[1:-1]))
        put(contour[::len(contour) - 1], *cast_front(head, on_skin, xy[::len(contour) - 1]))
    # Brows, outer end to inner end, just inside the coloured band.
    brow_x = np.linspace(BROW_X[0] - 0.15, BROW_X[-1] + 0.1, 100)
    for sign, (upper, lower) in ((1.0, (topology.LEFT_BROW_UPPER, topology.LEFT_BROW_LOWER)),
                                 (-1.0, (topology.RIGHT_BROW_UPPER, topology.RIGHT_BROW_LOWER))):
        for contour, heights, inset in ((upper, BROW_UPPER, -0.08), (lower, BROW_LOWER, 0.08)):
            edge = curve_points(sign * brow_x, brow_edge(brow_x, heights) + inset, len(contour))
            put(contour, *cast_front(head, on_skin, edge))
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
    put(topology.NOSE_BRIDGE, *on_chain(faces, on_skin, column[nasion:tip + 1], profile[nasion:tip + 1], 7))
    face_idx, bary = on_chain(faces, on_skin, column[tip:subnasale + 1], profile[tip:subnasale + 1], 4)
    put(topology.NOSE_BOTTOM[::-1], face_idx[1:], bary[1:])  # 19, 94, 2 going back from the tip
    put(topology.NOSE_WINGS, *cast_front(head, on_skin, np.array([[-1.52, -3.95], [1.52, -3.95]])))
    # Face oval: rays from inside the head through a design oval, clockwise in the image from
    # the top of the forehead (so towards the subject's left, +x, first).
    gamma = np.radians(90.0 - 360.0 * np.arange(len(topology.FACE_OVAL)) / len(topology.FACE_OVAL))
    centre = np.array([0.0, -2.0, -6.5])
    target = np.column_stack([7.0 * np.cos(gamma), centre[1] + np.where(np.sin(gamma) > 0, 8.0, 9.2) * np.sin(gamma),
                              centre[2] + 1.0 + 6.8 * np.abs(np.sin(gamma)) ** 0.7])
    dirs = (target - centre) / np.linalg.norm(target - centre, axis=1, keepdims=True)
    put(topology.FACE_OVAL, *cast_mesh(head.neutral, faces, on_skin, np.tile(centre, (len(dirs), 1)), dirs))

    indices = np.array(sorted(placed), dtype=np.int64)
    return LandmarkEmbedding(
        landmark_indices=indices,
        face_idx=np.array([placed[i][0] for i in indices], dtype=np.int64),
        bary=np.array([placed[i][1] for i in indices], dtype=np.float32),
    )

"""The skin: a latitude/longitude grid of rays cast onto the implicit head, with eye and mouth slits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_live.face.builtin.design import (
    AXIS_Z,
    CAP_Y,
    EYE_INNER_LON,
    EYE_OUTER_LON,
    EYE_SLIT_Y,
    JAW_Y,
    MOUTH_CORNER_LON,
    MOUTH_Y,
    NECK_BOTTOM_Y,
)
from avatar_live.face.builtin.eyes import Lids, shut_eye
from avatar_live.face.builtin.geometry import fan_faces, ramp, stations
from avatar_live.face.builtin.sdf import cast_rays, ray_directions


def grid_rays() -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
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
        return 2.7 + 3.6 * ramp(lon, 45.0, 75.0) + 15.0 * ramp(lon, 75.0, 140.0)

    half = stations([0.0, EYE_INNER_LON, MOUTH_CORNER_LON, EYE_OUTER_LON, 180.0], column_spacing)
    lon = np.radians(np.concatenate([-half[-2:0:-1], half]))

    def row_spacing(y: np.ndarray) -> np.ndarray:
        # Finest across the lids, which fold the most; the brows and lips need a little less.
        eyes = ramp(y, -1.9, -1.1) * (1.0 - ramp(y, 1.2, 1.9))
        brows = ramp(y, 1.2, 1.9) * (1.0 - ramp(y, 3.2, 3.9))
        mouth = 1.0 - ramp(np.abs(y - MOUTH_Y), 1.4, 2.3)
        nose = 1.0 - ramp(np.abs(y + 3.6), 0.8, 1.6)
        return 0.75 - np.maximum.reduce([0.53 * eyes, 0.45 * brows, 0.49 * mouth, 0.35 * nose])

    levels = stations([CAP_Y, EYE_SLIT_Y, MOUTH_Y, JAW_Y], row_spacing)
    cap = np.radians([80.0, 62.0, 45.0, 30.0, 17.0, 7.0])  # coarse: the hair covers it
    sweep = np.linspace(0.0, 1.0, 8)[1:]
    neck = np.linspace(-17.0, NECK_BOTTOM_Y, 3)  # coarse: a plain cylinder whose lower end is inside the top
    # (origin height, elevation) for the front and the back of the head, blended by longitude.
    front_y = np.concatenate([np.full(cap.size, CAP_Y), levels, JAW_Y - 2.4 * ramp(sweep, 0.55, 1.0), neck])
    front_el = np.concatenate([cap, np.zeros(levels.size), -np.radians(50.0) * np.minimum(sweep / 0.55, 1.0) ** 1.15,
                               np.zeros(neck.size)])
    back_y = np.concatenate([np.full(cap.size, CAP_Y), levels, JAW_Y - 5.9 * sweep, neck])
    back_el = np.concatenate([cap, np.zeros(levels.size + sweep.size + neck.size)])
    front = 1.0 - ramp(np.degrees(np.abs(lon)), 55.0, 115.0)
    origin_y = back_y[:, None] + (front_y - back_y)[:, None] * front[None, :]
    elev = back_el[:, None] + (front_el - back_el)[:, None] * front[None, :]
    origins = np.stack([np.zeros_like(origin_y), origin_y, np.full_like(origin_y, AXIS_Z)], axis=-1)
    eye_row = cap.size + int(np.argmin(np.abs(levels - EYE_SLIT_Y)))
    mouth_row = cap.size + int(np.argmin(np.abs(levels - MOUTH_Y)))
    return origins, ray_directions(lon[None, :], elev), lon, eye_row, mouth_row


@dataclass(frozen=True)
class Skin:
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
    lids: tuple[Lids, Lids]

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


def slit_columns(lon: np.ndarray, lo_deg: float, hi_deg: float) -> np.ndarray:
    """Ids of the columns whose longitude lies in [lo_deg, hi_deg], corners included."""
    lon_deg = np.degrees(lon)
    return np.flatnonzero((lon_deg >= lo_deg - 1e-6) & (lon_deg <= hi_deg + 1e-6))


def build_skin() -> Skin:
    """Cast the grid, cut the slits (duplicated vertices) and lay both eyes shut on their lids."""
    origins, dirs, lon, eye_row, mouth_row = grid_rays()
    n_rows, n_cols = origins.shape[:2]
    n_grid = n_rows * n_cols
    base = cast_rays(origins.reshape(-1, 3), dirs.reshape(-1, 3))
    mouth_cols = slit_columns(lon, -MOUTH_CORNER_LON, MOUTH_CORNER_LON)
    left_cols = slit_columns(lon, EYE_INNER_LON, EYE_OUTER_LON)[::-1]
    right_cols = slit_columns(lon, -EYE_OUTER_LON, -EYE_INNER_LON)

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
        points, eye_lids = shut_eye(points, row, col, dup, eye_row, cols, side)
        lids.append(eye_lids)
    faces = grid_faces(ids, len(points) - 2, len(points) - 1)
    return Skin(points, faces, row, col, dup, ids, lon, eye_row, mouth_row, mouth_cols,
                (left_cols, right_cols), tuple(lids))


def grid_faces(ids: np.ndarray, top_id: int, bottom_id: int) -> np.ndarray:
    """Triangles of the grid (counter-clockwise from outside), crown fan and neck cap."""
    n_cols = ids.shape[1]
    nxt = (np.arange(n_cols) + 1) % n_cols
    upper, lower = ids[..., 0], ids[..., 1]
    a, b = lower[:-1, :], lower[:-1, nxt]  # top-left, top-right of each quad (lower copies on a slit)
    c, d = upper[1:, nxt], upper[1:, :]  # bottom-right, bottom-left
    # Every quad is split the same way: a mirrored pattern would give the midline vertices
    # a different fan of triangles, and their area-weighted normals would show a seam.
    quads = np.concatenate([np.stack([a, d, c], -1).reshape(-1, 3), np.stack([a, c, b], -1).reshape(-1, 3)])
    crown = fan_faces(upper[0], top_id, apex_first=True)
    cap = fan_faces(lower[-1], bottom_id, apex_first=False)
    return np.concatenate([quads, crown, cap]).astype(np.int64)

"""Drawing the demo face: the photo warped by weighted expression fields and a head motion.

A frame sums the weighted fields (`demo_fields`) on a coarse grid of nodes and inverts the
forward warp there by Newton's method (each output pixel needs the photo point it
shows). The face is warped as two layers that differ only where skin parts or overlaps:
the upper layer holds the lids and everything above the mouth's tear line, the lower
layer the eyes under the lids and the dropping jaw. A smooth head roll, translation and
scale are composed in, the node maps upsampled, and the photo resampled with
`cv2.remap`: once for the frame, and once more around the eyes and mouth while the
layers differ. The gap the jaw tears open is painted as a dark mouth interior.

What keeps a frame cheap (a few milliseconds at 640 x 480): the nodes are 1/96 of the
frame height apart, and Newton's method runs only on the nodes whose photo point an
expression can move; everywhere else a node shows the photo under the head transform
alone.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from avatar_live.capture.demo_fields import (
    EXPRESSIONS,
    Face,
    layer_fields,
    parting,
    smoothstep,
)
from avatar_live.tracking import topology as topo

NODE_ROWS = 96
"""Nodes per frame height. The fields and the inverse warp are smooth within each layer,
so nodes 5 px apart at 480 px show the face as 4 px apart do (mean difference 0.1 grey
level) with two thirds of the nodes. 6 or 8 px apart, closed lids come out soft enough
that FaceMesh and the learned read-out take blinks and winks for half-closed eyes."""

_NEWTON_STEPS = 3
"""Steps after the first guess: all but the torn mouth (which has no solution) is within
0.2 px by then, as after 8."""

SUPPORT_EPS = 0.01
"""Pixels at weight 1: where no channel moves the face more than this, Newton's method is
skipped and the photo shown as the head transform alone places it."""

# RGB inside the open mouth: dark under the upper teeth, the tongue lighter towards the lower lip.
MOUTH_SHADOW = np.array([28.0, 10.0, 12.0], np.float32)
MOUTH_TONGUE = np.array([110.0, 42.0, 46.0], np.float32)

_JAW = EXPRESSIONS.index("jawOpen")

Box = np.ndarray
"""(x0, y0, x1, y1) in neutral-face pixels."""


def _bounds(points: np.ndarray, inside: np.ndarray) -> Box | None:
    """The box around the points where `inside` holds, or None where it holds nowhere."""
    if not inside.any():
        return None
    return np.concatenate([points[inside].min(0), points[inside].max(0)])


class FaceWarp:
    """Draws frames of one neutral face (see the module docstring).

    Args:
        face: the neutral face in output-frame pixels.
        canvas: the photo placed so that the neutral face lies at `face`'s pixels plus
            `margin` on each side, (W + 2 margin) x (H + 2 margin) x 3 RGB uint8.
        margin: pixels of photo beyond each edge of the frame, for the head's motion.
        size: (W, H) of the frames.
    """

    def __init__(self, face: Face, canvas: np.ndarray, margin: int, size: tuple[int, int]) -> None:
        width, height = size
        self.size = size
        self._canvas = canvas
        self._margin = margin

        # A coarse grid of nodes with one node beyond each edge (see `_upsample`).
        self._step = max(2, round(height / NODE_ROWS))
        rows, cols = math.ceil(height / self._step) + 2, math.ceil(width / self._step) + 2
        self._origin = -0.5 * self._step - 0.5
        nodes = np.stack(np.meshgrid(self._origin + self._step * np.arange(cols),
                                     self._origin + self._step * np.arange(rows)), axis=-1)
        self._nodes = nodes.astype(np.float32)  # rows x cols x 2
        flat = nodes.reshape(-1, 2)
        upper, lower = layer_fields(face, flat)
        self._bases_upper = self._with_derivatives(upper, rows, cols)
        self._bases_lower = self._with_derivatives(lower, rows, cols)
        self._parting = parting(face, flat).reshape(rows, cols).astype(np.float32)
        # Per channel: the box outside which it moves nothing (None: nowhere), the box
        # outside which both layers agree (None: everywhere), and how far it moves
        # anything at weight 1.
        self._supports = [_bounds(flat, np.maximum(np.abs(u).max(1), np.abs(v).max(1)) > SUPPORT_EPS)
                          for u, v in zip(upper, lower)]
        self._layer_boxes = [_bounds(flat, np.abs(u - v).max(1) > 0.05) for u, v in zip(upper, lower)]
        self._reach = np.maximum(np.abs(upper).max(axis=(1, 2)), np.abs(lower).max(axis=(1, 2)))

        # The mouth's tear line, densified, and each channel's motion of its two sides.
        tear = face.landmarks[list(topo.LIPS_INNER_LOWER), :2]
        along = np.linspace(0.0, len(tear) - 1, 4 * len(tear))
        self._tear = np.stack([np.interp(along, np.arange(len(tear)), tear[:, k]) for k in range(2)], axis=1)
        self._tear_upper, self._tear_lower = layer_fields(face, self._tear)

    def _with_derivatives(self, fields: np.ndarray, rows: int, cols: int) -> np.ndarray:
        """C x (rows cols) x 2 node displacements -> C x (rows cols 6) float32 with, per
        node, dx, dy, d(dx)/dx, d(dx)/dy, d(dy)/dx, d(dy)/dy (Newton's method needs them)."""
        grids = fields.reshape(len(fields), rows, cols, 2)
        d_dy, d_dx = np.gradient(grids, self._step, axis=(1, 2))
        stacked = np.concatenate([grids, d_dx[..., :1], d_dy[..., :1], d_dx[..., 1:], d_dy[..., 1:]], axis=-1)
        return stacked.reshape(len(fields), -1).astype(np.float32)

    def draw(self, weights: np.ndarray, linear: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """One frame.

        Args:
            weights: per channel of `layer_fields` (EXPRESSIONS, then yaw and pitch in
                radians), float32.
            linear, offset: the head's similarity transform, output = linear @ neutral + offset.

        Returns:
            H x W x 3 RGB uint8, (W, H) = `size`.
        """
        # Output node -> neutral face pixel: undo the head's similarity transform.
        (a, b), (c, d) = linear
        inverse = np.array([[d, -b], [-c, a]], np.float32) / np.float32(a * d - b * c)
        rel = self._nodes - offset.astype(np.float32)
        x = inverse[0, 0] * rel[..., 0] + inverse[0, 1] * rel[..., 1]
        y = inverse[1, 0] * rel[..., 0] + inverse[1, 1] * rel[..., 1]

        upper_x, upper_y = x.copy(), y.copy()
        moved = self._block(self._supports, weights, linear, offset)
        if moved is not None:
            upper_x[moved], upper_y[moved] = self._invert(weights @ self._bases_upper, x[moved], y[moved])
        upper_map, _ = self._upsample(np.stack([upper_x, upper_y], -1) + self._margin, 0, 0)
        image = cv2.remap(self._canvas, upper_map, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        block = self._block(self._layer_boxes, weights, linear, offset)
        if block is not None:
            self._composite_lower(image, weights, block, x, y, upper_x, upper_y)
        if weights[_JAW] > 0.0:
            self._paint_mouth(image, weights, linear, offset)
        return image

    def _sample(self, grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear node values (rows x cols x K) at neutral pixels x, y (any 2D shape)."""
        return cv2.remap(grid, (x - self._origin) / self._step, (y - self._origin) / self._step,
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def _invert(self, flat_grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Solves p + D(p) = q for p by Newton's method.

        Args:
            flat_grid: (rows cols 6) forward displacement and its derivatives on the nodes.
            x, y: float32 target points q, any 2D shape.

        Returns:
            (x, y) of p, float32, the shape of x.
        """
        grid = flat_grid.reshape(self._nodes.shape[0], self._nodes.shape[1], 6)
        max_step = 0.1 * self.size[1]
        start = self._sample(grid, x, y)
        px, py = x - start[..., 0], y - start[..., 1]
        for _ in range(_NEWTON_STEPS):
            g = self._sample(grid, px, py)
            rx, ry = px + g[..., 0] - x, py + g[..., 1] - y
            a, b, c, d = 1.0 + g[..., 2], g[..., 3], g[..., 4], 1.0 + g[..., 5]
            det = np.maximum(a * d - b * c, 0.05)
            sx, sy = (d * rx - b * ry) / det, (a * ry - c * rx) / det
            # Inside the torn mouth the lower layer has no solution: keep steps bounded.
            shrink = np.minimum(1.0, max_step / np.maximum(np.hypot(sx, sy), 1e-6))
            px -= sx * shrink
            py -= sy * shrink
        return px, py

    def _block(self, boxes: list[Box | None], weights: np.ndarray, linear: np.ndarray, offset: np.ndarray
               ) -> tuple[slice, slice] | None:
        """The nodes (row slice, col slice) whose photo point may lie in one of the boxes of
        the channels at work (weight not 0) once the warp has moved it, or None when there
        are none.

        Args:
            boxes: per channel, a box in neutral pixels, or None.
            weights: channel weights.
            linear, offset: the head transform.
        """
        active = [box for box, w in zip(boxes, weights) if w != 0.0 and box is not None]
        if not active:
            return None
        reach = float(np.abs(weights) @ self._reach)  # how far the warp may carry the box
        x0, y0 = np.min([box[:2] for box in active], axis=0) - reach
        x1, y1 = np.max([box[2:] for box in active], axis=0) + reach
        corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]) @ linear.T + offset
        first = np.floor((corners.min(0) - self._origin) / self._step).astype(int) - 1
        last = np.ceil((corners.max(0) - self._origin) / self._step).astype(int) + 2
        rows, cols = self._nodes.shape[:2]
        row0, row1 = max(first[1], 0), min(last[1], rows)
        col0, col1 = max(first[0], 0), min(last[0], cols)
        if row1 <= row0 or col1 <= col0:
            return None
        return slice(row0, row1), slice(col0, col1)

    def _composite_lower(self, image: np.ndarray, weights: np.ndarray, block: tuple[slice, slice],
                         x: np.ndarray, y: np.ndarray, upper_x: np.ndarray, upper_y: np.ndarray) -> None:
        """Warps the lower layer over a block of nodes and shows it where it is not covered.

        A pixel shows the lower layer where the upper layer's solution lies below the
        parting line (the upper layer has nothing there) and the lower layer's lies below
        it too, or, where neither lies on its own side (the torn mouth), in the half of
        the gap nearer the lower side. The choice is made per pixel from a score
        upsampled from the nodes, with a one-pixel soft edge.

        Args:
            image: H x W x 3 upper-layer image, changed in place.
            weights: channel weights.
            block: (row slice, col slice) of nodes where the layers may differ.
            x, y: rows x cols neutral pixels each output node shows before expressions.
            upper_x, upper_y: rows x cols upper-layer solutions.
        """
        lower_x, lower_y = self._invert(weights @ self._bases_lower, x[block], y[block])
        parting_grid = self._parting[..., None]
        upper_side = self._sample(parting_grid, upper_x[block], upper_y[block])
        lower_side = self._sample(parting_grid, lower_x, lower_y)
        score = upper_side + np.minimum(lower_side, 0.0)
        if score.max() <= -1.0:
            return
        row0, col0 = block[0].start, block[1].start
        lower_map, window = self._upsample(np.stack([lower_x, lower_y], -1) + self._margin, row0, col0)
        alpha, _ = self._upsample(np.clip(score + 0.5, 0.0, 1.0), row0, col0)
        lower = cv2.remap(self._canvas, lower_map, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        image[window] = cv2.blendLinear(lower, image[window], alpha, 1.0 - alpha)

    def _upsample(self, block: np.ndarray, row0: int, col0: int) -> tuple[np.ndarray, tuple[slice, slice]]:
        """Bilinear upsampling of node values to the frame pixels between the block's nodes.

        Node (r, c) sits at pixel ((c - 0.5) step - 0.5, (r - 0.5) step - 0.5); resizing a
        block of nodes by `step` with cv2.resize puts pixel u of the result at frame pixel
        (col0 - 1) step + u, exactly interpolated between the node centres. The half node
        at the block's rim, which cv2.resize clamps, is left out.

        Args:
            block: R x C (x K) node values, float32.
            row0, col0: the block's first node.

        Returns:
            (the values, (row slice, col slice) of the frame pixels they are for).
        """
        rows, cols = block.shape[:2]
        full = cv2.resize(block, (cols * self._step, rows * self._step), interpolation=cv2.INTER_LINEAR)
        rim = self._step // 2
        y0, x0 = (row0 - 1) * self._step, (col0 - 1) * self._step
        width, height = self.size
        top, left = max(rim, -y0), max(rim, -x0)
        bottom = min(full.shape[0] - rim, height - y0)
        right = min(full.shape[1] - rim, width - x0)
        return full[top:bottom, left:right], (slice(y0 + top, y0 + bottom), slice(x0 + left, x0 + right))

    def _paint_mouth(self, image: np.ndarray, weights: np.ndarray, linear: np.ndarray,
                     offset: np.ndarray) -> None:
        """Paints the inside of the mouth where the jaw has torn the lips apart.

        Args:
            image: H x W x 3 output, painted in place.
            weights: channel weights.
            linear, offset: the head transform.
        """
        upper = (self._tear + np.tensordot(weights, self._tear_upper, axes=1)) @ linear.T + offset
        lower = (self._tear + np.tensordot(weights, self._tear_lower, axes=1)) @ linear.T + offset
        if np.abs(lower - upper).max() < 0.5:
            return
        outline = np.concatenate([upper, lower[::-1]])
        height, width = image.shape[:2]
        x0, y0 = np.maximum(np.floor(outline.min(0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(outline.max(0)).astype(int) + 2, (width, height))
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((outline - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        # Shade by the height within the opening: shadow under the teeth, tongue below.
        xs = np.arange(x0, x1)
        top = np.interp(xs, upper[:, 0], upper[:, 1])
        gap = np.maximum(np.interp(xs, lower[:, 0], lower[:, 1]) - top, 1.0)
        depth = smoothstep((np.arange(y0, y1)[:, None] - top - 0.4 * gap) / (0.6 * gap))[..., None]
        colour = MOUTH_SHADOW + (MOUTH_TONGUE - MOUTH_SHADOW) * depth
        alpha = (mask.astype(np.float32) / 255.0)[..., None]
        region = image[y0:y1, x0:x1]
        region[:] = (region * (1.0 - alpha) + colour * alpha + 0.5).astype(np.uint8)

"""Expression: ARKit blendshape weights from the landmark residual, region by region.

A rig's blendshapes are linear and its landmark embedding is barycentric, so the landmark
motion of shape s is exactly D[s] = embed(blendshape s) and the landmarks of weights w are
embed(neutral) + sum_s w[s] D[s]. Given a residual r (observed landmarks in the rig's
frame minus a neutral), each region solves

    min_w  sum_k,axis  c[axis] (sum_s w[s] D[s, k, axis] - r[k, axis])^2
           + prior * e * |w|^2 + antagonist co-activation penalties,
    0 <= w <= 1,

on its own landmarks and shapes, so a misfit in one region (a hand over the mouth) cannot
pull shapes of another; c down-weights depth, which MediaPipe estimates poorly, and e is
the median over the region's shapes of their weighted landmark motion energy, so `prior`
means the same for every region and every rig. Lengths are measured in eye widths
(`Rig.eye_scale`).

Shapes: K covered landmarks, S shapes in a region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_live.face.rig import Rig, embed_landmarks
from avatar_live.solver.box_qp import solve_box_qp
from avatar_live.tracking import topology as t
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES


@dataclass(frozen=True)
class Region:
    """Shapes solved together, and the landmarks that show them.

    Attributes:
        shapes: ARKit names.
        landmarks: MediaPipe indices.
    """

    shapes: tuple[str, ...]
    landmarks: tuple[int, ...]


def _eye_region(side: str, upper: tuple[int, ...], lower: tuple[int, ...]) -> Region:
    # cheekSquint lives here because the raised lower lid is the only place landmarks show it.
    shapes = tuple(f"{name}{side}" for name in ("eyeBlink", "eyeSquint", "eyeWide", "cheekSquint"))
    return Region(shapes=shapes, landmarks=upper + lower)


# The lower half of the face oval, cheek to cheek under the chin: moved by the jaw.
_JAW_LINE = t.FACE_OVAL[t.FACE_OVAL.index(323):t.FACE_OVAL.index(93) + 1]

REGIONS: tuple[Region, ...] = (
    Region(
        shapes=("browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
        landmarks=t.LEFT_BROW_UPPER + t.LEFT_BROW_LOWER + t.RIGHT_BROW_UPPER + t.RIGHT_BROW_LOWER,
    ),
    Region(
        shapes=tuple(
            name for name in ARKIT_NAMES
            if name.startswith(("jaw", "mouth", "noseSneer")) or name == "cheekPuff"
        ),
        landmarks=(
            t.LIPS_OUTER_UPPER + t.LIPS_OUTER_LOWER + t.LIPS_INNER_UPPER + t.LIPS_INNER_LOWER
            + t.NOSE_BOTTOM + t.NOSE_WINGS + _JAW_LINE
        ),
    ),
    _eye_region("Left", t.LEFT_EYE_UPPER, t.LEFT_EYE_LOWER),
    _eye_region("Right", t.RIGHT_EYE_UPPER, t.RIGHT_EYE_LOWER),
)
"""How ARKit shapes are grouped, in solve order. eyeLook* come from the irises (see
`gaze`), and tongueOut shows on no landmark, so neither is solved here. Each region's
residual first loses the motion that earlier regions' shapes cause on its landmarks (raised
brows drag the upper lids), which is why the eyes come last."""


ANTAGONISTS: tuple[tuple[str, str], ...] = tuple(
    (f"{a}{side}", f"{b}{side}")
    for side in ("Left", "Right")
    for a, b in (
        ("eyeSquint", "eyeWide"), ("eyeBlink", "eyeWide"), ("mouthSmile", "mouthFrown"), ("browDown", "browOuterUp"),
    )
) + (
    ("jawLeft", "jawRight"), ("mouthLeft", "mouthRight"),
    ("browDownLeft", "browInnerUp"), ("browDownRight", "browInnerUp"),
)
"""Shape pairs that move the same landmarks in opposite ways. Both at once would cancel
into a motion neither means (mouthLeft + mouthRight = lips pushed back), which the least
squares readily use to soak up a proportion the rig lacks; their co-activation is penalised."""

ANTAGONISM = 0.5
"""Co-activation penalty of an antagonist pair, relative to the pair's own curvature."""


def _region_hessian(basis: np.ndarray, names: list[str], prior: float) -> np.ndarray:
    """One region's S x S quadratic: the Gram matrix of its S x M basis, the prior, and the
    antagonist penalty."""
    gram = basis @ basis.T
    # The prior is relative to the region's typical (median) shape: eyelids move far less
    # than the jaw, and one absolute weight would silence blinks or let mouth noise
    # through; within a region, barely visible shapes (whose weight any noise would set)
    # are still held down. The median ignores the few shapes that move a whole jaw line.
    hessian = gram + prior * np.median(np.diag(gram)) * np.eye(len(gram))
    where = {name: i for i, name in enumerate(names)}
    coupling = np.zeros_like(hessian)
    for a, b in ANTAGONISTS:
        if a in where and b in where:
            i, j = where[a], where[b]
            coupling[i, j] = coupling[j, i] = ANTAGONISM * np.sqrt(hessian[i, i] * hessian[j, j])
    # The penalty is not convex by itself; for an unusual rig, weaken it until the whole is.
    while np.linalg.eigvalsh(hessian + coupling)[0] <= 1e-9 * np.trace(hessian):
        coupling /= 2.0
    return hessian + coupling


@dataclass(frozen=True)
class _RegionSolve:
    """One region's precomputed problem (M = 3 K weighted landmark coordinates).

    Attributes:
        shapes: slice of this region's shapes in the model's shape order.
        basis: S x M motions of its shapes on its own landmarks (zero elsewhere).
        hessian: S x S quadratic (see `_region_hessian`).
        earlier: S x E, the basis times the motions of the E shapes of the regions solved
            before, so their effect on this region's landmarks comes off its right side.
    """

    shapes: slice
    basis: np.ndarray
    hessian: np.ndarray
    earlier: np.ndarray


class ExpressionModel:
    """A rig's linear landmark model and its per-region solves."""

    def __init__(self, rig: Rig, prior: float, depth_weight: float) -> None:
        """Precompute everything that depends only on the rig.

        Args:
            rig: the avatar; its ARKit-named blendshapes are solved, others ignored.
            prior: L2 weight relative to each region's median shape energy (see
                `_region_hessian`).
            depth_weight: weight of depth (z) residuals relative to x and y.
        """
        embedding = rig.embedding
        row_of = {int(index): row for row, index in enumerate(embedding.landmark_indices)}
        self.neutral = embed_landmarks(rig.vertices, rig.faces, embedding).astype(np.float64)
        self._unit = 1.0 / rig.eye_scale
        self._axis_roots = np.sqrt([1.0, 1.0, depth_weight])
        # Embedding is linear, so embedding the offsets gives the landmark motions exactly;
        # the axis weights' square roots are folded in, so inner products are weighted.
        weighting = self._unit * self._axis_roots
        motions = {
            name: (embed_landmarks(rig.blendshapes[s], rig.faces, embedding) * weighting).reshape(-1)
            for s, name in enumerate(rig.blendshape_names)
            if name in ARKIT_INDEX
        }
        names: list[str] = []
        self._regions: list[_RegionSolve] = []
        for region in REGIONS:
            rows = [row_of[i] for i in dict.fromkeys(region.landmarks) if i in row_of]
            mask = np.zeros((len(self.neutral), 3), dtype=bool)
            mask[rows] = True
            mask = mask.reshape(-1)
            seen = [n for n in region.shapes if n in motions and np.abs(motions[n][mask]).max(initial=0.0) > 1e-6]
            if not seen:
                continue
            basis = np.stack([motions[n] * mask for n in seen])
            earlier = np.stack([motions[n] for n in names], axis=1) if names else np.zeros((basis.shape[1], 0))
            self._regions.append(
                _RegionSolve(
                    shapes=slice(len(names), len(names) + len(seen)),
                    basis=basis,
                    hessian=_region_hessian(basis, seen, prior),
                    earlier=basis @ earlier,
                )
            )
            names += seen
        self._outputs = np.array([ARKIT_INDEX[n] for n in names], dtype=np.int64)
        # S x K x 3 landmark motions of the solved shapes, in rig units (no axis weights).
        self._motions = np.array(
            [embed_landmarks(rig.blendshapes[rig.blendshape_names.index(n)], rig.faces, embedding) for n in names],
            dtype=np.float64,
        ).reshape(len(names), *self.neutral.shape)

    @property
    def solved_shapes(self) -> tuple[str, ...]:
        """ARKit names this rig's landmarks can show, in solve order."""
        return tuple(ARKIT_NAMES[i] for i in self._outputs)

    def motion(self, weights: np.ndarray) -> np.ndarray:
        """The landmark motion of a set of weights (the rig's linear landmark model).

        Args:
            weights: 52 ARKit weights (ARKIT_NAMES order); shapes not solved are ignored.

        Returns:
            K x 3 landmark offsets from the neutral, in the rig's frame and units.
        """
        if weights.shape != (len(ARKIT_NAMES),):
            raise ValueError(f"weights must be {len(ARKIT_NAMES)}, got {weights.shape}")
        return np.tensordot(weights[self._outputs], self._motions, axes=1)

    def solve(self, residual: np.ndarray) -> np.ndarray:
        """ARKit weights explaining a landmark residual.

        Args:
            residual: K x 3 observed minus neutral landmarks in the rig's frame and units,
                rows in the rig's `embedding.landmark_indices` order.

        Returns:
            52 float64 weights in [0, 1] (ARKIT_NAMES order); shapes not solved are 0.
        """
        if residual.shape != self.neutral.shape:
            raise ValueError(f"residual must be {self.neutral.shape}, got {residual.shape}")
        target = (residual * (self._unit * self._axis_roots)).reshape(-1)
        solved = np.zeros(len(self._outputs))
        for region in self._regions:
            rhs = region.basis @ target - region.earlier @ solved[: region.shapes.start]
            solved[region.shapes] = solve_box_qp(region.hessian, rhs)
        weights = np.zeros(len(ARKIT_NAMES))
        weights[self._outputs] = solved
        return weights

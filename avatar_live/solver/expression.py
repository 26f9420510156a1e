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

Against the rig's neutral rather than the user's own (stills; video with calibration
off; telling a held expression from the user's proportions when calibrating), the
residual also holds how the user's features sit in their face differently from the
rig's: eyes higher or closer together, a smaller eye, a narrower mouth or a longer upper
lip. Read as expression, these become a squint or a funnel on every face. So there each
feature's placement (`Placement`: an in-plane shift, scaling and tilt of its landmarks)
is measured on its anchors and taken out of the residual, and out of the shapes'
motions alike, before the solve. Each eye is aligned by its corners, which its shapes
barely move; the lips by all their points, which fits the placement jointly with the
shapes (a projection). What a shape does beyond moving its feature as a whole (a lid
closing onto the other, the mouth's corners rising against its middle) still reads; a
shape that is mostly a placement (`PLACEMENT_LIMIT`) is not solved there.

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
class Placement:
    """A facial feature whose place in the face differs from person to person.

    Attributes:
        landmarks: MediaPipe indices of the feature.
        anchors: the landmarks its placement is measured on, among `landmarks`: points the
            region's shapes barely move, or all of them, which fits the placement jointly
            with the shapes.
        moves: which in-plane changes of the whole feature are identity, any of "x", "y"
            (shifts), "scale" (about the anchors' centre) and "roll" (in-plane tilt).
    """

    landmarks: tuple[int, ...]
    anchors: tuple[int, ...]
    moves: tuple[str, ...]


@dataclass(frozen=True)
class Region:
    """Shapes solved together, and the landmarks that show them.

    Attributes:
        shapes: ARKit names.
        landmarks: MediaPipe indices.
        placements: features of this region whose placement is not read as expression
            against the rig's neutral (see the module docstring).
    """

    shapes: tuple[str, ...]
    landmarks: tuple[int, ...]
    placements: tuple[Placement, ...] = ()


EYELID_SHAPES = ("eyeBlink", "eyeSquint", "eyeWide", "cheekSquint")
"""The eye regions' shapes, without their side (Left, Right). cheekSquint is among them
because the raised lower lid is the only place landmarks show it."""


def _eye_region(side: str, upper: tuple[int, ...], lower: tuple[int, ...]) -> Region:
    shapes = tuple(f"{name}{side}" for name in EYELID_SHAPES)
    # Where the eye sits, how large and how tilted it is are all identity, measured on its
    # corners, which the lids' shapes barely move; its opening is what they change.
    eye = Placement(
        landmarks=upper + lower[1:-1], anchors=(upper[0], upper[-1]), moves=("x", "y", "scale", "roll")
    )
    return Region(shapes=shapes, landmarks=upper + lower, placements=(eye,))


_LIPS = t.LIPS_OUTER_UPPER + t.LIPS_OUTER_LOWER + t.LIPS_INNER_UPPER + t.LIPS_INNER_LOWER
_UNIQUE_LIPS = tuple(dict.fromkeys(_LIPS))


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
        landmarks=_UNIQUE_LIPS + t.NOSE_BOTTOM + t.NOSE_WINGS + _JAW_LINE,
        # The mouth's height under the nose and its size are identity. Its sideways place
        # and tilt are not: faces are near symmetric, so those are mouthLeft/Right and a
        # one-sided smile or frown. Every mouth shape moves the corners or the middle of
        # the lips, so no lip point is an anchor by itself: all are, jointly.
        placements=(Placement(landmarks=_UNIQUE_LIPS, anchors=_UNIQUE_LIPS, moves=("y", "scale")),),
    ),
    _eye_region("Left", t.LEFT_EYE_UPPER, t.LEFT_EYE_LOWER),
    _eye_region("Right", t.RIGHT_EYE_UPPER, t.RIGHT_EYE_LOWER),
)
"""How ARKit shapes are grouped, in solve order. eyeLook* come from the irises (see
`gaze`), and tongueOut shows on no landmark, so neither is solved here. Each region's
residual first loses the motion that earlier regions' shapes cause on its landmarks (raised
brows drag the upper lids), which is why the eyes come last."""


AVERAGE_EYE_OPENING = 0.28
"""An open, relaxed eye's lid gap over its width, as FaceMesh sees it (upper to lower lid
margin at the middle, 159-145, over corner to corner, 33-133). Open-eye aspect ratios in
the blink-detection literature lie around 0.25-0.30; the built-in head's is 0.37, wider
than most people's, which against its neutral reads an ordinary open eye as half a blink."""


def with_eye_opening(neutral: np.ndarray, landmark_indices: np.ndarray, opening: float) -> np.ndarray:
    """A neutral face whose upper lids are lowered (or raised) to an eye opening.

    Args:
        neutral: K x 3 neutral landmarks, rows in `landmark_indices` order.
        landmark_indices: K MediaPipe indices.
        opening: the lid gap over the eye's width to give both eyes (see `AVERAGE_EYE_OPENING`).

    Returns:
        K x 3 landmarks; unchanged where an eye's lids are not all covered.
    """
    row_of = {int(index): row for row, index in enumerate(landmark_indices)}
    out = np.array(neutral, dtype=np.float64, copy=True)
    for upper, lower in ((t.LEFT_EYE_UPPER, t.LEFT_EYE_LOWER), (t.RIGHT_EYE_UPPER, t.RIGHT_EYE_LOWER)):
        if not all(i in row_of for i in upper + lower):
            continue
        u, lo = [row_of[i] for i in upper], [row_of[i] for i in lower]
        width = np.linalg.norm(out[u[0]] - out[u[-1]])
        middle = len(upper) // 2  # the lid margins' middle, 159/145 and 386/374
        gap = np.linalg.norm(out[u[middle]] - out[lo[middle]])
        if gap <= 0 or width <= 0:
            continue
        # The lower lid barely differs between people; the upper lid's height does.
        factor = opening * width / gap
        out[u[1:-1]] = out[lo[1:-1]] + (out[u[1:-1]] - out[lo[1:-1]]) * factor
    return out


ANTAGONISTS: tuple[tuple[str, str], ...] = tuple(
    (f"{a}{side}", f"{b}{side}")
    for side in ("Left", "Right")
    for a, b in (
        ("eyeSquint", "eyeWide"), ("eyeBlink", "eyeWide"), ("mouthSmile", "mouthFrown"), ("browDown", "browOuterUp"),
    )
) + (
    ("jawLeft", "jawRight"), ("mouthLeft", "mouthRight"),
    ("browDownLeft", "browInnerUp"), ("browDownRight", "browInnerUp"),
    ("mouthSmileLeft", "mouthRollLower"), ("mouthSmileRight", "mouthRollLower"),
)
"""Shape pairs whose co-activation is penalised. Mostly pairs that move the same landmarks
in opposite ways: both at once would cancel into a motion neither means (mouthLeft +
mouthRight = lips pushed back), which the least squares readily use to soak up a
proportion the rig lacks. A smile and a lower lip rolled in are not opposites, but a real
smile stretches the lower lip thinner than the rig's smile does, and without the penalty
that thinning read as mouthRollLower, about 0.06 (up to 0.12) on every smile
(single_face.mp4), where the learned reference reads the lip rolling out (0.15 -> 0.01)."""

PLACEMENT_LIMIT = 0.5
"""Against the rig's neutral, a shape is not solved when its features' placement changes
explain this fraction of its landmark motion energy or more: most of what it does is what
a face with its features placed differently looks like."""

ANTAGONISM = 0.5
"""Co-activation penalty of an antagonist pair, relative to the pair's own curvature."""


def _prior(basis: np.ndarray, prior: float) -> np.ndarray:
    """The S ridge weights of a region's S x M basis (against the user's own neutral)."""
    # The prior is relative to the region's typical (median) shape: eyelids move far less
    # than the jaw, and one absolute weight would silence blinks or let mouth noise
    # through; within a region, barely visible shapes (whose weight any noise would set)
    # are still held down. The median ignores the few shapes that move a whole jaw line.
    energy = np.einsum("sm,sm->s", basis, basis)
    return np.full(len(basis), prior * np.median(energy))


def _region_hessian(basis: np.ndarray, names: list[str], ridge: np.ndarray) -> np.ndarray:
    """One region's S x S quadratic: the Gram matrix of its S x M basis, the S ridge
    weights, and the antagonist penalty."""
    gram = basis @ basis.T
    hessian = gram + np.diag(ridge)
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


def _placement_fit(
    neutral: np.ndarray, rows: list[int], anchors: list[int], moves: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """One feature's placement changes, and their least-squares fit from its anchors.

    Args:
        neutral: K x 3 weighted neutral landmarks (M = 3 K coordinates).
        rows: the feature's rows in `neutral`.
        anchors: the rows its placement is measured on.
        moves: see `Placement.moves`.

    Returns:
        (motions, fit): M x P landmark motions of the P placement changes, and the P x M
        map from a weighted residual to the placement that best explains it on the anchors.
    """
    centre = neutral[anchors].mean(axis=0)
    centred = neutral - centre
    fields = {
        "x": np.broadcast_to([1.0, 0.0, 0.0], centred.shape),
        "y": np.broadcast_to([0.0, 1.0, 0.0], centred.shape),
        "scale": centred * [1.0, 1.0, 0.0],
        "roll": np.stack([-centred[:, 1], centred[:, 0], np.zeros(len(centred))], axis=1),
    }
    motions = np.zeros((len(moves), *neutral.shape))
    on_anchors = np.zeros_like(motions)
    for m, move in enumerate(moves):
        motions[m, rows] = fields[move][rows]
        on_anchors[m, anchors] = fields[move][anchors]
    return motions.reshape(len(moves), -1).T, np.linalg.pinv(on_anchors.reshape(len(moves), -1).T)


@dataclass(frozen=True)
class _RegionSolve:
    """One region's precomputed problem (M = 3 K weighted landmark coordinates).

    Attributes:
        shapes: slice of this region's shapes in the model's shape order.
        basis: S x M motions of its shapes on its own landmarks (zero elsewhere), after
            the features' placements are taken out.
        hessian: S x S quadratic (see `_region_hessian`).
        earlier: S x E, the basis times the motions of the E shapes of the regions solved
            before, so their effect on this region's landmarks comes off its right side.
        placement: S x P, the basis times the motions of the P placement changes taken
            out of the residual (P = 0 against the user's own neutral).
        fit: P x M, the residual's placement (see `_placement_fit`).
    """

    shapes: slice
    basis: np.ndarray
    hessian: np.ndarray
    earlier: np.ndarray
    placement: np.ndarray
    fit: np.ndarray


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
        weighted_neutral = self.neutral * weighting
        names: list[str] = []
        # Region solves against the user's own neutral, and against the rig's.
        self._own: list[_RegionSolve] = []
        self._placed: list[_RegionSolve] = []
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
            shapes = slice(len(names), len(names) + len(seen))
            ridge = _prior(basis, prior)
            own = _RegionSolve(
                shapes=shapes,
                basis=basis,
                hessian=_region_hessian(basis, seen, ridge),
                earlier=basis @ earlier,
                placement=np.zeros((len(seen), 0)),
                fit=np.zeros((0, basis.shape[1])),
            )
            self._own.append(own)
            self._placed.append(self._placed_solve(own, region, row_of, weighted_neutral, earlier, seen, ridge))
            names += seen
        self._outputs = np.array([ARKIT_INDEX[n] for n in names], dtype=np.int64)
        # S x K x 3 landmark motions of the solved shapes, in rig units (no axis weights).
        self._motions = np.array(
            [embed_landmarks(rig.blendshapes[rig.blendshape_names.index(n)], rig.faces, embedding) for n in names],
            dtype=np.float64,
        ).reshape(len(names), *self.neutral.shape)

    @staticmethod
    def _placed_solve(
        own: _RegionSolve,
        region: Region,
        row_of: dict[int, int],
        neutral: np.ndarray,
        earlier: np.ndarray,
        names: list[str],
        ridge: np.ndarray,
    ) -> _RegionSolve:
        """A region's solve against the rig's neutral: with a feature's placement, as
        measured on its anchors, taken out of the residual and of the shapes' motions
        alike (r -> r - N F r, for placement motions N and their fit F)."""
        features = [
            _placement_fit(
                neutral,
                rows=[row_of[i] for i in placement.landmarks],
                anchors=[row_of[i] for i in placement.anchors],
                moves=placement.moves,
            )
            for placement in region.placements
            if all(i in row_of for i in placement.landmarks)
        ]
        if not features:
            return own
        moves = np.concatenate([motion for motion, _ in features], axis=1)
        fit = np.concatenate([fit for _, fit in features], axis=0)
        taken = (own.basis @ fit.T) @ moves.T
        # A shape that is mostly a placement (a pucker mostly narrows the mouth) cannot be
        # told from a face built that way; it is left out rather than read from the rest.
        energy = np.einsum("sm,sm->s", own.basis, own.basis)
        readable = np.einsum("sm,sm->s", taken, taken) < PLACEMENT_LIMIT * energy
        basis = (own.basis - taken) * readable[:, None]
        placement = basis @ moves
        # A shape's prior shrinks with the part of its motion that is left, so that a full
        # shape, alone, reads about the same against either neutral.
        retained = np.einsum("sm,sm->s", basis, basis) / energy
        return _RegionSolve(
            shapes=own.shapes,
            basis=basis,
            hessian=_region_hessian(basis, names, np.where(readable, ridge * retained, ridge)),
            earlier=basis @ earlier - placement @ (fit @ earlier),
            placement=placement,
            fit=fit,
        )

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

    def solve(self, residual: np.ndarray, rig_neutral: bool = False) -> np.ndarray:
        """ARKit weights explaining a landmark residual.

        Args:
            residual: K x 3 observed minus neutral landmarks in the rig's frame and units,
                rows in the rig's `embedding.landmark_indices` order.
            rig_neutral: the neutral is the rig's, not the user's own: the features'
                placements (`Region.placements`) are then identity, not expression.

        Returns:
            52 float64 weights in [0, 1] (ARKIT_NAMES order); shapes not solved are 0.
        """
        if residual.shape != self.neutral.shape:
            raise ValueError(f"residual must be {self.neutral.shape}, got {residual.shape}")
        target = (residual * (self._unit * self._axis_roots)).reshape(-1)
        solved = np.zeros(len(self._outputs))
        for region in self._placed if rig_neutral else self._own:
            rhs = (
                region.basis @ target
                - region.placement @ (region.fit @ target)
                - region.earlier @ solved[: region.shapes.start]
            )
            solved[region.shapes] = solve_box_qp(region.hessian, rhs)
        weights = np.zeros(len(ARKIT_NAMES))
        weights[self._outputs] = solved
        return weights

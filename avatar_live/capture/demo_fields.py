"""The demo face's expressions as displacement fields of the neutral face (`capture.demo`).

Every expression is a dense field built from the 478 FaceMesh landmarks of the neutral
face (the lip, eye and brow contours of `avatar_live.tracking.topology`), linear in its
weight, in output-frame pixels:

- jawOpen: the lower lip and the chin drop, more where the face lies further in front of
  the jaw hinge. The mouth tears open along the inner lower lip; the upper teeth stay
  with the upper lip.
- mouthSmileLeft / mouthSmileRight: a mouth corner moves out and up, the cheek rises.
- eyeBlinkLeft / eyeBlinkRight: the upper lid margin slides down onto the lower lid; the
  lid skin under the brow stretches over the eye.
- browInnerUp, browOuterUpLeft / browOuterUpRight: the brows move up, stretching the lid
  skin and compressing the forehead.
- head yaw and pitch: a parallax shift in proportion to depth in front of the head's
  centre (the nose moves more than the cheeks, the outline stays).

Skin that parts (the lips) or overlaps (a closing lid over the eye) is no single
invertible warp, so each field comes in two layers that differ only there (`layer_fields`,
`parting`). Left and right are the subject's, as everywhere in avatar-live.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avatar_live.tracking import topology as topo

EXPRESSIONS: tuple[str, ...] = (
    "jawOpen",
    "mouthSmileLeft", "mouthSmileRight",
    "eyeBlinkLeft", "eyeBlinkRight",
    "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
)
"""The expressions (ARKit names) the face can make, in the order of `layer_fields`' channels."""

# Field amplitudes at weight 1, as fractions of the outer eye-corner distance.
JAW_DROP = 0.22
SMILE_OUT, SMILE_UP, CHEEK_UP = 0.07, 0.06, 0.03
BROW_LIFT = 0.08
UNDER_EYE = 0.2  # how far below the lower lid a closing lid's pull fades out


def smoothstep(x: np.ndarray | float) -> np.ndarray:
    """0 below 0, 1 above 1, a cubic with zero slope at both ends in between."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _curve(landmarks: np.ndarray, indices: tuple[int, ...], x: np.ndarray) -> np.ndarray:
    """y of a landmark contour at each x (linear between points, flat beyond its ends).

    Args:
        landmarks: 478 x 3 in pixels.
        indices: a contour that is a function of x (eyelids, brows, lips, lower face oval).
        x: any shape.

    Returns:
        y, the shape of x.
    """
    points = landmarks[list(indices), :2]
    order = np.argsort(points[:, 0])
    return np.interp(x, points[order, 0], points[order, 1])


def _shepard(anchors: np.ndarray, values: np.ndarray, points: np.ndarray, sigma: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-weighted average of values at anchors, and the total weight, at points.

    Args:
        anchors: A x 2.
        values: A.
        points: N x 2.
        sigma: kernel width in the same units.

    Returns:
        (N averages, N weight sums); far from every anchor the average is the nearest
        anchors' value and the weight sum goes to 0.
    """
    averages = np.empty(len(points))
    sums = np.empty(len(points))
    anchors = (anchors / sigma).astype(np.float32)
    half_norms = 0.5 * (anchors**2).sum(1)
    values = values.astype(np.float32)
    for start in range(0, len(points), 4096):  # bounds the N x A distance matrix
        chunk = (points[start:start + 4096] / sigma).astype(np.float32)
        # Minus half the squared distances, as p.a - |a|^2 / 2 - |p|^2 / 2: one matrix
        # product and updates in place, no N x A x 2 differences.
        closeness = chunk @ anchors.T
        closeness -= half_norms
        closeness -= 0.5 * (chunk**2).sum(1)[:, None]
        nearest = closeness.max(axis=1, keepdims=True)
        closeness -= nearest  # relative to the nearest anchor: the kernel is never all zero
        kernel = np.exp(closeness, out=closeness)
        total = kernel.sum(1)
        averages[start:start + 4096] = kernel @ values / total
        sums[start:start + 4096] = total * np.exp(nearest[:, 0])
    return averages, sums


@dataclass(frozen=True)
class Face:
    """The neutral face in output-frame pixels.

    Attributes:
        landmarks: 478 x 3; x, y in pixels, z in pixels of the same scale, smaller is closer.
        iod: distance between the outer eye corners (33, 263) in pixels; fields scale by it.
        hinge_depth: z of the face's sides at the jaw (about where the jaw hinges and the
            head turns): points at this depth do not move when the jaw opens or the head turns.
        parting_y: the height between the eyes and the mouth where the two layers' parting
            line changes from the upper lids to the mouth (`parting`): the blink's lid ends
            above it, the jaw's lower layer below it.
    """

    landmarks: np.ndarray
    iod: float
    hinge_depth: float
    parting_y: float

    @staticmethod
    def from_landmarks(landmarks: np.ndarray) -> "Face":
        """Derives the face's measures.

        Args:
            landmarks: 478 x 3 in output-frame pixels.
        """
        iod = float(np.linalg.norm(landmarks[263, :2] - landmarks[33, :2]))
        lower_lids = landmarks[list(topo.RIGHT_EYE_LOWER + topo.LEFT_EYE_LOWER), 1]
        return Face(
            landmarks=landmarks,
            iod=iod,
            hinge_depth=float(landmarks[list(_FACE_SIDES), 2].mean()),
            parting_y=float(lower_lids.max() + (UNDER_EYE + 0.02) * iod),
        )


# Per side: the outer mouth corner, a point on the cheekbone, and the eye and brow contours.
_SIDES = {
    "Right": {"corner": topo.LIPS_OUTER_UPPER[0], "cheek": 50,
              "eye_upper": topo.RIGHT_EYE_UPPER, "eye_lower": topo.RIGHT_EYE_LOWER,
              "brow_upper": topo.RIGHT_BROW_UPPER, "brow_lower": topo.RIGHT_BROW_LOWER},
    "Left": {"corner": topo.LIPS_OUTER_UPPER[-1], "cheek": 280,
             "eye_upper": topo.LEFT_EYE_UPPER, "eye_lower": topo.LEFT_EYE_LOWER,
             "brow_upper": topo.LEFT_BROW_UPPER, "brow_lower": topo.LEFT_BROW_LOWER},
}
_JAW_SIDES = (132, 361)  # face-oval points at the sides of the jaw, image left then right
_FACE_SIDES = (234, 454) + _JAW_SIDES  # the outline between the ears and the jaw: the hinge depth
# Where the mouth tears open: the inner lower lip, extended to the sides of the jaw.
_TEAR_LINE = topo.LIPS_INNER_LOWER + _JAW_SIDES
_LOWER_OVAL = topo.FACE_OVAL[topo.FACE_OVAL.index(454):topo.FACE_OVAL.index(234) + 1]
_MIDLINE = topo.NOSE_BRIDGE[0]


def _jaw_field(face: Face, points: np.ndarray) -> np.ndarray:
    """Forward displacement of jawOpen at weight 1, lower layer.

    The jaw turns about its hinge, so a point drops in proportion to how far in front of
    the hinge it lies. Along the tear line the drop follows an ellipse across the mouth
    (nothing at the corners); below the corners the skin stretches instead. The drop
    fades out under the chin (the neck stays), beside the face, and above the tear line
    up to the parting height (the lower layer must be smooth there for the inversion).

    Args:
        face: the neutral face.
        points: N x 2 in output pixels.

    Returns:
        N x 2 displacements in pixels.
    """
    lm, iod = face.landmarks, face.iod
    x, y = points[:, 0], points[:, 1]
    tear_y = _curve(lm, _TEAR_LINE, x)
    below_tear = y - tear_y

    left_corner, right_corner = lm[topo.LIPS_INNER_LOWER[0], 0], lm[topo.LIPS_INNER_LOWER[-1], 0]
    across = (x - 0.5 * (left_corner + right_corner)) / (0.5 * abs(right_corner - left_corner))
    opening = np.sqrt(np.clip(1.0 - across**2, 0.0, 1.0))
    reach = 1.0 - (1.0 - opening) * (1.0 - smoothstep(below_tear / (0.3 * iod)))

    depth, _ = _shepard(lm[:, :2], lm[:, 2], points, 0.12 * iod)
    lever = np.clip((face.hinge_depth - depth) / (face.hinge_depth - lm[topo.LIPS_INNER_LOWER[5], 2]), 0.0, None)
    under_chin = 1.0 - smoothstep((y - _curve(lm, _LOWER_OVAL, x)) / (0.6 * iod))
    face_left, face_right = lm[_JAW_SIDES[0], 0], lm[_JAW_SIDES[1], 0]
    beside = smoothstep((x - face_left) / (0.3 * iod) + 1.0) * smoothstep((face_right - x) / (0.3 * iod) + 1.0)
    # Above the tear line only the lower layer has the drop, to the parting height.
    above = 1.0 - smoothstep((tear_y - y) / (tear_y - face.parting_y))
    fade = under_chin * beside * np.where(below_tear >= 0.0, 1.0, above)

    drop = JAW_DROP * iod * lever * reach * fade
    return np.stack([np.zeros_like(drop), drop], axis=1)


def _smile_field(face: Face, points: np.ndarray, side: str) -> np.ndarray:
    """Forward displacement of mouthSmile{side} at weight 1, both layers: the corner out
    and up, the cheek up, each as a Gaussian bump so that the lips bend rather than slide.

    Args:
        face: the neutral face.
        points: N x 2 in output pixels.
        side: "Left" or "Right" (the subject's).

    Returns:
        N x 2 displacements in pixels.
    """
    lm, iod = face.landmarks, face.iod
    corner = lm[_SIDES[side]["corner"], :2]
    cheek = lm[_SIDES[side]["cheek"], :2]
    outward = math.copysign(1.0, corner[0] - lm[topo.LIPS_INNER_UPPER[5], 0])

    def bump(centre: np.ndarray, sigma: float) -> np.ndarray:
        return np.exp(-((points - centre) ** 2).sum(1) / (2 * (sigma * iod) ** 2))

    corner_bump, cheek_bump = bump(corner, 0.2), bump(cheek, 0.22)
    dx = outward * SMILE_OUT * iod * corner_bump
    dy = -(SMILE_UP * corner_bump + CHEEK_UP * cheek_bump) * iod
    return np.stack([dx, dy], axis=1)


def _blink_field(face: Face, points: np.ndarray, side: str) -> np.ndarray:
    """Forward displacement of eyeBlink{side} at weight 1, upper layer (the lid).

    Between the lower edge of the brow and the upper lid margin the skin stretches down
    until the margin lies on the lower lid; below the margin the lid moves down rigidly
    (it covers the eye, which stays in the lower layer) and fades out under the eye.

    Args:
        face: the neutral face.
        points: N x 2 in output pixels.
        side: "Left" or "Right" (the subject's).

    Returns:
        N x 2 displacements in pixels.
    """
    lm, iod = face.landmarks, face.iod
    x, y = points[:, 0], points[:, 1]
    lid = _curve(lm, _SIDES[side]["eye_upper"], x)
    lower = _curve(lm, _SIDES[side]["eye_lower"], x)
    brow = _curve(lm, _SIDES[side]["brow_lower"], x)
    opening = np.clip(lower - lid, 0.0, None)
    stretch = np.clip((y - brow) / (lid - brow), 0.0, 1.0)
    under_eye = 1.0 - smoothstep((y - lower) / (UNDER_EYE * iod))
    drop = opening * np.where(y <= lid, stretch, under_eye)
    return np.stack([np.zeros_like(drop), drop], axis=1)


def _brow_field(face: Face, points: np.ndarray, side: str, part: str) -> np.ndarray:
    """Forward displacement of one brow's inner or outer part at weight 1, both layers.

    The brow band moves up by BROW_LIFT; the lift fades to nothing at the upper lid margin
    (the lid skin stretches) and half an eye distance above the brow (the forehead
    compresses). Along the brow the inner and outer parts cross-fade and sum to one; the
    inner part fades to one half at the face's midline, where the other brow's inner part
    takes over, so both inner parts together lift the space between the brows evenly.

    Args:
        face: the neutral face.
        points: N x 2 in output pixels.
        side: "Left" or "Right" (the subject's).
        part: "inner" or "outer".

    Returns:
        N x 2 displacements in pixels.
    """
    lm, iod = face.landmarks, face.iod
    x, y = points[:, 0], points[:, 1]
    upper_indices = _SIDES[side]["brow_upper"]
    top = _curve(lm, upper_indices, x)
    bottom = _curve(lm, _SIDES[side]["brow_lower"], x)
    lid = _curve(lm, _SIDES[side]["eye_upper"], x)
    forehead = top - 0.45 * iod
    vertical = np.where(
        y < top, smoothstep((y - forehead) / (top - forehead)),
        np.where(y <= bottom, 1.0, smoothstep((lid - y) / (lid - bottom))),
    )

    outer_x, inner_x = lm[upper_indices[0], 0], lm[upper_indices[-1], 0]
    along = (x - inner_x) / (outer_x - inner_x)  # 0 at the inner end, 1 at the outer end
    to_midline = (inner_x - lm[_MIDLINE, 0]) / (outer_x - inner_x)
    beyond_outer = 1.0 - smoothstep((along - 1.0) / 0.4)
    outer = smoothstep((along - 0.2) / 0.6) * beyond_outer
    if part == "outer":
        lateral = outer
    else:
        toward_midline = 0.5 + 0.5 * np.cos(np.pi * np.clip(-along / (2 * to_midline), 0.0, 1.0))
        lateral = np.where(along < 0.0, toward_midline, (1.0 - outer) * beyond_outer)
    lift = -BROW_LIFT * iod * lateral * vertical
    return np.stack([np.zeros_like(lift), lift], axis=1)


def _turn_fields(face: Face, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward displacements of the head-turn illusion per radian of yaw and of pitch, both
    layers.

    A point in front of the head's centre moves sideways (yaw) or up (pitch) in proportion
    to its depth in front of it; the shift fades out beyond the face.

    Args:
        face: the neutral face.
        points: N x 2 in output pixels.

    Returns:
        (yaw, pitch), N x 2 pixels each; positive yaw moves the face towards the subject's
        left (image right), positive pitch moves it up.
    """
    lm = face.landmarks
    depth, density = _shepard(lm[:, :2], lm[:, 2], points, 0.08 * face.iod)
    shift = np.clip(face.hinge_depth - depth, 0.0, None) * smoothstep(density / 0.5)
    zero = np.zeros_like(shift)
    return np.stack([shift, zero], axis=1), np.stack([zero, -shift], axis=1)


def layer_fields(face: Face, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every channel's forward displacement at weight 1, in both layers.

    The face is warped as two layers that agree except where skin parts or overlaps: the
    upper layer holds the upper lid, which covers the eye when it blinks, and everything
    above the mouth's tear line (the upper teeth stay there); the lower layer holds the
    eye under the lid and the jaw, which drops away from the upper teeth.

    Args:
        face: the neutral face.
        points: N x 2 in output pixels.

    Returns:
        (upper, lower), each C x N x 2 pixels, channels C in EXPRESSIONS order then
        "yaw" and "pitch" (radians of head turn).
    """
    zero = np.zeros((len(points), 2))
    upper, lower = [zero], [_jaw_field(face, points)]
    for side in ("Left", "Right"):
        smile = _smile_field(face, points, side)
        upper.append(smile)
        lower.append(smile)
    for side in ("Left", "Right"):
        upper.append(_blink_field(face, points, side))
        lower.append(zero)
    shared = [_brow_field(face, points, "Left", "inner") + _brow_field(face, points, "Right", "inner")]
    shared += [_brow_field(face, points, side, "outer") for side in ("Left", "Right")]
    shared += list(_turn_fields(face, points))
    return np.stack(upper + shared), np.stack(lower + shared)


def parting(face: Face, points: np.ndarray) -> np.ndarray:
    """Signed distance below the line where the layers part: the upper lid margin around
    the eyes, the mouth's tear line below `parting_y`; positive means the lower layer.

    Args:
        face: the neutral face.
        points: N x 2 in output pixels.

    Returns:
        N pixels (vertical distance).
    """
    lm = face.landmarks
    x, y = points[:, 0], points[:, 1]
    right_eye = x < lm[_MIDLINE, 0]  # the subject's right eye is on the image's left
    lid = np.where(right_eye, _curve(lm, topo.RIGHT_EYE_UPPER, x), _curve(lm, topo.LEFT_EYE_UPPER, x))
    return np.where(y < face.parting_y, y - lid, y - _curve(lm, _TEAR_LINE, x))

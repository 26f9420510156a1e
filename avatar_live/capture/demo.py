"""The built-in demo source: the astronaut photo that ships with scikit-image, animated.

`--source demo` shows the whole pipeline without a webcam or a download. At creation,
MediaPipe FaceMesh finds the 478 landmarks of the face in `skimage.data.astronaut()`
(512 x 512 RGB). Every expression is then a dense displacement field built from those
landmarks (the lip, eye and brow contours of `avatar_live.tracking.topology`), linear in
its weight:

- jawOpen: the lower lip and the chin drop, more where the face lies further in front of
  the jaw hinge. The mouth tears open along the inner lower lip; the upper teeth stay
  with the upper lip and the gap is painted as a dark mouth interior.
- mouthSmileLeft / mouthSmileRight: a mouth corner moves out and up, the cheek rises.
- eyeBlinkLeft / eyeBlinkRight: the upper lid margin slides down onto the lower lid; the
  lid skin under the brow stretches over the eye.
- browInnerUp, browOuterUpLeft / browOuterUpRight: the brows move up, stretching the lid
  skin and compressing the forehead.
- head yaw and pitch: a parallax shift in proportion to depth in front of the head's
  centre (the nose moves more than the cheeks, the outline stays).

A frame sums the weighted fields on a coarse grid of nodes and inverts the forward warp
there by Newton's method (each output pixel needs the photo point it shows). Skin that
parts (the lips) or overlaps (a closing lid over the eye) is no single invertible warp,
so the face is warped as two layers that differ only there: the upper layer holds the
lids and everything above the mouth's tear line, the lower layer the eyes under the lids
and the dropping jaw. A smooth head roll, translation and scale are composed in, the
node maps upsampled, and the photo resampled with `cv2.remap`: once for the frame, and
once more around the eyes and mouth while the layers differ. Left and right are the
subject's, as everywhere in avatar-live.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from avatar_live.capture.base import Source
from avatar_live.errors import AvatarLiveError
from avatar_live.tracking import topology as topo
from avatar_live.types import Frame

EXPRESSIONS: tuple[str, ...] = (
    "jawOpen",
    "mouthSmileLeft", "mouthSmileRight",
    "eyeBlinkLeft", "eyeBlinkRight",
    "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
)
"""The scripted expression weights (ARKit names), in the order `expression_at` uses."""

# Field amplitudes at weight 1, as fractions of the outer eye-corner distance.
JAW_DROP = 0.22
SMILE_OUT, SMILE_UP, CHEEK_UP = 0.07, 0.06, 0.03
BROW_LIFT = 0.08
UNDER_EYE = 0.2  # how far below the lower lid a closing lid's pull fades out

# RGB inside the open mouth: dark under the upper teeth, the tongue lighter towards the lower lip.
MOUTH_SHADOW = np.array([28.0, 10.0, 12.0], np.float32)
MOUTH_TONGUE = np.array([110.0, 42.0, 46.0], np.float32)

# Where the face sits in the frame: its height (forehead to chin) and its centre's height.
FACE_HEIGHT_SHARE = 0.5
FACE_CENTRE_Y = 0.47

_NEWTON_STEPS = 4


@dataclass(frozen=True)
class DemoOptions:
    """How the demo source renders.

    Attributes:
        size: (width, height) of the output frames in pixels.
        fps: frames per second that `read` paces itself to.
        cycle_seconds: length of one full expression cycle; the script and the head motion
            repeat with this period.
    """

    size: tuple[int, int] = (640, 480)
    fps: float = 30.0
    cycle_seconds: float = 9.0


@dataclass(frozen=True)
class _Beat:
    """One scripted expression: weights that rise, hold and fall back over `length` seconds."""

    start: float
    length: float
    weights: dict[str, float]


# The script over a 9 s reference cycle; DemoSource scales it to `cycle_seconds`.
_SCRIPT_SECONDS = 9.0
_SCRIPT: tuple[_Beat, ...] = (
    _Beat(1.0, 1.5, {"jawOpen": 1.0}),
    _Beat(2.7, 1.5, {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}),
    _Beat(4.4, 0.45, {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    _Beat(5.1, 0.7, {"eyeBlinkLeft": 1.0}),
    _Beat(6.0, 1.4, {"browInnerUp": 1.0, "browOuterUpLeft": 1.0, "browOuterUpRight": 1.0}),
    _Beat(7.5, 1.2, {"jawOpen": 0.55, "browInnerUp": 1.0, "browOuterUpLeft": 0.8, "browOuterUpRight": 0.8}),
)


@dataclass(frozen=True)
class _Head:
    """Head motion at one instant: roll (radians, image plane), yaw and pitch (radians of
    the parallax illusion), shift (x, y) as fractions of the frame size, and scale."""

    roll: float
    yaw: float
    pitch: float
    shift: tuple[float, float]
    scale: float


def _smoothstep(x: np.ndarray | float) -> np.ndarray:
    """0 below 0, 1 above 1, a cubic with zero slope at both ends in between."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _envelope(x: float) -> float:
    """A beat's shape over its length (x in [0, 1]): rise, hold, fall; 0 outside."""
    if x <= 0.0 or x >= 1.0:
        return 0.0
    return float(_smoothstep(min(x, 1.0 - x) / 0.3))


def _head_at(phase: float) -> _Head:
    """Smooth head motion from harmonics of the cycle, so that it loops with the script.

    Args:
        phase: position in the cycle in radians (2 pi per cycle).
    """
    return _Head(
        roll=0.06 * math.sin(2 * phase + 0.3),
        yaw=0.09 * math.sin(phase + 1.0),
        pitch=0.05 * math.sin(3 * phase + 2.0),
        shift=(0.025 * math.sin(phase + 2.5), 0.02 * math.sin(2 * phase + 0.8)),
        scale=1.0 + 0.04 * math.sin(phase + 4.0),
    )


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
    for start in range(0, len(points), 4096):  # bounds the N x A distance matrix
        chunk = (points[start:start + 4096] / sigma).astype(np.float32)
        d2 = 0.5 * ((chunk[:, None, :] - anchors[None, :, :]) ** 2).sum(-1)
        nearest = d2.min(axis=1, keepdims=True)
        kernel = np.exp(nearest - d2)  # relative to the nearest anchor: never all zero
        averages[start:start + 4096] = (kernel * values).sum(1) / kernel.sum(1)
        sums[start:start + 4096] = kernel.sum(1) * np.exp(-nearest[:, 0])
    return averages, sums


@dataclass(frozen=True)
class _Face:
    """The neutral face in output-frame pixels.

    Attributes:
        landmarks: 478 x 3; x, y in pixels, z in pixels of the same scale, smaller is closer.
        iod: distance between the outer eye corners (33, 263) in pixels; fields scale by it.
        hinge_depth: z of the face's sides at the jaw (about where the jaw hinges and the
            head turns): points at this depth do not move when the jaw opens or the head turns.
        parting_y: the height between the eyes and the mouth where the two layers' parting
            line changes from the upper lids to the mouth (`_parting`): the blink's lid ends
            above it, the jaw's lower layer below it.
    """

    landmarks: np.ndarray
    iod: float
    hinge_depth: float
    parting_y: float

    @staticmethod
    def from_landmarks(landmarks: np.ndarray) -> "_Face":
        """Derives the face's measures.

        Args:
            landmarks: 478 x 3 in output-frame pixels.
        """
        iod = float(np.linalg.norm(landmarks[263, :2] - landmarks[33, :2]))
        lower_lids = landmarks[list(topo.RIGHT_EYE_LOWER + topo.LEFT_EYE_LOWER), 1]
        return _Face(
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


def _jaw_field(face: _Face, points: np.ndarray) -> np.ndarray:
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
    reach = 1.0 - (1.0 - opening) * (1.0 - _smoothstep(below_tear / (0.3 * iod)))

    depth, _ = _shepard(lm[:, :2], lm[:, 2], points, 0.12 * iod)
    lever = np.clip((face.hinge_depth - depth) / (face.hinge_depth - lm[topo.LIPS_INNER_LOWER[5], 2]), 0.0, None)
    under_chin = 1.0 - _smoothstep((y - _curve(lm, _LOWER_OVAL, x)) / (0.6 * iod))
    face_left, face_right = lm[_JAW_SIDES[0], 0], lm[_JAW_SIDES[1], 0]
    beside = _smoothstep((x - face_left) / (0.3 * iod) + 1.0) * _smoothstep((face_right - x) / (0.3 * iod) + 1.0)
    # Above the tear line only the lower layer has the drop, to the parting height.
    above = 1.0 - _smoothstep((tear_y - y) / (tear_y - face.parting_y))
    fade = under_chin * beside * np.where(below_tear >= 0.0, 1.0, above)

    drop = JAW_DROP * iod * lever * reach * fade
    return np.stack([np.zeros_like(drop), drop], axis=1)


def _smile_field(face: _Face, points: np.ndarray, side: str) -> np.ndarray:
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


def _blink_field(face: _Face, points: np.ndarray, side: str) -> np.ndarray:
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
    under_eye = 1.0 - _smoothstep((y - lower) / (UNDER_EYE * iod))
    drop = opening * np.where(y <= lid, stretch, under_eye)
    return np.stack([np.zeros_like(drop), drop], axis=1)


def _brow_field(face: _Face, points: np.ndarray, side: str, part: str) -> np.ndarray:
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
        y < top, _smoothstep((y - forehead) / (top - forehead)),
        np.where(y <= bottom, 1.0, _smoothstep((lid - y) / (lid - bottom))),
    )

    outer_x, inner_x = lm[upper_indices[0], 0], lm[upper_indices[-1], 0]
    along = (x - inner_x) / (outer_x - inner_x)  # 0 at the inner end, 1 at the outer end
    to_midline = (inner_x - lm[_MIDLINE, 0]) / (outer_x - inner_x)
    beyond_outer = 1.0 - _smoothstep((along - 1.0) / 0.4)
    outer = _smoothstep((along - 0.2) / 0.6) * beyond_outer
    if part == "outer":
        lateral = outer
    else:
        toward_midline = 0.5 + 0.5 * np.cos(np.pi * np.clip(-along / (2 * to_midline), 0.0, 1.0))
        lateral = np.where(along < 0.0, toward_midline, (1.0 - outer) * beyond_outer)
    lift = -BROW_LIFT * iod * lateral * vertical
    return np.stack([np.zeros_like(lift), lift], axis=1)


def _turn_fields(face: _Face, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    shift = np.clip(face.hinge_depth - depth, 0.0, None) * _smoothstep(density / 0.5)
    zero = np.zeros_like(shift)
    return np.stack([shift, zero], axis=1), np.stack([zero, -shift], axis=1)


def _layer_fields(face: _Face, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _parting(face: _Face, points: np.ndarray) -> np.ndarray:
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


def _find_landmarks(image: np.ndarray) -> np.ndarray:
    """MediaPipe FaceMesh (with irises) on one photo.

    Args:
        image: H x W x 3 RGB uint8.

    Returns:
        478 x 3 float64 landmarks; x, y in pixels, z in pixels of the width's scale.

    Raises:
        AvatarLiveError: no face found.
    """
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as mesh:
        result = mesh.process(image)
    if not result.multi_face_landmarks:
        raise AvatarLiveError("MediaPipe FaceMesh found no face in the demo photo; is mediapipe installed correctly?")
    height, width = image.shape[:2]
    points = np.array([(p.x, p.y, p.z) for p in result.multi_face_landmarks[0].landmark], np.float64)
    return points * (width, height, width)


class DemoSource(Source):
    """An endless, real-time stream of the animated astronaut (see the module docstring).

    Use `create_from_options`. `frame_at` and `expression_at` are pure functions of time.
    """

    def __init__(self, options: DemoOptions, photo: np.ndarray, landmarks: np.ndarray) -> None:
        """Precomputes everything that does not depend on time.

        Args:
            options: validated options.
            photo: H x W x 3 RGB uint8.
            landmarks: 478 x 3 FaceMesh landmarks of the photo in its pixels.
        """
        width, height = int(options.size[0]), int(options.size[1])
        self.name = "demo"
        self.fps = float(options.fps)
        self.frame_count = None
        self.live = True
        self.stills = False
        self.size = (width, height)
        self._cycle = float(options.cycle_seconds)

        # Crop: scale the face to a webcam-like share of the frame height.
        top, bottom = landmarks[topo.FOREHEAD, :2], landmarks[topo.CHIN, :2]
        scale = FACE_HEIGHT_SHARE * height / np.linalg.norm(bottom - top)
        offset = np.array([0.5 * width, FACE_CENTRE_Y * height]) - scale * 0.5 * (top + bottom)
        neutral = landmarks * scale
        neutral[:, :2] += offset
        face = _Face.from_landmarks(neutral)

        # The photo, scaled once with a good filter, with a margin for the head motion.
        self._margin = int(math.ceil(0.15 * max(width, height)))
        to_canvas = np.array([[scale, 0.0, offset[0] + self._margin], [0.0, scale, offset[1] + self._margin]])
        self._canvas = cv2.warpAffine(
            photo, to_canvas, (width + 2 * self._margin, height + 2 * self._margin),
            flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE,
        )

        # A coarse grid of nodes with one node beyond each edge (see `_upsample`).
        self._step = max(2, round(height / 120))
        rows, cols = math.ceil(height / self._step) + 2, math.ceil(width / self._step) + 2
        self._origin = -0.5 * self._step - 0.5
        nodes = np.stack(np.meshgrid(self._origin + self._step * np.arange(cols),
                                     self._origin + self._step * np.arange(rows)), axis=-1)
        self._nodes = nodes.astype(np.float32)  # rows x cols x 2
        flat = nodes.reshape(-1, 2)
        upper, lower = _layer_fields(face, flat)
        self._bases_upper = self._with_derivatives(upper, rows, cols)
        self._bases_lower = self._with_derivatives(lower, rows, cols)
        self._parting = _parting(face, flat).reshape(rows, cols).astype(np.float32)
        # Per channel, the box (x0, y0, x1, y1) outside which both layers agree (None when
        # they agree everywhere), and how far it moves anything at weight 1.
        self._layer_boxes: list[np.ndarray | None] = []
        for channel_upper, channel_lower in zip(upper, lower):
            differs = np.abs(channel_upper - channel_lower).max(1) > 0.05
            self._layer_boxes.append(
                np.concatenate([flat[differs].min(0), flat[differs].max(0)]) if differs.any() else None)
        self._reach = np.maximum(np.abs(upper).max(axis=(1, 2)), np.abs(lower).max(axis=(1, 2)))

        # The mouth's tear line, densified, and each channel's motion of its two sides.
        tear = neutral[list(topo.LIPS_INNER_LOWER), :2]
        along = np.linspace(0.0, len(tear) - 1, 4 * len(tear))
        self._tear = np.stack([np.interp(along, np.arange(len(tear)), tear[:, k]) for k in range(2)], axis=1)
        self._tear_upper, self._tear_lower = _layer_fields(face, self._tear)

        self._start: float | None = None
        self._next_slot = 0
        self._count = 0

    def _with_derivatives(self, fields: np.ndarray, rows: int, cols: int) -> np.ndarray:
        """C x (rows cols) x 2 node displacements -> C x (rows cols 6) float32 with, per
        node, dx, dy, d(dx)/dx, d(dx)/dy, d(dy)/dx, d(dy)/dy (Newton's method needs them)."""
        grids = fields.reshape(len(fields), rows, cols, 2)
        d_dy, d_dx = np.gradient(grids, self._step, axis=(1, 2))
        stacked = np.concatenate([grids, d_dx[..., :1], d_dy[..., :1], d_dx[..., 1:], d_dy[..., 1:]], axis=-1)
        return stacked.reshape(len(fields), -1).astype(np.float32)

    @classmethod
    def create_from_options(cls, options: DemoOptions) -> "DemoSource":
        """Finds the face in the astronaut photo and prepares the animation (about a second).

        Args:
            options: size, frame rate and cycle length.

        Returns:
            The source, ready to read.

        Raises:
            AvatarLiveError: options out of range, or FaceMesh unusable.
        """
        width, height = options.size
        if not all(isinstance(v, (int, np.integer)) and v >= 64 for v in (width, height)):
            raise AvatarLiveError(f"demo size must be whole pixels, at least 64x64, got {width}x{height}")
        if not (math.isfinite(options.fps) and options.fps > 0):
            raise AvatarLiveError(f"demo fps must be a positive number, got {options.fps}")
        if not (math.isfinite(options.cycle_seconds) and options.cycle_seconds >= 2.0):
            raise AvatarLiveError(f"demo cycle must be at least 2 seconds, got {options.cycle_seconds}")
        import skimage.data

        photo = skimage.data.astronaut()
        return cls(options, photo, _find_landmarks(photo))

    def expression_at(self, t: float) -> dict[str, float]:
        """The scripted expression weights at time t.

        Args:
            t: seconds; the script repeats every `cycle_seconds`.

        Returns:
            EXPRESSIONS name -> weight in [0, 1].
        """
        position = (t % self._cycle) * _SCRIPT_SECONDS / self._cycle
        weights = dict.fromkeys(EXPRESSIONS, 0.0)
        for beat in _SCRIPT:
            envelope = _envelope((position - beat.start) / beat.length)
            for name, peak in beat.weights.items():
                weights[name] = min(1.0, weights[name] + peak * envelope)
        return weights

    def frame_at(self, t: float) -> np.ndarray:
        """The demo image at time t.

        Args:
            t: seconds; the animation repeats every `cycle_seconds`.

        Returns:
            H x W x 3 RGB uint8, (W, H) = `size`.
        """
        head = _head_at(2 * math.pi * t / self._cycle)
        expression = self.expression_at(t)
        weights = np.array([expression[name] for name in EXPRESSIONS] + [head.yaw, head.pitch], np.float32)

        # Output pixel -> neutral face pixel: undo the head's similarity transform.
        linear, offset = self._head_transform(head)
        inverse = np.linalg.inv(linear).astype(np.float32)
        rel = self._nodes - offset.astype(np.float32)
        x = inverse[0, 0] * rel[..., 0] + inverse[0, 1] * rel[..., 1]
        y = inverse[1, 0] * rel[..., 0] + inverse[1, 1] * rel[..., 1]

        upper_x, upper_y = self._invert(weights @ self._bases_upper, x, y)
        upper_map, _ = self._upsample(np.stack([upper_x, upper_y], -1) + self._margin, 0, 0)
        image = cv2.remap(self._canvas, upper_map, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        block = self._lower_block(weights, linear, offset)
        if block is not None:
            self._composite_lower(image, weights, block, x, y, upper_x, upper_y)
        if expression["jawOpen"] > 0.0:
            self._paint_mouth(image, weights, linear, offset)
        return image

    def _head_transform(self, head: _Head) -> tuple[np.ndarray, np.ndarray]:
        """The head's similarity transform, output = linear @ neutral + offset.

        It turns and scales about the face centre, then shifts.

        Returns:
            (2 x 2 linear part, 2 offset), float64.
        """
        width, height = self.size
        pivot = np.array([0.5 * width, FACE_CENTRE_Y * height])
        cos, sin = math.cos(head.roll), math.sin(head.roll)
        linear = head.scale * np.array([[cos, -sin], [sin, cos]])
        offset = pivot - linear @ pivot + np.array(head.shift) * (width, height)
        return linear, offset

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

    def _lower_block(self, weights: np.ndarray, linear: np.ndarray, offset: np.ndarray
                     ) -> tuple[slice, slice] | None:
        """The nodes (row slice, col slice) where the two layers may differ this frame, or
        None when they agree everywhere (no jaw, no blink)."""
        boxes = [box for box, w in zip(self._layer_boxes, weights) if w != 0.0 and box is not None]
        if not boxes:
            return None
        reach = float(np.abs(weights) @ self._reach)  # how far the warp may carry the box
        x0, y0 = np.min([box[:2] for box in boxes], axis=0) - reach
        x1, y1 = np.max([box[2:] for box in boxes], axis=0) + reach
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
        parting = self._parting[..., None]
        upper_side = self._sample(parting, upper_x[block], upper_y[block])
        lower_side = self._sample(parting, lower_x, lower_y)
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
            linear, offset: the head transform (`_head_transform`).
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
        depth = _smoothstep((np.arange(y0, y1)[:, None] - top - 0.4 * gap) / (0.6 * gap))[..., None]
        colour = MOUTH_SHADOW + (MOUTH_TONGUE - MOUTH_SHADOW) * depth
        alpha = (mask.astype(np.float32) / 255.0)[..., None]
        region = image[y0:y1, x0:x1]
        region[:] = (region * (1.0 - alpha) + colour * alpha + 0.5).astype(np.uint8)

    def read(self) -> Frame:
        """The next frame, paced in real time to `fps` from the first read.

        The frame is drawn, then handed out when it is due; a reader that has fallen
        behind gets the frame due now rather than a late one.

        Returns:
            A frame stamped with seconds since the first read and "capture" perf_counter.
        """
        now = time.perf_counter()
        if self._start is None:
            self._start = now
        slot = max(self._next_slot, math.floor((now - self._start) * self.fps))
        t = slot / self.fps
        image = self.frame_at(t)
        wait = self._start + t - time.perf_counter()
        if wait > 0.0:
            time.sleep(wait)
        frame = Frame(self._count, t, image, {"capture": time.perf_counter()})
        self._next_slot = slot + 1
        self._count += 1
        return frame

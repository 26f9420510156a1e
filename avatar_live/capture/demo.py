"""The built-in demo source: the astronaut photo that ships with scikit-image, animated.

`--source demo` shows the whole pipeline without a webcam or a download. At creation,
MediaPipe FaceMesh finds the 478 landmarks of the face in `skimage.data.astronaut()`
(512 x 512 RGB), and the photo is placed so that the face takes a webcam-like share of
the frame. Each frame then plays a script of expressions (`demo_script`: jaw, smiles,
blinks, a wink, raised brows) and a smooth head motion, drawn by warping the photo with
the expressions' displacement fields (`demo_fields`, `demo_warp`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from avatar_live.capture.base import Source
from avatar_live.capture.demo_fields import EXPRESSIONS, Face
from avatar_live.capture.demo_script import (
    SCRIPT_SECONDS,
    Head,
    head_at,
    script_weights,
)
from avatar_live.capture.demo_warp import FaceWarp
from avatar_live.errors import AvatarLiveError
from avatar_live.tracking import topology as topo
from avatar_live.tracking.base import tracking_image
from avatar_live.types import Frame

# Where the face sits in the frame: its height (forehead to chin) and its centre's height.
FACE_HEIGHT_SHARE = 0.5
FACE_CENTRE_Y = 0.47


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


def _find_landmarks(image: np.ndarray) -> np.ndarray:
    """MediaPipe FaceMesh (with irises) on one photo.

    Args:
        image: H x W x 3 RGB uint8.

    Returns:
        478 x 3 float64 landmarks; x, y in pixels, z in pixels of the width's scale.

    Raises:
        AvatarLiveError: no face found.
    """
    from avatar_live.tracking.mediapipe_import import import_mediapipe

    mp = import_mediapipe()
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
        """Places the face in the frame and prepares its warp (everything that does not
        depend on time).

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

        # The photo, scaled once with a good filter, with a margin for the head motion.
        margin = int(math.ceil(0.15 * max(width, height)))
        to_canvas = np.array([[scale, 0.0, offset[0] + margin], [0.0, scale, offset[1] + margin]])
        canvas = cv2.warpAffine(
            photo, to_canvas, (width + 2 * margin, height + 2 * margin),
            flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE,
        )
        self._warp = FaceWarp(Face.from_landmarks(neutral), canvas, margin, self.size)

        self._start: float | None = None
        self._next_slot = 0
        self._count = 0

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
        return script_weights((t % self._cycle) * SCRIPT_SECONDS / self._cycle)

    def frame_at(self, t: float) -> np.ndarray:
        """The demo image at time t.

        Args:
            t: seconds; the animation repeats every `cycle_seconds`.

        Returns:
            H x W x 3 RGB uint8, (W, H) = `size`.
        """
        head = head_at(2 * math.pi * t / self._cycle)
        expression = self.expression_at(t)
        weights = np.array([expression[name] for name in EXPRESSIONS] + [head.yaw, head.pitch], np.float32)
        linear, offset = self._head_transform(head)
        return self._warp.draw(weights, linear, offset)

    def _head_transform(self, head: Head) -> tuple[np.ndarray, np.ndarray]:
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
        small = tracking_image(image)
        wait = self._start + t - time.perf_counter()
        if wait > 0.0:
            time.sleep(wait)
        frame = Frame(self._count, t, image, {"capture": time.perf_counter()}, small)
        self._next_slot = slot + 1
        self._count += 1
        return frame

"""Core data types that flow through the pipeline.

Conventions used everywhere:
- Images are RGB uint8, H x W x 3.
- Image coordinates are pixels, x right, y down.
- 3D avatar/head space is right-handed, y up, z towards the viewer (OpenGL), units are
  arbitrary but consistent within a rig.
- "Left"/"right" in ARKit names and in landmark sets mean the *subject's* left/right: on an
  unmirrored camera image the subject's left eye appears on the image's right side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ARKIT_NAMES: tuple[str, ...] = (
    # Left eye
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    # Right eye
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    # Mouth and jaw
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    # Eyebrows, cheeks and nose
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight",
    # Tongue
    "tongueOut",
)
"""The 52 ARKit blendshape names in Apple's documentation order."""

ARKIT_INDEX: dict[str, int] = {name: i for i, name in enumerate(ARKIT_NAMES)}

EMOTION_CLASSES: tuple[str, ...] = (
    "Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger", "Contempt",
)
"""AffectNet's 8 expression classes, in AffectNet's order."""

NUM_LANDMARKS = 478
"""MediaPipe FaceMesh with refined irises."""


@dataclass
class Frame:
    """One captured image.

    Attributes:
        index: 0-based position in the source.
        time: capture time in seconds on the source's clock (media time for files and
            stills, seconds since start for cameras and the demo).
        image: H x W x 3 RGB uint8.
        stamps: stage name -> time.perf_counter() when that stage finished with this
            frame; "capture" is set by the source, later stages add their own.
        tracking_image: `image` shrunk for the tracker when it is larger than the tracker
            needs (`tracking.base.tracking_image`), made by the source so that the work
            runs on the capture thread, beside the other stages; None when `image` is
            small enough, or the source left it to the tracking stage.
    """

    index: int
    time: float
    image: np.ndarray
    stamps: dict[str, float] = field(default_factory=dict)
    tracking_image: np.ndarray | None = None


@dataclass
class Track:
    """A face found in a frame.

    Attributes:
        landmarks: 478 x 3 float32, MediaPipe FaceMesh order; x, y in pixels, z in pixels
            of the same scale as x (MediaPipe's normalized z times image width), smaller z
            is closer to the camera.
        box: (x0, y0, x1, y1) pixel bounds of the landmarks.
        score: tracker confidence in [0, 1].
        blendshapes: 52 float32 ARKit weights in ARKIT_NAMES order when the tracker
            estimates them itself (MediaPipe FaceLandmarker), else None.
    """

    landmarks: np.ndarray
    box: tuple[float, float, float, float]
    score: float
    blendshapes: np.ndarray | None = None


@dataclass
class Emotion:
    """An emotion read-out.

    Attributes:
        valence: in [-1, 1] (unpleasant .. pleasant).
        arousal: in [-1, 1] (calm .. excited).
        probs: 8 float32 probabilities in EMOTION_CLASSES order, summing to 1.
        source: what produced it, e.g. "rules" or "emoca".
    """

    valence: float
    arousal: float
    probs: np.ndarray
    source: str

    @property
    def label(self) -> str:
        return EMOTION_CLASSES[int(np.argmax(self.probs))]


@dataclass
class FlameParams:
    """FLAME parameters, in EMOCA's layout.

    Attributes:
        shape: 100 float32 identity coefficients.
        expression: 50 float32 expression coefficients.
        jaw: 3 float32, jaw rotation as axis-angle (radians).
        global_rotation: 3 float32, head rotation as axis-angle (FLAME's "global" pose).
        cam: 3 float32 orthographic camera (s, tx, ty); zeros when not estimated.
    """

    shape: np.ndarray
    expression: np.ndarray
    jaw: np.ndarray
    global_rotation: np.ndarray
    cam: np.ndarray


@dataclass
class FaceParams:
    """Face parameters for one frame, in avatar (not camera-pixel) terms.

    Attributes:
        face: whether a face was observed in this frame. When False the values are what
            the smoother holds or eases towards (neutral).
        rotation: 3 float32, head rotation as axis-angle (radians) in avatar space
            (y up, z towards the viewer); zero is looking straight at the camera.
        translation: 3 float32; x, y: face centre offset from the image centre in units
            of the face's calibrated size (x right, y up); z: log of the face's size
            relative to calibration (positive is closer).
        arkit: 52 float32 in [0, 1], ARKIT_NAMES order.
        gaze: 2 float32, (yaw, pitch) of the eyes in radians relative to the head;
            positive yaw looks to the subject's left, positive pitch looks up.
        confidence: in [0, 1].
        emotion: the emotion read-out, if computed.
        flame: FLAME parameters when an encoder or fit produced them, else None.
    """

    face: bool
    rotation: np.ndarray
    translation: np.ndarray
    arkit: np.ndarray
    gaze: np.ndarray
    confidence: float
    emotion: Emotion | None = None
    flame: FlameParams | None = None

    def check_shapes(self) -> None:
        """Raise ValueError when an array is not its documented shape."""
        expected = {"rotation": (3,), "translation": (3,), "arkit": (len(ARKIT_NAMES),), "gaze": (2,)}
        for name, shape in expected.items():
            actual = np.shape(getattr(self, name))
            if actual != shape:
                raise ValueError(f"FaceParams.{name} must have shape {shape}, got {actual}")

    @staticmethod
    def neutral() -> "FaceParams":
        return FaceParams(
            face=False,
            rotation=np.zeros(3, np.float32),
            translation=np.zeros(3, np.float32),
            arkit=np.zeros(len(ARKIT_NAMES), np.float32),
            gaze=np.zeros(2, np.float32),
            confidence=0.0,
        )


@dataclass
class Packet:
    """Everything known about one frame as it moves down the pipeline.

    Each stage fills its own field, stamps the frame and records its work time. `track` is None when no face was
    found; `params` is always set after the encode stage (held or neutral when no face);
    `rendered` is the image every output receives (RGB, or RGBA over a transparent
    backdrop); `shown` is the window's picture (the HUD and self-view drawn in), set only
    when there is a window.
    """

    frame: Frame
    track: Track | None = None
    params: FaceParams | None = None
    rendered: np.ndarray | None = None
    shown: np.ndarray | None = None
    durations: dict[str, float] = field(default_factory=dict)
    """stage name -> seconds of work that stage spent on this frame (queue waits excluded)."""

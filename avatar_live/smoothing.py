"""Temporal smoothing of face parameters with the One Euro filter.

The One Euro filter (Casiez, Roussel, Vogel, "1€ Filter: A Simple Speed-based Low-pass
Filter for Noisy Input in Interactive Systems", CHI 2012) is an exponential low-pass filter
whose cutoff rises with the signal's speed: `fc = min_cutoff + beta * |dx_hat|`, where
`dx_hat` is the derivative of the raw input, itself low-passed at `d_cutoff`. Still signals
get a low cutoff (little jitter), fast ones a high cutoff (little lag). Each step's
smoothing factor comes from the actual time step, so uneven frame times are handled.

Head rotation is smoothed on the rotation manifold. Filtering axis-angle components
directly breaks near 180 degrees, where (pi - e) * n and -(pi - e) * n are almost the same
rotation but far apart as vectors, and it distorts large rotations everywhere. Instead each
step moves the output along the geodesic towards the new sample:
`R_hat = R_hat_prev exp(alpha log(R_hat_prev^T R_new))`, the manifold form of
`x_hat = x_hat_prev + alpha (x - x_hat_prev)`; the speed is the norm of the angular
velocity `log(R_prev^T R_new) / dt` between raw samples. This is a geodesic interpolation
(slerp), so the output always stays a rotation and never needs renormalising, and the
increments are small tangent vectors, far from the +-pi ambiguity.

`FaceParamsSmoother` applies separate settings per group (head pose, mouth/jaw/brows, eyes,
gaze) and handles a lost face: hold the last output, then ease to neutral.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.types import ARKIT_NAMES, FaceParams, FlameParams

MAX_TIME_STEP = 1.0
"""Seconds between updates beyond which `FaceParamsSmoother` starts afresh."""

_EYE_PREFIXES = ("eyeBlink", "eyeSquint", "eyeWide", "eyeLook")
EYE_CHANNELS = np.array([i for i, name in enumerate(ARKIT_NAMES) if name.startswith(_EYE_PREFIXES)])
"""ARKit indices smoothed with the `eyes` settings (blinks, squints, wides, eye looks)."""
JAW_MOUTH_CHANNELS = np.setdiff1d(np.arange(len(ARKIT_NAMES)), EYE_CHANNELS)
"""All other ARKit indices (jaw, mouth, cheeks, nose, brows, tongue)."""


@dataclass(frozen=True)
class OneEuroSettings:
    """One Euro filter parameters.

    Attributes:
        min_cutoff: cutoff frequency (Hz) when the signal is still; lower removes more
            jitter and adds more lag.
        beta: how much the cutoff rises per unit of speed (Hz per unit/s); higher reduces
            lag on fast motion.
        d_cutoff: cutoff frequency (Hz) of the speed estimate.

    Raises:
        AvatarLiveError: a cutoff is not positive or beta is negative.
    """

    min_cutoff: float
    beta: float
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.beta >= 0):
            raise AvatarLiveError(
                f"One Euro settings need min_cutoff > 0, d_cutoff > 0, beta >= 0; got {self}"
            )


def smoothing_factor(dt: float, cutoff: np.ndarray | float) -> np.ndarray | float:
    """The exponential smoothing factor of a first-order low-pass filter.

    Args:
        dt: time step in seconds, > 0.
        cutoff: cutoff frequency in Hz, a scalar or an array of any shape.

    Returns:
        alpha in (0, 1), the shape of `cutoff`: the weight of the new sample.
    """
    r = 2.0 * math.pi * cutoff * dt
    return r / (r + 1.0)


class OneEuroFilter:
    """One Euro filter over a numpy array of fixed shape, each element its own channel.

    The first sample passes through unchanged. Calling with the previous sample's time
    again returns the previous output.

    Args:
        settings: the filter's parameters.
    """

    def __init__(self, settings: OneEuroSettings) -> None:
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        """Forget all history; the next sample passes through."""
        self._time: float | None = None
        self._raw = None
        self._hat = None
        self._dx_hat: np.ndarray | None = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter one sample.

        Args:
            x: the sample, the same shape on every call.
            t: its time in seconds, not before the previous sample's.

        Returns:
            The filtered sample, float64, the shape of `x`.

        Raises:
            ValueError: `x` changed shape, or `t` is before the previous time.
        """
        sample = self._encode(np.asarray(x, dtype=np.float64))
        if self._hat is None:
            self._time, self._raw, self._hat = t, sample, sample
            # The speed of a single sample is unknown; zero lets the next step start slow.
            self._dx_hat = np.zeros_like(self._difference(sample, sample))
            return self._decode(self._hat)
        dt = t - self._time
        if dt < 0:
            raise ValueError(f"time went backwards: {t} after {self._time}")
        if dt == 0:
            return self._decode(self._hat)
        settings = self.settings
        dx = self._difference(self._raw, sample) / dt
        self._dx_hat = self._dx_hat + smoothing_factor(dt, settings.d_cutoff) * (dx - self._dx_hat)
        alpha = smoothing_factor(dt, settings.min_cutoff + settings.beta * self._speed(self._dx_hat))
        self._hat = self._step(self._hat, alpha * self._difference(self._hat, sample))
        self._time, self._raw = t, sample
        return self._decode(self._hat)

    # The hooks below define the space the filter works in: here plain vectors.

    def _encode(self, x: np.ndarray):
        if self._hat is not None and x.shape != self._hat.shape:
            raise ValueError(f"sample shape changed from {self._hat.shape} to {x.shape}")
        return x.copy()

    def _decode(self, state) -> np.ndarray:
        return state.copy()

    def _difference(self, a, b) -> np.ndarray:
        """The tangent vector from a to b."""
        return b - a

    def _step(self, a, delta: np.ndarray):
        """a moved by the tangent vector delta."""
        return a + delta

    def _speed(self, dx_hat: np.ndarray) -> np.ndarray | float:
        return np.abs(dx_hat)


class RotationOneEuroFilter(OneEuroFilter):
    """One Euro filter for a 3D rotation, on the rotation manifold.

    Samples and outputs are axis-angle 3-vectors (radians). Internally the filter keeps
    unit quaternions, steps along geodesics and measures speed as the norm of the angular
    velocity, so the +-pi wrap of axis-angle never reaches the filter (see the module
    docstring).

    The quaternion arithmetic is the few lines below rather than scipy's `Rotation`, whose
    per-call overhead made this filter cost 1 ms a frame (it is now a few microseconds).

    Args:
        settings: the filter's parameters; speeds are in radians per second.
    """

    def _encode(self, x: np.ndarray) -> tuple[float, float, float, float]:
        if x.shape != (3,):
            raise ValueError(f"rotation must be an axis-angle 3-vector, got shape {x.shape}")
        return _quaternion_from_rotvec(x)

    def _decode(self, state: tuple[float, float, float, float]) -> np.ndarray:
        return _rotvec_from_quaternion(state)

    def _difference(self, a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> np.ndarray:
        ax, ay, az, aw = a
        return _rotvec_from_quaternion(_multiply((-ax, -ay, -az, aw), b))

    def _step(self, a: tuple[float, float, float, float], delta: np.ndarray) -> tuple[float, float, float, float]:
        return _multiply(a, _quaternion_from_rotvec(delta))

    def _speed(self, dx_hat: np.ndarray) -> float:
        return float(np.linalg.norm(dx_hat))


def _quaternion_from_rotvec(v: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion (x, y, z, w) of an axis-angle 3-vector."""
    x, y, z = (float(c) for c in v)
    angle = math.sqrt(x * x + y * y + z * z)
    # sin(angle / 2) / angle, by its Taylor series near 0 where the quotient loses digits.
    scale = 0.5 - angle * angle / 48.0 if angle < 1e-3 else math.sin(angle / 2.0) / angle
    return x * scale, y * scale, z * scale, math.cos(angle / 2.0)


def _rotvec_from_quaternion(q: tuple[float, float, float, float]) -> np.ndarray:
    """Axis-angle 3-vector (angle in [0, pi]) of a unit quaternion (x, y, z, w)."""
    x, y, z, w = q
    if w < 0.0:  # q and -q are the same rotation; this one has the shorter angle
        x, y, z, w = -x, -y, -z, -w
    sine = math.sqrt(x * x + y * y + z * z)
    angle = 2.0 * math.atan2(sine, w)
    scale = 2.0 + angle * angle / 12.0 if angle < 1e-3 else angle / math.sin(angle / 2.0)
    return np.array([x * scale, y * scale, z * scale])


def _multiply(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The quaternion product a b: the rotation b, then a."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz)


@dataclass(frozen=True)
class SmootherOptions:
    """Settings for `FaceParamsSmoother`.

    Attributes:
        head: head rotation (rad) and translation (face-size units, log scale).
        jaw_mouth: the non-eye ARKit channels (mouth, jaw, cheeks, nose, brows, tongue).
        eyes: the eye ARKit channels (eyeBlink*, eyeSquint*, eyeWide*, eyeLook*); lightly
            smoothed so that blinks survive.
        gaze: eye gaze (yaw, pitch) in radians.
        hold_seconds: after the face is lost, how long the last output is held.
        ease_seconds: then how long the output takes to ease to neutral.

    Raises:
        AvatarLiveError: hold_seconds is negative or ease_seconds is not positive.
    """

    head: OneEuroSettings
    jaw_mouth: OneEuroSettings
    eyes: OneEuroSettings
    gaze: OneEuroSettings
    hold_seconds: float = 0.5
    ease_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not (self.hold_seconds >= 0 and self.ease_seconds > 0):
            raise AvatarLiveError(
                "need hold_seconds >= 0 and ease_seconds > 0, "
                f"got {self.hold_seconds} and {self.ease_seconds}"
            )

    @classmethod
    def default(cls) -> "SmootherOptions":
        """Settings tuned for 30 fps webcam tracking (see tests/test_smoothing.py).

        At 30 fps, steps of 0.2 or more on the eye and mouth channels reach 90 % within 3
        frames (a full blink within 2); white noise on a still signal keeps about a third
        (head) or a half (mouth, eyes) of its standard deviation.
        """
        return cls(
            head=OneEuroSettings(min_cutoff=1.0, beta=2.0),
            jaw_mouth=OneEuroSettings(min_cutoff=2.0, beta=5.0),
            eyes=OneEuroSettings(min_cutoff=3.0, beta=5.0),
            gaze=OneEuroSettings(min_cutoff=1.5, beta=2.0),
        )


def smoothstep(x: float) -> float:
    """0 for x <= 0, 1 for x >= 1, and 3x^2 - 2x^3 between: starts and stops gently."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


class FaceParamsSmoother:
    """Smooths a stream of `FaceParams` and bridges frames without a face.

    With a face: each group is One Euro filtered (rotation on the manifold), ARKit weights
    are clipped to [0, 1], confidence and emotion pass through. Without a face: the output
    has `face=False` and `emotion=None`; it holds the last smoothed values for
    `hold_seconds` after the face was last seen, then eases (smoothstep) to
    `FaceParams.neutral()` over `ease_seconds`, while confidence falls linearly to 0 over
    both. When the face returns, the filters restart from the current output, so the
    output moves to the face smoothly but quickly instead of jumping.

    If time goes backwards or jumps by more than `MAX_TIME_STEP`, the smoother resets and
    starts afresh from that update.

    Args:
        options: per-group filter settings and the face-loss timing.
    """

    def __init__(self, options: SmootherOptions = SmootherOptions.default()) -> None:
        self.options = options
        self._rotation = RotationOneEuroFilter(options.head)
        self._translation = OneEuroFilter(options.head)
        self._eyes = OneEuroFilter(options.eyes)
        self._jaw_mouth = OneEuroFilter(options.jaw_mouth)
        self._gaze = OneEuroFilter(options.gaze)
        # FLAME expression and jaw move with the mouth and brows: the same settings.
        self._flame = OneEuroFilter(options.jaw_mouth)
        self.reset()

    def reset(self) -> None:
        """Forget everything; the next face passes through unfiltered."""
        self._reset_filters()
        self._output: FaceParams | None = None
        self._time: float | None = None
        self._last_face_time: float | None = None
        self._held: FaceParams | None = None

    def update(self, params: FaceParams | None, time: float) -> FaceParams:
        """Smooth one frame's parameters.

        Args:
            params: this frame's parameters; None or `face=False` when no face was found.
                Arrays: rotation 3, translation 3, arkit 52, gaze 2.
            time: the frame's time in seconds.

        Returns:
            New smoothed parameters (float32 arrays); `face` says whether this frame had a
            face.

        Raises:
            ValueError: an array of `params` has the wrong shape.
        """
        if self._time is not None and not 0.0 <= time - self._time <= MAX_TIME_STEP:
            self.reset()
        if params is not None and params.face:
            output = self._track(params, time)
        else:
            output = self._coast(time)
        self._output, self._time = output, time
        return output

    def _reset_filters(self) -> None:
        for f in (self._rotation, self._translation, self._eyes, self._jaw_mouth, self._gaze, self._flame):
            f.reset()

    def _track(self, params: FaceParams, time: float) -> FaceParams:
        params.check_shapes()
        if self._held is not None:
            # Re-seed at what is on screen now, so the return starts there, not at the
            # pre-loss filter state.
            self._reset_filters()
            self._filter(self._output, self._time)
            self._held = None
        smoothed = self._filter(params, time)
        self._last_face_time = time
        return smoothed

    def _filter(self, params: FaceParams, time: float) -> FaceParams:
        arkit = np.empty(len(ARKIT_NAMES), np.float64)
        arkit[EYE_CHANNELS] = self._eyes(params.arkit[EYE_CHANNELS], time)
        arkit[JAW_MOUTH_CHANNELS] = self._jaw_mouth(params.arkit[JAW_MOUTH_CHANNELS], time)
        rotation = self._rotation(params.rotation, time).astype(np.float32)
        return FaceParams(
            face=True,
            rotation=rotation,
            translation=self._translation(params.translation, time).astype(np.float32),
            arkit=np.clip(arkit, 0.0, 1.0).astype(np.float32),
            gaze=self._gaze(params.gaze, time).astype(np.float32),
            confidence=params.confidence,
            emotion=params.emotion,
            flame=None if params.flame is None else self._filter_flame(params.flame, rotation, time),
        )

    def _filter_flame(self, flame: FlameParams, rotation: np.ndarray, time: float) -> FlameParams:
        motion = self._flame(np.concatenate([flame.expression, flame.jaw]), time).astype(np.float32)
        return replace(flame, expression=motion[:-3], jaw=motion[-3:], global_rotation=rotation)

    def _coast(self, time: float) -> FaceParams:
        neutral = FaceParams.neutral()
        if self._last_face_time is None:
            return neutral  # no face seen yet (or since a reset): nothing to hold
        if self._held is None:
            self._held = self._output
        held, options = self._held, self.options
        elapsed = time - self._last_face_time
        w = np.float32(smoothstep((elapsed - options.hold_seconds) / options.ease_seconds))
        fade = max(0.0, 1.0 - elapsed / (options.hold_seconds + options.ease_seconds))
        # The neutral rotation is the identity, so scaling the axis-angle towards zero is
        # the geodesic to it; FLAME's neutral expression and jaw are zero likewise.
        flame = held.flame
        if flame is not None:
            flame = replace(flame, expression=(1 - w) * flame.expression, jaw=(1 - w) * flame.jaw,
                            global_rotation=(1 - w) * flame.global_rotation)
        return FaceParams(
            face=False,
            rotation=held.rotation + w * (neutral.rotation - held.rotation),
            translation=held.translation + w * (neutral.translation - held.translation),
            arkit=held.arkit + w * (neutral.arkit - held.arkit),
            gaze=held.gaze + w * (neutral.gaze - held.gaze),
            confidence=held.confidence * fade,
            flame=flame,
        )

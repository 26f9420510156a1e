"""What the demo face does when: the scripted expressions and the head's motion.

Both are pure functions of the position in the cycle, so the demo loops seamlessly and
any frame can be drawn again (`DemoSource.frame_at`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from avatar_live.capture.demo_fields import EXPRESSIONS, smoothstep


@dataclass(frozen=True)
class _Beat:
    """One scripted expression: weights that rise, hold and fall back over `length` seconds."""

    start: float
    length: float
    weights: dict[str, float]


SCRIPT_SECONDS = 9.0
"""The length of the reference cycle `_SCRIPT` is written for; the demo scales it to its own."""

_SCRIPT: tuple[_Beat, ...] = (
    _Beat(1.0, 1.5, {"jawOpen": 1.0}),
    _Beat(2.7, 1.5, {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}),
    _Beat(4.4, 0.45, {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    _Beat(5.1, 0.7, {"eyeBlinkLeft": 1.0}),
    _Beat(6.0, 1.4, {"browInnerUp": 1.0, "browOuterUpLeft": 1.0, "browOuterUpRight": 1.0}),
    _Beat(7.5, 1.2, {"jawOpen": 0.55, "browInnerUp": 1.0, "browOuterUpLeft": 0.8, "browOuterUpRight": 0.8}),
)


@dataclass(frozen=True)
class Head:
    """Head motion at one instant: roll (radians, image plane), yaw and pitch (radians of
    the parallax illusion), shift (x, y) as fractions of the frame size, and scale."""

    roll: float
    yaw: float
    pitch: float
    shift: tuple[float, float]
    scale: float


def _envelope(x: float) -> float:
    """A beat's shape over its length (x in [0, 1]): rise, hold, fall; 0 outside."""
    if x <= 0.0 or x >= 1.0:
        return 0.0
    return float(smoothstep(min(x, 1.0 - x) / 0.3))


def script_weights(position: float) -> dict[str, float]:
    """The scripted expression weights at a position in the reference cycle.

    Args:
        position: seconds in [0, SCRIPT_SECONDS).

    Returns:
        EXPRESSIONS name -> weight in [0, 1].
    """
    weights = dict.fromkeys(EXPRESSIONS, 0.0)
    for beat in _SCRIPT:
        envelope = _envelope((position - beat.start) / beat.length)
        for name, peak in beat.weights.items():
            weights[name] = min(1.0, weights[name] + peak * envelope)
    return weights


def head_at(phase: float) -> Head:
    """Smooth head motion from harmonics of the cycle, so that it loops with the script.

    Args:
        phase: position in the cycle in radians (2 pi per cycle).
    """
    return Head(
        roll=0.06 * math.sin(2 * phase + 0.3),
        yaw=0.09 * math.sin(phase + 1.0),
        pitch=0.05 * math.sin(3 * phase + 2.0),
        shift=(0.025 * math.sin(phase + 2.5), 0.02 * math.sin(2 * phase + 0.8)),
        scale=1.0 + 0.04 * math.sin(phase + 4.0),
    )

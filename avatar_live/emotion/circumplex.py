"""Valence and arousal from class probabilities, on Russell's circumplex of affect.

Each of AffectNet's classes sits at a (valence, arousal) place on Russell's circumplex
(Russell 1980, "A circumplex model of affect"): the angle of the emotion word on the
circle, pulled in where the class covers mild faces too. These are hand-set, not fitted:
no data here labels valence and arousal.

| class    | valence | arousal |
|----------|---------|---------|
| Neutral  |  0.0    |  0.0    |
| Happy    |  0.8    |  0.4    |
| Sad      | -0.7    | -0.4    |
| Surprise |  0.2    |  0.8    |
| Fear     | -0.6    |  0.7    |
| Disgust  | -0.7    |  0.3    |
| Anger    | -0.6    |  0.6    |
| Contempt | -0.5    |  0.2    |

A face's (valence, arousal) is intensity times the probability-weighted mean of the
places, clipped to [-1, 1]. Neutral sits at the origin, so an uncertain face stays near
it; `intensity` lets a read-out that knows how strongly the face shows its class (the
rules) scale the result.
"""

from __future__ import annotations

import numpy as np

from avatar_live.types import EMOTION_CLASSES

CIRCUMPLEX: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (0.8, 0.4), (-0.7, -0.4), (0.2, 0.8), (-0.6, 0.7), (-0.7, 0.3), (-0.6, 0.6), (-0.5, 0.2),
)
"""(valence, arousal) of each class, EMOTION_CLASSES order."""

assert len(CIRCUMPLEX) == len(EMOTION_CLASSES)


def valence_arousal(probs, intensity: float = 1.0) -> tuple[float, float]:
    """(valence, arousal) in [-1, 1] of 8 class probabilities (EMOTION_CLASSES order)."""
    # Plain Python for 8 numbers: numpy's per-call overhead would dominate.
    values = probs.tolist() if isinstance(probs, np.ndarray) else list(probs)
    valence = intensity * sum(p * v for p, (v, _) in zip(values, CIRCUMPLEX))
    arousal = intensity * sum(p * a for p, (_, a) in zip(values, CIRCUMPLEX))
    return min(max(valence, -1.0), 1.0), min(max(arousal, -1.0), 1.0)

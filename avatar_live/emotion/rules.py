"""Rule-based emotion estimate from ARKit blendshape weights.

This is hand-written rules, not a learned model: ARKit weights -> FACS action unit (AU)
intensities -> scores for AffectNet's 8 classes from EMFACS prototypes -> probabilities ->
valence and arousal. It needs no data or weights and runs in a few microseconds, but it
only sees what the blendshapes show, and the rules are a coarse reading of FACS.

ARKit -> AU (weights clipped to [0, 1]; "mean" is the mean of the Left and Right shapes):

| AU  | FACS name            | from ARKit                                        |
|-----|----------------------|---------------------------------------------------|
| 1   | inner brow raiser    | browInnerUp                                       |
| 2   | outer brow raiser    | mean browOuterUp                                  |
| 4   | brow lowerer         | mean browDown                                     |
| 5   | upper lid raiser     | mean eyeWide                                      |
| 6   | cheek raiser         | max(mean cheekSquint, 0.5 * mean eyeSquint)       |
| 7   | lid tightener        | mean eyeSquint                                    |
| 9   | nose wrinkler        | mean noseSneer                                    |
| 10  | upper lip raiser     | mean mouthUpperUp                                 |
| 12  | lip corner puller    | mean mouthSmile                                   |
| 14  | dimpler              | mean mouthDimple                                  |
| 15  | lip corner depressor | mean mouthFrown                                   |
| 16  | lower lip depressor  | mean mouthLowerDown                               |
| 17  | chin raiser          | mouthShrugLower                                   |
| 20  | lip stretcher        | mean mouthStretch                                 |
| 23  | lip tightener        | max(mean mouthPress, 0.5 * mouthFunnel)           |
| 24  | lip presser          | mean mouthPress                                   |
| 25  | lips part            | max(jawOpen - mouthClose, 0)                      |
| 26  | jaw drop             | jawOpen                                           |
| 43  | eyes closed          | mean eyeBlink                                     |
| U12 | unilateral AU12      | abs(mouthSmileLeft - mouthSmileRight)             |
| U14 | unilateral AU14      | abs(mouthDimpleLeft - mouthDimpleRight)           |

Class scores. Each emotion has an EMFACS prototype (happiness AU6+12, sadness AU1+4+15,
surprise AU1+2+5+26, fear AU1+2+4+5+7+20+26, anger AU4+5+7+23, disgust AU9+15+16,
contempt U12+U14). Its score is a soft AND, the mean of the prototype's AUs, minus
`CONTRADICTION_PENALTY` times the strongest AU that contradicts it (a smile, AU12, against
sadness, fear, disgust and anger; AU15 against happiness; AU4 and AU7 against surprise,
which is what tells it from fear; AU2 against sadness; AU1 against anger). Neutral scores
`NEUTRAL_BIAS` minus the best other score, so it wins while no prototype is clearly
present. Probabilities are the softmax of scores / `TEMPERATURE`.

Valence and arousal: the class probabilities placed on Russell's circumplex
(`circumplex`), scaled by intensity = min(best non-neutral score /
`FULL_INTENSITY_SCORE`, 1), which says how far the face is from neutral.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avatar_live.emotion.circumplex import valence_arousal
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES, EMOTION_CLASSES, Emotion

TEMPERATURE = 0.1
"""Softmax temperature on class scores; a score lead of 0.1 is a factor e in probability."""

CONTRADICTION_PENALTY = 0.5
"""Score taken off per unit of the strongest contradicting AU."""

NEUTRAL_BIAS = 0.3
"""Neutral's score when no AU is active; a class beats Neutral once it scores above half this."""

FULL_INTENSITY_SCORE = 0.5
"""A class score at which valence and arousal reach their class's full place."""



@dataclass(frozen=True)
class Prototype:
    """An EMFACS prototype.

    Attributes:
        aus: the AUs whose joint presence makes the expression.
        unilateral: whether `aus` are the one-sided (asymmetric) intensities.
        contradicted_by: AUs (bilateral) that speak against the expression.
    """

    aus: tuple[int, ...]
    unilateral: bool = False
    contradicted_by: tuple[int, ...] = ()


PROTOTYPES: dict[str, Prototype] = {
    "Happy": Prototype((6, 12), contradicted_by=(15,)),
    "Sad": Prototype((1, 4, 15), contradicted_by=(12, 2)),
    "Surprise": Prototype((1, 2, 5, 26), contradicted_by=(4, 7)),
    "Fear": Prototype((1, 2, 4, 5, 7, 20, 26), contradicted_by=(12,)),
    "Disgust": Prototype((9, 15, 16), contradicted_by=(12,)),
    "Anger": Prototype((4, 5, 7, 23), contradicted_by=(12, 1)),
    "Contempt": Prototype((12, 14), unilateral=True),
}
"""Non-neutral class -> its prototype."""


_SIDES: dict[str, tuple[int, int]] = {
    name[: -len("Left")]: (i, ARKIT_INDEX[name[: -len("Left")] + "Right"])
    for i, name in enumerate(ARKIT_NAMES)
    # jawLeft and mouthLeft move to a side; they are not the left half of a pair.
    if name.endswith("Left") and name not in ("jawLeft", "mouthLeft")
}
"""Stem of each left/right ARKit pair -> (left index, right index)."""


def _weights(arkit: np.ndarray) -> list[float]:
    arkit = np.asarray(arkit)
    if arkit.shape != (len(ARKIT_NAMES),):
        raise ValueError(f"arkit must have shape ({len(ARKIT_NAMES)},), got {arkit.shape}")
    # Python floats: a few dozen scalar operations are much cheaper than numpy calls.
    return np.clip(arkit, 0.0, 1.0).tolist()


def _pair(w: list[float], stem: str) -> tuple[float, float]:
    left, right = _SIDES[stem]
    return w[left], w[right]


def _mean(w: list[float], stem: str) -> float:
    left, right = _pair(w, stem)
    return 0.5 * (left + right)


def _action_units(w: list[float]) -> dict[int, float]:
    i = ARKIT_INDEX
    return {
        1: w[i["browInnerUp"]],
        2: _mean(w, "browOuterUp"),
        4: _mean(w, "browDown"),
        5: _mean(w, "eyeWide"),
        # Squinting the eyes also lifts the cheeks, but less than cheekSquint says.
        6: max(_mean(w, "cheekSquint"), 0.5 * _mean(w, "eyeSquint")),
        7: _mean(w, "eyeSquint"),
        9: _mean(w, "noseSneer"),
        10: _mean(w, "mouthUpperUp"),
        12: _mean(w, "mouthSmile"),
        14: _mean(w, "mouthDimple"),
        15: _mean(w, "mouthFrown"),
        16: _mean(w, "mouthLowerDown"),
        17: w[i["mouthShrugLower"]],
        20: _mean(w, "mouthStretch"),
        # ARKit has no lip tightener; pressed lips, or narrowed (funnelled) ones, show it.
        23: max(_mean(w, "mouthPress"), 0.5 * w[i["mouthFunnel"]]),
        24: _mean(w, "mouthPress"),
        # mouthClose is ARKit's "lips together while the jaw is open".
        25: max(w[i["jawOpen"]] - w[i["mouthClose"]], 0.0),
        26: w[i["jawOpen"]],
        43: _mean(w, "eyeBlink"),
    }


def _asymmetry(w: list[float], stem: str) -> float:
    left, right = _pair(w, stem)
    return abs(left - right)


def _unilateral_action_units(w: list[float]) -> dict[int, float]:
    return {12: _asymmetry(w, "mouthSmile"), 14: _asymmetry(w, "mouthDimple")}


def action_units(arkit: np.ndarray) -> dict[int, float]:
    """FACS action unit intensities from ARKit weights (the table in the module docstring).

    Args:
        arkit: 52 ARKit weights, ARKIT_NAMES order; values outside [0, 1] are clipped.

    Returns:
        AU number -> intensity in [0, 1], for AUs 1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16,
        17, 20, 23, 24, 25, 26, 43 (both sides averaged).

    Raises:
        ValueError: `arkit` is not 52 values.
    """
    return _action_units(_weights(arkit))


def unilateral_action_units(arkit: np.ndarray) -> dict[int, float]:
    """One-sided AU intensities: how much more one side shows the AU than the other.

    Args:
        arkit: 52 ARKit weights, ARKIT_NAMES order; values outside [0, 1] are clipped.

    Returns:
        {12: |mouthSmileLeft - mouthSmileRight|, 14: |mouthDimpleLeft - mouthDimpleRight|},
        in [0, 1].

    Raises:
        ValueError: `arkit` is not 52 values.
    """
    return _unilateral_action_units(_weights(arkit))


def estimate_emotion(arkit: np.ndarray) -> Emotion:
    """The rule-based emotion read-out of one face (see the module docstring).

    Args:
        arkit: 52 ARKit weights, ARKIT_NAMES order; values outside [0, 1] are clipped.

    Returns:
        An Emotion with 8 probabilities (float32, EMOTION_CLASSES order, summing to 1),
        valence and arousal in [-1, 1], source "rules".

    Raises:
        ValueError: `arkit` is not 52 values.
    """
    w = _weights(arkit)
    bilateral = _action_units(w)
    unilateral = _unilateral_action_units(w)
    scores = {}
    for name, prototype in PROTOTYPES.items():
        aus = unilateral if prototype.unilateral else bilateral
        present = sum(aus[au] for au in prototype.aus) / len(prototype.aus)
        against = max((bilateral[au] for au in prototype.contradicted_by), default=0.0)
        scores[name] = present - CONTRADICTION_PENALTY * against
    best = max(max(scores.values()), 0.0)
    scores["Neutral"] = NEUTRAL_BIAS - best

    # Plain Python for 8 numbers: numpy's per-call overhead would dominate.
    top = max(scores.values())
    exp = [math.exp((scores[name] - top) / TEMPERATURE) for name in EMOTION_CLASSES]
    total = sum(exp)
    probs = [e / total for e in exp]
    valence, arousal = valence_arousal(probs, min(best / FULL_INTENSITY_SCORE, 1.0))
    return Emotion(valence=valence, arousal=arousal, probs=np.array(probs, np.float32), source="rules")

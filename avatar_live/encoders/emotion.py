"""Emotion read-outs: the learned classifier (default, `--emotion learned`) and the FACS
rules (`--emotion rules`). EMOCA's emotion model, when imported, is applied by the EMOCA
read-out itself and these are then skipped."""

from __future__ import annotations

import math

import numpy as np

from avatar_live.emotion.circumplex import valence_arousal
from avatar_live.emotion.rules import estimate_emotion
from avatar_live.encoders.base import FaceInput, Readout
from avatar_live.learned.emotion import EmotionNet
from avatar_live.types import Emotion, FaceParams

PROBABILITY_SECONDS = 0.25
"""Time constant of the exponential smoothing of the learned class probabilities in video:
a frame's reading of a 48-pixel-trained classifier wavers between neighbouring classes;
a quarter second keeps the HUD's label from flickering and still follows a new expression
within a few frames."""


class LearnedEmotion(Readout[Emotion]):
    """The learned classifier on the smoothed weights and the frame's landmarks."""

    name = "learned emotion"

    def __init__(self, net: EmotionNet) -> None:
        self._net = net
        self._probs: np.ndarray | None = None
        self._time: float | None = None

    def estimate(self, face: FaceInput, params: FaceParams) -> Emotion:
        probs = self._net(params.arkit, face.track.landmarks)
        if not face.still:
            probs = self._smooth(probs, face.time)
        valence, arousal = valence_arousal(probs)
        return Emotion(valence=valence, arousal=arousal, probs=probs.astype(np.float32), source="learned")

    def apply(self, result: Emotion, params: FaceParams) -> None:
        params.emotion = result

    def _smooth(self, probs: np.ndarray, time: float) -> np.ndarray:
        if self._probs is not None and self._time is not None and 0.0 <= time - self._time <= 1.0:
            keep = math.exp(-(time - self._time) / PROBABILITY_SECONDS)
            probs = keep * self._probs + (1.0 - keep) * probs
        self._probs, self._time = probs, time
        return probs


class RulesEmotion(Readout[Emotion]):
    """The FACS rules on the smoothed weights (`emotion.rules`)."""

    name = "rules"

    def estimate(self, face: FaceInput, params: FaceParams) -> Emotion:
        return estimate_emotion(params.arkit)

    def apply(self, result: Emotion, params: FaceParams) -> None:
        params.emotion = result

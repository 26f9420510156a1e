"""Emotion read-outs: valence, arousal and AffectNet's 8 classes from face parameters."""

from avatar_live.emotion.rules import (
    action_units,
    estimate_emotion,
    unilateral_action_units,
)

__all__ = ["action_units", "estimate_emotion", "unilateral_action_units"]

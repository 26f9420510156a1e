"""The learned read-out's optional per-user refinement: a resting face learned from the most
relaxed moments, never from "the first second"."""

import numpy as np
import pytest

from avatar_live.errors import AvatarLiveError
from avatar_live.learned.neutral import RestingFace, RestingOptions
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES

PUCKER = ARKIT_INDEX["mouthPucker"]
BLINK = ARKIT_INDEX["eyeBlinkLeft"]
LOOK_DOWN = ARKIT_INDEX["eyeLookDownLeft"]


def _weights(**named: float) -> np.ndarray:
    weights = np.zeros(len(ARKIT_NAMES), np.float32)
    for name, value in named.items():
        weights[ARKIT_INDEX[name]] = value
    return weights


def test_a_resting_pucker_is_taken_out_once_learned():
    resting = RestingFace(RestingOptions(min_seconds=1.0))
    at_rest = _weights(mouthPucker=0.2)
    shown = [resting.update(at_rest, t / 30) for t in range(60)]
    assert shown[0][PUCKER] == pytest.approx(0.2)  # before min_seconds, shown as read
    assert shown[-1][PUCKER] == pytest.approx(0.0, abs=1e-6)  # then this person's rest reads as 0
    # A real pucker still reaches the top: (w - r) / (1 - r).
    assert resting.update(_weights(mouthPucker=1.0), 2.0)[PUCKER] == pytest.approx(1.0)
    assert resting.update(_weights(mouthPucker=0.6), 2.1)[PUCKER] == pytest.approx(0.5)


def test_a_stream_that_starts_with_closed_eyes_still_shows_them_closed():
    # Crying with the eyes squeezed shut for the first seconds: at most `limit` of the
    # blink is ever taken for the resting face, so the eyes read closed.
    resting = RestingFace(RestingOptions(limit=0.3))
    crying = _weights(eyeBlinkLeft=0.9)
    shown = [resting.update(crying, t / 30) for t in range(90)]
    assert min(w[BLINK] for w in shown) >= (0.9 - 0.3) / (1 - 0.3) - 1e-6
    # Once the eyes open, the resting value follows the relaxed moments down to zero.
    for t in range(90, 400):
        resting.update(_weights(eyeBlinkLeft=0.02), t / 30)
    assert resting.resting[BLINK] == pytest.approx(0.02, abs=0.01)
    assert resting.update(crying, 400 / 30)[BLINK] >= 0.89


def test_gaze_is_never_adjusted():
    resting = RestingFace()
    for t in range(90):
        shown = resting.update(_weights(eyeLookDownLeft=0.3), t / 30)
    assert resting.resting[LOOK_DOWN] == 0.0
    assert shown[LOOK_DOWN] == pytest.approx(0.3)


def test_restart_forgets_the_resting_face():
    resting = RestingFace(RestingOptions(min_seconds=0.5))
    for t in range(60):
        resting.update(_weights(mouthPucker=0.2), t / 30)
    assert resting.resting[PUCKER] > 0.1 and not resting.settling
    resting.restart()
    assert resting.settling and resting.resting[PUCKER] == 0.0
    assert resting.update(_weights(mouthPucker=0.2), 5.0)[PUCKER] == pytest.approx(0.2)


def test_options_out_of_range_are_refused():
    with pytest.raises(AvatarLiveError):
        RestingOptions(limit=1.0)
    with pytest.raises(AvatarLiveError):
        RestingOptions(percentile=90.0)

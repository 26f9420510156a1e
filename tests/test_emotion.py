"""The rule-based emotion read-out names clear prototype expressions and stays well-formed."""

import numpy as np
import pytest

from avatar_live.emotion import action_units, estimate_emotion, unilateral_action_units
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES, EMOTION_CLASSES


def _arkit(**weights: float) -> np.ndarray:
    arkit = np.zeros(len(ARKIT_NAMES), np.float32)
    for name, value in weights.items():
        arkit[ARKIT_INDEX[name]] = value
    return arkit


def _both(stem: str, value: float) -> dict[str, float]:
    return {stem + "Left": value, stem + "Right": value}


SMILE = _arkit(**_both("mouthSmile", 0.8), **_both("cheekSquint", 0.6))
SAD = _arkit(**_both("mouthFrown", 0.7), browInnerUp=0.7, **_both("browDown", 0.5))
SURPRISE = _arkit(browInnerUp=0.8, **_both("browOuterUp", 0.8), **_both("eyeWide", 0.7), jawOpen=0.6)
ANGER = _arkit(
    **_both("browDown", 0.8), **_both("eyeSquint", 0.6), **_both("eyeWide", 0.2), **_both("mouthPress", 0.7)
)
CONTEMPT = _arkit(mouthSmileLeft=0.7, mouthDimpleLeft=0.6)
DISGUST = _arkit(**_both("noseSneer", 0.7), **_both("mouthFrown", 0.5), **_both("mouthLowerDown", 0.5))
FEAR = _arkit(
    browInnerUp=0.7, **_both("browOuterUp", 0.5), **_both("browDown", 0.4), **_both("eyeWide", 0.7),
    **_both("eyeSquint", 0.3), **_both("mouthStretch", 0.6), jawOpen=0.3,
)


def _mirror(arkit: np.ndarray) -> np.ndarray:
    mirrored = arkit.copy()
    for name, i in ARKIT_INDEX.items():
        for side, other in (("Left", "Right"), ("Right", "Left")):
            if name.endswith(side):
                mirrored[ARKIT_INDEX[name[: -len(side)] + other]] = arkit[i]
    return mirrored


def test_a_still_face_is_neutral_with_no_affect():
    emotion = estimate_emotion(_arkit())
    assert emotion.label == "Neutral" and emotion.source == "rules"
    assert abs(emotion.valence) < 0.05 and abs(emotion.arousal) < 0.05


@pytest.mark.parametrize(
    ("arkit", "label"),
    [(SMILE, "Happy"), (SAD, "Sad"), (SURPRISE, "Surprise"), (ANGER, "Anger"), (CONTEMPT, "Contempt"),
     (_mirror(CONTEMPT), "Contempt"), (DISGUST, "Disgust"), (FEAR, "Fear")],
)
def test_prototype_expressions_are_named(arkit, label):
    emotion = estimate_emotion(arkit)
    assert emotion.label == label, dict(zip(EMOTION_CLASSES, emotion.probs.round(2)))


def test_valence_and_arousal_sit_where_the_expression_belongs():
    assert estimate_emotion(SMILE).valence > 0.3
    assert estimate_emotion(SAD).valence < 0.0
    assert estimate_emotion(SURPRISE).arousal > 0.3
    assert estimate_emotion(ANGER).valence < 0.0 < estimate_emotion(ANGER).arousal


def test_a_stronger_smile_reads_more_positive():
    valences = [estimate_emotion(SMILE * s).valence for s in (0.2, 0.4, 0.6, 0.8, 1.0)]
    assert all(a <= b for a, b in zip(valences, valences[1:])) and valences[0] < valences[-1]


def test_a_symmetric_smile_is_not_contempt_and_mirroring_changes_nothing():
    assert unilateral_action_units(SMILE) == {12: 0.0, 14: 0.0}
    for arkit in (SMILE, SAD, ANGER, CONTEMPT, FEAR):
        a, b = estimate_emotion(arkit), estimate_emotion(_mirror(arkit))
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)
        assert a.valence == pytest.approx(b.valence) and a.arousal == pytest.approx(b.arousal)


def test_action_units_follow_the_documented_mapping():
    arkit = _arkit(browInnerUp=0.4, browOuterUpLeft=0.6, mouthSmileRight=0.5, jawOpen=0.7, mouthClose=0.2)
    aus = action_units(arkit)
    assert aus[1] == pytest.approx(0.4)
    assert aus[2] == pytest.approx(0.3)  # mean of the two sides
    assert aus[12] == pytest.approx(0.25)
    assert aus[26] == pytest.approx(0.7) and aus[25] == pytest.approx(0.5)
    assert aus[4] == aus[15] == aus[43] == 0.0
    assert unilateral_action_units(_arkit(mouthSmileRight=0.5))[12] == pytest.approx(0.5)


def test_outputs_are_well_formed_for_any_weights():
    rng = np.random.default_rng(0)
    faces = [rng.uniform(-0.5, 1.5, len(ARKIT_NAMES)) for _ in range(200)] + [np.ones(len(ARKIT_NAMES))]
    for arkit in faces:
        emotion = estimate_emotion(arkit)
        assert emotion.probs.shape == (8,) and emotion.probs.dtype == np.float32
        assert np.all((emotion.probs >= 0) & (emotion.probs <= 1))
        assert emotion.probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert -1.0 <= emotion.valence <= 1.0 and -1.0 <= emotion.arousal <= 1.0
        assert all(0.0 <= v <= 1.0 for v in action_units(arkit).values())


def test_wrong_length_is_refused():
    with pytest.raises(ValueError, match="52"):
        estimate_emotion(np.zeros(50))

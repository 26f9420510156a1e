"""One Euro filtering of face parameters: jitter goes, blinks stay, a lost face is bridged."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from avatar_live.errors import AvatarLiveError
from avatar_live.smoothing import (
    EYE_CHANNELS,
    FaceParamsSmoother,
    OneEuroFilter,
    OneEuroSettings,
    RotationOneEuroFilter,
    SmootherOptions,
)
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES, Emotion, FaceParams

FPS = 30.0
DEFAULTS = SmootherOptions.default()


def _face(yaw: float = 0.0, jaw: float = 0.0, blink: float = 0.0, confidence: float = 0.9) -> FaceParams:
    arkit = np.zeros(len(ARKIT_NAMES), np.float32)
    arkit[ARKIT_INDEX["jawOpen"]] = jaw
    arkit[ARKIT_INDEX["eyeBlinkLeft"]] = arkit[ARKIT_INDEX["eyeBlinkRight"]] = blink
    return FaceParams(
        face=True,
        rotation=np.array([0.0, yaw, 0.0], np.float32),
        translation=np.array([0.1, -0.2, 0.05], np.float32),
        arkit=arkit,
        gaze=np.array([0.1, 0.0], np.float32),
        confidence=confidence,
        emotion=Emotion(valence=0.5, arousal=0.1, probs=np.full(8, 1 / 8, np.float32), source="test"),
    )


def _frames_to_90_percent(settings: OneEuroSettings, step: float) -> int:
    f = OneEuroFilter(settings)
    f(np.zeros(4), 0.0)
    for k in range(1, 100):
        if f(np.full(4, step), k / FPS)[0] >= 0.9 * step:
            return k
    raise AssertionError("step never reached 90 %")


def _seconds_to_90_percent(settings: OneEuroSettings, times: np.ndarray, step: float) -> float:
    f = OneEuroFilter(settings)
    f(np.zeros(1), 0.0)
    for t in times:
        if f(np.full(1, step), t)[0] >= 0.9 * step:
            return float(t)
    raise AssertionError("step never reached 90 %")


def _angle_between(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm((Rotation.from_rotvec(a).inv() * Rotation.from_rotvec(b)).as_rotvec()))


@pytest.mark.parametrize("group", ["head", "jaw_mouth", "eyes", "gaze"])
def test_constant_input_converges_and_stays(group):
    f = OneEuroFilter(getattr(DEFAULTS, group))
    target = np.array([[0.3, -0.2], [0.7, 0.0]])
    f(np.zeros((2, 2)), 0.0)
    outputs = [f(target, k / FPS) for k in range(1, 150)]
    assert outputs[-1].shape == (2, 2)
    for y in outputs[60:]:
        np.testing.assert_allclose(y, target, atol=1e-4)


@pytest.mark.parametrize("group", ["head", "jaw_mouth", "eyes", "gaze"])
def test_noise_on_a_still_signal_is_reduced(group):
    rng = np.random.default_rng(0)
    f = OneEuroFilter(getattr(DEFAULTS, group))
    noisy = 0.5 + rng.normal(0.0, 0.01, size=(600, 3))
    smoothed = np.array([f(x, k / FPS) for k, x in enumerate(noisy)])
    ratio = smoothed[30:].std(axis=0) / noisy[30:].std(axis=0)
    assert np.all(ratio < 0.65), ratio
    np.testing.assert_allclose(smoothed[30:].mean(axis=0), 0.5, atol=0.005)


@pytest.mark.parametrize("step", [1.0, 0.5, 0.2])
@pytest.mark.parametrize("group", ["eyes", "jaw_mouth"])
def test_blink_and_jaw_steps_reach_90_percent_within_3_frames(group, step):
    assert _frames_to_90_percent(getattr(DEFAULTS, group), step) <= 3


def test_a_two_frame_blink_survives_the_smoother():
    smoother = FaceParamsSmoother()
    blinks = [0.0] * 10 + [1.0, 1.0] + [0.0] * 10
    outputs = [smoother.update(_face(blink=b), k / FPS) for k, b in enumerate(blinks)]
    out = [p.arkit[ARKIT_INDEX["eyeBlinkLeft"]] for p in outputs]
    assert max(out) >= 0.9
    assert out[-1] < 0.1


def test_the_cutoff_follows_real_time_not_the_frame_count():
    settings = DEFAULTS.head
    rng = np.random.default_rng(3)
    at_30 = _seconds_to_90_percent(settings, np.arange(1, 60) / 30.0, 0.1)
    at_120 = _seconds_to_90_percent(settings, np.arange(1, 240) / 120.0, 0.1)
    uneven = _seconds_to_90_percent(settings, np.cumsum(rng.uniform(0.005, 0.06, 100)), 0.1)
    # A filter with a fixed per-frame factor would settle four times faster at 120 fps.
    assert abs(at_120 - at_30) < 0.1
    assert abs(uneven - at_30) < 0.1


def test_a_longer_gap_moves_the_output_further():
    outputs = []
    for gap in (0.01, 0.06):
        f = OneEuroFilter(DEFAULTS.jaw_mouth)
        f(np.zeros(1), 0.0)
        outputs.append(f(np.ones(1), gap)[0])
    assert 0.0 < outputs[0] < outputs[1] < 1.0


def test_a_repeated_timestamp_returns_the_previous_output():
    f = OneEuroFilter(DEFAULTS.head)
    f(np.zeros(3), 0.0)
    first = f(np.ones(3), 0.1)
    np.testing.assert_array_equal(f(np.full(3, 5.0), 0.1), first)
    with pytest.raises(ValueError, match="backwards"):
        f(np.ones(3), 0.05)
    with pytest.raises(ValueError, match="shape"):
        f(np.ones(4), 0.2)


def test_rotation_near_180_degrees_does_not_flip():
    rng = np.random.default_rng(1)
    f = RotationOneEuroFilter(DEFAULTS.head)
    # Jitter across pi about y: the axis-angle input flips between about +pi*y and -pi*y.
    angles = np.pi + rng.normal(0.0, 0.02, 90)
    inputs = [Rotation.from_rotvec([0.0, a, 0.0]).as_rotvec() for a in angles]
    assert min(v[1] for v in inputs) < -3.0 < 3.0 < max(v[1] for v in inputs)
    outputs = [f(v, k / FPS) for k, v in enumerate(inputs)]
    truth = np.array([0.0, np.pi, 0.0])
    assert max(_angle_between(y, truth) for y in outputs) < 0.05
    assert max(_angle_between(a, b) for a, b in zip(outputs, outputs[1:])) < 0.05


def test_rotation_sweeping_through_180_degrees_follows_smoothly():
    f = RotationOneEuroFilter(DEFAULTS.head)
    angles = np.linspace(np.radians(160), np.radians(200), 60)  # 1.2 rad/s at 30 fps
    outputs = [f(Rotation.from_rotvec([0.0, a, 0.0]).as_rotvec(), k / FPS) for k, a in enumerate(angles)]
    steps = [_angle_between(a, b) for a, b in zip(outputs, outputs[1:])]
    assert max(steps) < 0.06
    assert _angle_between(outputs[-1], Rotation.from_rotvec([0.0, angles[-1], 0.0]).as_rotvec()) < 0.1
    assert all(abs(y[0]) < 1e-9 and abs(y[2]) < 1e-9 for y in outputs)


def test_face_loss_holds_then_eases_to_neutral_then_resumes_smoothly():
    options = DEFAULTS
    smoother = FaceParamsSmoother(options)
    for k in range(30):
        out = smoother.update(_face(yaw=0.4, jaw=0.6), k / FPS)
    assert out.face and out.emotion is not None and out.emotion.source == "test"
    held = out
    lost_at = 29 / FPS

    # Both None and face=False mean no face.
    no_face = [None, FaceParams.neutral()]
    coasting = [smoother.update(no_face[k % 2], lost_at + k / FPS) for k in range(1, 61)]
    assert all(not p.face and p.emotion is None for p in coasting)
    in_hold = [p for k, p in enumerate(coasting, 1) if k / FPS <= options.hold_seconds]
    for p in in_hold:
        np.testing.assert_allclose(p.rotation, held.rotation)
        np.testing.assert_allclose(p.arkit, held.arkit)
    jaw = np.array([p.arkit[ARKIT_INDEX["jawOpen"]] for p in coasting])
    assert np.all(np.diff(jaw) <= 1e-7)
    # Smoothstep over 1 s moves at most 1.5 x the distance per second: 5 % a frame.
    assert np.max(-np.diff(jaw)) <= 0.6 * 1.5 / FPS + 1e-6
    confidence = [p.confidence for p in coasting]
    assert all(a >= b for a, b in zip(confidence, confidence[1:])) and confidence[-1] < held.confidence

    assert 60 / FPS > options.hold_seconds + options.ease_seconds
    out, neutral = coasting[-1], FaceParams.neutral()
    np.testing.assert_allclose(out.rotation, neutral.rotation, atol=1e-7)
    np.testing.assert_allclose(out.arkit, neutral.arkit, atol=1e-7)
    np.testing.assert_allclose(out.translation, neutral.translation, atol=1e-7)
    assert out.confidence == 0.0

    back_at = lost_at + 60 / FPS
    resumed = [smoother.update(_face(yaw=0.4, jaw=0.6), back_at + k / FPS) for k in range(1, 16)]
    assert resumed[0].face and resumed[0].emotion.source == "test"
    first_jaw = resumed[0].arkit[ARKIT_INDEX["jawOpen"]]
    assert 0.0 < first_jaw < 0.6 * 0.9  # no jump to the target
    assert abs(resumed[-1].arkit[ARKIT_INDEX["jawOpen"]] - 0.6) < 0.06  # there within half a second
    assert abs(resumed[-1].rotation[1] - 0.4) < 0.04


def test_face_back_within_the_hold_continues_from_the_held_values():
    smoother = FaceParamsSmoother()
    for k in range(30):
        held = smoother.update(_face(jaw=0.5), k / FPS)
    smoother.update(None, 30 / FPS)
    back = smoother.update(_face(jaw=0.5), 31 / FPS)
    assert back.face
    np.testing.assert_allclose(back.arkit, held.arkit, atol=1e-6)


def test_no_face_from_the_start_is_neutral():
    out = FaceParamsSmoother().update(None, 0.0)
    assert not out.face and out.confidence == 0.0 and out.emotion is None
    np.testing.assert_array_equal(out.arkit, 0.0)


@pytest.mark.parametrize("next_time", [0.5, 3.0], ids=["backwards", "jump"])
def test_time_going_backwards_or_jumping_restarts_from_the_input(next_time):
    smoother = FaceParamsSmoother()
    for k in range(30):
        smoother.update(_face(jaw=0.1), 1.0 + k / FPS)
    out = smoother.update(_face(jaw=0.9), next_time)
    assert out.arkit[ARKIT_INDEX["jawOpen"]] == pytest.approx(0.9)


def test_weights_are_clipped_and_groups_cover_the_eye_channels():
    params = _face()
    params.arkit[:] = 1.3
    out = FaceParamsSmoother().update(params, 0.0)
    assert out.arkit.dtype == np.float32 and out.arkit.max() == 1.0
    eye_names = {ARKIT_NAMES[i] for i in EYE_CHANNELS}
    assert len(eye_names) == 14 and all(n.startswith("eye") for n in eye_names)


def test_bad_shapes_and_settings_are_refused():
    params = _face()
    params.arkit = np.zeros(51, np.float32)
    with pytest.raises(ValueError, match="arkit"):
        FaceParamsSmoother().update(params, 0.0)
    with pytest.raises(AvatarLiveError):
        OneEuroSettings(min_cutoff=0.0, beta=1.0)
    with pytest.raises(AvatarLiveError):
        SmootherOptions(DEFAULTS.head, DEFAULTS.jaw_mouth, DEFAULTS.eyes, DEFAULTS.gaze, ease_seconds=0.0)


def test_a_stream_that_starts_without_a_face_stays_neutral_then_tracks():
    smoother = FaceParamsSmoother()
    for i in range(5):
        out = smoother.update(None, i / 30)
        assert out.face is False and not out.arkit.any()
    face = FaceParams.neutral()
    face.face, face.confidence = True, 1.0
    face.arkit[ARKIT_NAMES.index("jawOpen")] = 0.7
    out = smoother.update(face, 5 / 30)
    assert out.face and out.arkit[ARKIT_NAMES.index("jawOpen")] == pytest.approx(0.7)


def test_flame_parameters_are_smoothed_held_and_eased_to_neutral():
    from avatar_live.types import FlameParams

    smoother = FaceParamsSmoother()
    face = FaceParams.neutral()
    face.face, face.confidence = True, 1.0
    face.flame = FlameParams(np.ones(100, np.float32), np.full(50, 2.0, np.float32), np.array([0.3, 0, 0], np.float32),
                             np.zeros(3, np.float32), np.zeros(3, np.float32))
    out = smoother.update(face, 0.0)
    assert out.flame.expression[0] == pytest.approx(2.0) and out.flame.jaw[0] == pytest.approx(0.3)
    assert out.flame.shape[0] == 1.0  # identity passes through unfiltered
    held = smoother.update(None, 0.2)
    assert held.flame.expression[0] == pytest.approx(2.0)
    for t in np.arange(0.3, 2.0, 0.1):  # past hold (0.5 s) and ease (1 s)
        gone = smoother.update(None, float(t))
    assert not gone.flame.expression.any() and not gone.flame.jaw.any()

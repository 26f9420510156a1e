"""The demo source: the animated astronaut, checked with the tracker that consumes it.

Every expression in the script must be visible to real MediaPipe FaceMesh, measured the way
a landmark solver would: distances between landmarks, normalised by the outer eye-corner
distance (33-263).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from avatar_live.capture.demo import EXPRESSIONS, DemoOptions, DemoSource
from avatar_live.errors import AvatarLiveError

face_mesh = pytest.importorskip("mediapipe.python.solutions.face_mesh")

CYCLE = DemoOptions().cycle_seconds
SCRIPT_TIMES = np.arange(0.0, CYCLE, 0.05)  # where the script is searched


@pytest.fixture(scope="module")
def demo() -> DemoSource:
    return DemoSource.create_from_options(DemoOptions())


@pytest.fixture(scope="module")
def mesh():
    with face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as tracker:
        yield tracker


def _landmarks(mesh, image: np.ndarray) -> np.ndarray | None:
    """478 x 2 pixel landmarks, or None when FaceMesh finds no face."""
    result = mesh.process(image)
    if not result.multi_face_landmarks:
        return None
    height, width = image.shape[:2]
    return np.array([(p.x * width, p.y * height) for p in result.multi_face_landmarks[0].landmark])


def _measures(lm: np.ndarray) -> dict[str, float]:
    """Expression measures in eye-corner distances."""
    eye_distance = np.linalg.norm(lm[263] - lm[33])

    def gap(a: int, b: int) -> float:
        return float(np.linalg.norm(lm[a] - lm[b]) / eye_distance)

    right_eye_centre, left_eye_centre = (lm[159] + lm[145]) / 2, (lm[386] + lm[374]) / 2
    return {
        "lips": gap(13, 14),
        "right_eye": gap(159, 145),
        "left_eye": gap(386, 374),
        "mouth_width": gap(61, 291),
        "brows": float((np.linalg.norm(lm[105] - right_eye_centre) + np.linalg.norm(lm[334] - left_eye_centre))
                       / (2 * eye_distance)),
    }


def _peak(demo: DemoSource, score) -> float:
    """The time in the cycle where score(expression weights) is highest."""
    return float(SCRIPT_TIMES[np.argmax([score(demo.expression_at(t)) for t in SCRIPT_TIMES])])


def _neutral_time(demo: DemoSource) -> float:
    return next(float(t) for t in SCRIPT_TIMES if not any(demo.expression_at(t).values()))


@pytest.fixture(scope="module")
def neutral(demo, mesh) -> dict[str, float]:
    lm = _landmarks(mesh, demo.frame_at(_neutral_time(demo)))
    assert lm is not None
    return _measures(lm)


def _measured_at_peak(demo, mesh, score) -> dict[str, float]:
    lm = _landmarks(mesh, demo.frame_at(_peak(demo, score)))
    assert lm is not None, "FaceMesh lost the face at an expression's peak"
    return _measures(lm)


def test_frames_have_the_requested_size_and_are_pure_functions_of_time():
    source = DemoSource.create_from_options(DemoOptions(size=(352, 288), fps=15.0))
    assert (source.size, source.fps, source.live, source.stills, source.frame_count) == ((352, 288), 15.0, True, False, None)
    image = source.frame_at(1.3)
    assert image.shape == (288, 352, 3) and image.dtype == np.uint8
    assert np.array_equal(image, source.frame_at(1.3))
    assert not np.array_equal(image, source.frame_at(1.5)), "the demo must move"


def test_the_script_loops_and_every_expression_reaches_full_strength(demo):
    weights = [demo.expression_at(t) for t in SCRIPT_TIMES]
    assert all(set(w) == set(EXPRESSIONS) for w in weights)
    assert all(0.0 <= v <= 1.0 for w in weights for v in w.values())
    for name in EXPRESSIONS:
        assert max(w[name] for w in weights) > 0.99, name
    assert demo.expression_at(2.0) == demo.expression_at(2.0 + CYCLE)
    assert np.array_equal(demo.frame_at(2.0), demo.frame_at(2.0 + CYCLE))


def test_facemesh_tracks_the_face_through_the_whole_cycle(demo, mesh):
    lost = [t for t in np.arange(0.0, CYCLE, 0.5) if _landmarks(mesh, demo.frame_at(t)) is None]
    assert lost == []


def test_opening_the_jaw_parts_the_lips(demo, mesh, neutral):
    # The photo smiles with parted lips (gap about 0.12); open, the gap is about 0.25.
    opened = _measured_at_peak(demo, mesh, lambda w: w["jawOpen"] - w["browInnerUp"])
    assert opened["lips"] > neutral["lips"] + 0.06
    assert opened["lips"] > 1.5 * neutral["lips"]


def test_a_blink_closes_both_eyes(demo, mesh, neutral):
    closed = _measured_at_peak(demo, mesh, lambda w: min(w["eyeBlinkLeft"], w["eyeBlinkRight"]))
    for eye in ("right_eye", "left_eye"):
        assert closed[eye] < 0.65 * neutral[eye], eye


def test_a_wink_closes_only_the_left_eye(demo, mesh, neutral):
    wink = _measured_at_peak(demo, mesh, lambda w: w["eyeBlinkLeft"] - w["eyeBlinkRight"])
    assert wink["left_eye"] < 0.65 * neutral["left_eye"]
    assert wink["right_eye"] > 0.85 * neutral["right_eye"]


def test_a_smile_widens_the_mouth(demo, mesh, neutral):
    smile = _measured_at_peak(demo, mesh, lambda w: w["mouthSmileLeft"] + w["mouthSmileRight"])
    assert smile["mouth_width"] > 1.08 * neutral["mouth_width"]


def test_raised_brows_sit_higher_above_the_eyes(demo, mesh, neutral):
    raised = _measured_at_peak(demo, mesh, lambda w: w["browOuterUpLeft"] + w["browInnerUp"] - w["jawOpen"])
    assert raised["brows"] > 1.12 * neutral["brows"]


def test_skipping_the_warp_where_no_expression_reaches_changes_nothing_visible(demo, monkeypatch):
    # A frame inverts the expressions' warp only around the face; beyond it, the photo
    # is shown under the head's motion alone. Inverting everywhere must look the same.
    from avatar_live.capture import demo_warp

    monkeypatch.setattr(demo_warp, "SUPPORT_EPS", -1.0)  # every channel moves every node
    everywhere = DemoSource.create_from_options(DemoOptions())
    for t in (0.3, 1.75, 4.62, 8.1):
        difference = np.abs(demo.frame_at(t).astype(int) - everywhere.frame_at(t))
        assert difference.max() <= 2, t


def test_read_counts_frames_and_skips_ahead_instead_of_lagging():
    source = DemoSource.create_from_options(DemoOptions(size=(160, 120), fps=30.0))
    before = time.perf_counter()
    frames = [source.read() for _ in range(4)]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [f.time for f in frames] == pytest.approx([0.0, 1 / 30, 2 / 30, 3 / 30])
    for frame in frames:
        # Paced: never handed out before it is due.
        assert frame.stamps["capture"] >= before + frame.time
        assert np.array_equal(frame.image, source.frame_at(frame.time))

    time.sleep(0.5)  # the reader falls behind
    late = source.read()
    assert late.index == 4
    assert late.time >= 0.5, "a late reader gets the frame due now, not the next one in line"


def test_impossible_options_are_refused_with_a_clear_message():
    with pytest.raises(AvatarLiveError, match="size"):
        DemoSource.create_from_options(DemoOptions(size=(0, 480)))
    with pytest.raises(AvatarLiveError, match="fps"):
        DemoSource.create_from_options(DemoOptions(fps=0.0))

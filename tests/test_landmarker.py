"""The optional FaceLandmarker tracker: learned blendshapes, and clear errors for bad model files."""

import numpy as np
import pytest
from conftest import shared_file

from avatar_live.errors import AvatarLiveError
from avatar_live.tracking.landmarker import FaceLandmarkerTracker, LandmarkerOptions
from avatar_live.types import ARKIT_INDEX


@pytest.fixture(scope="module")
def landmarker():
    tracker = FaceLandmarkerTracker.create_from_options(LandmarkerOptions(shared_file("models/face_landmarker.task")))
    yield tracker
    tracker.close()


def test_a_wink_reads_on_the_subjects_own_eye(landmarker):
    from avatar_live.capture.demo import DemoOptions, DemoSource

    demo = DemoSource.create_from_options(DemoOptions())
    wink_time = next(t for t in np.arange(0, 9, 0.05)
                     if demo.expression_at(t)["eyeBlinkLeft"] > 0.95 and demo.expression_at(t)["eyeBlinkRight"] < 0.05)
    track = landmarker.detect(demo.frame_at(wink_time))
    assert track is not None and track.landmarks.shape == (478, 3)
    weights = track.blendshapes
    assert weights.shape == (52,) and weights[ARKIT_INDEX["tongueOut"]] == 0.0
    assert weights[ARKIT_INDEX["eyeBlinkLeft"]] > weights[ARKIT_INDEX["eyeBlinkRight"]] + 0.1


def test_video_frames_accept_repeated_timestamps(landmarker):
    from avatar_live.capture.demo import DemoOptions, DemoSource

    demo = DemoSource.create_from_options(DemoOptions(size=(320, 240)))
    tracks = [landmarker.detect_for_video(demo.frame_at(t), t) for t in (0.0, 0.0, 0.5, 0.4)]
    assert all(t is not None for t in tracks)


@pytest.mark.parametrize("content", [None, b"junk", "truncated"])
def test_bad_model_files_are_one_line_errors(tmp_path, content):
    path = tmp_path / "face_landmarker.task"
    if content == "truncated":
        path.write_bytes(shared_file("models/face_landmarker.task").read_bytes()[:100_000])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(AvatarLiveError, match="face_landmarker.task") as info:
        FaceLandmarkerTracker.create_from_options(LandmarkerOptions(path))
    assert "\n" not in str(info.value)

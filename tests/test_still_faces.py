"""Stills whose face the trackers' own (short-range) detector misses: a group photo's faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared_file

from avatar_live.tracking.base import detect_still, main_face
from avatar_live.types import NUM_LANDMARKS, Track

# The largest of multi_face.jpg's five faces, as MediaPipe's full-range detector boxes it
# (x0, y0, x1, y1); FaceMesh's own detector finds none of the five.
LARGEST_FACE = (679, 308, 797, 426)
NOSE_TIP = 1


def _centre_track(image: np.ndarray) -> Track:
    """A stand-in tracker's face: every landmark at the image's centre."""
    height, width = image.shape[:2]
    landmarks = np.tile(np.float32([width / 2, height / 2, 0.0]), (NUM_LANDMARKS, 1))
    return Track(landmarks=landmarks, box=(width / 2 - 1, height / 2 - 1, width / 2 + 1, height / 2 + 1), score=1.0)


def test_the_full_range_detector_runs_only_when_the_still_has_no_face():
    image = np.zeros((240, 320, 3), np.uint8)
    asked = []
    track = detect_still(_centre_track, image, lambda frame: asked.append(frame) or [])
    assert track is not None and asked == []


def test_a_face_found_only_in_the_crop_is_mapped_back_to_the_image():
    image = np.zeros((700, 1000, 3), np.uint8)
    small_face = (500.0, 300.0, 540.0, 340.0)  # its 80 px crop is enlarged before tracking
    boxes = [(100.0, 100.0, 130.0, 130.0), small_face]
    # The stand-in tracker misses the whole image and finds a face in anything smaller.
    track = detect_still(lambda frame: None if frame.shape == image.shape else _centre_track(frame), image,
                         lambda frame: boxes)
    assert track is not None
    np.testing.assert_allclose(track.landmarks[:, :2], np.tile([520.0, 320.0], (NUM_LANDMARKS, 1)), atol=0.01)
    assert track.box == pytest.approx((520 - 1 / 2.4, 320 - 1 / 2.4, 520 + 1 / 2.4, 320 + 1 / 2.4), abs=0.01)


def test_the_main_face_is_the_largest_then_the_most_central():
    shape = (100, 200, 3)
    small_central, corner = (90, 40, 110, 60), (0, 0, 30, 30)
    assert main_face([small_central, corner], shape) == corner
    central, edge = (85, 35, 115, 65), (170, 0, 200, 30)  # as large as `corner`
    assert main_face([edge, corner, central], shape) == central
    assert main_face([], shape) is None


def _check_largest_face(track: Track | None) -> None:
    assert track is not None
    x0, y0, x1, y1 = LARGEST_FACE
    assert x0 < track.landmarks[NOSE_TIP, 0] < x1 and y0 < track.landmarks[NOSE_TIP, 1] < y1
    # The detector's box is tight: forehead and chin landmarks may reach a little beyond it.
    margin = 0.1 * (x1 - x0)
    points = track.landmarks[:, :2]
    assert (points.min(axis=0) > (x0 - margin, y0 - margin)).all() and (points.max(axis=0) < (x1 + margin, y1 + margin)).all()
    assert track.box == pytest.approx((*points.min(axis=0), *points.max(axis=0)))


@pytest.fixture(scope="module")
def group_photo() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(shared_file("images/multi_face.jpg"))), cv2.COLOR_BGR2RGB)


def test_facemesh_finds_the_largest_face_of_a_group_photo(group_photo):
    from avatar_live.tracking.facemesh import FaceMeshTracker

    tracker = FaceMeshTracker.create_from_options()
    try:
        _check_largest_face(tracker.detect(group_photo))
    finally:
        tracker.close()


def test_landmarker_finds_the_largest_face_of_a_group_photo(group_photo):
    from avatar_live.tracking.landmarker import FaceLandmarkerTracker, LandmarkerOptions

    tracker = FaceLandmarkerTracker.create_from_options(LandmarkerOptions(shared_file("models/face_landmarker.task")))
    try:
        track = tracker.detect(group_photo)
        _check_largest_face(track)
        assert track.blendshapes is not None and track.blendshapes.shape == (52,)
    finally:
        tracker.close()

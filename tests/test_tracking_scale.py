"""Large video frames are tracked on a shrunk copy, with the landmarks in the frame's own pixels.

Checked with real FaceMesh on frames of a real clip, enlarged to 1920 x 1080: the landmarks
from the shrunk copy must land where tracking the full frame puts them.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared_file

from avatar_live.capture.sources import MirroredSource, VideoFileSource
from avatar_live.pipeline.stages import TrackStage
from avatar_live.tracking.base import TRACKING_SIDE, track_in_image, tracking_image
from avatar_live.types import Frame, Packet, Track

pytest.importorskip("mediapipe.python.solutions.face_mesh")

from avatar_live.tracking.facemesh import FaceMeshTracker  # noqa: E402

FULL_HD = (1920, 1080)


@pytest.fixture(scope="module")
def clip_frames() -> list[np.ndarray]:
    """The first 12 frames of a 640 x 360 clip with one face, RGB."""
    with VideoFileSource(shared_file("video/single_face.mp4")) as source:
        return [source.read().image for _ in range(12)]


def _enlarged(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, FULL_HD, interpolation=cv2.INTER_CUBIC)


def _track_all(images: list[np.ndarray], follow) -> list[Track | None]:
    tracker = FaceMeshTracker.create_from_options()
    try:
        return [follow(tracker, i, image) for i, image in enumerate(images)]
    finally:
        tracker.close()


def test_only_frames_larger_than_the_limit_are_shrunk_keeping_their_aspect():
    assert tracking_image(np.zeros((480, 640, 3), np.uint8)) is None
    assert tracking_image(np.zeros((640, 360, 3), np.uint8)) is None
    assert tracking_image(np.zeros((1080, 1920, 3), np.uint8)).shape == (360, 640, 3)
    assert tracking_image(np.zeros((1920, 1080, 3), np.uint8)).shape == (640, 360, 3)
    assert max(tracking_image(np.zeros((768, 1366, 3), np.uint8)).shape[:2]) == TRACKING_SIDE


def test_a_track_in_the_shrunk_copy_maps_back_per_axis():
    landmarks = np.tile(np.array([[64.0, 36.0, -10.0]], np.float32), (478, 1))
    track = Track(landmarks=landmarks, box=(64.0, 36.0, 128.0, 72.0), score=0.9)
    full = track_in_image(track, (360, 640, 3), (1080, 1920, 3))
    assert np.allclose(full.landmarks[0], [192.0, 108.0, -30.0])
    assert full.box == pytest.approx((192.0, 108.0, 384.0, 216.0))
    assert full.score == 0.9
    assert track_in_image(None, (360, 640, 3), (1080, 1920, 3)) is None


def _staged_tracks(frames: list[np.ndarray]) -> list[Track | None]:
    """The tracks the pipeline's tracking stage gives a video of these frames."""
    stage = TrackStage(FaceMeshTracker.create_from_options(), stills=False)
    try:
        return [stage(Packet(Frame(i, i / 30, image))).track for i, image in enumerate(frames)]
    finally:
        stage.close()


def test_landmarks_tracked_on_the_shrunk_copy_land_where_full_resolution_tracking_puts_them(clip_frames):
    large = [_enlarged(image) for image in clip_frames]
    full = _track_all(large, lambda tracker, i, image: tracker.detect_for_video(image, i / 30))
    shrunk = _staged_tracks(large)
    assert all(track is not None for track in full + shrunk)
    for a, b in zip(full, shrunk):
        eye_distance = np.linalg.norm(a.landmarks[263, :2] - a.landmarks[33, :2])
        distance = np.linalg.norm(a.landmarks[:, :2] - b.landmarks[:, :2], axis=1).mean()
        assert distance < 0.02 * eye_distance  # 0.5 % measured: 1.5 px in 1080p
        assert b.box[2] > 640, "the landmarks are in the full frame's pixels"


def test_frames_within_the_limit_track_exactly_as_before(clip_frames):
    direct = _track_all(clip_frames, lambda tracker, i, image: tracker.detect_for_video(image, i / 30))
    staged = _staged_tracks(clip_frames)
    for a, b in zip(direct, staged):
        assert np.array_equal(a.landmarks, b.landmarks)


def test_a_large_video_comes_with_its_tracking_image_mirrored_with_it(tmp_path, clip_frames):
    path = tmp_path / "large.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, FULL_HD)
    for image in clip_frames[:3]:
        writer.write(cv2.cvtColor(_enlarged(image), cv2.COLOR_RGB2BGR))
    writer.release()

    with VideoFileSource(path) as source:
        plain = source.read()
    assert plain.image.shape == (1080, 1920, 3)
    assert np.array_equal(plain.tracking_image, tracking_image(plain.image))
    with MirroredSource(VideoFileSource(path)) as source:
        mirrored = source.read()
    assert np.array_equal(mirrored.image, cv2.flip(plain.image, 1))
    assert np.array_equal(mirrored.tracking_image, cv2.flip(plain.tracking_image, 1))

    with VideoFileSource(shared_file("video/single_face.mp4")) as source:
        assert source.read().tracking_image is None


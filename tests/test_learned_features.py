"""The learned models' input: pose-free landmark features, and mirroring."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from avatar_live.learned.expression import load_expression_net
from avatar_live.learned.features import (
    FEATURE_SIZE,
    LandmarkFeatures,
    mirror_arkit,
    mirror_landmarks,
    to_head_frame,
)
from avatar_live.solver.pose import HEAD_SPACE
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES, NUM_LANDMARKS


@pytest.fixture(scope="module")
def features() -> LandmarkFeatures:
    return load_expression_net().features


def _in_pixels(head_points: np.ndarray, rotation: np.ndarray, scale: float, shift) -> np.ndarray:
    """Head-space points posed and placed in an image (y down, z away from the camera)."""
    return ((scale * head_points @ rotation.T) * HEAD_SPACE + np.array([*shift, 0.0])).astype(np.float32)


def test_the_mirror_index_pairs_each_landmark_with_its_counterpart(features):
    index = features.mirror_index
    assert sorted(index.tolist()) == list(range(NUM_LANDMARKS))
    assert (index[index] == np.arange(NUM_LANDMARKS)).all()
    assert index[33] == 263 and index[61] == 291 and index[468] == 473  # eye corners, mouth corners, irises
    assert index[1] == 1 and index[152] == 152  # the nose tip and chin lie on the midline
    template = features.template
    assert np.allclose(template[index] * [-1, 1, 1], template, atol=1e-9)  # the template is symmetric


def test_head_pose_and_size_do_not_change_the_expression_features(features):
    rng = np.random.default_rng(3)
    face = features.template.copy()
    face[[13, 14]] += [[0, 0.05, 0], [0, -0.08, 0]]  # lips parted
    frontal, frame = to_head_frame(_in_pixels(face, np.eye(3), 150.0, (320, 240)))
    assert np.allclose(frontal, face, atol=1e-5)  # the template sits in its own frame
    for _ in range(5):
        rotation = Rotation.from_euler("xyz", rng.uniform(-25, 25, 3), degrees=True).as_matrix()
        turned, turned_frame = to_head_frame(_in_pixels(face, rotation, rng.uniform(60, 300), rng.uniform(100, 500, 2)))
        assert np.allclose(turned, frontal, atol=1e-5)
        assert np.allclose(turned_frame, frame @ rotation.T, atol=1e-6)  # the frame turns with the head
        # ... and the model sees the turn: the features end with the frame's rotation.
        standardized = features(_in_pixels(face, rotation, 100.0, (300, 300)))
        assert np.allclose(standardized[-9:] * features.std[-9:] + features.mean[-9:],
                           (turned_frame - np.eye(3)).ravel(), atol=1e-5)


def test_mirroring_a_face_mirrors_it_in_its_frame(features):
    rng = np.random.default_rng(1)
    face = _in_pixels(features.template + rng.normal(0, 0.02, features.template.shape), np.eye(3), 120.0, (200, 200))
    pair = features.with_mirror(face)
    assert np.allclose(pair[1], features(mirror_landmarks(face, features.mirror_index)), atol=1e-4)


def test_batches_give_the_same_features_as_single_faces(features):
    rng = np.random.default_rng(0)
    faces = np.stack([_in_pixels(features.template + rng.normal(0, 0.01, features.template.shape), np.eye(3),
                                 100.0, (200, 200)) for _ in range(4)])
    batch = features(faces)
    assert batch.shape == (4, FEATURE_SIZE) and batch.dtype == np.float32
    for face, row in zip(faces, batch):
        assert np.allclose(features(face), row, atol=1e-5)
    with pytest.raises(ValueError, match="478"):
        features(faces[:, :400])


def test_mirroring_weights_swaps_left_and_right_names():
    weights = np.zeros(len(ARKIT_NAMES), np.float32)
    weights[ARKIT_INDEX["eyeBlinkLeft"]] = 0.9
    weights[ARKIT_INDEX["mouthLeft"]] = 0.4
    weights[ARKIT_INDEX["jawOpen"]] = 0.3
    mirrored = mirror_arkit(weights)
    assert mirrored[ARKIT_INDEX["eyeBlinkRight"]] == pytest.approx(0.9)
    assert mirrored[ARKIT_INDEX["mouthRight"]] == pytest.approx(0.4)  # moving to the left becomes to the right
    assert mirrored[ARKIT_INDEX["jawOpen"]] == pytest.approx(0.3)
    assert np.array_equal(mirror_arkit(mirrored), weights)

"""Training: the data split, augmentation, the tracking cache, and a tiny run that learns.

The full models are never retrained here (`avatar-live train` takes minutes); these check
the pieces on a few frames.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA, requires_extra, shared_file

from avatar_live.learned.expression import ExpressionNet
from avatar_live.learned.features import mirror_arkit
from avatar_live.training import datasets
from avatar_live.training.augment import (
    Augmentation,
    augment_image,
    random_augmentation,
)
from avatar_live.training.expression import ExpressionRecipe, _bce, fit_features
from avatar_live.training.extract import ClipPlan, extract_clips
from avatar_live.training.fidelity import compare, track_clip
from avatar_live.training.fit import FitOptions, fit_mlp
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES


def test_validation_people_never_appear_in_training():
    shared_file("train/manifest.csv")
    clips = datasets.training_clips(SHARED_DATA)
    held_out = {clip.person for clip in clips if clip.validation}
    trained = {clip.person for clip in clips if not clip.validation}
    assert held_out and trained and not held_out & trained
    assert 0.1 < len(held_out) / len(held_out | trained) < 0.3
    # The split is a fixed function of the person, not of the clips' order.
    assert all(datasets.is_validation_person(person) for person in held_out)


def test_augmentation_is_reproducible_and_mirrors_on_request():
    image = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    camera = random_augmentation(np.random.default_rng(5), mirror=True)
    first = augment_image(image, camera, np.random.default_rng(1))
    again = augment_image(image, camera, np.random.default_rng(1))
    assert np.array_equal(first, again)
    assert first.shape == (round(60 * camera.scale), round(80 * camera.scale), 3)
    flipped = augment_image(image, Augmentation(mirror=True), np.random.default_rng(1))
    assert np.array_equal(flipped, image[:, ::-1])


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    """The first 16 frames of single_face.mp4 (a smile starts in them)."""
    source = cv2.VideoCapture(str(shared_file("video/single_face.mp4")))
    path = tmp_path_factory.mktemp("clip") / "short.mp4"
    writer = None
    for _ in range(16):
        ok, frame = source.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, frame.shape[1::-1])
        writer.write(frame)
    writer.release()
    source.release()
    return path


def test_tracking_results_are_cached_per_clip_and_setting(short_clip, tmp_path):
    clip = datasets.Clip(short_clip, "someone", validation=False)
    task = shared_file("models/face_landmarker.task")
    plan = ClipPlan(clip, stride=2, augmented=1, seed=0)
    (data,) = extract_clips([plan], task, tmp_path, workers=1)
    assert data.landmarks.shape == (2, 8, 478, 3)  # the clean pass and one mirrored camera
    assert list(data.mirrored) == [False, True]
    assert np.isfinite(data.teacher).all() and np.isfinite(data.landmarks).all()
    (cached,) = list(tmp_path.iterdir())
    stamp = cached.stat().st_mtime_ns
    (again,) = extract_clips([plan], task, tmp_path, workers=1)
    assert cached.stat().st_mtime_ns == stamp and np.array_equal(again.landmarks, data.landmarks)
    extract_clips([dataclasses.replace(plan, seed=1)], task, tmp_path, workers=1)  # another camera: tracked anew
    assert len(list(tmp_path.iterdir())) == 2


def test_a_tiny_training_run_learns_to_read_a_smile():
    requires_extra("emoca", "torch")
    tracks = track_clip(shared_file("video/single_face.mp4"), shared_file("models/face_landmarker.task"))
    found = [n for n, track in enumerate(tracks.mesh) if track is not None and np.isfinite(tracks.reference[n]).all()]
    landmarks = np.stack([tracks.mesh[n].landmarks for n in found])
    teacher = tracks.reference[found].astype(np.float32)
    train, held = slice(0, None, 2), slice(1, None, 2)  # every other frame learns, the rest checks
    recipe = ExpressionRecipe(template_faces=20)
    features, pairs = fit_features(landmarks[train], recipe)
    targets = np.stack([teacher[train], mirror_arkit(teacher[train])], axis=1).reshape(-1, len(ARKIT_NAMES))
    options = FitOptions(hidden=(32,), epochs=60, batch=16, learning_rate=3e-3, threads=1)
    mlp, _ = fit_mlp(pairs.reshape(len(targets), -1), targets, _bce, len(ARKIT_NAMES), options)
    net = ExpressionNet(features, mlp)
    report = compare("held-out frames", net(landmarks[held]), teacher[held])
    assert report.r_of("mouthSmileLeft") > 0.8 and report.r_of("mouthSmileRight") > 0.8
    # ... and its errors on frames it never saw are smaller than always answering the mean.
    smile = ARKIT_INDEX["mouthSmileLeft"]
    error = np.abs(net(landmarks[held])[:, smile] - teacher[held][:, smile]).mean()
    assert error < 0.5 * np.abs(teacher[train][:, smile].mean() - teacher[held][:, smile]).mean()

"""The renderer's per-frame posing (face/posing.py) against the reference functions in face/rig.py."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from avatar_live.face.builtin import build_builtin_head
from avatar_live.face.posing import RigPoser
from avatar_live.face.rig import JOINT_NAMES, pose_rig, vertex_normals


@functools.lru_cache(maxsize=1)
def _rig_and_poser():
    rig = build_builtin_head()
    return rig, RigPoser(rig)


def _rotations(rng: np.random.Generator) -> np.ndarray:
    rotations = np.zeros((len(JOINT_NAMES), 3))
    rotations[JOINT_NAMES.index("neck")] = rng.normal(0.0, 0.3, 3)
    rotations[JOINT_NAMES.index("jaw")] = (rng.uniform(0.0, 0.3), 0.0, 0.0)
    rotations[JOINT_NAMES.index("left_eye")] = rotations[JOINT_NAMES.index("right_eye")] = rng.normal(0.0, 0.2, 3)
    return rotations


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pose_matches_the_reference_with_every_shape_and_joint_moving(seed):
    rig, poser = _rig_and_poser()
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.0, 1.0, len(rig.blendshape_names)).astype(np.float32)
    rotations = _rotations(rng)
    expected = pose_rig(rig, weights, rotations)
    posed = poser.pose(weights, rotations)
    assert posed.dtype == np.float32 and posed.shape == rig.vertices.shape
    np.testing.assert_allclose(posed, expected, atol=1e-5)
    np.testing.assert_allclose(poser.normals(posed), vertex_normals(expected, rig.faces), atol=1e-4)


def test_rest_pose_and_a_few_shapes():
    rig, poser = _rig_and_poser()
    weights = np.zeros(len(rig.blendshape_names), np.float32)
    np.testing.assert_array_equal(poser.pose(weights), rig.vertices)
    weights[[3, 17]] = (0.5, 1.0)
    np.testing.assert_allclose(poser.pose(weights, np.zeros((len(JOINT_NAMES), 3))), pose_rig(rig, weights), atol=1e-6)


def test_normals_are_unit_length():
    rig, poser = _rig_and_poser()
    normals = poser.normals(rig.vertices)
    used = np.zeros(len(rig.vertices), bool)
    used[rig.faces.ravel()] = True
    np.testing.assert_allclose(np.linalg.norm(normals[used], axis=1), 1.0, atol=1e-5)


def test_wrong_shapes_are_refused():
    rig, poser = _rig_and_poser()
    with pytest.raises(ValueError, match="blendshapes"):
        poser.pose(np.zeros(len(rig.blendshape_names) + 1, np.float32))
    with pytest.raises(ValueError, match="rotations"):
        poser.pose(np.zeros(len(rig.blendshape_names), np.float32), np.ones((2, 3)))

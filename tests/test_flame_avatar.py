"""The FLAME avatar: a rig built from a FLAME-format file, rendered, and fitted through landmarks."""

from __future__ import annotations

import numpy as np
import pytest

import flame_files
from avatar_live.face.builtin_head import build_builtin_head
from avatar_live.face.drive import FLAME_EXPRESSION_NAMES
from avatar_live.face.flame import load_flame
from avatar_live.face.flame_rig import flame_rig
from avatar_live.face.rig import JOINT_NAMES, LandmarkEmbedding, embed_landmarks, pose_rig
from avatar_live.solver.linear_fit import BoundedLinearFit
from avatar_live.solver.retarget import JAW_OPEN, LandmarkRetarget, rig_landmark_basis


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    model = load_flame(flame_files.write_flame(tmp_path_factory.mktemp("flame") / "generic_model.pkl"))
    # The built-in head's 150 landmark indices, on random FLAME triangles.
    indices = build_builtin_head().embedding.landmark_indices
    rng = np.random.default_rng(3)
    bary = rng.uniform(0.1, 1.0, (len(indices), 3))
    embedding = LandmarkEmbedding(np.asarray(indices), rng.choice(len(model.faces), len(indices), replace=False),
                                  (bary / bary.sum(axis=1, keepdims=True)).astype(np.float32))
    return flame_rig(model, embedding)


def test_flame_rig_has_flames_expression_shapes_and_joints(rig):
    assert rig.name == "flame" and rig.vertices.shape == (5023, 3) and rig.faces.shape == (9976, 3)
    assert rig.blendshape_names == FLAME_EXPRESSION_NAMES and rig.blendshapes.shape == (50, 5023, 3)
    assert rig.skin_weights.shape == (5023, 5) and rig.eye_scale > 0


def test_fit_recovers_expression_and_jaw_used_to_make_landmarks(rig):
    basis = rig_landmark_basis(rig)
    assert basis.names[-1] == JAW_OPEN
    rng = np.random.default_rng(0)
    expression = rng.uniform(-1.5, 1.5, 50).astype(np.float32)
    jaw = 0.15
    rotations = np.zeros((len(JOINT_NAMES), 3))
    rotations[JOINT_NAMES.index("jaw"), 0] = jaw
    observed = embed_landmarks(pose_rig(rig, expression, rotations), rig.faces, rig.embedding)
    fitted = BoundedLinearFit(basis, prior=1e-6).fit(observed - basis.neutral)
    np.testing.assert_allclose(fitted[:50], expression, atol=0.05)
    assert fitted[-1] == pytest.approx(jaw, abs=0.01)


def test_retargeting_the_built_in_heads_motion_explains_it_on_flame(rig):
    head = build_builtin_head()
    source = embed_landmarks(head.vertices, head.faces, head.embedding)
    weights = np.zeros(len(head.blendshape_names), np.float32)
    weights[head.blendshape_names.index("jawOpen")] = 0.8
    motion = embed_landmarks(pose_rig(head, weights), head.faces, head.embedding) - source
    retarget = LandmarkRetarget(head.embedding.landmark_indices, source, rig_landmark_basis(rig), prior=1e-4)
    params = retarget.fit(motion)
    assert params.shape == (51,) and np.all(np.abs(params[:50]) <= 3.0) and 0.0 <= params[-1] <= 0.5
    assert np.abs(params).max() > 0  # the motion was explained by something
    np.testing.assert_allclose(retarget.fit(np.zeros_like(motion)), 0.0, atol=1e-9)  # no motion, no expression

"""The FLAME avatar: a rig built from a FLAME-format file, rendered, and fitted through landmarks."""

from __future__ import annotations

import flame_files
import numpy as np
import pytest

from avatar_live.face.builtin import build_builtin_head
from avatar_live.face.drive import FLAME_EXPRESSION_NAMES
from avatar_live.face.flame import load_flame
from avatar_live.face.flame_rig import flame_rig
from avatar_live.face.rig import (
    JOINT_NAMES,
    LandmarkEmbedding,
    embed_landmarks,
    pose_rig,
)
from avatar_live.solver.linear_fit import BoundedLinearFit
from avatar_live.solver.retarget import JAW_OPEN, LandmarkRetarget, rig_landmark_basis
from avatar_live.user_folders import HOME_ENV


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


@pytest.fixture
def installed_flame(tmp_path, monkeypatch):
    """A FLAME-format model and an embedding over the built-in head's landmark indices, stored."""
    from avatar_live import model_store
    from avatar_live.app import load_avatar

    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    load_avatar.cache_clear()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    indices = np.asarray(build_builtin_head().embedding.landmark_indices)
    rng = np.random.default_rng(3)
    arrays = flame_files.embedding_arrays(n=len(indices))
    arrays["landmark_indices"] = indices
    arrays["lmk_face_idx"] = rng.choice(9976, len(indices), replace=False)
    np.savez(downloads / "mediapipe_landmark_embedding.npz", **arrays)
    model_store.add_flame(flame_files.write_flame(downloads / "generic_model.pkl"),
                          embedding=downloads / "mediapipe_landmark_embedding.npz")
    yield
    load_avatar.cache_clear()


def test_track_with_the_flame_avatar_writes_flame_parameters(tmp_path, installed_flame):
    import json

    from conftest import shared_file

    from avatar_live.cli import main

    out = tmp_path / "p.jsonl"
    assert main(["track", str(shared_file("video/single_face.mp4")), "-o", str(out), "--avatar", "flame"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    flames = [r["flame"] for r in records if r["face"]]
    assert len(flames) == len(records) == 72
    assert [len(flames[0][k]) for k in ("shape", "expression", "jaw", "global", "cam")] == [100, 50, 3, 3, 3]
    expression = np.array([f["expression"] for f in flames])
    assert np.abs(expression).max() > 0.05 and expression.std(axis=0).max() > 0.01  # it follows his face


def test_render_with_the_flame_avatar(tmp_path, installed_flame):
    import cv2
    from conftest import shared_file

    from avatar_live.cli import main

    out = tmp_path / "flame.mp4"
    assert main(["render", str(shared_file("video/single_face.mp4")), "-o", str(out), "--avatar", "flame",
                 "--size", "160x120"]) == 0
    assert int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT)) == 72


def test_flame_avatar_without_an_installed_model_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from avatar_live.app import load_avatar
    from avatar_live.cli import main

    monkeypatch.setenv(HOME_ENV, str(tmp_path / "empty"))
    load_avatar.cache_clear()
    import cv2

    image = tmp_path / "grey.png"
    cv2.imwrite(str(image), np.full((32, 32, 3), 128, np.uint8))
    assert main(["track", str(image), "-o", str(tmp_path / "x.jsonl"), "--avatar", "flame"]) == 1
    assert "models add-flame" in capsys.readouterr().err

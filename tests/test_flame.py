"""FLAME: restricted loading of the official formats, the numpy and torch forward passes, embeddings."""

from __future__ import annotations

import copyreg
import io
import pickle

import flame_files
import numpy as np
import pytest
from conftest import requires_extra
from scipy.spatial.transform import Rotation

from avatar_live.errors import AvatarLiveError
from avatar_live.face import safe_pickle
from avatar_live.face.embeddings import load_deca_embedding, load_mediapipe_embedding
from avatar_live.face.flame import FLAME_JOINTS, load_flame, pose_flame, shape_flame
from avatar_live.face.rig import JOINT_PARENTS, embed_landmarks

CALLED: list[str] = []


def _record_call() -> None:
    """What a malicious pickle would run; the tests check it never does."""
    CALLED.append("called")


class _Payload:
    def __reduce__(self):
        return (_record_call, ())


@pytest.fixture(scope="module")
def flame_path(tmp_path_factory):
    return flame_files.write_flame(tmp_path_factory.mktemp("flame") / "generic_model.pkl")


@pytest.fixture(scope="module")
def model(flame_path):
    return load_flame(flame_path)


@pytest.fixture(scope="module")
def model64(flame_path):
    return load_flame(flame_path, dtype=np.float64)


def random_parameters(rng: np.random.Generator, model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pose = rng.normal(0, 0.3, (FLAME_JOINTS, 3))
    return rng.normal(0, 1, model.n_shape), rng.normal(0, 1, model.n_expression), pose


@pytest.fixture
def torch():
    """The torch module; only the torch forward pass's tests need it (the emoca extra)."""
    requires_extra("emoca", "torch")
    import torch

    return torch


def reference_forward(model, betas, expression, pose) -> np.ndarray:
    """FLAME written out as smplx does it, in float64, with 4 x 4 transforms and scipy's rotations."""
    v = model.v_template + np.einsum("nds,s->nd", model.shapedirs, betas) + np.einsum("nde,e->nd", model.exprdirs, expression)
    joints = model.j_regressor @ v
    rotations = Rotation.from_rotvec(pose).as_matrix()
    v = v + np.einsum("ndp,p->nd", model.posedirs, (rotations[1:] - np.eye(3)).ravel())
    chain, transforms = [], []
    for j, parent in enumerate(JOINT_PARENTS):
        local = np.eye(4)
        local[:3, :3] = rotations[j]
        local[:3, 3] = joints[j] - (joints[parent] if parent >= 0 else 0)
        chain.append(chain[parent] @ local if parent >= 0 else local)
        rest_relative = chain[j].copy()
        rest_relative[:3, 3] -= chain[j][:3, :3] @ joints[j]
        transforms.append(rest_relative)
    per_vertex = np.einsum("nj,jab->nab", model.weights, np.array(transforms))
    homogeneous = np.concatenate([v, np.ones((len(v), 1))], axis=1)
    return np.einsum("nab,nb->na", per_vertex, homogeneous)[:, :3]


def relative_error(value, reference) -> float:
    return float(np.abs(np.asarray(value, np.float64) - reference).max() / np.abs(reference).max())


def test_loads_the_official_layout(model, flame_path):
    arrays = flame_files.flame_arrays()
    assert model.v_template.shape == (5023, 3) and model.v_template.dtype == np.float32
    assert model.faces.shape == (9976, 3) and model.faces.dtype == np.int32
    assert model.shapedirs.shape == (5023, 3, 100) and model.exprdirs.shape == (5023, 3, 50)
    assert model.posedirs.shape == (5023, 3, 36) and model.j_regressor.shape == (5, 5023)
    # Expression comes from components 300.. of the file's shapedirs, not 100..
    np.testing.assert_allclose(model.exprdirs, arrays["shapedirs"].x[:, :, 300:350], rtol=1e-6)
    np.testing.assert_allclose(model.j_regressor, arrays["J_regressor"].toarray(), rtol=1e-6)
    full = load_flame(flame_path, n_shape=300, n_expression=100)
    assert full.n_shape == 300 and full.n_expression == 100


def test_zero_parameters_give_the_template(model):
    shaped = shape_flame(model, np.zeros(model.n_shape))
    posed = pose_flame(shaped, np.zeros(model.n_expression), np.zeros((FLAME_JOINTS, 3)))
    np.testing.assert_allclose(posed.vertices, model.v_template, atol=1e-7)
    np.testing.assert_allclose(posed.joints, model.j_regressor @ model.v_template, atol=1e-7)


def test_jaw_rotation_moves_only_jaw_weighted_vertices(model):
    shaped = shape_flame(model, np.zeros(model.n_shape))
    pose = np.zeros((FLAME_JOINTS, 3))
    pose[flame_files.JAW] = [0.3, 0.0, 0.0]  # open the mouth
    posed = pose_flame(shaped, np.zeros(model.n_expression), pose)
    moved = np.linalg.norm(posed.vertices - model.v_template, axis=1) > 1e-6
    jaw_weighted = model.weights[:, flame_files.JAW] > 0
    assert jaw_weighted.sum() > 100
    np.testing.assert_array_equal(moved, jaw_weighted)
    assert posed.vertices[jaw_weighted, 1].mean() < model.v_template[jaw_weighted, 1].mean()  # the chin drops


def test_eye_rotation_turns_the_eyeball_about_its_joint(model):
    shaped = shape_flame(model, np.random.default_rng(0).normal(0, 1, model.n_shape))
    pose = np.zeros((FLAME_JOINTS, 3))
    pose[flame_files.LEFT_EYE] = [0.0, 0.4, 0.0]
    posed = pose_flame(shaped, np.zeros(model.n_expression), pose)
    eyeball = model.weights[:, flame_files.LEFT_EYE] == 1
    centre = shaped.joints[flame_files.LEFT_EYE]
    before = np.linalg.norm(shaped.vertices[eyeball] - centre, axis=1)
    after = np.linalg.norm(posed.vertices[eyeball] - centre, axis=1)
    np.testing.assert_allclose(after, before, rtol=1e-4)
    assert np.abs(posed.vertices[eyeball] - shaped.vertices[eyeball]).max() > 1e-3
    np.testing.assert_allclose(posed.joints[flame_files.LEFT_EYE], centre, atol=1e-6)


def test_numpy_and_torch_agree_with_a_float64_reference(model, model64, torch):
    from avatar_live.face.flame_torch import flame_forward, flame_tensors

    rng = np.random.default_rng(7)
    batch = [random_parameters(rng, model) for _ in range(3)]
    tensors = flame_tensors(model)
    out = flame_forward(tensors, *(torch.tensor(np.stack(p), dtype=torch.float32) for p in zip(*batch)))
    assert out.vertices.shape == (3, 5023, 3) and out.joints.shape == (3, 5, 3)
    for i, (betas, expression, pose) in enumerate(batch):
        reference = reference_forward(model64, betas, expression, pose)
        numpy32 = pose_flame(shape_flame(model, betas), expression, pose)
        numpy64 = pose_flame(shape_flame(model64, betas), expression, pose)
        assert relative_error(numpy64.vertices, reference) < 1e-12
        assert relative_error(numpy32.vertices, reference) < 1e-6
        assert relative_error(out.vertices[i].numpy(), reference) < 1e-6
        np.testing.assert_allclose(out.joints[i].numpy(), numpy32.joints, atol=1e-6)


def test_torch_handles_zero_rotation_exactly_and_differentiably(model, torch):
    from avatar_live.face.flame_torch import flame_forward, flame_tensors

    tensors = flame_tensors(model, dtype=torch.float64)
    pose = torch.zeros(1, FLAME_JOINTS, 3, dtype=torch.float64, requires_grad=True)
    out = flame_forward(tensors, torch.zeros(1, model.n_shape, dtype=torch.float64),
                        torch.zeros(1, model.n_expression, dtype=torch.float64), pose)
    np.testing.assert_allclose(out.vertices[0].detach().numpy(), model.v_template, atol=1e-7)
    out.vertices[:, :, 1].sum().backward()
    assert torch.isfinite(pose.grad).all() and pose.grad.abs().sum() > 0


def test_forward_rejects_wrong_sizes(model, torch):
    from avatar_live.face.flame_torch import flame_forward, flame_tensors

    shaped = shape_flame(model, np.zeros(model.n_shape))
    with pytest.raises(ValueError, match="expression"):
        pose_flame(shaped, np.zeros(100), np.zeros((FLAME_JOINTS, 3)))
    with pytest.raises(ValueError, match="betas"):
        shape_flame(model, np.zeros(300))
    with pytest.raises(ValueError, match="pose"):
        flame_forward(flame_tensors(model), torch.zeros(1, 100), torch.zeros(1, 50), torch.zeros(1, 6))


def test_refuses_a_pickle_that_would_call_a_function(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Payload()}, protocol=2))
    with pytest.raises(AvatarLiveError, match=r"_record_call") as error:
        load_flame(path)
    assert CALLED == []
    assert "\n" not in str(error.value) and "refusing" in str(error.value)


def test_allowed_functions_cannot_be_modified():
    # GLOBAL copy_reg._reconstructor, then BUILD {"marker": 1} onto it.
    data = b"ccopy_reg\n_reconstructor\n(S'marker'\nI1\ndb."
    with pytest.raises(AvatarLiveError, match="modify"):
        safe_pickle.load(io.BytesIO(data), "build")
    assert not hasattr(copyreg._reconstructor, "marker")


def test_reads_old_scipy_and_python2_object_forms():
    # FLAME 2020's file names scipy.sparse.csc (scipy < 1.8); protocols 0 and 1 rebuild
    # objects through copy_reg._reconstructor and __builtin__.object.
    data = pickle.dumps(flame_files.flame_arrays()["J_regressor"], protocol=2)
    old = data.replace(b"scipy.sparse._csc", b"scipy.sparse.csc")
    assert old != data
    matrix = safe_pickle.load(io.BytesIO(old), "old")
    np.testing.assert_array_equal(matrix.toarray(), pickle.loads(data).toarray())
    ch = flame_files.Ch(np.arange(6.0).reshape(2, 3))
    stream = io.BytesIO()
    flame_files.write_pickle_as_python2(stream, {"x": ch}, protocol=1)
    assert b"copy_reg" in stream.getvalue() and b"chumpy.ch" in stream.getvalue()
    np.testing.assert_array_equal(safe_pickle.load(io.BytesIO(stream.getvalue()), "ch")["x"], ch.x)


def test_broken_files_give_one_line_errors(tmp_path, flame_path):
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(flame_path.read_bytes()[:1_000_000])
    cases = {
        truncated: "truncated",
        flame_files.write_flame(tmp_path / "missing.pkl", shapedirs=None): "missing key shapedirs",
        flame_files.write_flame(tmp_path / "shape.pkl", posedirs=np.zeros((5023, 3, 35))): "posedirs is 5023x3x35, expected 5023x3x36",
        flame_files.write_flame(tmp_path / "faces.pkl", f=np.zeros((9976, 3))): "f has dtype float64",
        tmp_path / "absent.pkl": "cannot read",
    }
    list_pickle = tmp_path / "list.pkl"
    list_pickle.write_bytes(pickle.dumps([1, 2]))
    cases[list_pickle] = "holds a list"
    for path, message in cases.items():
        with pytest.raises(AvatarLiveError, match=message) as error:
            load_flame(path)
        assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_mediapipe_embedding_places_landmarks_on_the_mesh(tmp_path, model):
    path = flame_files.write_mediapipe_embedding(tmp_path / "mediapipe_landmark_embedding.npz")
    embedding = load_mediapipe_embedding(path)
    expected = flame_files.embedding_arrays()
    np.testing.assert_array_equal(embedding.landmark_indices, expected["landmark_indices"])
    np.testing.assert_array_equal(embedding.face_idx, expected["lmk_face_idx"])
    assert embedding.bary.dtype == np.float32 and embedding.bary.shape == (105, 3)
    points = embed_landmarks(model.v_template, model.faces, embedding)
    corners = model.v_template[model.faces[embedding.face_idx]]
    assert np.all(points.min(axis=1) >= corners.min(axis=1).min(axis=1) - 1e-6)
    assert np.all(points.max(axis=1) <= corners.max(axis=1).max(axis=1) + 1e-6)


@pytest.mark.parametrize(("changes", "message"), [
    ({"lmk_face_idx": np.full(105, 9976)}, "triangle indices 9976..9976"),
    ({"lmk_b_coords": np.full((105, 3), 0.5)}, "summing to 1"),
    ({"lmk_b_coords": np.full((105, 2), 0.5)}, "do not match"),
    ({"landmark_indices": np.arange(105) + 400}, "outside MediaPipe"),
])
def test_mediapipe_embedding_rejects_bad_values(tmp_path, changes, message):
    with pytest.raises(AvatarLiveError, match=message):
        load_mediapipe_embedding(flame_files.write_mediapipe_embedding(tmp_path / "bad.npz", **changes))


def test_deca_embedding_is_read_without_running_code(tmp_path):
    embedding = load_deca_embedding(flame_files.write_deca_embedding(tmp_path / "landmark_embedding.npy"))
    np.testing.assert_array_equal(embedding.ibug_indices, np.arange(17, 68))
    assert embedding.face_idx.shape == (51,) and embedding.bary.shape == (51, 3)
    evil = flame_files.write_deca_embedding(tmp_path / "evil.npy", extra=_Payload())
    with pytest.raises(AvatarLiveError, match="_record_call"):
        load_deca_embedding(evil)
    assert CALLED == []
    with pytest.raises(AvatarLiveError, match="missing static_lmk_bary_coords"):
        load_deca_embedding(flame_files.write_deca_embedding(tmp_path / "partial.npy", static_lmk_bary_coords=None))

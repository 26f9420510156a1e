"""Loading user avatars (.glb, .gltf, .vrm 0.x / 1.0) written in the test with pygltflib."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
from avatar_files import HAT_MATRIX_ROTATION, NOSE, TEXTURE, Spec, write_avatar

from avatar_live.avatars.gltf import load_avatar_file
from avatar_live.avatars.model import Node
from avatar_live.avatars.names import guess_humanoid
from avatar_live.avatars.pose import (
    global_matrices,
    joint_matrices,
    local_matrices,
    node_order,
    posed_positions,
    rest_globals,
)
from avatar_live.errors import AvatarLiveError

SUFFIX = {"glb": ".glb", "gltf": ".gltf", "vrm0": ".vrm", "vrm1": ".vrm"}


def write(tmp_path: Path, **spec) -> Path:
    kind = spec.get("kind", "glb")
    return write_avatar(tmp_path / f"avatar{SUFFIX[kind]}", Spec(**spec))


def test_plain_glb_decodes_attributes(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        avatar = load_avatar_file(write(tmp_path, target_names=("jawOpen",)))
    assert avatar.vrm_version is None and avatar.look_at is None and avatar.expressions == {}
    assert np.allclose(avatar.root_rotation, [0, 0, 0, 1])
    assert avatar.humanoid == {"head": 3, "neck": 2, "leftEye": 4, "rightEye": 5, "hips": 0}
    assert "not triangle lists" in caplog.text  # the LINES primitive, one warning
    face, hat = avatar.primitives
    assert face.positions.shape == (9, 3) and face.positions.dtype == np.float32
    assert face.indices.shape == (12, 3) and face.indices.dtype == np.uint32
    assert np.allclose(np.linalg.norm(face.normals, axis=1), 1.0)
    assert face.joints.dtype == np.uint16 and face.joints[0].tolist() == [3, 2, 0, 0]
    # Normalized UNSIGNED_BYTE weights 128/255 + 127/255, renormalised to sum 1.
    assert np.allclose(face.weights[0], [128 / 255, 127 / 255, 0, 0], atol=1e-6)
    assert np.allclose(face.weights.sum(1), 1.0)
    assert (face.node, face.skin, face.material) == (6, 0, 0)
    assert face.uvs.shape == (9, 2)
    # The index-less hat triangle, colours from normalized UNSIGNED_SHORT VEC3.
    assert hat.indices.tolist() == [[0, 1, 2]] and hat.skin == -1 and hat.joints is None
    assert np.allclose(hat.colors, [[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1]])
    # The hat's node `matrix` is decomposed into TRS.
    hat_node = avatar.nodes[hat.node]
    assert hat_node.parent == 3 and np.allclose(hat_node.translation, [0, 0.2, 0]) and np.allclose(hat_node.scale, 1)
    assert abs(abs(np.dot(hat_node.rotation, HAT_MATRIX_ROTATION.as_quat())) - 1) < 1e-9


def test_sparse_target_and_target_names(tmp_path: Path) -> None:
    avatar = load_avatar_file(write(tmp_path, target_names=("eyeBlink_L", "jawOpen"), sparse_first_target=True))
    face = avatar.primitives[0]
    assert face.target_names == ("eyeBlink_L", "jawOpen")
    assert face.targets.shape == (2, 9, 3)
    assert np.allclose(face.targets[0, 8], [0, 0, 0.01]) and not face.targets[0, :8].any()
    assert np.allclose(face.targets[1, 8], [0, 0, 0.02])


def test_texture_and_materials(tmp_path: Path) -> None:
    skin, glass = load_avatar_file(write(tmp_path)).materials
    assert np.array_equal(skin.texture, TEXTURE)
    assert (skin.alpha_mode, skin.alpha_cutoff, skin.double_sided, skin.unlit) == ("MASK", pytest.approx(0.3), False, False)
    assert np.allclose(skin.base_color, [1, 0.5, 0.5, 1]) and np.allclose(skin.shade_color, [0.6, 0.3, 0.3])
    assert skin.outline_width == 0.0
    assert (glass.alpha_mode, glass.double_sided, glass.unlit, glass.texture) == ("BLEND", True, True, None)


def test_gltf_json_with_external_buffer_and_data_uri_image(tmp_path: Path) -> None:
    avatar = load_avatar_file(write(tmp_path, kind="gltf"))
    assert np.array_equal(avatar.materials[0].texture, TEXTURE)
    assert len(avatar.primitives) == 2


def test_vrm0_faces_plus_z_through_root_rotation(tmp_path: Path) -> None:
    avatar = load_avatar_file(write(tmp_path, kind="vrm0", target_names=("Fcl_MTH_A",),
                                    expressions=[("joy", [(0, 0.5)], False), ("blink_l", [(0, 1.0)], True),
                                                 ("Surprised", [(0, 1.0)], False)]))
    assert avatar.vrm_version == "0.x" and avatar.name == "Test VRM0" and avatar.look_at == "bone"
    assert np.allclose(avatar.root_rotation, [0, 1, 0, 0])
    # The file stores the nose at -z; in avatar space it is in front (+z).
    assert np.allclose(posed_positions(avatar, avatar.primitives[0], rest_globals(avatar))[8], NOSE, atol=1e-6)
    assert set(avatar.expressions) == {"happy", "blinkLeft", "surprised"}
    assert avatar.expressions["happy"].binds == ((0, 0, 0.5),)
    assert avatar.expressions["blinkLeft"].binary
    skin, glass = avatar.materials
    # MToon 0.x: gamma-encoded colours, outline width in centimetres, the cutout render type.
    assert np.allclose(skin.shade_color, 0.2140, atol=1e-3) and np.allclose(skin.outline_color, [1, 0, 0])
    assert skin.outline_width == pytest.approx(0.002)
    assert (skin.alpha_mode, skin.alpha_cutoff) == ("MASK", pytest.approx(0.4))
    assert glass.unlit and glass.alpha_mode == "BLEND"


def test_vrm1(tmp_path: Path) -> None:
    avatar = load_avatar_file(write(tmp_path, kind="vrm1", target_names=("a", "b"), look_at="expression",
                                    expressions=[("happy", [(1, 0.8)], False), ("myCustom", [(0, 1.0)], False)]))
    assert avatar.vrm_version == "1.0" and avatar.name == "Test VRM1" and avatar.look_at == "expression"
    assert np.allclose(avatar.root_rotation, [0, 0, 0, 1])
    assert np.allclose(posed_positions(avatar, avatar.primitives[0], rest_globals(avatar))[8], NOSE, atol=1e-6)
    assert avatar.expressions["happy"].binds == ((0, 1, pytest.approx(0.8)),)
    assert "myCustom" in avatar.expressions
    skin = avatar.materials[0]
    assert np.allclose(skin.shade_color, [0.2, 0.1, 0.1]) and np.allclose(skin.outline_color, [0, 0, 1])
    assert skin.outline_width == pytest.approx(0.003)


@pytest.mark.parametrize("kind", ["glb", "vrm0", "vrm1"])
@pytest.mark.parametrize("rest_rotations", [False, True])
def test_joint_matrices_are_identity_in_bind_pose(tmp_path: Path, kind: str, rest_rotations: bool) -> None:
    avatar = load_avatar_file(write(tmp_path, kind=kind, rest_rotations=rest_rotations))
    joints = joint_matrices(avatar.skins[0], rest_globals(avatar))
    assert joints.shape == (6, 4, 4) and joints.dtype == np.float32
    assert np.allclose(joints, np.eye(4), atol=1e-5)


def test_guessed_bone_names(tmp_path: Path) -> None:
    assert guess_humanoid(["mixamorig:Hips", "mixamorig:Neck", "mixamorig:Head", "mixamorig:LeftEye", "eye.R"]) == {
        "hips": 0, "neck": 1, "head": 2, "leftEye": 3, "rightEye": 4}
    assert guess_humanoid(["Root", "Forehead", "HeadTop_End", "J_Bip_C_Head"])["head"] == 3
    assert guess_humanoid(["Armature", "CharacterHead"]) == {"head": 1}
    names = ("J_Bip_C_Hips", "J_Bip_C_Spine", "J_Bip_C_Neck", "J_Bip_C_Head", "eye_L", "Eye_R")
    avatar = load_avatar_file(write(tmp_path, bone_names=names))
    assert avatar.humanoid == {"hips": 0, "neck": 2, "head": 3, "leftEye": 4, "rightEye": 5}


def test_pose_handles_any_node_order_and_overrides_multiply() -> None:
    q90z = np.array([0, 0, np.sqrt(0.5), np.sqrt(0.5)])
    nodes = [  # the child comes first in the list
        Node("child", 1, np.array([1.0, 0, 0]), np.array([0, 0, 0, 1.0]), np.ones(3)),
        Node("parent", -1, np.array([0, 2.0, 0]), q90z, np.ones(3)),
    ]
    assert node_order(nodes) == [1, 0]
    globals_ = global_matrices(nodes, local_matrices(nodes))
    assert np.allclose(globals_[0, :3, 3], [0, 3, 0])  # (1,0,0) turned 90 degrees about z, plus (0,2,0)
    # An override multiplies the rest rotation: R = R_rest @ R_override.
    overridden = local_matrices(nodes, {1: q90z})
    assert np.allclose(overridden[1, :3, :3] @ [1, 0, 0], [-1, 0, 0])
    with pytest.raises(ValueError, match="ancestor"):
        node_order([Node("a", 1, np.zeros(3), np.array([0, 0, 0, 1.0]), np.ones(3)),
                    Node("b", 0, np.zeros(3), np.array([0, 0, 0, 1.0]), np.ones(3))])


def test_warns_without_usable_expressions(tmp_path: Path, caplog) -> None:
    path = write(tmp_path, target_names=("smile", "other"))
    with caplog.at_level(logging.WARNING):
        load_avatar_file(path)
    assert "has no usable expressions" in caplog.text and str(path) in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_avatar_file(write(tmp_path, kind="vrm1", target_names=("smile",), expressions=[("happy", [(0, 1.0)], False)]))
    assert "usable expressions" not in caplog.text


def _error(path: Path) -> str:
    with pytest.raises(AvatarLiveError) as info:
        load_avatar_file(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def _rewrite_json(path: Path, edit) -> None:
    """Edit the JSON chunk of a GLB in place (keeping it 4-byte aligned)."""
    data = path.read_bytes()
    json_length = struct.unpack("<I", data[12:16])[0]
    doc = json.loads(data[20:20 + json_length])
    edit(doc)
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    rest = data[20 + json_length:]
    body = struct.pack("<I", len(text)) + b"JSON" + text + rest
    path.write_bytes(b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body)


def test_errors_are_one_line(tmp_path: Path) -> None:
    path = write(tmp_path)
    path.write_bytes(path.read_bytes()[:-100])
    assert "truncated" in _error(path)

    bad = tmp_path / "bad.vrm"
    bad.write_bytes(b"PK\x03\x04 this is a zip")
    assert "not a glTF" in _error(bad)
    bad_json = tmp_path / "bad.gltf"
    bad_json.write_text('{"asset": {"version": "2.0"}, "nodes": [')
    assert "not valid glTF JSON" in _error(bad_json)
    assert "cannot be read" in _error(tmp_path / "missing.glb")

    huge = tmp_path / "huge.glb"
    with huge.open("wb") as file:
        file.truncate(513 * 2**20)  # sparse: no disk used
    assert "is too large (513 MB; the limit is 512 MB)" in _error(huge)
    assert "too large: 3,000,003 vertices" in _error(write(tmp_path, vertex_count=3_000_000))
    assert "accessor 99" in _error(write(tmp_path, bad_accessor=True))
    assert "truncated or malformed" in _error(write(tmp_path, short_inverse_bind=True))
    message = _error(write(tmp_path, bone_names=("Root", "Body", "Collar", "Skull", "L", "R")))
    assert "has no head bone" in message and "'Skull'" in message

    cyclic = write(tmp_path)
    _rewrite_json(cyclic, lambda doc: doc["nodes"][3]["children"].append(0))
    assert "cycle" in _error(cyclic)
    no_mesh = write(tmp_path)
    _rewrite_json(no_mesh, lambda doc: [node.pop("mesh", None) for node in doc["nodes"]])
    assert "no mesh" in _error(no_mesh)
    vertex_range = write(tmp_path)
    _rewrite_json(vertex_range, lambda doc: doc["accessors"][0].update(count=5))  # 5 face vertices, indices up to 7
    assert "refers to vertex 7, but it has 5 vertices" in _error(vertex_range)
    float_indices = write(tmp_path)
    _rewrite_json(float_indices, lambda doc: doc["meshes"][0]["primitives"][0].update(indices=0))
    assert "indices must be unsigned integers" in _error(float_indices)

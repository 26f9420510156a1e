"""Exporting the built-in head as .glb, VRM 1.0 and VRM 0.x, read back with pygltflib.

Accessors are decoded here (dense and sparse) so the checks don't depend on any loader.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pygltflib
import pytest
from pygltflib.validator import validate

from avatar_live.avatars import export, export_vrm
from avatar_live.errors import AvatarLiveError
from avatar_live.face.builtin import build_builtin_head
from avatar_live.face.builtin.design import CM_TO_RIG
from avatar_live.face.rig import JOINT_NAMES, MATERIALS, Rig
from avatar_live.types import ARKIT_NAMES

VERSIONS = (None, "1.0", "0.x")
SUFFIX = {None: ".glb", "1.0": ".vrm", "0.x": ".vrm"}
MAX_BYTES = 1_000_000  # measured: 0.72 MB (.glb), 0.64 MB (.vrm); about 4 MB with every target dense
VRM1_PRESETS = {"happy", "angry", "sad", "relaxed", "surprised", "aa", "ih", "ou", "ee", "oh", "blink", "blinkLeft",
                "blinkRight", "lookUp", "lookDown", "lookLeft", "lookRight", "neutral"}
VRM0_PRESETS = {"unknown", "neutral", "a", "i", "u", "e", "o", "blink", "joy", "angry", "sorrow", "fun", "lookup",
                "lookdown", "lookleft", "lookright", "blink_l", "blink_r"}
_DTYPES = {5121: "u1", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
_WIDTHS = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}


@pytest.fixture(scope="module")
def rig() -> Rig:
    return build_builtin_head()


@pytest.fixture(scope="module")
def files(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> dict[str | None, Path]:
    folder = tmp_path_factory.mktemp("export")
    return {vrm: export.export_avatar(rig, folder / f"avatar_{vrm}{SUFFIX[vrm]}", vrm=vrm) for vrm in VERSIONS}


@pytest.fixture(scope="module")
def docs(files: dict[str | None, Path]) -> dict[str | None, pygltflib.GLTF2]:
    return {vrm: pygltflib.GLTF2.load_binary(str(path)) for vrm, path in files.items()}


def _read(doc: pygltflib.GLTF2, index: int) -> np.ndarray:
    """Accessor `index` as a (count, width) array, sparse values substituted."""
    blob = doc.binary_blob()
    acc = doc.accessors[index]
    dtype, width = np.dtype(_DTYPES[acc.componentType]), _WIDTHS[acc.type]

    def view(view_index: int, offset: int, dt: np.dtype, count: int, w: int) -> np.ndarray:
        start = doc.bufferViews[view_index].byteOffset + offset
        return np.frombuffer(blob, dt, count * w, start).reshape(count, w)

    out = np.zeros((acc.count, width), dtype)
    if acc.bufferView is not None:
        out[:] = view(acc.bufferView, acc.byteOffset or 0, dtype, acc.count, width)
    if acc.sparse is not None:
        sparse = acc.sparse
        rows = view(sparse.indices.bufferView, sparse.indices.byteOffset or 0,
                    np.dtype(_DTYPES[sparse.indices.componentType]), sparse.count, 1)[:, 0]
        out[rows] = view(sparse.values.bufferView, sparse.values.byteOffset or 0, dtype, sparse.count, width)
    return out


def _to_file(points: np.ndarray, vrm: str | None, *, lift: bool = True) -> np.ndarray:
    """Rig units to file coordinates, written out independently of the exporter."""
    metres = points * 0.11 + (export.HEAD_ORIGIN_M if lift else 0.0)
    return metres * np.array([-1.0, 1.0, -1.0]) if vrm == "0.x" else metres


def _primitive(doc: pygltflib.GLTF2) -> pygltflib.Primitive:
    return doc.meshes[0].primitives[0]


def test_unit_matches_the_builtin_design() -> None:
    assert export.BUILTIN_METRES_PER_UNIT == pytest.approx(0.01 / CM_TO_RIG)


@pytest.mark.parametrize("vrm", VERSIONS)
def test_target_names_are_the_arkit_names(docs, vrm) -> None:
    mesh = docs[vrm].meshes[0]
    assert mesh.extras["targetNames"] == list(ARKIT_NAMES)
    for primitive in mesh.primitives:
        assert primitive.extras["targetNames"] == list(ARKIT_NAMES)
        assert len(primitive.targets) == len(ARKIT_NAMES)


@pytest.mark.parametrize("vrm", VERSIONS)
def test_vertices_and_triangles_are_the_rigs(docs, rig, vrm) -> None:
    doc = docs[vrm]
    assert len(doc.meshes) == 1
    attributes = [p.attributes.__dict__ for p in doc.meshes[0].primitives]
    assert all(a == attributes[0] for a in attributes)  # one shared vertex buffer
    assert doc.accessors[attributes[0]["POSITION"]].count == len(rig.vertices)
    triangles = np.concatenate([_read(doc, p.indices).reshape(-1, 3) for p in doc.meshes[0].primitives])
    assert len(triangles) == len(rig.faces)
    # Same triangles with the same winding: compare each rotated to start at its smallest index.
    def canonical(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, np.int64)
        t = np.take_along_axis(t, (np.argmin(t, axis=1)[:, None] + np.arange(3)) % 3, axis=1)
        return t[np.lexsort(t.T[::-1])]
    np.testing.assert_array_equal(canonical(triangles), canonical(rig.faces))


@pytest.mark.parametrize("vrm", VERSIONS)
def test_positions_are_the_rig_in_metres(docs, rig, vrm) -> None:
    doc = docs[vrm]
    accessor = _primitive(doc).attributes.POSITION
    positions = _read(doc, accessor)
    np.testing.assert_allclose(positions, _to_file(rig.vertices.astype(np.float64), vrm), atol=1e-6)
    assert doc.accessors[accessor].min == pytest.approx(positions.min(0).tolist())
    assert doc.accessors[accessor].max == pytest.approx(positions.max(0).tolist())
    normals = _read(doc, _primitive(doc).attributes.NORMAL)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    # The nose tip faces +Z, except in VRM 0.x, which faces -Z.
    nose = np.argmax(rig.vertices[:, 2])
    assert positions[nose, 2] == (positions[:, 2].min() if vrm == "0.x" else positions[:, 2].max())


@pytest.mark.parametrize("vrm", VERSIONS)
def test_targets_are_the_blendshapes_in_metres(docs, rig, vrm) -> None:
    doc = docs[vrm]
    targets = _primitive(doc).targets
    assert any(doc.accessors[t["POSITION"]].sparse is not None for t in targets)
    for shape, target in zip(rig.blendshapes, targets, strict=True):
        deltas = _read(doc, target["POSITION"])
        np.testing.assert_allclose(deltas, _to_file(shape.astype(np.float64), vrm, lift=False), atol=1e-7)
        assert doc.accessors[target["POSITION"]].min == pytest.approx(deltas.min(0).tolist())
        assert doc.accessors[target["POSITION"]].max == pytest.approx(deltas.max(0).tolist())


def _rest_globals(doc: pygltflib.GLTF2) -> dict[int, np.ndarray]:
    """Node index -> 4 x 4 global rest matrix, from the node tree."""
    out: dict[int, np.ndarray] = {}

    def walk(node: int, parent: np.ndarray) -> None:
        local = np.eye(4)
        n = doc.nodes[node]
        assert n.rotation is None and n.scale is None and n.matrix is None  # VRM: no rotated rest bones
        local[:3, 3] = n.translation or (0.0, 0.0, 0.0)
        out[node] = parent @ local
        for child in n.children:
            walk(child, out[node])

    for root in doc.scenes[doc.scene].nodes:
        walk(root, np.eye(4))
    return out


@pytest.mark.parametrize("vrm", VERSIONS)
def test_skin(docs, rig, vrm) -> None:
    doc = docs[vrm]
    skin = doc.skins[0]
    assert len(skin.joints) == len(export.BONES) == 20
    names = [doc.nodes[j].name for j in skin.joints]
    assert names == [name for name, _ in export.BONES]
    mesh_node = next(n for n in doc.nodes if n.mesh == 0)
    assert mesh_node.skin == 0

    globals_ = _rest_globals(doc)
    ibm = _read(doc, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major
    for joint, inverse in zip(skin.joints, ibm, strict=True):
        np.testing.assert_allclose(inverse @ globals_[joint], np.eye(4), atol=1e-6)

    joints = _read(doc, _primitive(doc).attributes.JOINTS_0).astype(np.int64)
    weights = _read(doc, _primitive(doc).attributes.WEIGHTS_0).astype(np.float64)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert joints.max() < len(skin.joints)
    # Each face bone carries its rig joint's weights, and stands on that joint.
    for bone, rig_joint in export.RIG_BONES.items():
        b, j = names.index(bone), JOINT_NAMES.index(rig_joint)
        carried = np.where(joints == b, weights, 0.0).sum(axis=1)
        np.testing.assert_allclose(carried, rig.skin_weights[:, j], atol=1e-6)
        np.testing.assert_allclose(globals_[skin.joints[b]][:3, 3], _to_file(rig.joints[j].astype(np.float64), vrm),
                                   atol=1e-6)


@pytest.mark.parametrize("vrm", VERSIONS)
def test_skeleton_stands_in_a_t_pose(docs, vrm) -> None:
    doc = docs[vrm]
    at = {doc.nodes[j].name: pos[:3, 3] for j, pos in _rest_globals(doc).items()}
    left = -1.0 if vrm == "0.x" else 1.0  # the avatar's left, seen along the way it faces
    assert 0.0 < at["leftFoot"][1] < at["leftLowerLeg"][1] < at["hips"][1] < at["chest"][1] < at["head"][1]
    assert at["leftUpperArm"][1] == at["leftLowerArm"][1] == at["leftHand"][1]  # arms level
    for side in ("Eye", "UpperArm", "Hand", "UpperLeg", "Foot"):
        assert at["left" + side][0] * left > 0.0
        np.testing.assert_allclose(at["right" + side], at["left" + side] * [-1.0, 1.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("vrm", VERSIONS)
def test_materials(docs, rig, vrm) -> None:
    doc = docs[vrm]
    primitives = doc.meshes[0].primitives
    assert sorted(p.material for p in primitives) == list(range(len(doc.materials)))
    linear = export.srgb_to_linear(rig.colors)
    for material in doc.materials:
        base = material.pbrMetallicRoughness.baseColorFactor
        if vrm is None:
            assert base == [1.0, 1.0, 1.0, 1.0]
        else:
            k = MATERIALS.index(material.name)
            assert base[:3] == pytest.approx(np.median(linear[rig.materials == k], axis=0).tolist())
        assert ("VRMC_materials_mtoon" in material.extensions) == (vrm == "1.0")
        assert "KHR_materials_unlit" not in material.extensions
    if vrm is None:
        colors = _read(doc, primitives[0].attributes.COLOR_0)
        np.testing.assert_allclose(colors[:, :3], linear, atol=1e-6)
        np.testing.assert_array_equal(colors[:, 3], 1.0)
    else:
        assert primitives[0].attributes.COLOR_0 is None
    if vrm == "0.x":
        properties = doc.extensions["VRM"]["materialProperties"]
        assert [p["name"] for p in properties] == [m.name for m in doc.materials]
        assert all(p["shader"] == "VRM/MToon" for p in properties)


def test_srgb_to_linear() -> None:
    np.testing.assert_allclose(export.srgb_to_linear(np.array([0.0, 0.04045, 0.5, 1.0])),
                               [0.0, 0.04045 / 12.92, 0.2140411, 1.0], rtol=1e-6)


def test_vrm1_extension(docs) -> None:
    doc = docs["1.0"]
    assert doc.extensionsUsed == ["VRMC_vrm", "VRMC_materials_mtoon"]
    vrm = doc.extensions["VRMC_vrm"]
    assert vrm["specVersion"] == "1.0"
    assert vrm["meta"]["licenseUrl"] == "https://vrm.dev/licenses/1.0/"
    assert vrm["meta"]["avatarPermission"] == "everyone"
    bones = vrm["humanoid"]["humanBones"]
    assert set(export_vrm.VRM1_REQUIRED_BONES) <= set(bones)
    assert {"chest", "neck", "leftEye", "rightEye"} <= set(bones) and "jaw" not in bones
    assert all(doc.nodes[b["node"]].name == name for name, b in bones.items())
    assert vrm["lookAt"]["type"] == "bone"
    expressions = vrm["expressions"]
    assert set(expressions["preset"]) <= VRM1_PRESETS
    assert list(expressions["custom"]) == list(ARKIT_NAMES)
    for name, expression in {**expressions["preset"], **expressions["custom"]}.items():
        for bind in expression["morphTargetBinds"]:
            assert doc.nodes[bind["node"]].mesh == 0
            assert 0 <= bind["index"] < len(ARKIT_NAMES) and 0.0 < bind["weight"] <= 1.0
        if name in ARKIT_NAMES:
            assert expression["morphTargetBinds"] == [{"node": bind["node"], "index": ARKIT_NAMES.index(name),
                                                       "weight": 1.0}]
    blink = expressions["preset"]["blinkLeft"]["morphTargetBinds"]
    assert [ARKIT_NAMES[b["index"]] for b in blink] == ["eyeBlinkLeft"]


def test_vrm0_extension(docs) -> None:
    doc = docs["0.x"]
    assert doc.extensionsUsed == ["VRM"]
    vrm = doc.extensions["VRM"]
    assert vrm["specVersion"] == "0.0" and vrm["exporterVersion"].startswith("avatar-live")
    meta = vrm["meta"]
    assert meta["title"] == "avatar-live built-in" and meta["author"] == "avatar-live"
    assert meta["allowedUserName"] == "Everyone" and meta["licenseName"] == "Other" and meta["otherLicenseUrl"]
    bones = {b["bone"]: b["node"] for b in vrm["humanoid"]["humanBones"]}
    assert set(export_vrm.VRM0_REQUIRED_BONES) <= set(bones) and "jaw" not in bones
    assert all(doc.nodes[node].name == bone for bone, node in bones.items())
    assert vrm["firstPerson"]["lookAtTypeName"] == "Bone"
    assert doc.nodes[vrm["firstPerson"]["firstPersonBone"]].name == "head"
    groups = vrm["blendShapeMaster"]["blendShapeGroups"]
    assert {g["presetName"] for g in groups} <= VRM0_PRESETS
    assert {"neutral", "a", "i", "u", "e", "o", "blink", "blink_l", "blink_r", "joy", "angry", "sorrow", "fun"} <= {
        g["presetName"] for g in groups}
    custom = [g for g in groups if g["presetName"] == "unknown"]
    assert [g["name"] for g in custom] == list(ARKIT_NAMES)
    for group in groups:
        for bind in group["binds"]:
            assert bind["mesh"] < len(doc.meshes) and 0 <= bind["index"] < len(ARKIT_NAMES)
            assert 0.0 < bind["weight"] <= 100.0
    for group in custom:
        assert group["binds"] == [{"mesh": 0, "index": ARKIT_NAMES.index(group["name"]), "weight": 100.0}]


@pytest.mark.parametrize("vrm", VERSIONS)
def test_file_is_valid_glb_and_small(files, docs, vrm) -> None:
    data = files[vrm].read_bytes()
    assert data[:4] == b"glTF" and int.from_bytes(data[4:8], "little") == 2
    assert int.from_bytes(data[8:12], "little") == len(data)
    assert len(data) < MAX_BYTES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pygltflib calls its validator provisional
        assert validate(docs[vrm]) == []
    assert len(docs[vrm].buffers) == 1 and docs[vrm].buffers[0].byteLength == len(docs[vrm].binary_blob())
    assert docs[vrm].accessors and all(
        (v.byteOffset or 0) % 4 == 0 for v in docs[vrm].bufferViews)


@pytest.mark.parametrize("vrm", VERSIONS)
def test_export_is_deterministic(files, rig, tmp_path, vrm) -> None:
    again = export.export_avatar(rig, tmp_path / f"again{SUFFIX[vrm]}", vrm=vrm)
    assert again.read_bytes() == files[vrm].read_bytes()


def test_vrm_version_for() -> None:
    assert export.vrm_version_for(Path("a.glb")) is None
    assert export.vrm_version_for(Path("a.VRM")) == "1.0"
    assert export.vrm_version_for(Path("a.vrm"), vrm0=True) == "0.x"
    for path, vrm0 in ((Path("a.gltf"), False), (Path("a"), False), (Path("a.glb"), True)):
        with pytest.raises(AvatarLiveError, match=r"\.glb .* \.vrm"):
            export.vrm_version_for(path, vrm0=vrm0)


def test_export_refuses_bad_arguments(rig, tmp_path) -> None:
    with pytest.raises(ValueError, match="vrm must be"):
        export.export_avatar(rig, tmp_path / "a.vrm", vrm="2.0")
    with pytest.raises(ValueError, match="no VRM version"):
        export.export_avatar(rig, tmp_path / "a.vrm")
    with pytest.raises(AvatarLiveError, match="Cannot write"):
        export.export_avatar(rig, tmp_path / "missing" / "a.glb")

"""Small avatar files written with pygltflib for the avatar tests.

The avatar (in avatar space: facing +z, y up, metres): hips (0, 1, 0) -> spine -> neck
(y 1.5) -> head (y 1.6) -> leftEye (+x, the avatar's left) / rightEye, and a "Hat" node
under the head. Mesh 0 ("Face", skinned): a 0.2 m box around (0, 1.7, 0) plus a nose
vertex NOSE, with morph targets; mesh 1 ("Hat", unskinned): one index-less triangle with
vertex colours and a LINES primitive. VRM 0.x files store everything mirrored (x, z
negated: the model faces -z), as real VRM 0.x files do.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pygltflib as g
from scipy.spatial.transform import Rotation

NOSE = np.array([0.0, 1.68, 0.12])
"""The nose vertex (index 8 of mesh 0) in avatar space."""

TEXTURE = np.array([[[255, 0, 0, 255], [0, 255, 0, 128]], [[0, 0, 255, 0], [255, 255, 255, 255]]], np.uint8)
"""The 2 x 2 RGBA base colour texture of material 0 (top row first)."""

HAT_MATRIX_ROTATION = Rotation.from_euler("z", 30, degrees=True)

# (name, parent, world position, world rotation) in avatar space.
_BONES = [
    ("Hips", -1, (0.0, 1.0, 0.0)),
    ("Spine", 0, (0.0, 1.2, 0.0)),
    ("Neck", 1, (0.0, 1.5, 0.0)),
    ("Head", 2, (0.0, 1.6, 0.0)),
    ("LeftEye", 3, (0.03, 1.67, 0.08)),
    ("RightEye", 3, (-0.03, 1.67, 0.08)),
]
HUMANOID = {"hips": 0, "spine": 1, "neck": 2, "head": 3, "leftEye": 4, "rightEye": 5}


@dataclass
class Spec:
    """What to write.

    kind: "glb", "gltf" (JSON, external .bin, data: URI image), "vrm0" or "vrm1".
    bone_names: node names of the six bones (for name-guessing tests).
    target_names: morph targets of mesh 0; target i moves the nose by (0, 0, 0.01 (i+1)).
    sparse_first_target: store target 0 as a sparse accessor without a buffer view.
    expressions: (name, [(target index, weight 0-1)], binary); VRM 0.x names are preset
        names ("joy", "blink_l") or custom names.
    look_at: "bone"/"expression" written into the VRM data.
    rest_rotations: give neck, head and eyes non-identity rest rotations (Blender-like).
    vertex_count: override mesh 0's POSITION count (a crafted huge count).
    bad_accessor: mesh 1's POSITION points at accessor 99.
    short_inverse_bind: the inverse-bind accessor claims more matrices than stored.
    """

    kind: str = "glb"
    bone_names: tuple[str, ...] = tuple(b[0] for b in _BONES)
    target_names: tuple[str, ...] = ()
    sparse_first_target: bool = False
    expressions: list[tuple[str, list[tuple[int, float]], bool]] = field(default_factory=list)
    look_at: str = "bone"
    rest_rotations: bool = False
    vertex_count: int | None = None
    bad_accessor: bool = False
    short_inverse_bind: bool = False


class _Blob:
    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[g.BufferView] = []
        self.accessors: list[g.Accessor] = []

    def view(self, raw: bytes, stride: int | None = None) -> int:
        while len(self.data) % 4:
            self.data.append(0)
        self.views.append(g.BufferView(buffer=0, byteOffset=len(self.data), byteLength=len(raw), byteStride=stride))
        self.data += raw
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, kind: str, component: int, normalized: bool = False, count: int | None = None) -> int:
        view = self.view(np.ascontiguousarray(array).tobytes())
        self.accessors.append(g.Accessor(bufferView=view, componentType=component, normalized=normalized,
                                         count=count if count is not None else len(array), type=kind))
        return len(self.accessors) - 1


def _rest_rotations(spec: Spec) -> list[Rotation]:
    if not spec.rest_rotations:
        return [Rotation.identity()] * len(_BONES)
    # Y along the bone chain, as Blender exports do, and eyes turned oddly.
    return [Rotation.identity(), Rotation.identity(), Rotation.from_euler("z", 90, degrees=True),
            Rotation.from_euler("xz", [-90, 45], degrees=True), Rotation.from_euler("y", 70, degrees=True),
            Rotation.from_euler("x", 20, degrees=True)]


def write_avatar(path: Path, spec: Spec) -> Path:
    """Write the avatar described by `spec` to `path` and return `path`."""
    flip = np.array([-1.0, 1.0, -1.0]) if spec.kind == "vrm0" else np.ones(3)
    mirror = Rotation.from_euler("y", 180, degrees=True) if spec.kind == "vrm0" else Rotation.identity()
    rotations = [mirror * r * mirror.inv() for r in _rest_rotations(spec)]
    globals_ = []
    for (_, _, position), rotation in zip(_BONES, rotations):
        matrix = np.eye(4)
        matrix[:3, :3] = rotation.as_matrix()
        matrix[:3, 3] = np.asarray(position) * flip
        globals_.append(matrix)
    nodes = []
    for i, ((_, parent, _), name) in enumerate(zip(_BONES, spec.bone_names)):
        local = globals_[i] if parent < 0 else np.linalg.inv(globals_[parent]) @ globals_[i]
        nodes.append(g.Node(name=name, translation=local[:3, 3].tolist(),
                            rotation=Rotation.from_matrix(local[:3, :3]).as_quat().tolist(), children=[]))
        if parent >= 0:
            nodes[parent].children.append(i)
    nodes.append(g.Node(name="Face", mesh=0, skin=0))
    hat_local = np.eye(4)
    hat_local[:3, :3] = HAT_MATRIX_ROTATION.as_matrix()
    hat_local[:3, 3] = [0.0, 0.2, 0.0]
    nodes.append(g.Node(name="Hat", mesh=1, matrix=hat_local.T.reshape(-1).tolist()))
    nodes[3].children.append(7)

    blob = _Blob()
    corners = np.array([[x, y, z] for x in (-0.1, 0.1) for y in (1.6, 1.8) for z in (-0.1, 0.1)])
    positions = (np.concatenate([corners, [NOSE]]) * flip).astype(np.float32)
    faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                      [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], np.uint16)
    joints = np.zeros((9, 4), np.uint8)
    joints[:, 0] = 3  # head
    joints[:, 1] = 2  # neck
    weights = np.zeros((9, 4), np.uint8)
    weights[:, 0] = 255
    weights[[0, 2, 4, 6], 0], weights[[0, 2, 4, 6], 1] = 128, 127  # bottom corners: half neck
    attributes = g.Attributes(
        POSITION=blob.accessor(positions, "VEC3", g.FLOAT, count=spec.vertex_count),
        TEXCOORD_0=blob.accessor(np.tile([[0.25, 0.25]], (9, 1)).astype(np.float32), "VEC2", g.FLOAT),
        JOINTS_0=blob.accessor(joints, "VEC4", g.UNSIGNED_BYTE),
        WEIGHTS_0=blob.accessor(weights, "VEC4", g.UNSIGNED_BYTE, normalized=True),
    )
    targets = []
    for t in range(len(spec.target_names)):
        deltas = np.zeros((9, 3), np.float32)
        deltas[8] = np.array([0.0, 0.0, 0.01 * (t + 1)]) * flip
        if t == 0 and spec.sparse_first_target:
            sparse = g.Sparse(count=1, indices=g.AccessorSparseIndices(
                bufferView=blob.view(np.array([8], np.uint16).tobytes()), componentType=g.UNSIGNED_SHORT),
                values=g.AccessorSparseValues(bufferView=blob.view(deltas[8].tobytes())))
            blob.accessors.append(g.Accessor(componentType=g.FLOAT, count=9, type="VEC3", sparse=sparse))
            targets.append(g.Attributes(POSITION=len(blob.accessors) - 1))
        else:
            targets.append(g.Attributes(POSITION=blob.accessor(deltas, "VEC3", g.FLOAT)))
    face = g.Primitive(attributes=attributes, indices=blob.accessor(faces.reshape(-1), "SCALAR", g.UNSIGNED_SHORT),
                       material=0, targets=targets)
    hat_positions = np.array([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0]], np.float32)
    hat_colors = np.array([[65535, 0, 0], [0, 65535, 0], [0, 0, 65535]], np.uint16)
    hat_position = 99 if spec.bad_accessor else blob.accessor(hat_positions, "VEC3", g.FLOAT)
    hat = g.Primitive(attributes=g.Attributes(POSITION=hat_position,
                                              COLOR_0=blob.accessor(hat_colors, "VEC3", g.UNSIGNED_SHORT, normalized=True)),
                      material=1)
    lines = g.Primitive(attributes=g.Attributes(POSITION=hat_position), mode=g.LINES)
    meshes = [g.Mesh(name="Face", primitives=[face], extras={"targetNames": list(spec.target_names)}),
              g.Mesh(name="Hat", primitives=[hat, lines])]

    inverse_bind = np.stack([np.linalg.inv(m).T for m in globals_]).astype(np.float32)  # column-major
    ibm_count = len(_BONES) + (5 if spec.short_inverse_bind else 0)
    skins = [g.Skin(joints=list(range(len(_BONES))), inverseBindMatrices=blob.accessor(inverse_bind.reshape(-1, 16), "MAT4", g.FLOAT, count=ibm_count))]

    png = cv2.imencode(".png", cv2.cvtColor(TEXTURE, cv2.COLOR_RGBA2BGRA))[1].tobytes()
    if spec.kind == "gltf":
        images = [g.Image(uri="data:image/png;base64," + base64.b64encode(png).decode(), mimeType="image/png")]
    else:
        images = [g.Image(bufferView=blob.view(png), mimeType="image/png")]
    materials = [
        g.Material(name="Skin", alphaMode="MASK", alphaCutoff=0.3,
                   pbrMetallicRoughness=g.PbrMetallicRoughness(baseColorFactor=[1.0, 0.5, 0.5, 1.0],
                                                               baseColorTexture=g.TextureInfo(index=0))),
        g.Material(name="Glass", alphaMode="BLEND", doubleSided=True, extensions={"KHR_materials_unlit": {}}),
    ]
    doc = g.GLTF2(asset=g.Asset(version="2.0"), scene=0, scenes=[g.Scene(nodes=[0, 6])], nodes=nodes, meshes=meshes,
                  accessors=blob.accessors, bufferViews=blob.views, buffers=[g.Buffer(byteLength=len(blob.data))],
                  images=images, textures=[g.Texture(source=0)], materials=materials, skins=skins)
    _add_vrm(doc, spec)
    if spec.kind == "gltf":
        bin_path = path.with_suffix(".bin")
        bin_path.write_bytes(bytes(blob.data))
        doc.buffers[0].uri = bin_path.name
        doc.save_json(str(path))
    else:
        doc.set_binary_blob(bytes(blob.data))
        doc.save_binary(str(path))
    return path


def _add_vrm(doc: g.GLTF2, spec: Spec) -> None:
    if spec.kind == "vrm0":
        presets = {"neutral", "a", "i", "u", "e", "o", "blink", "joy", "angry", "sorrow", "fun",
                   "lookup", "lookdown", "lookleft", "lookright", "blink_l", "blink_r"}
        groups = [{"name": name, "presetName": name if name in presets else "unknown", "isBinary": binary,
                   "binds": [{"mesh": 0, "index": t, "weight": w * 100} for t, w in binds]}
                  for name, binds, binary in spec.expressions]
        doc.extensions = {"VRM": {
            "meta": {"title": "Test VRM0"},
            "humanoid": {"humanBones": [{"bone": b, "node": n} for b, n in HUMANOID.items()]},
            "blendShapeMaster": {"blendShapeGroups": groups},
            "firstPerson": {"lookAtTypeName": {"bone": "Bone", "expression": "BlendShape"}[spec.look_at]},
            "materialProperties": [
                {"name": "Skin", "shader": "VRM/MToon", "vectorProperties": {"_ShadeColor": [0.5, 0.5, 0.5, 1.0], "_OutlineColor": [1.0, 0.0, 0.0, 1.0]},
                 "floatProperties": {"_OutlineWidth": 0.2, "_OutlineWidthMode": 1, "_Cutoff": 0.4}, "tagMap": {"RenderType": "TransparentCutout"}},
                {"name": "Glass", "shader": "VRM/UnlitTransparent", "tagMap": {"RenderType": "Transparent"}},
            ],
        }}
        doc.extensionsUsed = ["VRM"]
    elif spec.kind == "vrm1":
        preset_names = {"happy", "angry", "sad", "relaxed", "surprised", "aa", "ih", "ou", "ee", "oh", "blink",
                        "blinkLeft", "blinkRight", "lookUp", "lookDown", "lookLeft", "lookRight", "neutral"}
        groups: dict[str, dict] = {"preset": {}, "custom": {}}
        for name, binds, binary in spec.expressions:
            groups["preset" if name in preset_names else "custom"][name] = {
                "isBinary": binary, "morphTargetBinds": [{"node": 6, "index": t, "weight": w} for t, w in binds]}
        doc.extensions = {"VRMC_vrm": {
            "specVersion": "1.0", "meta": {"name": "Test VRM1"},
            "humanoid": {"humanBones": {b: {"node": n} for b, n in HUMANOID.items()}},
            "expressions": groups, "lookAt": {"type": spec.look_at}}}
        doc.materials[0].extensions = {"VRMC_materials_mtoon": {
            "specVersion": "1.0", "shadeColorFactor": [0.2, 0.1, 0.1], "outlineWidthMode": "worldCoordinates",
            "outlineWidthFactor": 0.003, "outlineColorFactor": [0.0, 0.0, 1.0]}}
        doc.extensionsUsed = ["VRMC_vrm", "VRMC_materials_mtoon"]

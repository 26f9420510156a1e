"""Writing a rig as binary glTF 2.0 (.glb) or VRM 0.x / 1.0 (.vrm), for Blender, VSeeFace, Warudo.

The file holds one skinned mesh (one primitive per material, all sharing one set of vertex
attributes and morph targets, the layout UniVRM itself writes) and a humanoid skeleton:

- Units and axes: metres (`metres_per_unit` per rig unit), +Y up. Plain glTF and VRM 1.0 face +Z (the rig's own axes); VRM
  0.x faces -Z, so everything is turned 180 degrees about Y. The rig's origin (the middle of
  the head) is lifted to `HEAD_ORIGIN_M`, so the avatar stands on the floor like a person.
- Attributes: POSITION, NORMAL (computed from the triangles), COLOR_0 (plain glTF only;
  linear RGBA: the rig's display-referred albedo through the sRGB transfer function), and
  JOINTS_0/WEIGHTS_0 (each vertex's four strongest joints, renormalised to sum to 1).
- Morph targets: the rig's blendshapes as POSITION deltas, named in `mesh.extras.targetNames`
  (Blender, UniVRM 1.0) and in each primitive's extras (UniVRM 0.x). A target is stored
  sparse (changed vertices only) when that is smaller, which all 52 of the built-in's are.
  No normal deltas: viewers recompute or keep the rest normals.
- Skeleton: translation-only nodes in a T-pose (what VRM requires of the rest pose). Face
  bones sit on the rig's joints and take their skin weights one for one: FLAME's `global`
  (the root, at the base of the neck) is the humanoid `neck`, FLAME's `neck` (about which
  the whole head turns) is the humanoid `head`, then `jaw` (a non-humanoid child of the
  head: the rig's jawOpen is already a blendshape, so a humanoid jaw would open it twice),
  `leftEye`, `rightEye`. The rest of the body (hips, spine, chest, arms, legs) are bones
  with no vertices, placed for a 1.65 m adult, so humanoid apps accept the file.
- Materials: one per rig material present (skin, lips, sclera, ...); a triangle takes the
  material most of its vertices have. Plain glTF: baseColorFactor 1 and COLOR_0 carries the
  exact per-vertex colour. VRM: MToon (`VRMC_materials_mtoon` / 0.x "VRM/MToon"), whose lit
  colour is the material's median albedo, and no COLOR_0: UniVRM's MToon ignores vertex
  colours, and a multiplier on the median would exceed 1, which glTF forbids. So in VRM apps
  each part is one flat colour (no blush, lashes or iris gradient); the .glb keeps them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pygltflib

from avatar_live import __version__
from avatar_live.avatars import export_vrm
from avatar_live.errors import AvatarLiveError
from avatar_live.face.rig import JOINT_NAMES, MATERIALS, Rig, vertex_normals

BUILTIN_METRES_PER_UNIT = 0.11
"""The built-in head's rig unit: 11 cm (`avatar_live.face.builtin.design.CM_TO_RIG` = 1/11).
FLAME rigs are in metres: pass 1.0 for them."""

HEAD_ORIGIN_M = np.array([0.0, 1.55, 0.0])
"""Where the rig's origin lands (metres): eyes at about 1.55 m, a 1.65 m adult's."""

VRM_VERSIONS = ("0.x", "1.0")

BONES: tuple[tuple[str, str | None], ...] = (
    ("hips", None), ("spine", "hips"), ("chest", "spine"), ("neck", "chest"), ("head", "neck"),
    ("jaw", "head"), ("leftEye", "head"), ("rightEye", "head"),
    ("leftUpperArm", "chest"), ("leftLowerArm", "leftUpperArm"), ("leftHand", "leftLowerArm"),
    ("rightUpperArm", "chest"), ("rightLowerArm", "rightUpperArm"), ("rightHand", "rightLowerArm"),
    ("leftUpperLeg", "hips"), ("leftLowerLeg", "leftUpperLeg"), ("leftFoot", "leftLowerLeg"),
    ("rightUpperLeg", "hips"), ("rightLowerLeg", "rightUpperLeg"), ("rightFoot", "rightLowerLeg"),
)
"""Skeleton nodes in file order (node i is joint i of the skin): (name, parent name)."""

RIG_BONES: dict[str, str] = {"neck": "global", "head": "neck", "jaw": "jaw", "leftEye": "left_eye",
                             "rightEye": "right_eye"}
"""Bone -> the rig joint it stands on and whose skin weights it takes."""

NON_HUMANOID = ("jaw",)

# Body bones without vertices (metres, facing +Z, the avatar's left at +X), a T-pose.
_BODY_M: dict[str, tuple[float, float, float]] = {
    "hips": (0.0, 0.95, 0.0), "spine": (0.0, 1.05, 0.0), "chest": (0.0, 1.20, 0.0),
    "leftUpperArm": (0.17, 1.36, 0.0), "leftLowerArm": (0.44, 1.36, 0.0), "leftHand": (0.69, 1.36, 0.0),
    "leftUpperLeg": (0.09, 0.90, 0.0), "leftLowerLeg": (0.09, 0.50, 0.0), "leftFoot": (0.09, 0.08, 0.0),
}
_BODY_M |= {name.replace("left", "right"): (-x, y, z) for name, (x, y, z) in list(_BODY_M.items()) if "left" in name}

_MAX_INFLUENCES = 4  # glTF's JOINTS_0/WEIGHTS_0 hold four
_ROUGHNESS = 0.6  # one matte value: glTF viewers need one, our renderer's per-material gloss has no exact match
_FLOAT, _UBYTE, _USHORT, _UINT = 5126, 5121, 5123, 5125
_COMPONENT = {np.dtype("<f4"): _FLOAT, np.dtype("u1"): _UBYTE, np.dtype("<u2"): _USHORT, np.dtype("<u4"): _UINT}
_TYPES = {1: "SCALAR", 3: "VEC3", 4: "VEC4", 16: "MAT4"}


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """The inverse sRGB transfer function (IEC 61966-2-1); values in [0, 1]. (Our renderer
    approximates it with gamma 2; glTF vertex colours are linear, so the exact curve is used.)"""
    c = np.clip(np.asarray(srgb, np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, np.power((c + 0.055) / 1.055, 2.4))


def vrm_version_for(path: Path, *, vrm0: bool = False) -> str | None:
    """The `vrm` argument of `export_avatar` that a file name asks for.

    Args:
        path: ending in .glb (plain glTF) or .vrm (VRM 1.0, or 0.x with `vrm0`).
        vrm0: the user asked for VRM 0.x.

    Raises:
        AvatarLiveError: another suffix, or `vrm0` with a .glb name.
    """
    suffix = path.suffix.lower()
    if suffix == ".vrm":
        return "0.x" if vrm0 else "1.0"
    if suffix == ".glb" and not vrm0:
        return None
    raise AvatarLiveError(f"Cannot export to {path}: use a .glb (glTF) or .vrm (VRM) file name"
                          + (" with VRM 0.x" if vrm0 and suffix == ".glb" else ""))


def export_avatar(rig: Rig, path: Path, *, vrm: str | None = None,
                  metres_per_unit: float = BUILTIN_METRES_PER_UNIT) -> Path:
    """Write `rig` as a .glb or .vrm file (deterministic: the same rig gives the same bytes).

    Args:
        rig: the avatar, e.g. `avatar_live.face.builtin.build_builtin_head()`.
        path: the file to write (a .vrm name needs `vrm`; see `vrm_version_for`).
        vrm: None for plain glTF, "1.0" or "0.x" for VRM.
        metres_per_unit: the size of one rig unit.

    Returns:
        `path`.

    Raises:
        ValueError: an unknown `vrm`, or a .vrm name without one.
        AvatarLiveError: the file cannot be written.
    """
    if vrm is not None and vrm not in VRM_VERSIONS:
        raise ValueError(f"vrm must be None or one of {VRM_VERSIONS}, got {vrm!r}")
    if vrm is None and path.suffix.lower() == ".vrm":
        raise ValueError(f"{path} is a .vrm name but no VRM version was given")
    data = b"".join(_document(rig, vrm, metres_per_unit).save_to_bytes())
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise AvatarLiveError(f"Cannot write {path}: {exc.strerror or exc}") from None
    return path


def _model_transform(vrm: str | None, metres_per_unit: float) -> tuple[float, np.ndarray, np.ndarray]:
    """How rig coordinates become file coordinates: `file = turn @ (rig * scale + lift)`.

    Returns:
        scale (metres per unit), lift (3 metres, `HEAD_ORIGIN_M`), turn (3 x 3: identity, or
        180 degrees about Y for VRM 0.x, which faces -Z).
    """
    turn = np.diag([-1.0, 1.0, -1.0]) if vrm == "0.x" else np.eye(3)
    return metres_per_unit, HEAD_ORIGIN_M, turn


def _bone_positions(rig: Rig, vrm: str | None, metres_per_unit: float) -> np.ndarray:
    """len(BONES) x 3 world rest positions (file coordinates, metres), BONES order."""
    scale, lift, turn = _model_transform(vrm, metres_per_unit)
    joint = {name: rig.joints[i] * scale + lift for i, name in enumerate(JOINT_NAMES)}
    placed = [joint[RIG_BONES[name]] if name in RIG_BONES else np.array(_BODY_M[name]) for name, _ in BONES]
    return np.stack(placed) @ turn.T


class _Buffer:
    """The GLB binary chunk under construction, with its buffer views and accessors."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[pygltflib.BufferView] = []
        self.accessors: list[pygltflib.Accessor] = []

    def view(self, array: np.ndarray, target: int | None) -> int:
        """Append `array`'s bytes as a new buffer view (4-byte aligned, as glTF requires)."""
        self.data += bytes(-len(self.data) % 4)
        self.views.append(pygltflib.BufferView(buffer=0, byteOffset=len(self.data), byteLength=array.nbytes,
                                               target=target))
        self.data += np.ascontiguousarray(array).tobytes()
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, target: int | None = pygltflib.ARRAY_BUFFER, bounds: bool = False) -> int:
        """A dense accessor over `array` (count or count x components)."""
        width = 1 if array.ndim == 1 else array.shape[1]
        return self._add(pygltflib.Accessor(
            bufferView=self.view(array, target), componentType=_COMPONENT[array.dtype], count=len(array),
            type=_TYPES[width], min=_floats(array.min(0)) if bounds else None,
            max=_floats(array.max(0)) if bounds else None))

    def target(self, deltas: np.ndarray) -> int:
        """A morph target's POSITION deltas (N x 3 float32): sparse when that is smaller."""
        rows = np.flatnonzero(np.any(deltas != 0.0, axis=1))
        index_dtype = np.dtype("<u2") if len(deltas) <= 2**16 else np.dtype("<u4")
        bounds = {"min": _floats(deltas.min(0)), "max": _floats(deltas.max(0))}
        if rows.size * (index_dtype.itemsize + 12) >= deltas.nbytes:
            return self.accessor(deltas, bounds=True)
        # No buffer view: the accessor starts as zeros (glTF 2.0, 3.6.2.3) and the sparse
        # part fills in the moved vertices; an untouched target needs no data at all.
        sparse = None
        if rows.size:
            sparse = pygltflib.Sparse(
                count=int(rows.size),
                indices=pygltflib.AccessorSparseIndices(bufferView=self.view(rows.astype(index_dtype), None),
                                                        componentType=_COMPONENT[index_dtype]),
                values=pygltflib.AccessorSparseValues(bufferView=self.view(deltas[rows], None)))
        return self._add(pygltflib.Accessor(bufferView=None, byteOffset=None, componentType=_FLOAT,
                                            count=len(deltas), type="VEC3", sparse=sparse, **bounds))

    def _add(self, accessor: pygltflib.Accessor) -> int:
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.ravel(values)]


def _skin_attributes(rig: Rig) -> tuple[np.ndarray, np.ndarray]:
    """JOINTS_0 (N x 4 uint8, skin joint = node indices) and WEIGHTS_0 (N x 4 float32): each
    vertex's strongest four rig joints, renormalised to sum to 1; empty slots are joint 0
    with weight 0, as glTF asks."""
    bone_index = {name: i for i, (name, _) in enumerate(BONES)}
    bone_of_joint = {joint: bone for bone, joint in RIG_BONES.items()}
    joint_to_bone = np.array([bone_index[bone_of_joint[name]] for name in JOINT_NAMES])
    weights = rig.skin_weights.astype(np.float64)
    order = np.argsort(-weights, axis=1, kind="stable")[:, :_MAX_INFLUENCES]
    top = np.take_along_axis(weights, order, axis=1)
    if top.shape[1] < _MAX_INFLUENCES:
        pad = _MAX_INFLUENCES - top.shape[1]
        top, order = np.pad(top, ((0, 0), (0, pad))), np.pad(order, ((0, 0), (0, pad)))
    top /= top.sum(axis=1, keepdims=True)
    joints = np.where(top > 0.0, joint_to_bone[order], 0)
    return joints.astype(np.uint8), top.astype(np.float32)


def _material_colors(rig: Rig, vrm: str | None) -> np.ndarray:
    """len(MATERIALS) x 3 linear base colours: 1 for plain glTF (COLOR_0 carries the colour);
    for VRM each material's median albedo (MToon's lit colour; 1 for absent materials)."""
    base = np.ones((len(MATERIALS), 3))
    if vrm is not None:
        linear = srgb_to_linear(rig.colors)
        for k in np.unique(rig.materials):
            base[k] = np.median(linear[rig.materials == k], axis=0)
    return base


def _document(rig: Rig, vrm: str | None, metres_per_unit: float) -> pygltflib.GLTF2:
    """The whole glTF document, its binary chunk attached."""
    scale, lift, turn = _model_transform(vrm, metres_per_unit)
    positions = ((rig.vertices * scale + lift) @ turn.T).astype(np.float32)
    deltas = ((rig.blendshapes * scale) @ turn.T).astype(np.float32)
    faces = rig.faces.astype(np.int64)
    base = _material_colors(rig, vrm)
    skin_joints, skin_weights = _skin_attributes(rig)

    buf = _Buffer()
    attributes = pygltflib.Attributes(
        POSITION=buf.accessor(positions, bounds=True),
        NORMAL=buf.accessor(vertex_normals(positions, rig.faces)),
        JOINTS_0=buf.accessor(skin_joints),
        WEIGHTS_0=buf.accessor(skin_weights),
    )
    if vrm is None:
        rgba = np.column_stack([srgb_to_linear(rig.colors), np.ones(len(rig.colors))])
        attributes.COLOR_0 = buf.accessor(rgba.astype(np.float32))
    targets = [pygltflib.Attributes(POSITION=buf.target(d)) for d in deltas]
    target_names = list(rig.blendshape_names)

    # A triangle takes the material of at least two of its corners, else its first corner's.
    corner = rig.materials[faces]
    tri_material = np.where(corner[:, 1] == corner[:, 2], corner[:, 1], corner[:, 0])
    index_dtype = np.dtype("<u2") if len(positions) < 2**16 - 1 else np.dtype("<u4")  # 0xFFFF is reserved
    present = np.unique(tri_material)
    primitives, materials = [], []
    for k in present:
        name = MATERIALS[k]
        mtoon = {"VRMC_materials_mtoon": export_vrm.mtoon1(base[k])} if vrm == "1.0" else {}
        materials.append(pygltflib.Material(
            name=name, extensions=mtoon,
            pbrMetallicRoughness=pygltflib.PbrMetallicRoughness(
                baseColorFactor=_floats(base[k]) + [1.0], metallicFactor=0.0, roughnessFactor=_ROUGHNESS)))
        indices = faces[tri_material == k].reshape(-1).astype(index_dtype)
        primitives.append(pygltflib.Primitive(
            attributes=attributes, indices=buf.accessor(indices, pygltflib.ELEMENT_ARRAY_BUFFER),
            material=len(materials) - 1, targets=targets, extras={"targetNames": target_names}))

    bones = _bone_positions(rig, vrm, metres_per_unit)
    nodes = _bone_nodes(bones)
    mesh_node = len(nodes)
    nodes.append(pygltflib.Node(name="face", mesh=0, skin=0))
    # Inverse bind matrices undo each bone's rest placement (pure translations), column-major.
    inverse_bind = np.tile(np.eye(4), (len(BONES), 1, 1))
    inverse_bind[:, :3, 3] = -bones
    ibm = buf.accessor(inverse_bind.transpose(0, 2, 1).reshape(-1, 16).astype(np.float32), None)

    gltf = pygltflib.GLTF2(
        asset=pygltflib.Asset(generator=f"avatar-live {__version__}"),
        scene=0, scenes=[pygltflib.Scene(nodes=[0, mesh_node])],  # the hips and the mesh
        nodes=nodes, skins=[pygltflib.Skin(name="skeleton", inverseBindMatrices=ibm, skeleton=0,
                                           joints=list(range(len(BONES))))],
        meshes=[pygltflib.Mesh(name="face", primitives=primitives, extras={"targetNames": target_names})],
        materials=materials,
    )
    if vrm is not None:
        _add_vrm(gltf, rig.blendshape_names, vrm, bones, mesh_node,
                 [export_vrm.vrm0_material(MATERIALS[k], base[k]) for k in present])
    gltf.bufferViews, gltf.accessors = buf.views, buf.accessors
    gltf.buffers = [pygltflib.Buffer(byteLength=len(buf.data))]
    gltf.set_binary_blob(bytes(buf.data))
    return gltf


def _bone_nodes(bones: np.ndarray) -> list[pygltflib.Node]:
    """The skeleton's nodes (BONES order) from world rest positions (len(BONES) x 3 metres)."""
    index = {name: i for i, (name, _) in enumerate(BONES)}
    return [pygltflib.Node(name=name, translation=_floats(bones[i] - (bones[index[parent]] if parent else 0.0)),
                           children=[j for j, (_, p) in enumerate(BONES) if p == name])
            for i, (name, parent) in enumerate(BONES)]


def _add_vrm(gltf: pygltflib.GLTF2, target_names: tuple[str, ...], vrm: str, bones: np.ndarray, mesh_node: int,
             vrm0_materials: list[dict[str, Any]]) -> None:
    """Add the VRM extension of version `vrm` to `gltf` (whose mesh 0 is on `mesh_node`)."""
    index = {name: i for i, (name, _) in enumerate(BONES)}
    humanoid = {name: i for name, i in index.items() if name not in NON_HUMANOID}
    eyes = (bones[index["leftEye"]] + bones[index["rightEye"]]) / 2.0 - bones[index["head"]]
    if vrm == "1.0":
        gltf.extensionsUsed = ["VRMC_vrm", "VRMC_materials_mtoon"]
        gltf.extensions = {"VRMC_vrm": export_vrm.vrm1_extension(target_names, mesh_node, humanoid, _floats(eyes))}
    else:
        gltf.extensionsUsed = ["VRM"]
        gltf.extensions = {"VRM": export_vrm.vrm0_extension(target_names, 0, humanoid, index["head"], float(eyes[1]),
                                                          vrm0_materials)}

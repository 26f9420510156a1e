"""Loading a .glb / .gltf / .vrm file into an `Avatar` (numpy arrays, no OpenGL).

Limits: files over 512 MB, over 2,000,000 vertices or over 50,000,000 morph-target
vertices are refused before their arrays are decoded. Only TRIANGLES primitives are kept
(others are skipped with one warning); Draco and meshopt compression are refused.
Every problem is one `AvatarLiveError` line naming the file.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from avatar_live.avatars.buffers import GltfSource, one_line
from avatar_live.avatars.model import Avatar, Material, Node, Primitive, Skin
from avatar_live.avatars.names import arkit_index, guess_humanoid
from avatar_live.avatars.pose import node_order
from avatar_live.avatars.vrm import VrmInfo, mtoon_0, mtoon_1, read_vrm

log = logging.getLogger(__name__)

MAX_VERTICES = 2_000_000
"""Refuse avatars with more vertices than this, over all mesh nodes together."""

MAX_TARGET_VERTICES = 50_000_000
"""Refuse avatars whose morph targets hold more vertex deltas than this (600 MB float32)."""

_TRIANGLES = 4
_UNSUPPORTED = ("KHR_draco_mesh_compression", "EXT_meshopt_compression", "KHR_meshopt_compression")
_VRM0_ROOT = np.array([0.0, 1.0, 0.0, 0.0])  # 180 degrees about y: VRM 0.x faces -z
_IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])


def load_avatar_file(path: str | Path) -> Avatar:
    """Load a user avatar.

    Args:
        path: a .vrm (VRM 0.x or 1.0), .glb or .gltf file.

    Returns:
        The avatar; its `humanoid` always has a "head".

    Raises:
        AvatarLiveError: (one line naming the file) not glTF, truncated, too large, no
            mesh, an index out of range, a cycle in the nodes, or no head bone.

    Logs a warning when the avatar has no usable expressions (no ARKit-named morph
    targets and no VRM expression with binds): its head still moves.
    """
    source = GltfSource(Path(path))
    try:
        return _load(source)
    except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
        # A structurally odd document (a number where a list belongs, ...).
        raise source.error(f"is malformed ({type(exc).__name__}: {one_line(exc)})") from None


def _load(source: GltfSource) -> Avatar:
    doc = source.doc
    required = [e for e in (doc.extensionsRequired or []) if e in _UNSUPPORTED]
    if required:
        raise source.error(f"needs {', '.join(required)}, which is not supported (re-export it uncompressed)")
    nodes = _nodes(source)
    _check_size(source)
    skins = tuple(_skin(source, i, skin, len(nodes)) for i, skin in enumerate(doc.skins or []))
    primitives = _primitives(source, skins)
    if not primitives:
        raise source.error("has no mesh with triangles")
    mesh_primitives: dict[int, list[int]] = {}
    node_primitives: dict[int, list[int]] = {}
    for index, primitive in enumerate(primitives):
        mesh_primitives.setdefault(doc.nodes[primitive.node].mesh, []).append(index)
        node_primitives.setdefault(primitive.node, []).append(index)
    vrm = read_vrm(doc.extensions, len(nodes), mesh_primitives, node_primitives, [len(p.targets) for p in primitives])
    materials = tuple(_material(source, i, m, vrm) for i, m in enumerate(doc.materials or []))
    humanoid = vrm.humanoid if vrm is not None else guess_humanoid([n.name for n in nodes])
    if "head" not in humanoid:
        names = ", ".join(repr(n.name) for n in nodes[:12]) + (", ..." if len(nodes) > 12 else "")
        kind = ("its VRM humanoid has no head" if vrm is not None
                else "no node is named like a head (Head, J_Bip_C_Head, mixamorig:Head)")
        raise source.error(f"has no head bone: {kind} (nodes named {names or 'nothing'})")
    expressions = vrm.expressions if vrm is not None else {}
    has_arkit = any(arkit_index(name) is not None for p in primitives for name in p.target_names)
    if not has_arkit and not any(e.binds for e in expressions.values()):
        log.warning("Avatar file %s has no usable expressions (no ARKit-named morph targets and no VRM "
                    "expressions with binds): only its head will move", source.path)
    return Avatar(
        name=(vrm.name if vrm is not None and vrm.name else source.path.stem),
        nodes=nodes,
        primitives=primitives,
        materials=materials,
        skins=skins,
        humanoid=dict(humanoid),
        expressions=dict(expressions),
        look_at=vrm.look_at if vrm is not None else None,
        vrm_version=vrm.version if vrm is not None else None,
        root_rotation=(_VRM0_ROOT if vrm is not None and vrm.version == "0.x" else _IDENTITY).copy(),
    )


def _nodes(source: GltfSource) -> tuple[Node, ...]:
    """Nodes with parents from the children lists; rejects shared children and cycles."""
    raw = source.doc.nodes or []
    parents = [-1] * len(raw)
    for index, node in enumerate(raw):
        for child in node.children or []:
            source.item(raw, child, "node", f"node {index} children")
            if parents[child] != -1:
                raise source.error(f"has node {child} with two parents ({parents[child]} and {index})")
            parents[child] = index
    nodes = tuple(_node(node, parent) for node, parent in zip(raw, parents))
    try:
        node_order(nodes)
    except ValueError as exc:
        raise source.error(f"has a cycle in its node hierarchy ({exc})") from None
    return nodes


def _node(node: Any, parent: int) -> Node:
    if node.matrix is not None and len(node.matrix) == 16:
        matrix = np.asarray(node.matrix, np.float64).reshape(4, 4).T  # stored column-major
        linear = matrix[:3, :3]
        scale = np.linalg.norm(linear, axis=0)
        if np.linalg.det(linear) < 0:
            scale[0] = -scale[0]  # a mirror: put it on x so the rest is a rotation
        rotation = Rotation.from_matrix(linear / np.where(scale == 0, 1.0, scale)).as_quat()
        return Node(node.name or "", parent, matrix[:3, 3].copy(), rotation, scale)
    rotation = np.asarray(node.rotation if node.rotation is not None else _IDENTITY, np.float64)
    norm = np.linalg.norm(rotation)
    return Node(
        name=node.name or "",
        parent=parent,
        translation=np.asarray(node.translation if node.translation is not None else [0.0, 0.0, 0.0], np.float64),
        rotation=rotation / norm if norm > 0 else _IDENTITY.copy(),
        scale=np.asarray(node.scale if node.scale is not None else [1.0, 1.0, 1.0], np.float64),
    )


def _mesh_nodes(source: GltfSource) -> list[tuple[int, int]]:
    """(node, mesh) pairs, mesh range-checked."""
    pairs = []
    for index, node in enumerate(source.doc.nodes or []):
        if node.mesh is not None:
            source.item(source.doc.meshes, node.mesh, "mesh", f"node {index}")
            pairs.append((index, node.mesh))
    return pairs


def _check_size(source: GltfSource) -> None:
    """Refuse huge avatars from the accessor counts alone, before decoding anything."""
    vertices = target_vertices = 0
    for node, mesh_index in _mesh_nodes(source):
        for p, primitive in enumerate(source.doc.meshes[mesh_index].primitives or []):
            if (primitive.mode if primitive.mode is not None else _TRIANGLES) != _TRIANGLES:
                continue
            where = f"mesh {mesh_index} primitive {p} POSITION"
            count = source.accessor_count(_field(primitive.attributes, "POSITION"), where)
            vertices += count
            target_vertices += count * len(primitive.targets or [])
    if vertices > MAX_VERTICES:
        raise source.error(f"is too large: {vertices:,} vertices (the limit is {MAX_VERTICES:,})")
    if target_vertices > MAX_TARGET_VERTICES:
        raise source.error(
            f"is too large: {target_vertices:,} morph-target vertices (the limit is {MAX_TARGET_VERTICES:,})")


def _skin(source: GltfSource, index: int, skin: Any, node_count: int) -> Skin:
    joints = np.asarray(skin.joints or [], np.int64)
    if joints.size and (joints.min() < 0 or joints.max() >= node_count):
        raise source.error(f"skin {index} has joint node {joints.max()}, but the file has {node_count} nodes")
    if skin.inverseBindMatrices is None:
        inverse = np.tile(np.eye(4, dtype=np.float32), (len(joints), 1, 1))
    else:
        flat = source.read(skin.inverseBindMatrices, f"skin {index} inverseBindMatrices")
        if flat.shape[1] != 16 or len(flat) < len(joints):
            raise source.error(f"skin {index} has {len(flat)} inverse bind matrices for {len(joints)} joints")
        inverse = np.ascontiguousarray(flat[: len(joints)].reshape(-1, 4, 4).transpose(0, 2, 1))
    return Skin(joints=joints, inverse_bind=inverse)


def _primitives(source: GltfSource, skins: tuple[Skin, ...]) -> tuple[Primitive, ...]:
    """Every TRIANGLES primitive of every mesh node; a mesh used by several nodes is
    decoded once and shares its arrays."""
    doc = source.doc
    decoded: dict[tuple[int, int], Primitive] = {}
    targets_cache: dict[tuple[Any, ...], np.ndarray] = {}
    result: list[Primitive] = []
    skipped = 0
    for node_index, mesh_index in _mesh_nodes(source):
        mesh = doc.meshes[mesh_index]
        node = doc.nodes[node_index]
        skin = -1 if node.skin is None else node.skin
        if skin != -1:
            source.item(doc.skins, skin, "skin", f"node {node_index}")
        for p, raw in enumerate(mesh.primitives or []):
            if (raw.mode if raw.mode is not None else _TRIANGLES) != _TRIANGLES:
                skipped += 1
                continue
            if any(e in _UNSUPPORTED for e in (raw.extensions or {})):
                raise source.error(f"mesh {mesh_index} uses Draco compression, which is not supported")
            if (mesh_index, p) not in decoded:
                decoded[(mesh_index, p)] = _primitive(source, mesh_index, mesh, p, raw, targets_cache)
            primitive = decoded[(mesh_index, p)]
            if skin != -1 and primitive.joints is not None:
                joint_count = len(skins[skin].joints)
                if primitive.joints.size and int(primitive.joints.max()) >= joint_count:
                    raise source.error(f"mesh {mesh_index} primitive {p} uses joint {int(primitive.joints.max())}, "
                                       f"but skin {skin} has {joint_count}")
            if skin == -1 or primitive.joints is None:  # joints without a skin mean nothing
                result.append(replace(primitive, node=node_index, skin=-1, joints=None, weights=None))
            else:
                result.append(replace(primitive, node=node_index, skin=skin))
    if skipped:
        log.warning("Avatar file %s: skipped %d mesh primitives that are not triangle lists (points, lines or strips)",
                    source.path, skipped)
    return tuple(result)


def _primitive(
    source: GltfSource, mesh_index: int, mesh: Any, p: int, raw: Any, targets_cache: dict[tuple[Any, ...], np.ndarray]
) -> Primitive:
    """Decode one mesh primitive (node and skin are filled in by the caller)."""
    where = f"mesh {mesh_index} ({mesh.name or 'unnamed'}) primitive {p}"
    attributes = raw.attributes

    def attribute(name: str, as_float: bool = True) -> np.ndarray | None:
        index = _field(attributes, name)
        if index is None:
            return None
        values = source.read(index, f"{where} {name}", as_float=as_float)
        if len(values) != len(positions):
            raise source.error(f"{where} has {len(values)} {name} values for {len(positions)} vertices")
        return values

    positions = source.read(_field(attributes, "POSITION"), f"{where} POSITION")
    if positions.shape[1] != 3:
        raise source.error(f"{where} POSITION is not a VEC3 accessor")
    if raw.indices is None:
        flat = np.arange(len(positions) - len(positions) % 3, dtype=np.uint32)
    else:
        flat = source.read(raw.indices, f"{where} indices", as_float=False)
        if flat.dtype.kind != "u" or flat.shape[1] != 1:
            raise source.error(f"{where} indices must be unsigned integers (accessor {raw.indices})")
        flat = flat[:, 0].astype(np.uint32)
    indices = flat[: len(flat) - len(flat) % 3].reshape(-1, 3)
    if indices.size and int(indices.max()) >= len(positions):
        raise source.error(f"{where} refers to vertex {int(indices.max())}, but it has {len(positions)} vertices")
    normals = attribute("NORMAL")
    colors = attribute("COLOR_0")
    if colors is not None and colors.shape[1] == 3:
        colors = np.concatenate([colors, np.ones((len(colors), 1), np.float32)], 1)
    joints, weights = _skin_attributes(attribute)
    targets = _targets(source, raw, len(positions), where, targets_cache)
    return Primitive(
        positions=positions,
        normals=normals if normals is not None else vertex_normals(positions, indices),
        uvs=attribute("TEXCOORD_0"),
        colors=colors,
        indices=indices,
        joints=joints,
        weights=weights,
        targets=targets,
        target_names=_target_names(mesh, raw, len(targets)),
        material=-1 if raw.material is None else _material_index(source, raw.material, where),
        node=-1,
        skin=-1,
    )


def _targets(
    source: GltfSource, raw: Any, vertex_count: int, where: str, cache: dict[tuple[Any, ...], np.ndarray]
) -> np.ndarray:
    """(M, V, 3) float32 morph-target position deltas (zeros for targets without POSITION);
    primitives with the same target accessors (one vertex buffer, several materials)
    share one read-only array."""
    accessors = tuple(_field(target, "POSITION") for target in raw.targets or [])
    key = (vertex_count, *accessors)
    if key not in cache:
        targets = np.zeros((len(accessors), vertex_count, 3), np.float32)
        for t, accessor in enumerate(accessors):
            if accessor is not None:
                deltas = source.read(accessor, f"{where} target {t} POSITION")
                if deltas.shape != (vertex_count, 3):
                    raise source.error(f"{where} target {t} has {len(deltas)} deltas for {vertex_count} vertices")
                targets[t] = deltas
        targets.setflags(write=False)
        cache[key] = targets
    return cache[key]


def _field(attributes: Any, name: str) -> Any:
    """An attribute's accessor index; pygltflib gives `Attributes` objects or plain dicts."""
    return attributes.get(name) if isinstance(attributes, dict) else getattr(attributes, name, None)


def _material_index(source: GltfSource, index: Any, where: str) -> int:
    """A primitive's material index, range-checked."""
    source.item(source.doc.materials, index, "material", where)
    return int(index)


def _skin_attributes(attribute: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """JOINTS_0/WEIGHTS_0 (plus JOINTS_1/WEIGHTS_1: the 4 strongest of 8 are kept), weights
    renormalised to sum 1 (a row without weight binds fully to its first joint)."""
    joints, weights = attribute("JOINTS_0", False), attribute("WEIGHTS_0")
    if joints is None or weights is None:
        return None, None
    more_joints, more_weights = attribute("JOINTS_1", False), attribute("WEIGHTS_1")
    if more_joints is not None and more_weights is not None:
        joints = np.concatenate([joints, more_joints], 1)
        weights = np.concatenate([weights, more_weights], 1)
        strongest = np.argsort(-weights, axis=1, kind="stable")[:, :4]
        joints = np.take_along_axis(joints, strongest, 1)
        weights = np.take_along_axis(weights, strongest, 1)
    weights = np.clip(weights, 0.0, None)
    total = weights.sum(1, keepdims=True)
    empty = total[:, 0] <= 1e-8
    weights[empty] = [1.0, 0.0, 0.0, 0.0]
    total[empty] = 1.0
    return joints.astype(np.uint16), (weights / total).astype(np.float32)


def _target_names(mesh: Any, raw: Any, count: int) -> tuple[str, ...]:
    for extras in (mesh.extras, raw.extras):
        names = extras.get("targetNames") if isinstance(extras, dict) else None
        if isinstance(names, list) and len(names) >= count:
            return tuple(str(n) for n in names[:count])
    return tuple(f"target_{i}" for i in range(count))


def vertex_normals(positions: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """(V, 3) float32 area-weighted vertex normals ((0, 0, 1) for unused vertices)."""
    corners = positions.astype(np.float64)[indices]
    faces = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros((len(positions), 3))
    for k in range(3):
        np.add.at(normals, indices[:, k], faces)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 1e-20, normals / np.maximum(length, 1e-20), [0.0, 0.0, 1.0])
    return normals.astype(np.float32)


def _material(source: GltfSource, index: int, raw: Any, vrm: VrmInfo | None) -> Material:
    pbr = raw.pbrMetallicRoughness
    factor = pbr.baseColorFactor if pbr is not None and pbr.baseColorFactor else [1.0, 1.0, 1.0, 1.0]
    base = np.asarray(factor, np.float32)
    texture = None
    if pbr is not None and pbr.baseColorTexture is not None:
        where = f"material {index} ({raw.name or 'unnamed'})"
        gltf_texture = source.item(source.doc.textures, pbr.baseColorTexture.index, "texture", where)
        image = gltf_texture.source
        if image is None:  # WebP textures name their image in an extension
            image = (gltf_texture.extensions or {}).get("EXT_texture_webp", {}).get("source")
        if image is not None:
            texture = source.image(image, where)
            if texture is None:
                log.warning("Avatar file %s: cannot decode image %s of %s; drawing it untextured",
                            source.path, image, where)
    extensions = raw.extensions or {}
    style = None
    if "VRMC_materials_mtoon" in extensions:
        style = mtoon_1(extensions["VRMC_materials_mtoon"], base)
    elif vrm is not None and vrm.materials:
        matching = [m for m in vrm.materials if m.get("name") == raw.name and raw.name]
        properties = matching[0] if matching else (vrm.materials[index] if index < len(vrm.materials) else {})
        style = mtoon_0(properties, base)
    alpha_mode = raw.alphaMode if raw.alphaMode in ("OPAQUE", "MASK", "BLEND") else "OPAQUE"
    alpha_cutoff = 0.5 if raw.alphaCutoff is None else float(raw.alphaCutoff)
    double_sided = bool(raw.doubleSided)
    if style is not None:
        alpha_mode = style.alpha_mode or alpha_mode
        alpha_cutoff = alpha_cutoff if style.alpha_cutoff is None else style.alpha_cutoff
        double_sided = double_sided if style.double_sided is None else style.double_sided
    return Material(
        name=raw.name or "",
        base_color=base,
        texture=texture,
        alpha_mode=alpha_mode,
        alpha_cutoff=alpha_cutoff,
        double_sided=double_sided,
        shade_color=(style.shade_color if style is not None else base[:3] * 0.6).astype(np.float32),
        outline_width=style.outline_width if style is not None else 0.0,
        outline_color=(style.outline_color if style is not None else np.zeros(3)).astype(np.float32),
        unlit="KHR_materials_unlit" in extensions or (style is not None and style.unlit),
    )

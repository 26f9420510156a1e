"""The numpy data of a loaded avatar: what the renderer uploads and the driver drives.

Conventions:
- glTF space: right-handed, y up, metres, as stored in the file. Avatar space is glTF space
  rotated by `Avatar.root_rotation`, so that the avatar faces +z (the viewer), y up.
- Quaternions are (x, y, z, w) (glTF's and scipy's order), unit length.
- Matrices are 4 x 4 for column vectors: world = M @ (x, y, z, 1).
All arrays are read-only by convention: the dataclasses are frozen and shared, never
modified in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Primitive:
    """One drawable triangle list (a glTF mesh primitive held by one node).

    Attributes:
        positions: (V, 3) float32, in the mesh's space (bind space for skinned meshes).
        normals: (V, 3) float32 unit normals; computed from the triangles when absent.
        uvs: (V, 2) float32 TEXCOORD_0 (glTF: origin top left, v down), or None.
        colors: (V, 4) float32 COLOR_0 RGBA in [0, 1] (linear), or None.
        indices: (T, 3) uint32 triangle vertex indices, counter-clockwise front faces.
        joints: (V, 4) uint16 indices into `Avatar.skins[skin].joints`; None when unskinned.
        weights: (V, 4) float32 skin weights, rows sum to 1; None when unskinned.
        targets: (M, V, 3) float32 morph-target position deltas (M may be 0).
        target_names: M names (mesh extras.targetNames, else primitive extras, else
            "target_{i}").
        material: index into `Avatar.materials`, or -1 for the default material.
        node: index of the node that holds the mesh (its global matrix places an unskinned
            primitive; a skinned one ignores it, as glTF says).
        skin: index into `Avatar.skins`, or -1 when unskinned.
    """

    positions: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray | None
    colors: np.ndarray | None
    indices: np.ndarray
    joints: np.ndarray | None
    weights: np.ndarray | None
    targets: np.ndarray
    target_names: tuple[str, ...]
    material: int
    node: int
    skin: int


@dataclass(frozen=True, eq=False)
class Material:
    """How a primitive is shaded (glTF PBR reduced to what a toon shader needs, plus MToon).

    Attributes:
        name: the material's name ("" when unnamed).
        base_color: (4,) float32 linear RGBA factor (multiplies the texture).
        texture: (H, W, 4) uint8 sRGB RGBA base colour texture, top row first, or None.
        alpha_mode: "OPAQUE", "MASK" (discard below alpha_cutoff) or "BLEND".
        alpha_cutoff: threshold for "MASK", in [0, 1].
        double_sided: draw back faces too.
        shade_color: (3,) float32 linear colour of the shadowed side (MToon shade colour;
            base_color * 0.6 for non-MToon materials).
        outline_width: outline width in metres (0: no outline).
        outline_color: (3,) float32 linear outline colour.
        unlit: the colour is shown as is (KHR_materials_unlit, VRM 0.x Unlit shaders).
    """

    name: str
    base_color: np.ndarray
    texture: np.ndarray | None
    alpha_mode: str
    alpha_cutoff: float
    double_sided: bool
    shade_color: np.ndarray
    outline_width: float
    outline_color: np.ndarray
    unlit: bool


@dataclass(frozen=True, eq=False)
class Node:
    """A node's rest pose, local to its parent (a glTF `matrix` is decomposed into TRS).

    Attributes:
        name: the node's name ("" when unnamed).
        parent: index of the parent node, or -1 for a root.
        translation: (3,) float64.
        rotation: (4,) float64 unit quaternion (x, y, z, w).
        scale: (3,) float64.
    """

    name: str
    parent: int
    translation: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray


@dataclass(frozen=True, eq=False)
class Skin:
    """A glTF skin.

    Attributes:
        joints: (K,) int64 node indices.
        inverse_bind: (K, 4, 4) float32 inverse bind matrices (column-vector convention),
            identity when the file has none. Joint matrix k = global[joints[k]] @
            inverse_bind[k].
    """

    joints: np.ndarray
    inverse_bind: np.ndarray


@dataclass(frozen=True, eq=False)
class Expression:
    """A named set of morph-target weights (a VRM expression / VRM 0.x blend shape group).

    Attributes:
        name: VRM 1.0 preset name ("happy", "aa", "blinkLeft", "lookUp", ...; VRM 0.x
            presets are renamed to these) or the custom name as written in the file.
        binds: (primitive index, target index, weight in [0, 1]) triples.
        binary: the expression is either off or fully on (weights >= 0.5 snap to 1).
    """

    name: str
    binds: tuple[tuple[int, int, float], ...]
    binary: bool


@dataclass(frozen=True, eq=False)
class Avatar:
    """A loaded avatar.

    Attributes:
        name: the VRM title/name, else the file's stem.
        nodes: all nodes of the file, in file order.
        primitives: every triangle primitive of every mesh node.
        materials: the file's materials, in file order.
        skins: the file's skins, in file order.
        humanoid: VRM humanoid bone name ("head", "neck", "leftEye", "hips", ...) -> node
            index; for plain glTF guessed from node names (see `names.guess_humanoid`).
            Always has "head".
        expressions: name -> expression (VRM files only; empty for plain glTF).
        look_at: "bone", "expression" or None (not a VRM, or not stated).
        vrm_version: "0.x", "1.0" or None for plain glTF.
        root_rotation: (4,) float64 quaternion (x, y, z, w) applied above all root nodes to
            go from glTF space to avatar space (facing +z): 180 degrees about y for VRM 0.x,
            identity otherwise.
    """

    name: str
    nodes: tuple[Node, ...]
    primitives: tuple[Primitive, ...]
    materials: tuple[Material, ...]
    skins: tuple[Skin, ...]
    humanoid: dict[str, int]
    expressions: dict[str, Expression]
    look_at: str | None
    vrm_version: str | None
    root_rotation: np.ndarray

"""Posing an avatar's node hierarchy (pure numpy): rest pose plus rotation overrides ->
local, global and skin joint matrices.

Conventions: quaternions are (x, y, z, w); matrices are 4 x 4 for column vectors
(world = M @ p); `global_matrices` are in glTF space, and `root_matrix(avatar) @ global`
is in avatar space (facing +z).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from avatar_live.avatars.model import Avatar, Node, Primitive, Skin


def quat_to_matrix(quats: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions (x, y, z, w) -> (..., 3, 3) rotation matrices (float64)."""
    q = np.asarray(quats, np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b of (..., 4) quaternions (x, y, z, w): the rotation b, then a."""
    ax, ay, az, aw = np.moveaxis(np.asarray(a, np.float64), -1, 0)
    bx, by, bz, bw = np.moveaxis(np.asarray(b, np.float64), -1, 0)
    return np.stack([
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ], -1)


def axis_angle_to_quat(axis_angle: np.ndarray) -> np.ndarray:
    """(3,) axis-angle (radians, right-hand rule) -> (4,) quaternion (x, y, z, w)."""
    v = np.asarray(axis_angle, np.float64)
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.array([0.0, 0.0, 0.0, 1.0])
    return np.concatenate([v / angle * np.sin(angle / 2), [np.cos(angle / 2)]])


def node_order(nodes: tuple[Node, ...] | list[Node]) -> list[int]:
    """Node indices with every parent before its children (any file order is fine).

    Raises:
        ValueError: a parent index is out of range or the parents form a cycle (the loader
            turns this into an AvatarLiveError, so loaded avatars never raise here).
    """
    count = len(nodes)
    depth = [-1] * count
    for start in range(count):
        chain: list[int] = []
        node = start
        while node != -1 and depth[node] < 0:
            if node in chain:
                raise ValueError(f"node {node} is its own ancestor")
            chain.append(node)
            node = nodes[node].parent
            if not -1 <= node < count:
                raise ValueError(f"node {chain[-1]} has parent {node}, out of range")
        base = -1 if node == -1 else depth[node]
        for offset, member in enumerate(reversed(chain), 1):
            depth[member] = base + offset
    return sorted(range(count), key=lambda i: depth[i])


@lru_cache(maxsize=16)
def _rest_arrays(nodes: tuple[Node, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
    """(N, 4) rotations, (N, 3) scales, (N, 3) translations and the parent-first order of
    a node tuple, computed once per avatar (nodes are frozen, hashed by identity)."""
    count = len(nodes)
    rotations = np.array([node.rotation for node in nodes], np.float64).reshape(count, 4)
    scales = np.array([node.scale for node in nodes], np.float64).reshape(count, 3)
    translations = np.array([node.translation for node in nodes], np.float64).reshape(count, 3)
    for array in (rotations, scales, translations):
        array.setflags(write=False)
    return rotations, scales, translations, tuple(node_order(nodes))


def local_matrices(nodes: tuple[Node, ...] | list[Node], overrides: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Local node matrices: T @ R @ S, with the rotation optionally extended.

    Args:
        nodes: the avatar's nodes.
        overrides: node index -> (4,) quaternion (x, y, z, w) that MULTIPLIES the rest
            rotation (it does not replace it): R = R_rest @ R_override. The override turns
            the bone about its own joint, about axes given in the bone's rest frame (its
            local axes after the rest rotation); the identity leaves the rest pose.

    Returns:
        (N, 4, 4) float64.
    """
    rest_rotations, scales, translations, _ = _rest_arrays(tuple(nodes))
    rotations = rest_rotations.copy()
    if overrides:
        indices = list(overrides)
        rotations[indices] = quat_multiply(rotations[indices], np.array([overrides[i] for i in indices], np.float64))
    local = np.zeros((len(nodes), 4, 4))
    local[:, :3, :3] = quat_to_matrix(rotations) * scales[:, None, :]
    local[:, :3, 3] = translations
    local[:, 3, 3] = 1.0
    return local


def global_matrices(nodes: tuple[Node, ...] | list[Node], local: np.ndarray) -> np.ndarray:
    """(N, 4, 4) float64 node-to-glTF-space matrices from (N, 4, 4) local matrices."""
    result = np.empty_like(local)
    for index in _rest_arrays(tuple(nodes))[3]:
        parent = nodes[index].parent
        result[index] = local[index] if parent < 0 else result[parent] @ local[index]
    return result


def rest_globals(avatar: Avatar) -> np.ndarray:
    """(N, 4, 4) global matrices of the rest pose (no overrides)."""
    return global_matrices(avatar.nodes, local_matrices(avatar.nodes))


def joint_matrices(skin: Skin, globals_: np.ndarray) -> np.ndarray:
    """(K, 4, 4) float32 skinning matrices globals[joints] @ inverse_bind, in glTF space
    (identity for every joint when posed as bound)."""
    return (globals_[skin.joints] @ skin.inverse_bind.astype(np.float64)).astype(np.float32)


def root_matrix(avatar: Avatar) -> np.ndarray:
    """(4, 4) float64 glTF-space -> avatar-space matrix (the root rotation)."""
    matrix = np.eye(4)
    matrix[:3, :3] = quat_to_matrix(avatar.root_rotation)
    return matrix


def posed_positions(avatar: Avatar, primitive: Primitive, globals_: np.ndarray) -> np.ndarray:
    """(V, 3) float64 vertex positions of a primitive in avatar space, skinned on the CPU
    (no morph targets): for tests, bounds and fallbacks, not per-frame drawing."""
    homogeneous = np.concatenate([primitive.positions.astype(np.float64), np.ones((len(primitive.positions), 1))], 1)
    if primitive.skin >= 0 and primitive.joints is not None and primitive.weights is not None:
        joints = joint_matrices(avatar.skins[primitive.skin], globals_).astype(np.float64)
        blended = np.einsum("vk,vkij->vij", primitive.weights.astype(np.float64), joints[primitive.joints])
        world = np.einsum("vij,vj->vi", blended, homogeneous)
    else:
        world = homogeneous @ globals_[primitive.node].T
    return (world @ root_matrix(avatar).T)[:, :3]


def avatar_bounds(avatar: Avatar, globals_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned bounds (lo (3,), hi (3,)) of all vertices in avatar space, posed."""
    points = np.concatenate([posed_positions(avatar, p, globals_) for p in avatar.primitives])
    return points.min(0), points.max(0)


def head_frame(avatar: Avatar, globals_: np.ndarray, rest: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The head bone's position and up direction in avatar space, for camera framing.

    Args:
        avatar: the avatar.
        globals_: (N, 4, 4) posed global matrices.
        rest: (N, 4, 4) rest-pose globals (`rest_globals(avatar)`); pass them to avoid
            recomputing them every frame.

    Returns:
        position (3,) float64 (the head joint, at the base of the skull) and up (3,)
        float64 unit vector: avatar-space +y carried along by the head's rotation away from
        its rest pose (so +y at rest, whatever the bone's own axes are).
    """
    head = avatar.humanoid["head"]
    rest = rest_globals(avatar) if rest is None else rest
    root = root_matrix(avatar)
    posed = root @ globals_[head]
    at_rest = root @ rest[head]
    turn = _rotation_part(posed) @ _rotation_part(at_rest).T
    up = turn @ np.array([0.0, 1.0, 0.0])
    return posed[:3, 3].copy(), up / np.linalg.norm(up)


def _rotation_part(matrix: np.ndarray) -> np.ndarray:
    """The rotation of a 4 x 4 rigid-plus-scale matrix (columns normalised; shear ignored)."""
    linear = matrix[:3, :3]
    return linear / np.linalg.norm(linear, axis=0, keepdims=True)

"""The rig: the one avatar format the solver and the renderer understand.

A rig is a neutral mesh, a linear blendshape basis, joints with linear blend skinning, and
a MediaPipe landmark embedding (triangle + barycentric coordinates per covered landmark).
Everything here is a pure function of arrays, in the style of smplx's `lbs.py`.

Shapes: N vertices, F triangles, S blendshapes, J joints, K embedded landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

JOINT_NAMES: tuple[str, ...] = ("global", "neck", "jaw", "left_eye", "right_eye")
"""FLAME's five joints; every rig uses the same five, in this order."""

JOINT_PARENTS = np.array([-1, 0, 1, 1, 1], dtype=np.int64)

MATERIALS: tuple[str, ...] = ("skin", "sclera", "iris", "pupil", "mouth", "teeth", "tongue", "hair", "lips", "brow",
                              "cloth")
"""Material names a rig's vertices may carry; the renderer shades by material."""


@dataclass(frozen=True)
class LandmarkEmbedding:
    """Where MediaPipe FaceMesh landmarks sit on a rig's surface.

    The same form as FLAME's `mediapipe_landmark_embedding.npz`.

    Attributes:
        landmark_indices: K int64, MediaPipe FaceMesh indices (0..477) covered.
        face_idx: K int64, index into the rig's `faces` of the triangle holding each one.
        bary: K x 3 float32, barycentric coordinates in that triangle (rows sum to 1).
    """

    landmark_indices: np.ndarray
    face_idx: np.ndarray
    bary: np.ndarray


@dataclass(frozen=True)
class Rig:
    """An animatable head.

    Attributes:
        name: short identifier, e.g. "builtin".
        vertices: N x 3 float32 neutral vertices; y up, z towards the viewer, the face
            looks along +z, the head's centre near the origin.
        faces: F x 3 int32 triangles, counter-clockwise seen from outside.
        materials: N uint8, index into MATERIALS for each vertex.
        colors: N x 3 float32 albedo in [0, 1].
        blendshape_names: S names (ARKit names for ARKit rigs).
        blendshapes: S x N x 3 float32 vertex offsets at full weight.
        joints: J x 3 float32 joint positions in the neutral pose (JOINT_NAMES order).
        skin_weights: N x J float32, rows sum to 1.
        embedding: the MediaPipe landmark embedding.
        eye_scale: a length for normalising landmark geometry: the distance between the
            outer eye corners of the neutral mesh.
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    materials: np.ndarray
    colors: np.ndarray
    blendshape_names: tuple[str, ...]
    blendshapes: np.ndarray
    joints: np.ndarray
    skin_weights: np.ndarray
    embedding: LandmarkEmbedding
    eye_scale: float


def apply_blendshapes(vertices: np.ndarray, blendshapes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Neutral plus weighted offsets.

    Args:
        vertices: N x 3 neutral.
        blendshapes: S x N x 3 offsets.
        weights: S weights.

    Returns:
        N x 3 float32.
    """
    if blendshapes.shape[0] != weights.shape[0]:
        raise ValueError(f"{blendshapes.shape[0]} blendshapes but {weights.shape[0]} weights")
    active = np.flatnonzero(np.abs(weights) > 1e-4)
    if active.size == 0:
        return vertices.astype(np.float32, copy=True)
    flat = blendshapes.reshape(blendshapes.shape[0], -1)
    if active.size > blendshapes.shape[0] // 4:
        # Most shapes active (the usual live case): one matrix-vector product reads the
        # basis once instead of copying the active part of it first.
        offsets = weights.astype(np.float32) @ flat
    else:
        offsets = weights[active].astype(np.float32) @ flat[active]
    return (vertices + offsets.reshape(vertices.shape)).astype(np.float32, copy=False)


def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """Rodrigues' formula.

    Args:
        axis_angle: ... x 3 rotation vectors (radians).

    Returns:
        ... x 3 x 3 rotation matrices.
    """
    aa = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zeros = np.zeros_like(x)
    k = np.stack([zeros, -z, y, z, zeros, -x, -y, x, zeros], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    s = np.sin(angle)[..., None]
    c = np.cos(angle)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + s * k + (1.0 - c) * (k @ k)


def matrix_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    """Inverse of `axis_angle_to_matrix` for one 3 x 3 rotation; returns 3 radians."""
    m = np.asarray(matrix, dtype=np.float64)
    cos = np.clip((np.trace(m) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos)
    if angle < 1e-8:
        return np.zeros(3)
    if np.pi - angle < 1e-5:
        # Near 180 degrees the antisymmetric part vanishes; take the axis from the diagonal.
        axis = np.sqrt(np.maximum((np.diag(m) + 1.0) / 2.0, 0.0))
        axis[1] = np.copysign(axis[1], m[0, 1] + m[1, 0]) if axis[0] > 1e-6 else axis[1]
        axis[2] = np.copysign(axis[2], m[0, 2] + m[2, 0]) if axis[0] > 1e-6 else np.copysign(axis[2], m[1, 2] + m[2, 1])
        return axis / np.linalg.norm(axis) * angle
    axis = np.array([m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]]) / (2.0 * np.sin(angle))
    return axis * angle


def world_transforms(rotations: np.ndarray, joints: np.ndarray, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rest-relative joint transforms, as smplx's `batch_rigid_transform`.

    A vertex skinned fully to joint j moves to `R[j] @ v + t[j]`.

    Args:
        rotations: J x 3 x 3 local rotations, each about its joint, relative to the parent.
        joints: J x 3 rest joint positions.
        parents: J parent indices, -1 for the root; parents come first.

    Returns:
        R: J x 3 x 3 world rotations; t: J x 3 translations.
    """
    world_r = np.empty_like(rotations)
    world_origin = np.empty_like(joints)  # where each joint's rest position ends up
    for j, parent in enumerate(parents):
        if parent < 0:
            world_r[j], world_origin[j] = rotations[j], joints[j]
        else:
            world_r[j] = world_r[parent] @ rotations[j]
            world_origin[j] = world_r[parent] @ (joints[j] - joints[parent]) + world_origin[parent]
    world_t = world_origin - np.einsum("jab,jb->ja", world_r, joints)
    return world_r, world_t


def skin(
    vertices: np.ndarray,
    joints: np.ndarray,
    parents: np.ndarray,
    skin_weights: np.ndarray,
    rotations: np.ndarray,
) -> np.ndarray:
    """Linear blend skinning with joint rotations about the joints' rest positions.

    Args:
        vertices: N x 3 vertices in the rest pose (after blendshapes).
        joints: J x 3 rest joint positions.
        parents: J parent indices, -1 for the root; parents precede children.
        skin_weights: N x J.
        rotations: J x 3 axis-angle, each relative to its parent.

    Returns:
        N x 3 float32 posed vertices.
    """
    n_joints = joints.shape[0]
    if rotations.shape != (n_joints, 3):
        raise ValueError(f"rotations must be {n_joints} x 3, got {rotations.shape}")
    world_r, world_t = world_transforms(axis_angle_to_matrix(rotations), joints.astype(np.float64), parents)
    moved = np.zeros(n_joints, bool)  # whether a joint or any ancestor rotates
    for j, p in enumerate(parents):
        moved[j] = np.any(rotations[j]) or (p >= 0 and moved[p])
    # Skin weights sum to 1, so sum_j w_j (R_j v + t_j) = v + sum_j w_j ((R_j - I) v + t_j):
    # joints at rest add nothing, and each moved joint only touches the vertices it carries.
    out = vertices.astype(np.float64)
    for j in np.flatnonzero(moved):
        rows = np.flatnonzero(skin_weights[:, j])
        w = skin_weights[rows, j:j + 1]
        out[rows] += w * (vertices[rows] @ (world_r[j].T - np.eye(3)) + world_t[j])
    return out.astype(np.float32)


def embed_landmarks(vertices: np.ndarray, faces: np.ndarray, embedding: LandmarkEmbedding) -> np.ndarray:
    """Landmark positions on a (posed) mesh.

    Args:
        vertices: N x 3.
        faces: F x 3.
        embedding: the rig's landmark embedding (K landmarks).

    Returns:
        K x 3 float32, in `embedding.landmark_indices` order.
    """
    corners = vertices[faces[embedding.face_idx]]  # K x 3 x 3
    return np.einsum("kc,kcd->kd", embedding.bary, corners).astype(np.float32)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals; N x 3 float32."""
    v = vertices.astype(np.float32, copy=False)
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    e1, e2 = b - a, c - a
    # Written out: np.cross is several times slower on F x 3 arrays.
    face_n = np.stack(
        [e1[:, 1] * e2[:, 2] - e1[:, 2] * e2[:, 1],
         e1[:, 2] * e2[:, 0] - e1[:, 0] * e2[:, 2],
         e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]],
        axis=1,
    )
    normals = np.empty((len(v), 3), np.float32)
    for d in range(3):
        # bincount accumulates per-vertex sums far faster than np.add.at.
        normals[:, d] = sum(np.bincount(faces[:, k], weights=face_n[:, d], minlength=len(v)) for k in range(3))
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.maximum(length, 1e-12)


def pose_rig(rig: Rig, weights: np.ndarray, joint_rotations: np.ndarray | None = None) -> np.ndarray:
    """Blendshapes then skinning: the mesh the renderer draws.

    Args:
        rig: the avatar.
        weights: S blendshape weights.
        joint_rotations: J x 3 axis-angle, or None for the rest pose.

    Returns:
        N x 3 float32 vertices.
    """
    shaped = apply_blendshapes(rig.vertices, rig.blendshapes, weights)
    if joint_rotations is None or not np.any(joint_rotations):
        return shaped
    return skin(shaped, rig.joints, JOINT_PARENTS, rig.skin_weights, joint_rotations)

"""`pose_rig` and `vertex_normals` for one rig, every frame: the renderer's per-frame mesh.

The reference functions in `face.rig` work on any arrays and redo all their set-up on each
call. A renderer poses the same rig sixty times a second, so this precomputes what only
depends on the rig:

- blendshapes as one sparse matrix (each ARKit shape moves a small part of the head: 4 %
  of the basis is non-zero for the built-in character), so all 52 active shapes cost a
  sparse product instead of a dense pass over 52 x N x 3 offsets;
- skinning as one blend of per-joint affine maps (N x J weights times J x 12), which
  touches each vertex once instead of once per moving joint;
- vertex normals as the triangle-to-vertex incidence matrix times the face normals, with
  the triangles' corners gathered from coordinate-major arrays (three contiguous
  gathers instead of strided ones).

Same results as `face.rig.pose_rig` / `vertex_normals` up to float32 rounding
(tests/test_posing.py).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from avatar_live.face.rig import (
    JOINT_PARENTS,
    Rig,
    axis_angle_to_matrix,
    world_transforms,
)


class RigPoser:
    """Poses one rig (blendshapes, then skinning) and computes its vertex normals.

    Args:
        rig: the avatar (N vertices, F triangles, S blendshapes, J joints).
    """

    def __init__(self, rig: Rig) -> None:
        n_vertices = rig.vertices.shape[0]
        n_shapes = rig.blendshapes.shape[0]
        self._neutral = np.ascontiguousarray(rig.vertices, np.float32)
        # 3N x S: offsets = basis @ weights, for any number of active shapes.
        self._basis = scipy.sparse.csr_matrix(rig.blendshapes.reshape(n_shapes, -1).T.astype(np.float32))
        self._skin_weights = np.ascontiguousarray(rig.skin_weights, np.float32)
        self._joints = rig.joints.astype(np.float64)
        self._corners = np.ascontiguousarray(rig.faces.T, np.intp)  # 3 x F: each triangle's corners
        n_faces = rig.faces.shape[0]
        self._incidence = scipy.sparse.csr_matrix(
            (np.ones(3 * n_faces, np.float32), (rig.faces.ravel(), np.repeat(np.arange(n_faces), 3))),
            shape=(n_vertices, n_faces),
        )

    def pose(self, weights: np.ndarray, joint_rotations: np.ndarray | None = None) -> np.ndarray:
        """The posed mesh, as `face.rig.pose_rig(rig, weights, joint_rotations)`.

        Args:
            weights: S blendshape weights.
            joint_rotations: J x 3 axis-angle, each relative to its parent; None for the rest pose.

        Returns:
            N x 3 float32 vertices (a new array).

        Raises:
            ValueError: `weights` or `joint_rotations` has the wrong shape.
        """
        n_shapes, n_joints = self._basis.shape[1], self._joints.shape[0]
        if weights.shape != (n_shapes,):
            raise ValueError(f"{n_shapes} blendshapes but weights of shape {weights.shape}")
        shaped = self._neutral + (self._basis @ weights.astype(np.float32)).reshape(self._neutral.shape)
        if joint_rotations is None or not np.any(joint_rotations):
            return shaped
        if joint_rotations.shape != (n_joints, 3):
            raise ValueError(f"rotations must be {n_joints} x 3, got {joint_rotations.shape}")
        world_r, world_t = world_transforms(axis_angle_to_matrix(joint_rotations), self._joints, JOINT_PARENTS)
        # Skin weights sum to 1, so sum_j w_j (R_j v + t_j) = v + (sum_j w_j (R_j - I)) v + sum_j w_j t_j.
        per_joint = np.concatenate([(world_r - np.eye(3)).reshape(n_joints, 9), world_t], axis=1)
        blended = self._skin_weights @ per_joint.astype(np.float32)  # N x 12
        return shaped + np.einsum("nij,nj->ni", blended[:, :9].reshape(-1, 3, 3), shaped) + blended[:, 9:]

    def normals(self, vertices: np.ndarray) -> np.ndarray:
        """Area-weighted unit vertex normals of the posed mesh, as `face.rig.vertex_normals`.

        Args:
            vertices: N x 3 (from `pose`).

        Returns:
            N x 3 float32.
        """
        coords = np.ascontiguousarray(vertices.T, np.float32)  # 3 x N
        a, b, c = (coords[:, corner] for corner in self._corners)
        e1, e2 = b - a, c - a
        face_normals = np.stack(
            [e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]], axis=1)
        normals = self._incidence @ face_normals
        length = np.sqrt(np.einsum("ij,ij->i", normals, normals))[:, None]
        return normals / np.maximum(length, 1e-12)

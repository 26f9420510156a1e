"""FLAME, the face model EMOCA predicts: loading the official pickle and the forward pass.

Users download FLAME themselves (FLAME 2020 `generic_model.pkl`, FLAME 2023 Open
`flame2023_Open.pkl`); it is read with the restricted unpickler in `safe_pickle`, without
chumpy. The forward pass follows smplx's `lbs.py` as pure numpy functions, split so the
identity part is computed once per user:

    shaped = shape_flame(model, betas)                # once per user
    posed = pose_flame(shaped, expression, pose)      # every frame

Shapes: N = 5023 vertices, F = 9976 triangles, S shape and E expression components
(EMOCA: 100 and 50 of FLAME's 300 and 100), P = 36 pose correctives, J = 5 joints in
`rig.JOINT_NAMES` order (global, neck, jaw, left eye, right eye).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from avatar_live.errors import AvatarLiveError
from avatar_live.face import safe_pickle
from avatar_live.face.rig import JOINT_PARENTS, axis_angle_to_matrix, world_transforms

FLAME_VERTICES = 5023
FLAME_FACES = 9976
FLAME_SHAPE_COMPONENTS = 300
FLAME_EXPRESSION_COMPONENTS = 100
FLAME_POSE_CORRECTIVES = 36
FLAME_JOINTS = len(JOINT_PARENTS)

REQUIRED_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")


@dataclass(frozen=True)
class FlameModel:
    """FLAME's bases, truncated to the components used.

    Attributes:
        v_template: N x 3 mean head, metres.
        faces: F x 3 int32 triangles.
        shapedirs: N x 3 x S identity basis (first S of FLAME's 300).
        exprdirs: N x 3 x E expression basis (first E of FLAME's 100).
        posedirs: N x 3 x P pose correctives, driven by (R - I) of the 4 non-root joints.
        j_regressor: J x N joint regressor (dense; rows sum to 1).
        weights: N x J skinning weights (rows sum to 1).
    """

    v_template: np.ndarray
    faces: np.ndarray
    shapedirs: np.ndarray
    exprdirs: np.ndarray
    posedirs: np.ndarray
    j_regressor: np.ndarray
    weights: np.ndarray

    @property
    def n_shape(self) -> int:
        return self.shapedirs.shape[2]

    @property
    def n_expression(self) -> int:
        return self.exprdirs.shape[2]


@dataclass(frozen=True)
class ShapedFlame:
    """FLAME with one person's identity applied: what `pose_flame` needs every frame.

    Attributes:
        model: the model.
        vertices: N x 3 template plus identity offsets.
        joints: J x 3 rest joints of those vertices.
        joint_exprdirs: J x 3 x E how the rest joints move per expression component (the
            regressor applied to the expression basis; joints follow expression in FLAME).
    """

    model: FlameModel
    vertices: np.ndarray
    joints: np.ndarray
    joint_exprdirs: np.ndarray


@dataclass(frozen=True)
class PosedFlame:
    """One FLAME forward pass.

    Attributes:
        vertices: N x 3 posed vertices.
        joints: J x 3 posed joints.
    """

    vertices: np.ndarray
    joints: np.ndarray


def load_flame(
    path: str | Path,
    n_shape: int = 100,
    n_expression: int = 50,
    dtype: type[np.floating] = np.float32,
) -> FlameModel:
    """Read and validate an official FLAME pickle (FLAME 2020 or FLAME 2023 Open).

    Args:
        path: the `.pkl` file.
        n_shape: identity components kept, 0..300.
        n_expression: expression components kept, 0..100.
        dtype: float dtype of the returned arrays.

    Returns:
        The model.

    Raises:
        AvatarLiveError: the file is missing, truncated or not a FLAME model (a missing
            key, a wrong shape or dtype), or it asks for code outside the allow-list.
    """
    raw = safe_pickle.load_file(path)
    return flame_from_dict(raw, str(path), n_shape, n_expression, dtype)


def flame_from_dict(
    raw: Any,
    description: str,
    n_shape: int = 100,
    n_expression: int = 50,
    dtype: type[np.floating] = np.float32,
) -> FlameModel:
    """Validate the arrays of an unpickled FLAME file; see `load_flame`.

    Args:
        raw: the unpickled object (a dict with `REQUIRED_KEYS`).
        description: how errors name the source, e.g. the path.
        n_shape, n_expression, dtype: as `load_flame`.

    Returns:
        The model.

    Raises:
        AvatarLiveError: as `load_flame`.
    """

    def fail(message: str) -> AvatarLiveError:
        return AvatarLiveError(f"{description}: not a FLAME model: {message}")

    if not isinstance(raw, dict):
        raise fail(f"the pickle holds a {type(raw).__name__}, expected a dict of arrays")
    missing = [key for key in REQUIRED_KEYS if key not in raw]
    if missing:
        raise fail(f"missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if not 0 <= n_shape <= FLAME_SHAPE_COMPONENTS or not 0 <= n_expression <= FLAME_EXPRESSION_COMPONENTS:
        raise AvatarLiveError(
            f"FLAME has {FLAME_SHAPE_COMPONENTS} shape and {FLAME_EXPRESSION_COMPONENTS} expression components; "
            f"asked for {n_shape} and {n_expression}"
        )

    def array(key: str, shape: tuple[int, ...], kind: str) -> np.ndarray:
        value = raw[key]
        if scipy.sparse.issparse(value):
            value = value.toarray()
        if not isinstance(value, np.ndarray):
            raise fail(f"{key} is a {type(value).__name__}, expected an array")
        if value.shape != shape:
            found, expected = "x".join(map(str, value.shape)), "x".join(map(str, shape))
            raise fail(f"{key} is {found or 'a scalar'}, expected {expected}")
        if value.dtype.kind not in kind:
            raise fail(f"{key} has dtype {value.dtype}, expected {'integers' if kind == 'iu' else 'floats'}")
        if kind == "f" and not np.all(np.isfinite(value)):
            raise fail(f"{key} holds NaN or infinite values")
        return value

    n, j = FLAME_VERTICES, FLAME_JOINTS
    n_bases = FLAME_SHAPE_COMPONENTS + FLAME_EXPRESSION_COMPONENTS
    v_template = array("v_template", (n, 3), "f")
    faces = array("f", (FLAME_FACES, 3), "iu")
    shapedirs = array("shapedirs", (n, 3, n_bases), "f")
    posedirs = array("posedirs", (n, 3, FLAME_POSE_CORRECTIVES), "f")
    j_regressor = array("J_regressor", (j, n), "f")
    weights = array("weights", (n, j), "f")
    kintree = array("kintree_table", (2, j), "iu")

    if faces.min() < 0 or faces.max() >= n:
        raise fail(f"f indexes vertices {faces.min()}..{faces.max()}, the mesh has {n}")
    # Row 0 holds parents (the root's is -1 or 2**32 - 1, depending on who wrote it).
    if not np.array_equal(kintree[1], np.arange(j)) or not np.array_equal(kintree[0, 1:], JOINT_PARENTS[1:]):
        raise fail(f"kintree_table {kintree.tolist()} is not FLAME's joint tree (parents {JOINT_PARENTS.tolist()})")
    for key, matrix, axis in (("weights", weights, 1), ("J_regressor", j_regressor, 1)):
        if not np.allclose(matrix.sum(axis=axis), 1.0, atol=1e-3):
            raise fail(f"{key} rows do not sum to 1")

    def cast(value: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(value, dtype=dtype)

    return FlameModel(
        v_template=cast(v_template),
        faces=np.ascontiguousarray(faces, dtype=np.int32),
        shapedirs=cast(shapedirs[:, :, :n_shape]),
        exprdirs=cast(shapedirs[:, :, FLAME_SHAPE_COMPONENTS:FLAME_SHAPE_COMPONENTS + n_expression]),
        posedirs=cast(posedirs),
        j_regressor=cast(j_regressor),
        weights=cast(weights),
    )


def _check_vector(name: str, value: np.ndarray, size: int) -> np.ndarray:
    value = np.asarray(value)
    if value.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {value.shape}")
    return value


def shape_flame(model: FlameModel, betas: np.ndarray) -> ShapedFlame:
    """Apply an identity: the per-user part of the forward pass, computed once.

    Args:
        model: the model.
        betas: S identity coefficients.

    Returns:
        The shaped model.
    """
    betas = _check_vector("betas", betas, model.n_shape).astype(model.v_template.dtype)
    n = model.v_template.shape[0]
    vertices = model.v_template + (model.shapedirs.reshape(n * 3, -1) @ betas).reshape(n, 3)
    return ShapedFlame(
        model=model,
        vertices=vertices,
        joints=model.j_regressor @ vertices,
        joint_exprdirs=np.einsum("jn,nde->jde", model.j_regressor, model.exprdirs),
    )


def pose_corrective_feature(rotations: np.ndarray) -> np.ndarray:
    """FLAME's pose-corrective input: (R - I) of the non-root joints, row-major.

    Args:
        rotations: J x 3 x 3 local joint rotations.

    Returns:
        (J - 1) * 9 = P values.
    """
    return (rotations[1:] - np.eye(3)).reshape(-1)


def blend_skinning(vertices: np.ndarray, weights: np.ndarray, world_r: np.ndarray, world_t: np.ndarray) -> np.ndarray:
    """Linear blend skinning: sum_j w_nj (R_j v_n + t_j).

    Args:
        vertices: N x 3 rest-pose vertices.
        weights: N x J skinning weights.
        world_r: J x 3 x 3 world rotations; world_t: J x 3 translations (`world_transforms`).

    Returns:
        N x 3 posed vertices, in the dtype of `vertices`.
    """
    dtype = vertices.dtype
    # Blend the 3 x 4 transforms per vertex first (one N x J by J x 12 product), then
    # apply each vertex's own: cheaper than moving every vertex by every joint.
    affine = np.concatenate([world_r, world_t[:, :, None]], axis=2).reshape(len(world_r), 12).astype(dtype)
    blended = (weights @ affine).reshape(-1, 3, 4)
    return np.einsum("nab,nb->na", blended[:, :, :3], vertices) + blended[:, :, 3]


def pose_flame(shaped: ShapedFlame, expression: np.ndarray, pose: np.ndarray) -> PosedFlame:
    """The per-frame part of the forward pass: expression, pose correctives, skinning.

    Args:
        shaped: the model with an identity applied (`shape_flame`).
        expression: E expression coefficients.
        pose: J x 3 axis-angle rotations (global, neck, jaw, left eye, right eye), each
            relative to its parent joint.

    Returns:
        The posed vertices and joints.
    """
    model = shaped.model
    dtype = model.v_template.dtype
    expression = _check_vector("expression", expression, model.n_expression).astype(dtype)
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (FLAME_JOINTS, 3):
        raise ValueError(f"pose must be {FLAME_JOINTS} x 3 axis-angle, got {pose.shape}")
    n = shaped.vertices.shape[0]
    rotations = axis_angle_to_matrix(pose)
    feature = pose_corrective_feature(rotations).astype(dtype)
    offsets = model.exprdirs.reshape(n * 3, -1) @ expression + model.posedirs.reshape(n * 3, -1) @ feature
    vertices = shaped.vertices + offsets.reshape(n, 3)
    joints = shaped.joints + shaped.joint_exprdirs @ expression
    world_r, world_t = world_transforms(rotations, joints.astype(np.float64), JOINT_PARENTS)
    posed_joints = np.einsum("jab,jb->ja", world_r, joints) + world_t
    return PosedFlame(
        vertices=blend_skinning(vertices, model.weights, world_r, world_t),
        joints=posed_joints.astype(dtype),
    )

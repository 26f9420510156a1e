"""The FLAME forward pass in torch, batched, for EMOCA: the same maths as `flame.py`.

    tensors = flame_tensors(load_flame(path), device="cuda")
    out = flame_forward(tensors, shape, expression, pose)   # B x 100, B x 50, B x 5 x 3

Pure functions of tensors in the style of smplx's `lbs.py`. Shapes as in `flame.py`, with
a leading batch dimension B.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from avatar_live.face.flame import FLAME_JOINTS, FlameModel
from avatar_live.face.rig import JOINT_PARENTS


@dataclass(frozen=True)
class FlameTensors:
    """A `FlameModel`'s arrays as tensors on one device, bases flattened for matmul.

    Attributes:
        v_template: N x 3.
        shapedirs: 3N x S (row 3n + d is coordinate d of vertex n).
        exprdirs: 3N x E.
        posedirs: 3N x P.
        j_regressor: J x N.
        weights: N x J.
    """

    v_template: torch.Tensor
    shapedirs: torch.Tensor
    exprdirs: torch.Tensor
    posedirs: torch.Tensor
    j_regressor: torch.Tensor
    weights: torch.Tensor


@dataclass(frozen=True)
class FlameOutput:
    """A batch of FLAME forward passes.

    Attributes:
        vertices: B x N x 3 posed vertices.
        joints: B x J x 3 posed joints.
    """

    vertices: torch.Tensor
    joints: torch.Tensor


def flame_tensors(model: FlameModel, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> FlameTensors:
    """Copy a model to tensors.

    Args:
        model: from `flame.load_flame`.
        device: torch device.
        dtype: float dtype.

    Returns:
        The tensors.
    """

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device)

    n = model.v_template.shape[0]
    return FlameTensors(
        v_template=tensor(model.v_template),
        shapedirs=tensor(model.shapedirs.reshape(n * 3, -1)),
        exprdirs=tensor(model.exprdirs.reshape(n * 3, -1)),
        posedirs=tensor(model.posedirs.reshape(n * 3, -1)),
        j_regressor=tensor(model.j_regressor),
        weights=tensor(model.weights),
    )


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, exact at and differentiable through zero rotation.

    Args:
        axis_angle: ... x 3 rotation vectors (radians).

    Returns:
        ... x 3 x 3 rotation matrices.
    """
    # R = I + a K + b K^2 with K the cross-product matrix of the unnormalised vector,
    # a = sin(t)/t and b = (1 - cos(t))/t^2; near t = 0 their Taylor series avoid 0/0.
    theta2 = (axis_angle * axis_angle).sum(-1)
    small = theta2 < 1e-8
    safe2 = torch.where(small, torch.ones_like(theta2), theta2)
    theta = safe2.sqrt()
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / safe2)
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(axis_angle.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def _check_batch(name: str, value: torch.Tensor, trailing: tuple[int, ...]) -> None:
    if value.ndim != 1 + len(trailing) or tuple(value.shape[1:]) != trailing:
        expected = " x ".join(["B", *map(str, trailing)])
        raise ValueError(f"{name} must be {expected}, got {tuple(value.shape)}")


def flame_forward(tensors: FlameTensors, shape: torch.Tensor, expression: torch.Tensor, pose: torch.Tensor) -> FlameOutput:
    """FLAME for a batch: blendshapes, joint regression, pose correctives, skinning.

    Args:
        tensors: from `flame_tensors`.
        shape: B x S identity coefficients.
        expression: B x E expression coefficients.
        pose: B x J x 3 axis-angle (global, neck, jaw, left eye, right eye), each relative
            to its parent joint.

    Returns:
        Posed vertices and joints.
    """
    n = tensors.v_template.shape[0]
    _check_batch("shape", shape, (tensors.shapedirs.shape[1],))
    _check_batch("expression", expression, (tensors.exprdirs.shape[1],))
    _check_batch("pose", pose, (FLAME_JOINTS, 3))
    batch = shape.shape[0]

    blend = shape @ tensors.shapedirs.T + expression @ tensors.exprdirs.T
    v_shaped = tensors.v_template + blend.reshape(batch, n, 3)
    joints = torch.einsum("jn,bnd->bjd", tensors.j_regressor, v_shaped)

    rotations = axis_angle_to_matrix(pose)  # B x J x 3 x 3
    eye = torch.eye(3, dtype=pose.dtype, device=pose.device)
    feature = (rotations[:, 1:] - eye).reshape(batch, -1)
    v_posed = v_shaped + (feature @ tensors.posedirs.T).reshape(batch, n, 3)

    # World transforms down the joint tree (parents first), as rig.world_transforms.
    world_r: list[torch.Tensor] = []
    world_origin: list[torch.Tensor] = []
    for j, parent in enumerate(JOINT_PARENTS.tolist()):
        if parent < 0:
            world_r.append(rotations[:, j])
            world_origin.append(joints[:, j])
        else:
            offset = (joints[:, j] - joints[:, parent])[..., None]
            world_r.append(world_r[parent] @ rotations[:, j])
            world_origin.append((world_r[parent] @ offset)[..., 0] + world_origin[parent])
    r = torch.stack(world_r, dim=1)  # B x J x 3 x 3
    posed_joints = torch.stack(world_origin, dim=1)  # B x J x 3
    t = posed_joints - (r @ joints[..., None])[..., 0]

    affine = torch.cat([r, t[..., None]], dim=-1).reshape(batch, FLAME_JOINTS, 12)
    blended = (tensors.weights @ affine).reshape(batch, n, 3, 4)
    vertices = (blended[..., :3] @ v_posed[..., None])[..., 0] + blended[..., 3]
    return FlameOutput(vertices=vertices, joints=posed_joints)

"""FLAME as a `Rig`, so the renderer and the solvers treat it like any other avatar.

The rig's blendshapes are FLAME's 50 expression components (`FLAME_EXPRESSION_NAMES`),
its joints and skinning are FLAME's own, and the mouth opens with the jaw joint. Pose
correctives are left out of the rendered mesh: they refine skin near bent joints, and
the head's rigid motion is applied by the renderer anyway.
"""

from __future__ import annotations

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.face.drive import FLAME_EXPRESSION_NAMES
from avatar_live.face.flame import FlameModel, shape_flame
from avatar_live.face.rig import (
    JOINT_NAMES,
    MATERIALS,
    LandmarkEmbedding,
    Rig,
    embed_landmarks,
)
from avatar_live.tracking import topology

SKIN_ALBEDO = (0.72, 0.72, 0.72)
"""Neutral grey: FLAME has no texture of its own here."""

_EYE_COLOURS = {"sclera": (0.93, 0.93, 0.9), "iris": (0.25, 0.35, 0.45), "pupil": (0.03, 0.03, 0.03)}
_IRIS_ANGLE = np.radians(24.0)  # angular radius of the iris seen from the eyeball centre
_PUPIL_ANGLE = np.radians(10.0)


def flame_rig(model: FlameModel, embedding: LandmarkEmbedding, *, betas: np.ndarray | None = None) -> Rig:
    """Build the FLAME avatar for one identity.

    Args:
        model: a loaded FLAME model (`load_flame`).
        embedding: its MediaPipe landmark embedding (`load_mediapipe_embedding`).
        betas: S identity coefficients (None: the mean face).

    Returns:
        The rig, named "flame".

    Raises:
        AvatarLiveError: the embedding does not cover both outer eye corners (needed to
            size the face) or points at triangles the model does not have.
    """
    if embedding.face_idx.max() >= len(model.faces):
        raise AvatarLiveError("the landmark embedding does not belong to this FLAME model (triangle index out of range)")
    shaped = shape_flame(model, np.zeros(model.n_shape) if betas is None else betas)
    vertices = shaped.vertices.astype(np.float32)
    faces = _outward(vertices, model.faces.astype(np.int32))
    materials, colors = _materials(vertices, shaped.joints, model.weights)
    landmarks = embed_landmarks(vertices, faces, embedding)
    index = {int(i): k for k, i in enumerate(embedding.landmark_indices)}
    outer = topology.RIGHT_EYE_UPPER[0], topology.LEFT_EYE_UPPER[0]
    if not all(i in index for i in outer):
        raise AvatarLiveError("the landmark embedding must cover the outer eye corners (MediaPipe 33 and 263)")
    return Rig(
        name="flame",
        vertices=vertices,
        faces=faces,
        materials=materials,
        colors=colors,
        blendshape_names=FLAME_EXPRESSION_NAMES,
        blendshapes=np.ascontiguousarray(np.moveaxis(model.exprdirs, 2, 0)[:50]).astype(np.float32),
        joints=shaped.joints.astype(np.float32),
        skin_weights=model.weights.astype(np.float32),
        embedding=embedding,
        eye_scale=float(np.linalg.norm(landmarks[index[outer[0]]] - landmarks[index[outer[1]]])),
    )


def _outward(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Faces wound counter-clockwise seen from outside (the renderer culls back faces)."""
    tri = vertices[faces].astype(np.float64)
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    outward = np.einsum("fd,fd->", normals, tri.mean(axis=1) - vertices.mean(axis=0))
    return faces if outward >= 0 else faces[:, ::-1].copy()


def _materials(vertices: np.ndarray, joints: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skin everywhere, except eyeballs (vertices carried by an eye joint): sclera, iris
    and pupil by the angle from the eye's forward (+z) axis."""
    materials = np.full(len(vertices), MATERIALS.index("skin"), np.uint8)
    colors = np.tile(np.array(SKIN_ALBEDO, np.float32), (len(vertices), 1))
    owner = weights.argmax(axis=1)
    for joint in ("left_eye", "right_eye"):
        j = JOINT_NAMES.index(joint)
        ball = np.flatnonzero((owner == j) & (weights[:, j] > 0.5))
        if ball.size == 0:
            continue
        direction = vertices[ball] - joints[j]
        angle = np.arccos(np.clip(direction[:, 2] / np.maximum(np.linalg.norm(direction, axis=1), 1e-12), -1, 1))
        for name, limit in (("sclera", np.inf), ("iris", _IRIS_ANGLE), ("pupil", _PUPIL_ANGLE)):
            chosen = ball[angle <= limit]
            materials[chosen] = MATERIALS.index(name)
            colors[chosen] = _EYE_COLOURS[name]
    return materials, colors

"""The built-in head as a `Rig`: skin weights, rig units, and the cached build."""

from __future__ import annotations

import functools

import numpy as np

from avatar_live.face.builtin.assembly import Head, assemble
from avatar_live.face.builtin.blendshapes import Shaper
from avatar_live.face.builtin.cache import cached_head
from avatar_live.face.builtin.design import (
    BODY,
    CM_TO_RIG,
    GLOBAL_JOINT,
    JAW_JOINT,
    JOINT_ID,
    NECK_JOINT,
    RIG_ORIGIN_CM,
    SKIN,
)
from avatar_live.face.builtin.eyes import eye_frame
from avatar_live.face.builtin.geometry import ramp
from avatar_live.face.builtin.landmarks import landmark_embedding
from avatar_live.face.builtin.look import DEFAULT_LOOK, LOOKS, Look
from avatar_live.face.rig import JOINT_NAMES, Rig
from avatar_live.types import ARKIT_NAMES


def lbs_weights(head: Head) -> np.ndarray:
    """N x 5 (JOINT_NAMES order).

    The head and face follow `neck` (the head's own joint, as in FLAME, so that turning the
    neck carries the eyes and the jaw, its children, along with the face), the lower neck
    blends to `global`, the jaw region to `jaw`, the eyeballs are wholly on their eye joints
    and the top on `global`, so the head turns on the shoulders.
    """
    weights = np.zeros((len(head.neutral), len(JOINT_NAMES)))
    low_neck = np.maximum(ramp(-head.neutral[:, 1], 10.5, 14.5) * (head.kind == SKIN), head.kind == BODY)
    weights[:, JOINT_ID["global"]] = low_neck
    weights[:, JOINT_ID["jaw"]] = head.jaw * (1.0 - low_neck)
    weights[:, JOINT_ID["neck"]] = (1.0 - head.jaw) * (1.0 - low_neck)
    for ids, joint in zip(head.eyeballs, ("left_eye", "right_eye"), strict=True):
        weights[ids] = 0.0
        weights[ids, JOINT_ID[joint]] = 1.0
    return weights


def to_rig(points: np.ndarray) -> np.ndarray:
    """Design centimetres (N x 3) to rig units, float32."""
    return ((points - RIG_ORIGIN_CM) * CM_TO_RIG).astype(np.float32)


@functools.lru_cache(maxsize=len(LOOKS))
def build_builtin_head(look: Look = DEFAULT_LOOK) -> Rig:
    """The built-in head: a stylized, fully rigged default avatar made from numbers alone.

    A head-and-shoulders character: hair, ears, eyes with catch lights, a mouth with lips,
    teeth and tongue, a short neck into shoulders in a simple top. Deterministic for each
    look. Built once per look (about a second) and kept on disk for later runs
    (`cache`), and once per process and look read or built and kept in memory, so the
    arrays are shared: treat them as read-only.

    Args:
        look: skin tone, hair colour and style, top and eye colour (`LOOKS` has presets).
            Only colours and the hair differ between looks: the face, its shapes, joints and
            landmark embedding are the same for all.

    Returns:
        A `Rig` named "builtin" (about 11k triangles) with the 52 ARKit blendshapes in
        ARKIT_NAMES order, the five FLAME joints (eye joints at the eyeball centres) and a
        MediaPipe landmark embedding covering every index in `avatar_live.tracking.topology`.
    """
    return cached_head(look, build_uncached)


def build_uncached(look: Look = DEFAULT_LOOK) -> Rig:
    """`build_builtin_head` built afresh: no cache read or written."""
    head = assemble(look)
    shaper = Shaper(head)
    joints = np.stack([GLOBAL_JOINT, NECK_JOINT, JAW_JOINT, eye_frame(1.0).centre, eye_frame(-1.0).centre])
    return Rig(
        name="builtin",
        vertices=to_rig(head.neutral),
        faces=head.faces.astype(np.int32),
        materials=head.materials,
        colors=np.clip(head.colors, 0.0, 1.0).astype(np.float32),
        blendshape_names=ARKIT_NAMES,
        blendshapes=(shaper.shapes() * CM_TO_RIG).astype(np.float32),
        joints=to_rig(joints),
        skin_weights=lbs_weights(head).astype(np.float32),
        embedding=landmark_embedding(head),
        eye_scale=shaper.eye_scale * CM_TO_RIG,
    )

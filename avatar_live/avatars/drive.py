"""Driving an avatar from `FaceParams`: morph-target weights and bone rotations.

Expressions, in order of preference:
1. Perfect sync: each ARKit shape (`ARKIT_NAMES`) drives the VRM expression named like it
   (VSeeFace-style perfect-sync VRMs: 52 custom groups such as "EyeBlinkLeft", binding
   morphs named anything), else every morph target named like it (see
   `names.arkit_index` for the spellings), at weight 1.
2. Without any ARKit shape: the VRM expressions, from the ARKit weights by the formulas
   of `fallback_expressions`.
Gaze goes onto the eye bones (look_at "bone", or look_at unknown and eye bones exist),
else onto the lookLeft/Right/Up/Down expressions, unless ARKit eyeLook* shapes already
move the eyes. The head rotation goes onto the neck and head bones.
"""

from __future__ import annotations

import numpy as np

from avatar_live.avatars.model import Avatar
from avatar_live.avatars.names import arkit_index
from avatar_live.avatars.pose import (
    axis_angle_to_quat,
    quat_multiply,
    quat_to_matrix,
    rest_globals,
)
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES, FaceParams

MAX_GAZE = np.radians(30.0)
"""Eye bones turn at most this far; look expressions are fully on at this angle (as the
built-in renderer's eyes)."""

NECK_SHARE = 0.4
"""Share of the head rotation the neck bone takes when the avatar has one (the head takes
the rest), so the turn bends the neck instead of snapping at the skull base."""

_LOOK_EXPRESSIONS = ("lookLeft", "lookRight", "lookUp", "lookDown")


def fallback_expressions(arkit: np.ndarray) -> dict[str, float]:
    """VRM expression weights from 52 ARKit weights, for avatars without ARKit shapes.

    Sides are averaged (smile = mean(mouthSmileLeft, mouthSmileRight), ...), then:
    blinkLeft = eyeBlinkLeft, blinkRight = eyeBlinkRight, blink = min of the two (for
    avatars with only "blink"); aa = jawOpen; ou = mouthPucker; oh = mouthFunnel;
    ih = mouthStretch; ee = smile * (1 - cheekSquint) (a smile without squinting eyes is
    the spread lips of "ee"); happy = sqrt(smile * cheekSquint); angry = browDown;
    sad = sqrt(browInnerUp * mouthFrown); surprised = cbrt(browOuterUp * eyeWide *
    jawOpen); relaxed = neutral = 0. All clipped to [0, 1].
    """
    a = np.clip(np.asarray(arkit, np.float64), 0.0, 1.0)

    def get(name: str) -> float:
        return float(a[ARKIT_INDEX[name]])

    def both(name: str) -> float:
        return (get(name + "Left") + get(name + "Right")) / 2

    smile, squint = both("mouthSmile"), both("cheekSquint")
    weights = {
        "blinkLeft": get("eyeBlinkLeft"),
        "blinkRight": get("eyeBlinkRight"),
        "blink": min(get("eyeBlinkLeft"), get("eyeBlinkRight")),
        "aa": get("jawOpen"),
        "ou": get("mouthPucker"),
        "oh": get("mouthFunnel"),
        "ih": both("mouthStretch"),
        "ee": smile * (1.0 - squint),
        "happy": np.sqrt(smile * squint),
        "angry": both("browDown"),
        "sad": np.sqrt(get("browInnerUp") * both("mouthFrown")),
        "surprised": np.cbrt(both("browOuterUp") * both("eyeWide") * get("jawOpen")),
        "relaxed": 0.0,
        "neutral": 0.0,
    }
    return {name: float(np.clip(value, 0.0, 1.0)) for name, value in weights.items()}


class AvatarDriver:
    """Maps face parameters onto one avatar; build once per avatar, call per frame.

    Attributes:
        perfect_sync: the ARKit names the avatar has shapes (or expressions) for, in
            `ARKIT_NAMES` order; empty means the VRM expression fallback is used.
        driven_expressions: the VRM expressions set per frame (fallback and look).
        eye_bones: node indices of the eye bones that take the gaze (may be empty).
    """

    def __init__(self, avatar: Avatar) -> None:
        self.avatar = avatar
        counts = [len(p.targets) for p in avatar.primitives]
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        usable = {name: e for name, e in avatar.expressions.items() if e.binds}
        # (flat target index, source index, weight); sources: 52 ARKit weights, then
        # the driven expressions' weights.
        entries: list[tuple[int, int, float]] = []
        by_arkit: dict[int, list[tuple[int, int, float]]] = {}
        for expression in usable.values():
            k = arkit_index(expression.name)
            if k is not None and k not in by_arkit:
                by_arkit[k] = list(expression.binds)
        for p, primitive in enumerate(avatar.primitives):
            for t, name in enumerate(primitive.target_names):
                k = arkit_index(name)
                if k is not None and k not in by_arkit:
                    entries.append((int(self._offsets[p]) + t, k, 1.0))
        for k, binds in by_arkit.items():
            entries += [(int(self._offsets[p]) + t, k, w) for p, t, w in binds]
        self.perfect_sync = tuple(ARKIT_NAMES[k] for k in sorted({source for _, source, _ in entries}))

        self.eye_bones = self._eye_bones(avatar)
        driven: list[str] = []
        if not self.perfect_sync:
            sides = "blinkLeft" in usable and "blinkRight" in usable
            skip = {"blink"} if sides else {"blinkLeft", "blinkRight"}
            driven += [n for n in fallback_expressions(np.zeros(len(ARKIT_NAMES))) if n in usable and n not in skip]
        eyes_by_arkit = any(name.startswith("eyeLook") for name in self.perfect_sync)
        if not self.eye_bones and not eyes_by_arkit:
            driven += [n for n in _LOOK_EXPRESSIONS if n in usable]
        self.driven_expressions = tuple(driven)
        for j, name in enumerate(driven):
            entries += [(int(self._offsets[p]) + t, len(ARKIT_NAMES) + j, w) for p, t, w in usable[name].binds]
        self._binary = np.array([usable[n].binary for n in driven], bool)
        table = np.array(entries, np.float64).reshape(-1, 3)
        self._targets = table[:, 0].astype(np.int64)
        self._sources = table[:, 1].astype(np.int64)
        self._weights = table[:, 2]
        self._frames = self._bone_frames(avatar)

    @staticmethod
    def _eye_bones(avatar: Avatar) -> tuple[int, ...]:
        eyes = tuple(avatar.humanoid[b] for b in ("leftEye", "rightEye") if b in avatar.humanoid)
        return eyes if avatar.look_at in ("bone", None) else ()

    def _bone_frames(self, avatar: Avatar) -> dict[int, np.ndarray]:
        """node -> (3, 3) rest rotation of the bone in avatar space (root rotation @ the
        rotation part of its rest global matrix), for head, neck and eye bones."""
        rest = rest_globals(avatar)
        root = quat_to_matrix(avatar.root_rotation)
        frames = {}
        for bone in ("head", "neck", "leftEye", "rightEye"):
            if bone in avatar.humanoid:
                node = avatar.humanoid[bone]
                linear = rest[node, :3, :3]
                frames[node] = root @ (linear / np.linalg.norm(linear, axis=0, keepdims=True))
        return frames

    def _neck_above_head(self) -> bool:
        humanoid = self.avatar.humanoid
        if "neck" not in humanoid:
            return False
        node = self.avatar.nodes[humanoid["head"]].parent
        while node >= 0 and node != humanoid["neck"]:
            node = self.avatar.nodes[node].parent
        return node == humanoid["neck"]

    def expression_weights(self, params: FaceParams) -> dict[str, float]:
        """The driven VRM expressions' weights this frame (binary ones snapped to 0 or 1)."""
        fallback = fallback_expressions(params.arkit)
        yaw, pitch = np.clip(np.asarray(params.gaze, np.float64), -MAX_GAZE, MAX_GAZE) / MAX_GAZE
        # Positive yaw looks to the subject's (and the avatar's) left, positive pitch up.
        look = {"lookLeft": max(yaw, 0.0), "lookRight": max(-yaw, 0.0), "lookUp": max(pitch, 0.0),
                "lookDown": max(-pitch, 0.0)}
        weights = {name: float(look[name] if name in look else fallback[name]) for name in self.driven_expressions}
        for name, binary in zip(self.driven_expressions, self._binary):
            if binary:
                weights[name] = 1.0 if weights[name] >= 0.5 else 0.0
        return weights

    def morph_weights(self, params: FaceParams) -> list[np.ndarray]:
        """One (M,) float32 weight vector per primitive (M: its morph-target count), the sum
        of every ARKit shape and expression on each target, clipped to [0, 1]."""
        expressions = np.array(list(self.expression_weights(params).values()), np.float64)
        sources = np.concatenate([np.clip(np.asarray(params.arkit, np.float64), 0.0, 1.0), expressions])
        sums = np.bincount(self._targets, sources[self._sources] * self._weights, minlength=int(self._offsets[-1]))
        flat = np.clip(sums, 0.0, 1.0).astype(np.float32)
        return [flat[a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:])]

    def bone_rotations(self, params: FaceParams) -> dict[int, np.ndarray]:
        """Rotation overrides for `pose.local_matrices`: node -> (4,) quaternion (x, y, z, w).

        The head rotation (`params.rotation`, axis-angle in avatar space) is split between
        the neck (`NECK_SHARE`) and head bones, each share turned into the bone's own frame:
        for a bone whose rest rotation in avatar space is A, the override of a world
        rotation R is A^T R A, whose axis-angle is A^T (axis * angle). Shares about the same
        axis commute, so neck then head compose to exactly R. The gaze (clamped to
        +-`MAX_GAZE`) turns each eye bone by R_y(yaw) R_x(-pitch) relative to the head.
        """
        humanoid = self.avatar.humanoid
        rotation = np.asarray(params.rotation, np.float64)
        head_share = 1.0
        result: dict[int, np.ndarray] = {}
        if self._neck_above_head():
            neck = humanoid["neck"]
            result[neck] = axis_angle_to_quat(self._frames[neck].T @ rotation * NECK_SHARE)
            head_share = 1.0 - NECK_SHARE
        head = humanoid["head"]
        result[head] = axis_angle_to_quat(self._frames[head].T @ rotation * head_share)
        if self.eye_bones:
            yaw, pitch = np.clip(np.asarray(params.gaze, np.float64), -MAX_GAZE, MAX_GAZE)
            # Yaw about y turns +z towards +x (the avatar's left); pitch about -x turns it up.
            gaze = quat_multiply(axis_angle_to_quat(np.array([0.0, yaw, 0.0])),
                                 axis_angle_to_quat(np.array([-pitch, 0.0, 0.0])))
            for eye in self.eye_bones:
                result[eye] = np.concatenate([self._frames[eye].T @ gaze[:3], gaze[3:]])
        return result

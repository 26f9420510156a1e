"""Driving user avatars: ARKit name matching, VRM expression fallback, gaze and head bones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from avatar_files import NOSE, Spec, write_avatar
from scipy.spatial.transform import Rotation

from avatar_live.avatars.drive import AvatarDriver, fallback_expressions
from avatar_live.avatars.gltf import load_avatar_file
from avatar_live.avatars.model import Avatar
from avatar_live.avatars.pose import (
    global_matrices,
    head_frame,
    local_matrices,
    posed_positions,
    quat_to_matrix,
    rest_globals,
)
from avatar_live.types import ARKIT_INDEX, FaceParams

NECK, HEAD = np.array([0.0, 1.5, 0.0]), np.array([0.0, 1.6, 0.0])


def load(tmp_path: Path, **spec) -> Avatar:
    suffix = ".vrm" if spec.get("kind", "glb").startswith("vrm") else ".glb"
    return load_avatar_file(write_avatar(tmp_path / f"avatar{suffix}", Spec(**spec)))


def params(rotation=(0.0, 0.0, 0.0), gaze=(0.0, 0.0), **arkit: float) -> FaceParams:
    face = FaceParams.neutral()
    face.face = True
    face.rotation = np.asarray(rotation, np.float32)
    face.gaze = np.asarray(gaze, np.float32)
    for name, value in arkit.items():
        face.arkit[ARKIT_INDEX[name]] = value
    return face


def posed(avatar: Avatar, driver: AvatarDriver, face: FaceParams) -> np.ndarray:
    return global_matrices(avatar.nodes, local_matrices(avatar.nodes, driver.bone_rotations(face)))


def test_arkit_name_variants_drive_their_targets(tmp_path: Path) -> None:
    names = ("eyeBlink_L", "EyeBlinkRight", "blendShape1.jawOpen", "ARKit_mouthSmileLeft", "mouthSmile_R", "somethingElse")
    avatar = load(tmp_path, target_names=names)
    driver = AvatarDriver(avatar)
    assert driver.perfect_sync == ("eyeBlinkLeft", "eyeBlinkRight", "jawOpen", "mouthSmileLeft", "mouthSmileRight")
    weights = driver.morph_weights(params(eyeBlinkLeft=0.9, eyeBlinkRight=0.1, jawOpen=0.4, mouthSmileLeft=0.3,
                                          mouthSmileRight=1.5))
    assert len(weights) == 2 and weights[1].shape == (0,) and weights[0].dtype == np.float32
    assert np.allclose(weights[0], [0.9, 0.1, 0.4, 0.3, 1.0, 0.0])


def test_perfect_sync_groups_take_precedence_over_target_names(tmp_path: Path) -> None:
    # VSeeFace-style VRM 0.x: custom groups named like ARKit shapes bind differently named morphs.
    avatar = load(tmp_path, kind="vrm0", target_names=("Fcl_EYE_Close_L", "Fcl_MTH_A", "jawOpen"),
                  expressions=[("EyeBlinkLeft", [(0, 1.0)], False), ("JawOpen", [(1, 0.5)], False),
                               ("blink_l", [(0, 1.0)], False)])
    driver = AvatarDriver(avatar)
    assert driver.perfect_sync == ("eyeBlinkLeft", "jawOpen")
    assert driver.driven_expressions == ()  # no fallback with perfect sync; eyes go to bones
    assert np.allclose(driver.morph_weights(params(eyeBlinkLeft=0.7, jawOpen=0.8))[0], [0.7, 0.4, 0.0])


def test_fallback_expression_formulas() -> None:
    face = params(eyeBlinkLeft=0.8, eyeBlinkRight=0.6, jawOpen=0.5, mouthSmileLeft=0.6, mouthSmileRight=0.8,
                  cheekSquintLeft=0.4, cheekSquintRight=0.4, browDownLeft=0.3, browDownRight=0.5, browInnerUp=0.5,
                  mouthFrownLeft=0.2, mouthFrownRight=0.2, browOuterUpLeft=0.5, browOuterUpRight=0.5,
                  eyeWideLeft=0.4, eyeWideRight=0.4, mouthPucker=0.3, mouthFunnel=0.2, mouthStretchLeft=0.1,
                  mouthStretchRight=0.3)
    expected = {"blinkLeft": 0.8, "blinkRight": 0.6, "blink": 0.6, "aa": 0.5, "ou": 0.3, "oh": 0.2, "ih": 0.2,
                "ee": 0.7 * 0.6, "happy": np.sqrt(0.7 * 0.4), "angry": 0.4, "sad": np.sqrt(0.5 * 0.2),
                "surprised": np.cbrt(0.5 * 0.4 * 0.5), "relaxed": 0.0, "neutral": 0.0}
    assert fallback_expressions(face.arkit) == pytest.approx(expected, abs=1e-6)


def test_vrm0_expression_fallback_weights(tmp_path: Path) -> None:
    avatar = load(tmp_path, kind="vrm0", target_names=tuple(f"t{i}" for i in range(6)), expressions=[
        ("joy", [(0, 1.0), (1, 1.0), (5, 1.0)], False), ("a", [(1, 0.5), (5, 1.0)], False), ("blink", [(2, 1.0)], False),
        ("sorrow", [(3, 1.0)], False), ("angry", [(4, 1.0)], True), ("fun", [(4, 1.0)], False)])
    driver = AvatarDriver(avatar)
    assert driver.perfect_sync == ()
    assert set(driver.driven_expressions) == {"happy", "aa", "blink", "sad", "angry", "relaxed"}
    face = params(eyeBlinkLeft=0.8, eyeBlinkRight=0.6, jawOpen=0.5, mouthSmileLeft=0.7, mouthSmileRight=0.7,
                  cheekSquintLeft=0.4, cheekSquintRight=0.4, browDownLeft=0.4, browDownRight=0.4)
    weights = driver.expression_weights(face)
    happy = np.sqrt(0.7 * 0.4)
    assert weights == pytest.approx({"happy": happy, "aa": 0.5, "blink": 0.6, "sad": 0.0, "angry": 0.0, "relaxed": 0.0})
    # Binary "angry" snaps: 0.4 -> 0, 0.6 -> 1.
    assert driver.expression_weights(params(browDownLeft=0.6, browDownRight=0.6))["angry"] == 1.0
    morphs = driver.morph_weights(face)[0]
    assert morphs == pytest.approx([happy, happy + 0.25, 0.6, 0.0, 0.0, 1.0])  # target 5: 0.5 + 0.53, clipped


def test_blink_sides_preferred_over_blink(tmp_path: Path) -> None:
    avatar = load(tmp_path, kind="vrm1", target_names=("a", "b", "c"), expressions=[
        ("blink", [(0, 1.0)], False), ("blinkLeft", [(1, 1.0)], False), ("blinkRight", [(2, 1.0)], False)])
    driver = AvatarDriver(avatar)
    assert driver.morph_weights(params(eyeBlinkLeft=0.9, eyeBlinkRight=0.2))[0] == pytest.approx([0.0, 0.9, 0.2])


def test_gaze_onto_look_expressions(tmp_path: Path) -> None:
    looks = [("lookLeft", [(0, 1.0)], False), ("lookRight", [(1, 1.0)], False), ("lookUp", [(2, 1.0)], False),
             ("lookDown", [(3, 1.0)], False)]
    avatar = load(tmp_path, kind="vrm1", look_at="expression", target_names=("l", "r", "u", "d"), expressions=looks)
    driver = AvatarDriver(avatar)
    assert driver.eye_bones == () and _only_neck_and_head_turn(driver, avatar)
    weights = driver.morph_weights(params(gaze=(np.radians(15), np.radians(-45))))[0]
    assert weights == pytest.approx([0.5, 0.0, 0.0, 1.0], abs=1e-6)
    bones = AvatarDriver(load(tmp_path, kind="vrm1", look_at="bone", target_names=("l", "r", "u", "d"), expressions=looks))
    assert bones.eye_bones == (4, 5) and "lookLeft" not in bones.driven_expressions


def _only_neck_and_head_turn(driver: AvatarDriver, avatar: Avatar) -> bool:
    """Without eye bones only the neck and head are rotated."""
    return set(driver.bone_rotations(params(gaze=(0.3, 0.1)))) == {avatar.humanoid["neck"], avatar.humanoid["head"]}


@pytest.mark.parametrize("kind", ["glb", "vrm0", "vrm1"])
@pytest.mark.parametrize("rest_rotations", [False, True])
def test_head_rotation_in_avatar_space(tmp_path: Path, kind: str, rest_rotations: bool) -> None:
    avatar = load(tmp_path, kind=kind, rest_rotations=rest_rotations)
    driver = AvatarDriver(avatar)
    # The user turns to their left: the avatar turns to its left, its nose towards +x.
    nose = posed_positions(avatar, avatar.primitives[0], posed(avatar, driver, params(rotation=(0, 0.5, 0))))[8]
    assert nose[0] > 0.05
    for rotvec in ([0, 0.5, 0], [0.3, 0, 0], [0.2, -0.4, 0.3]):
        # Neck takes 40 % about the neck joint, the head the rest: together exactly R.
        neck_turn, turn = Rotation.from_rotvec(0.4 * np.array(rotvec)), Rotation.from_rotvec(rotvec)
        head = NECK + neck_turn.apply(HEAD - NECK)
        expected = head + turn.apply(NOSE - HEAD)
        globals_ = posed(avatar, driver, params(rotation=rotvec))
        assert np.allclose(posed_positions(avatar, avatar.primitives[0], globals_)[8], expected, atol=1e-5)
    position, up = head_frame(avatar, globals_, rest_globals(avatar))
    assert np.allclose(position, head, atol=1e-6) and np.allclose(up, turn.apply([0, 1, 0]), atol=1e-6)


@pytest.mark.parametrize("kind", ["glb", "vrm0", "vrm1"])
def test_eye_bones_follow_gaze(tmp_path: Path, kind: str) -> None:
    avatar = load(tmp_path, kind=kind, rest_rotations=True)
    driver = AvatarDriver(avatar)
    yaw, pitch = 0.2, 0.1
    rest, globals_ = rest_globals(avatar), posed(avatar, driver, params(rotation=(0, 0.3, 0), gaze=(yaw, pitch)))
    root = quat_to_matrix(avatar.root_rotation)
    for eye in (avatar.humanoid["leftEye"], avatar.humanoid["rightEye"]):
        turn = (root @ globals_[eye, :3, :3]) @ (root @ rest[eye, :3, :3]).T  # eye rotation in avatar space
        # Gaze is relative to the head: head yaw 0.3 then eyes yaw 0.2 (towards +x), pitch 0.1 up.
        expected = Rotation.from_rotvec([0, 0.3, 0]) * Rotation.from_rotvec([0, yaw, 0]) * Rotation.from_rotvec([-pitch, 0, 0])
        assert np.allclose(turn, expected.as_matrix(), atol=1e-6)
        looking = turn @ [0, 0, 1]
        assert looking[0] > 0 and looking[1] > 0

"""Face parameters reach a rig's blendshapes by name, and a FLAME rig's jaw joint."""

import numpy as np

from avatar_live.face.drive import FLAME_EXPRESSION_NAMES, RigDriver
from avatar_live.face.rig import JOINT_NAMES, LandmarkEmbedding, Rig
from avatar_live.types import ARKIT_INDEX, FaceParams, FlameParams


def _rig(names):
    n = 4
    return Rig(name="t", vertices=np.zeros((n, 3), np.float32), faces=np.array([[0, 1, 2]], np.int32),
               materials=np.zeros(n, np.uint8), colors=np.zeros((n, 3), np.float32), blendshape_names=tuple(names),
               blendshapes=np.zeros((len(names), n, 3), np.float32), joints=np.zeros((5, 3), np.float32),
               skin_weights=np.eye(n, 5, dtype=np.float32),
               embedding=LandmarkEmbedding(np.array([1]), np.array([0]), np.array([[1.0, 0, 0]], np.float32)),
               eye_scale=1.0)


def _params():
    params = FaceParams.neutral()
    params.arkit[ARKIT_INDEX["jawOpen"]] = 0.7
    params.flame = FlameParams(np.zeros(100), np.arange(50, dtype=np.float32) / 10, np.array([0.25, 0, 0]),
                               np.zeros(3), np.zeros(3))
    return params


def test_arkit_and_flame_names_take_their_own_parameters():
    driver = RigDriver(_rig(["jawOpen", FLAME_EXPRESSION_NAMES[3], "somethingElse"]))
    np.testing.assert_allclose(driver.weights(_params()), [0.7, 0.3, 0.0], atol=1e-6)


def test_flame_rigs_take_the_jaw_rotation_and_arkit_rigs_do_not():
    joints = np.zeros((len(JOINT_NAMES), 3))
    RigDriver(_rig(FLAME_EXPRESSION_NAMES)).set_jaw(joints, _params())
    assert joints[JOINT_NAMES.index("jaw"), 0] == 0.25
    joints = np.zeros((len(JOINT_NAMES), 3))
    RigDriver(_rig(["jawOpen"])).set_jaw(joints, _params())
    assert not joints.any()


def test_a_flame_rig_without_flame_parameters_rests():
    params = _params()
    params.flame = None
    driver = RigDriver(_rig(FLAME_EXPRESSION_NAMES))
    assert not driver.weights(params).any()
    joints = np.ones((len(JOINT_NAMES), 3))
    driver.set_jaw(joints, params)
    assert not joints[JOINT_NAMES.index("jaw")].any()

"""VRM and glTF avatars on screen: the toon renderer, the built-in character's export round trip,
and the command line (`--avatar FILE|NAME`, `models add-avatar`, `export-avatar`)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import shared_file

from avatar_live.avatars.drive import AvatarDriver
from avatar_live.avatars.export import export_avatar
from avatar_live.avatars.gltf import load_avatar_file
from avatar_live.avatars.pose import (
    global_matrices,
    local_matrices,
    posed_positions,
)
from avatar_live.face.builtin import build_builtin_head
from avatar_live.face.rig import pose_rig
from avatar_live.render.backdrop import parse_backdrop
from avatar_live.render.gltf_renderer import GltfRenderer
from avatar_live.render.renderer import AvatarRenderer, RenderOptions
from avatar_live.types import ARKIT_INDEX, FaceParams

SIZE = (240, 180)
ALPHA = RenderOptions(size=SIZE, backdrop=parse_backdrop("transparent"))


@functools.lru_cache(maxsize=1)
def _rig():
    return build_builtin_head()


def _face(**weights: float) -> FaceParams:
    params = FaceParams.neutral()
    params.face = True
    for name, value in weights.items():
        if name == "turn":
            params.rotation[1] = value
        else:
            params.arkit[ARKIT_INDEX[name]] = value
    return params


def _render(avatar, params: FaceParams, options: RenderOptions = ALPHA) -> np.ndarray:
    renderer = GltfRenderer.create_from_options(avatar, options)
    try:
        return renderer.render(params)
    finally:
        renderer.release()


def _silhouette(image: np.ndarray) -> np.ndarray:
    """The covered pixels, cropped to their bounding box and scaled to 64 x 64."""
    import cv2

    mask = image[:, :, 3] > 127
    ys, xs = np.nonzero(mask)
    crop = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.uint8)
    return cv2.resize(crop, (64, 64), interpolation=cv2.INTER_NEAREST).astype(bool)


def test_an_avatar_is_drawn_and_follows_the_face(tmp_path):
    avatar = load_avatar_file(export_avatar(_rig(), tmp_path / "me.vrm", vrm="1.0"))
    neutral = _render(avatar, _face())
    assert (neutral[:, :, 3] > 0).mean() > 0.2  # head and shoulders fill the frame
    assert np.mean(_render(avatar, _face(jawOpen=1.0)) != neutral) > 0.002  # perfect-sync morph targets
    assert np.mean(_render(avatar, _face(turn=0.4)) != neutral) > 0.02  # the head and neck bones


def _posed(avatar, params: FaceParams) -> list[np.ndarray]:
    """Each primitive's vertices in avatar space, morphed and skinned on the CPU."""
    import dataclasses

    driver = AvatarDriver(avatar)
    globals_ = global_matrices(avatar.nodes, local_matrices(avatar.nodes, driver.bone_rotations(params)))
    posed = []
    for primitive, weights in zip(avatar.primitives, driver.morph_weights(params)):
        morphed = primitive.positions + np.tensordot(weights, primitive.targets, axes=1)
        posed.append(posed_positions(avatar, dataclasses.replace(primitive, positions=morphed), globals_))
    return posed


def test_the_exported_character_imports_as_the_built_in_one(tmp_path):
    """Export, import, drive with known weights: the vertices are the rig's own, in metres."""
    rig = _rig()
    avatar = load_avatar_file(export_avatar(rig, tmp_path / "me.vrm", vrm="0.x"))
    params = _face(jawOpen=0.7, mouthSmileLeft=1.0, eyeBlinkRight=1.0, browInnerUp=0.5)
    expected = pose_rig(rig, params.arkit) * 0.11 + np.array([0.0, 1.55, 0.0])
    for primitive, vertices in zip(avatar.primitives, _posed(avatar, params)):
        used = np.unique(primitive.indices)
        np.testing.assert_allclose(vertices[used], expected[used], atol=2e-5)


def test_the_gpu_skins_and_morphs_as_the_cpu_does(tmp_path):
    """Rendered pixels of the exported character, head turned, against its CPU-posed triangles."""
    import cv2

    # VRM 0.x: stored facing -z, turned round by the renderer as by the CPU.
    avatar = load_avatar_file(export_avatar(_rig(), tmp_path / "me.vrm", vrm="0.x"))
    params = _face(jawOpen=1.0, mouthSmileRight=1.0, turn=0.35)
    renderer = GltfRenderer.create_from_options(avatar, ALPHA)
    rendered = renderer.render(params)[:, :, 3] > 127
    view_proj = renderer.view_proj
    renderer.release()
    expected = np.zeros(rendered.shape, np.uint8)
    for primitive, vertices in zip(avatar.primitives, _posed(avatar, params)):
        clip = np.concatenate([vertices, np.ones((len(vertices), 1))], 1) @ view_proj.T
        pixels = (clip[:, :2] / clip[:, 3:] * [0.5, -0.5] + 0.5) * [SIZE[0], SIZE[1]]
        for triangle in np.round(pixels[primitive.indices] * 16).astype(np.int32):
            cv2.fillConvexPoly(expected, triangle, 1, shift=4)
    expected = expected.astype(bool)
    iou = (rendered & expected).sum() / (rendered | expected).sum()
    assert iou > 0.97, iou


def test_the_built_in_and_its_export_show_the_same_expression(tmp_path):
    """Both renderers, one face: what the expression changes lands in the same part of the head."""
    rig = _rig()
    avatar = load_avatar_file(export_avatar(rig, tmp_path / "me.glb"))

    def change(render) -> np.ndarray:
        moved = np.any(render(_face(jawOpen=1.0)) != render(_face()), axis=2)
        ys, xs = np.nonzero(moved)
        return np.array([xs.mean() / SIZE[0], ys.mean() / SIZE[1]])

    def built_in(params):
        renderer = AvatarRenderer.create_from_options(rig, RenderOptions(size=SIZE))
        try:
            return renderer.render(params)
        finally:
            renderer.release()

    gltf = change(lambda params: _render(avatar, params, RenderOptions(size=SIZE)))
    assert gltf[0] == pytest.approx(0.5, abs=0.05)  # the mouth opens in the middle of the face
    assert change(built_in)[0] == pytest.approx(gltf[0], abs=0.05)


def test_render_command_with_a_vrm_and_a_stored_avatar(tmp_path):
    video = shared_file("video/single_face.mp4")
    vrm = tmp_path / "me.vrm"
    env_run = [sys.executable, "-m", "avatar_live"]
    exported = subprocess.run([*env_run, "export-avatar", str(vrm)], capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0 and vrm.is_file(), exported.stderr
    stored = subprocess.run([*env_run, "models", "add-avatar", str(vrm), "--name", "me"], capture_output=True,
                            text=True, timeout=120)
    assert stored.returncode == 0 and "--avatar me" in stored.stdout, stored.stderr
    params = tmp_path / "p.jsonl"
    result = subprocess.run([*env_run, "render", str(video), "-o", str(tmp_path / "out.mp4"), "--avatar", "me",
                             "--size", "320x240", "--params", str(params)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(params.read_text().splitlines()) == 72 and json.loads(params.read_text().splitlines()[0])["face"]


@pytest.mark.parametrize("args, message", [
    (["--avatar", "nobody"], "unknown avatar 'nobody'"),
    (["--avatar", "missing.vrm"], "no such avatar file"),
])
def test_unknown_avatars_are_one_line(args, message):
    result = subprocess.run([sys.executable, "-m", "avatar_live", "--source", "demo", "--headless", *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_the_command_line_offers_every_look():
    from avatar_live.arguments import LOOK_NAMES
    from avatar_live.face.builtin import LOOKS

    assert LOOK_NAMES == tuple(LOOKS)

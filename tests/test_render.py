"""Offscreen rendering of rigs, and the desktop window's no-display error path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import free_display_number

from avatar_live.errors import AvatarLiveError
from avatar_live.face.rig import JOINT_NAMES, MATERIALS, LandmarkEmbedding, Rig
from avatar_live.render.renderer import EYE_LINE, AvatarRenderer, RenderOptions
from avatar_live.types import ARKIT_INDEX, FaceParams

SIZE = (320, 240)


def _sphere(centre, radii, rings: int, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """A UV ellipsoid: V x 3 vertices and F x 3 counter-clockwise triangles (outside)."""
    theta = np.linspace(0.0, np.pi, rings + 1)[:, None]  # from +z (front pole) to -z
    phi = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)[None, :]
    unit = np.stack(
        [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta) + 0.0 * phi], axis=-1
    ).reshape(-1, 3)
    r, s = np.meshgrid(np.arange(rings), np.arange(segments), indexing="ij")
    a, b = r * segments + s, r * segments + (s + 1) % segments
    c, d = a + segments, b + segments
    faces = np.concatenate([np.stack([a, c, b], -1), np.stack([b, c, d], -1)]).reshape(-1, 3)
    return (unit * radii + centre).astype(np.float32), faces.astype(np.int32)


def _toy_rig() -> Rig:
    """A small head: a skin ellipsoid, two eyeballs with dark irises looking along +z, and
    one ARKit blendshape (jawOpen) that drops the lower face and shows a dark mouth."""
    parts = []  # (vertices, faces, material per vertex, colour per vertex, joint)
    head_v, head_f = _sphere((0.0, 0.0, 0.0), (0.8, 1.0, 0.85), 40, 48)
    parts.append((head_v, head_f, np.full(len(head_v), MATERIALS.index("skin")), (0.85, 0.65, 0.55), "neck"))
    mouth_v, mouth_f = _sphere((0.0, -0.45, 0.55), (0.3, 0.12, 0.2), 8, 16)
    parts.append((mouth_v, mouth_f, np.full(len(mouth_v), MATERIALS.index("mouth")), (0.35, 0.08, 0.1), "jaw"))
    eye_centres = {"left_eye": (0.3, 0.22, 0.68), "right_eye": (-0.3, 0.22, 0.68)}  # subject's left is +x
    for joint, centre in eye_centres.items():
        eye_v, eye_f = _sphere(centre, (0.16, 0.16, 0.16), 16, 24)
        angle = np.arccos(np.clip((eye_v[:, 2] - centre[2]) / 0.16, -1.0, 1.0))
        material = np.where(angle < 0.45, MATERIALS.index("iris"), MATERIALS.index("sclera"))
        material = np.where(angle < 0.2, MATERIALS.index("pupil"), material)
        parts.append((eye_v, eye_f, material, None, joint))

    vertices, faces, materials, colors, weights = [], [], [], [], []
    palette = {"sclera": (0.95, 0.95, 0.95), "iris": (0.2, 0.3, 0.6), "pupil": (0.02, 0.02, 0.02)}
    offset = 0
    for v, f, m, colour, joint in parts:
        vertices.append(v)
        faces.append(f + offset)
        materials.append(m)
        colors.append(np.array([colour or palette[MATERIALS[i]] for i in m], np.float32))
        w = np.zeros((len(v), len(JOINT_NAMES)), np.float32)
        w[:, JOINT_NAMES.index(joint)] = 1.0
        weights.append(w)
        offset += len(v)
    vertices = np.concatenate(vertices)
    jaw_open = np.zeros_like(vertices)
    lower_front = (vertices[:, 1] < -0.3) & (vertices[:, 2] > 0.2)
    jaw_open[lower_front, 1] = -0.35 * np.clip((-0.3 - vertices[lower_front, 1]) / 0.3 + 0.5, 0.0, 1.0)
    joints = np.array([[0, 0, 0], [0, -0.9, -0.1], [0, -0.3, 0.1], eye_centres["left_eye"], eye_centres["right_eye"]], np.float32)
    return Rig(
        name="toy",
        vertices=vertices,
        faces=np.concatenate(faces),
        materials=np.concatenate(materials).astype(np.uint8),
        colors=np.concatenate(colors),
        blendshape_names=("jawOpen", "notAnArkitName"),
        blendshapes=np.stack([jaw_open, np.full_like(vertices, 5.0)]),
        joints=joints,
        skin_weights=np.concatenate(weights),
        embedding=LandmarkEmbedding(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3), np.float32)),
        eye_scale=0.92,  # outer corners of the eyeballs
    )


@pytest.fixture(scope="module")
def builtin_rig():
    builtin_head = pytest.importorskip("avatar_live.face.builtin")
    if not hasattr(builtin_head, "build_builtin_head"):
        pytest.skip("build_builtin_head is not written yet")
    return builtin_head.build_builtin_head()


@contextmanager
def _renderer(rig: Rig, **options) -> Iterator[AvatarRenderer]:
    renderer = AvatarRenderer.create_from_options(rig, RenderOptions(size=SIZE, **options))
    try:
        yield renderer
    finally:
        renderer.release()


@pytest.fixture(scope="module", params=["toy", "builtin"])
def renderer(request):
    """A renderer for the toy rig, and for the built-in head."""
    rig = _toy_rig() if request.param == "toy" else request.getfixturevalue("builtin_rig")
    with _renderer(rig) as renderer:
        yield renderer


@pytest.fixture(scope="module")
def toy_renderer():
    with _renderer(_toy_rig()) as renderer:
        yield renderer


def _params(**arkit: float) -> FaceParams:
    params = FaceParams.neutral()
    params.face = True
    for name, weight in arkit.items():
        params.arkit[ARKIT_INDEX[name]] = weight
    return params


def _posed(rotation=(0.0, 0.0, 0.0), gaze=(0.0, 0.0), translation=(0.0, 0.0, 0.0)) -> FaceParams:
    params = _params()
    params.rotation[:] = rotation
    params.gaze[:] = gaze
    params.translation[:] = translation
    return params


def _head_mask(renderer: AvatarRenderer, image: np.ndarray) -> np.ndarray:
    """H x W bool: pixels that differ from the bare backdrop (the head moved far off screen)."""
    backdrop = renderer.render(_posed(translation=(1e4, 0.0, 0.0)))
    return np.abs(image.astype(np.int16) - backdrop).max(axis=2) > 8


def _centroid(mask: np.ndarray) -> np.ndarray:
    """(x, y) mean pixel position of a non-empty H x W bool mask."""
    ys, xs = np.nonzero(mask)
    assert xs.size, "empty mask"
    return np.array([xs.mean(), ys.mean()])


def _luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _changed(a: np.ndarray, b: np.ndarray, threshold: int = 20) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b).max(axis=2) > threshold


def test_frame_is_rgb_with_the_head_centred_on_the_backdrop(renderer):
    image = renderer.render(_params())
    assert image.shape == (SIZE[1], SIZE[0], 3) and image.dtype == np.uint8
    head = _head_mask(renderer, image)
    ys, xs = np.nonzero(head)
    assert 0.05 < head.mean() < 0.7
    # Head-and-shoulders framing: centred, the top of the head near the top of the frame,
    # the eyes on EYE_LINE; a rig with shoulders reaches the bottom edge.
    assert abs(xs.mean() / SIZE[0] - 0.5) < 0.1 and 0.02 < ys.min() / SIZE[1] < 0.25
    assert 0.35 < (ys.max() - ys.min()) / SIZE[1] < 0.98
    assert not head[[0, 0, -1, -1], [0, -1, 0, -1]].any()
    # lit and shaded, not a flat silhouette
    assert image[head].std(axis=0).max() > 15


def test_render_is_deterministic_and_keeps_no_state(renderer):
    first = renderer.render(_params())
    renderer.render(_posed(rotation=(0.3, -0.5, 0.1), gaze=(0.3, -0.2)))
    again = renderer.render(_params())
    assert np.array_equal(first, again)
    again[:] = 0  # each frame is the caller's own array
    assert renderer.render(_params()).any()


def test_draw_and_readback_give_the_same_frame_through_the_system_gl_library_or_moderngl(renderer, monkeypatch):
    import avatar_live.render.gil_free as gil_free

    # On Linux the GIL-free calls come from GLVND's libOpenGL or libGL, which CI installs.
    assert sys.platform != "linux" or gil_free._system_gl() is not None
    params = _posed(rotation=(0.2, 0.4, 0.0), gaze=(0.1, 0.0))
    waited = renderer.render(params)
    monkeypatch.setattr(gil_free, "_system_gl", lambda: None)  # moderngl's own calls instead
    assert np.array_equal(renderer.render(params), waited)


def test_jaw_open_changes_only_the_lower_face(renderer):
    neutral = renderer.render(_params())
    changed = _changed(neutral, renderer.render(_params(jawOpen=1.0)))
    eye_row = EYE_LINE * SIZE[1]  # the renderer frames every rig by its eyes
    assert changed.mean() > 0.002
    assert _centroid(changed)[1] > eye_row + 0.08 * SIZE[1]
    assert not changed[: round(eye_row)].any()  # forehead and eyes stay


def test_open_mouth_shows_a_dark_interior(builtin_rig):
    with _renderer(builtin_rig) as renderer:
        closed, opened = renderer.render(_params()), renderer.render(_params(jawOpen=1.0))
    mouth = _changed(closed, opened)
    assert (_luma(opened)[mouth] < 40).sum() > 0.1 * mouth.sum()


def test_head_turns_to_its_own_left_and_nods_down(renderer):
    def mouth(rotation):
        """Where opening the jaw changes the image: the mouth, wherever the head points."""
        closed = renderer.render(_posed(rotation=rotation))
        opened = _params(jawOpen=1.0)
        opened.rotation[:] = rotation
        return _centroid(_changed(closed, renderer.render(opened)))

    straight = mouth((0.0, 0.0, 0.0))
    # +y turns the face towards the avatar's left, which is the image's right.
    assert mouth((0.0, 0.5, 0.0))[0] - straight[0] > 0.02 * SIZE[0]
    assert straight[0] - mouth((0.0, -0.5, 0.0))[0] > 0.02 * SIZE[0]
    # +x (right-hand rule) tips the face down.
    assert mouth((0.4, 0.0, 0.0))[1] - straight[1] > 0.015 * SIZE[1]


def test_gaze_moves_the_irises(renderer):
    images = {gaze: renderer.render(_posed(gaze=gaze)) for gaze in [(0.4, 0.0), (-0.4, 0.0), (0.0, 0.35), (0.0, -0.35)]}
    assert 0 < _changed(images[(0.4, 0.0)], images[(-0.4, 0.0)]).mean() < 0.05  # only the eyes change

    def iris_moved_to(gaze, other):
        """Centroid of the pixels that turned darker (iris over white) from `other` to `gaze`."""
        return _centroid(_luma(images[gaze]) < _luma(images[other]) - 30)

    left, right = (0.4, 0.0), (-0.4, 0.0)
    assert iris_moved_to(left, right)[0] > iris_moved_to(right, left)[0] + 2  # towards the avatar's left
    up, down = (0.0, 0.35), (0.0, -0.35)
    assert iris_moved_to(up, down)[1] < iris_moved_to(down, up)[1] - 1


def test_gaze_is_clamped(renderer):
    assert np.array_equal(renderer.render(_posed(gaze=(2.0, 0.0))), renderer.render(_posed(gaze=(np.radians(30), 0.0))))


def test_follow_translation_moves_the_head_on_screen():
    rig = _toy_rig()
    with _renderer(rig, follow_translation=0.5) as following, _renderer(rig, follow_translation=0.0) as still:
        centred = following.render(_params())
        moved = following.render(_posed(translation=(0.8, 0.0, 0.3)))
        shift = _centroid(_head_mask(following, moved)) - _centroid(_head_mask(following, centred))
        assert shift[0] > 0.05 * SIZE[0] and abs(shift[1]) < 2
        assert np.array_equal(still.render(_posed(translation=(0.4, 0.2, 0.3))), still.render(_params()))


def test_only_the_rigs_own_arkit_shapes_are_applied(toy_renderer):
    """The toy rig has jawOpen and one non-ARKit shape: every other ARKit weight is
    ignored and the non-ARKit shape (which would blow the head up) stays at zero."""
    everything_but_jaw = _params()
    everything_but_jaw.arkit[:] = 1.0
    everything_but_jaw.arkit[ARKIT_INDEX["jawOpen"]] = 0.0
    assert np.array_equal(toy_renderer.render(everything_but_jaw), toy_renderer.render(_params()))


def test_bad_inputs_are_rejected(toy_renderer):
    params = _params()
    params.arkit = np.zeros(51, np.float32)
    with pytest.raises(ValueError, match="arkit"):
        toy_renderer.render(params)
    with pytest.raises(AvatarLiveError, match="size"):
        AvatarRenderer.create_from_options(_toy_rig(), RenderOptions(size=(0, 480)))


def test_msaa_changes_only_edges():
    """4x multisampling blends pixels along edges and leaves surfaces alone."""
    rig = _toy_rig()
    images = []
    for samples in (0, 4):
        with _renderer(rig, samples=samples) as renderer:
            images.append(renderer.render(_params()))
    changed = _changed(images[0], images[1], threshold=10)
    edges = cv2.dilate(cv2.Canny(images[0], 30, 90), np.ones((3, 3), np.uint8)) > 0
    assert changed.sum() > 50
    assert (changed & ~edges).sum() < 0.05 * changed.sum()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="display variables are X11/Wayland's")
def test_window_without_a_display_raises(monkeypatch):
    from avatar_live.render.window import Window

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(AvatarLiveError, match="DISPLAY"):
        Window((320, 240))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="display variables are X11/Wayland's")
def test_window_with_an_unreachable_display_raises(monkeypatch):
    from avatar_live.render.window import Window

    monkeypatch.setenv("DISPLAY", ":" + str(free_display_number()))
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(AvatarLiveError, match="glfw"):
        Window((320, 240))


def test_window_shows_frames_under_xvfb(xvfb_display):
    # Its own process: a GLX window made after a headless EGL context in the same process
    # ends the process (Mesa/glvnd); the app never mixes the two in one process.
    script = "import test_render; test_render.show_a_frame_in_a_window()"
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "DISPLAY": xvfb_display})
    assert result.returncode == 0, result.stderr


def show_a_frame_in_a_window() -> None:
    """Renders into a real window and checks what the window shows (letterboxed, upright)."""
    from avatar_live.render.window import Window

    window = Window((400, 200), vsync=False)
    try:
        renderer = AvatarRenderer.create_from_options(_toy_rig(), RenderOptions(size=SIZE), ctx=window.ctx)
        window.show(renderer.render(_params()))
        assert window.poll() == [] and not window.should_close
        # 320 x 240 in 400 x 200: scaled to 267 x 200, black bars left and right
        shown = np.frombuffer(window.ctx.screen.read(components=3), np.uint8).reshape(200, 400, 3)[::-1]
        assert not shown[:, :40].any() and not shown[:, -40:].any()
        assert shown[:, 100:300].std() > 10
        renderer.release()
    finally:
        window.close()
    assert window.should_close

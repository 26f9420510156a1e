"""Clean feeds: the HUD and the self-view stay in the window; backdrops for chroma keys and alpha."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from avatar_live.errors import AvatarLiveError
from avatar_live.face.builtin import build_builtin_head
from avatar_live.pipeline.stages import ComposeStage, RenderStage, StageChain
from avatar_live.render.backdrop import Backdrop, flatten, parse_backdrop
from avatar_live.render.hud import Hud
from avatar_live.render.renderer import AvatarRenderer, RenderOptions
from avatar_live.types import EMOTION_CLASSES, Emotion, FaceParams, Frame, Packet

SIZE = (320, 240)
RED = (255, 0, 0)


@functools.lru_cache(maxsize=1)
def _head():
    return build_builtin_head()


def _stage(backdrop: Backdrop = Backdrop(), **kwargs) -> StageChain:
    """Render then compose, as the app chains them (on two threads)."""
    make = functools.partial(AvatarRenderer.create_from_options, _head(), RenderOptions(size=SIZE, backdrop=backdrop))
    return StageChain(RenderStage(make), ComposeStage(Hud(SIZE), backdrop_color=backdrop.color_u8, **kwargs))


def _packet() -> Packet:
    """A frame whose camera image is pure red (the user's face, in effect), with an emotion."""
    camera = np.zeros((120, 160, 3), np.uint8)
    camera[:] = RED
    params = FaceParams.neutral()
    params.face = True
    params.emotion = Emotion(0.5, 0.3, np.eye(len(EMOTION_CLASSES), dtype=np.float32)[1], "learned")
    return Packet(Frame(0, 0.0, camera, {"capture": 0.0}), params=params)


def _red_pixels(image: np.ndarray) -> int:
    return int(np.all(image[:, :, :3] == RED, axis=2).sum())


def _avatar_alone(backdrop: Backdrop = Backdrop()) -> np.ndarray:
    stage = _stage(backdrop)
    try:
        return stage(_packet()).rendered
    finally:
        stage.close()


def test_outputs_get_the_avatar_alone_and_the_window_gets_hud_and_self_view():
    stage = _stage(window=True, self_view=True)
    packet = stage(_packet())
    stage.close()
    np.testing.assert_array_equal(packet.rendered, _avatar_alone())  # no HUD, no camera image
    assert _red_pixels(packet.rendered) == 0
    assert _red_pixels(packet.shown) > 500  # the self-view inset
    assert np.mean(packet.shown != packet.rendered) > 0.02  # the HUD panels


def test_hud_out_puts_the_hud_in_outputs_but_never_the_camera_image():
    stage = _stage(window=True, self_view=True, hud_out=True)
    packet = stage(_packet())
    stage.close()
    assert np.mean(packet.rendered != _avatar_alone()) > 0.02
    assert _red_pixels(packet.rendered) == 0
    assert _red_pixels(packet.shown) > 500


def test_headless_without_hud_out_draws_no_hud():
    stage = _stage()
    packet = stage(_packet())
    stage.close()
    assert packet.shown is None
    np.testing.assert_array_equal(packet.rendered, _avatar_alone())


def test_chroma_green_is_exact_behind_the_avatar():
    image = _avatar_alone(parse_backdrop("green"))
    assert tuple(image[0, 0]) == (0, 255, 0) and tuple(image[-1, -1]) == (0, 255, 0)
    assert tuple(image[SIZE[1] // 2, SIZE[0] // 2]) != (0, 255, 0)  # the face


def test_image_backdrop_covers_the_frame(tmp_path):
    import cv2

    picture = np.zeros((100, 400, 3), np.uint8)
    picture[:, :200] = (0, 0, 200)  # BGR: red on the left, blue on the right
    picture[:, 200:] = (200, 0, 0)
    path = tmp_path / "room.png"
    cv2.imwrite(str(path), picture)
    image = _avatar_alone(parse_backdrop(str(path)))
    assert tuple(image[5, 5]) == (200, 0, 0) and tuple(image[5, -5]) == (0, 0, 200)


def test_transparent_backdrop_gives_alpha_and_hud_out_is_opaque():
    backdrop = parse_backdrop("transparent")
    image = _avatar_alone(backdrop)
    assert image.shape == (SIZE[1], SIZE[0], 4)
    assert image[0, 0, 3] == 0 and image[SIZE[1] // 2, SIZE[0] // 2, 3] == 255
    stage = _stage(backdrop, hud_out=True, window=True)
    packet = stage(_packet())
    stage.close()
    hud = np.any(packet.shown != flatten(image, backdrop.color_u8), axis=2)  # where the HUD drew
    assert hud.sum() > 2000 and packet.rendered[hud, 3].min() == 255
    assert packet.rendered[~hud, 3].min() == 0  # the backdrop stays transparent around it
    assert packet.shown.shape == (SIZE[1], SIZE[0], 3)  # the window shows it over a colour


def test_flatten_blends_straight_alpha_over_a_colour():
    rgba = np.array([[[200, 100, 0, 255], [200, 100, 0, 0], [200, 100, 0, 128]]], np.uint8)
    flat = flatten(rgba, np.array([0, 0, 100], np.uint8))
    np.testing.assert_array_equal(flat[0, :2], [[200, 100, 0], [0, 0, 100]])
    np.testing.assert_allclose(flat[0, 2], [100, 50, 50], atol=1)


@pytest.mark.parametrize("text, kind, color", [
    ("studio", "studio", None), ("Green", "color", (0, 255, 0)), ("#FF8000", "color", (255, 128, 0)),
    ("0,0,255", "color", (0, 0, 255)), ("transparent", "transparent", None),
])
def test_background_values(text, kind, color):
    backdrop = parse_backdrop(text)
    assert backdrop.kind == kind
    if color is not None:
        assert tuple(backdrop.color_u8) == color


@pytest.mark.parametrize("text", ["#12345", "no-such-picture.png", "300,0,0"])
def test_bad_background_values_are_one_line(text):
    with pytest.raises(AvatarLiveError, match="not studio, transparent, a colour"):
        parse_backdrop(text)

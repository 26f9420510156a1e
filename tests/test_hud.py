"""The HUD drawn over rendered frames: panels, bars, badges, trail, self-view."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_live.render.hud import Hud, HudStats
from avatar_live.types import EMOTION_CLASSES, Emotion, FaceParams

SIZE = (640, 480)
W, H = SIZE


def _frame() -> np.ndarray:
    return np.full((H, W, 3), 90, np.uint8)


def _params(valence: float = 0.5, arousal: float = 0.2, top: str | None = "Happy") -> FaceParams:
    params = FaceParams.neutral()
    params.face = True
    if top is not None:
        probs = np.full(len(EMOTION_CLASSES), 0.05, np.float32)
        probs[EMOTION_CLASSES.index(top)] = 0.65
        params.emotion = Emotion(valence=valence, arousal=arousal, probs=probs, source="rules")
    return params


def _stats(face: bool = True, calibrating: bool = False) -> HudStats:
    return HudStats(fps=30.0, latency_ms=42.0, face=face, calibrating=calibrating)


def _draw(hud: Hud, params: FaceParams, stats: HudStats | None = None, time: float = 0.0, **kw) -> np.ndarray:
    image = _frame()
    out = hud.draw(image, params, stats or _stats(), time=time, **kw)
    assert out is image
    return image


def _changed(image: np.ndarray, region: tuple[slice, slice], reference: np.ndarray | None = None) -> float:
    """Fraction of pixels in region that differ from the reference (the blank frame)."""
    reference = _frame() if reference is None else reference
    return float(np.any(image[region] != reference[region], axis=2).mean())


BOTTOM_LEFT = (slice(H * 2 // 3, H), slice(0, W // 3))
BOTTOM_RIGHT = (slice(H * 2 // 3, H), slice(W * 2 // 3, W))
TOP_LEFT = (slice(0, H // 10), slice(0, W // 4))
TOP_CENTRE = (slice(0, H // 5), slice(W // 3, W * 2 // 3))
TOP_RIGHT = (slice(0, H // 4), slice(W * 3 // 4, W))


def test_draws_every_panel_with_an_emotion():
    image = _draw(Hud(SIZE), _params())
    assert _changed(image, BOTTOM_LEFT) > 0.3  # circumplex
    assert _changed(image, BOTTOM_RIGHT) > 0.3  # class bars
    assert _changed(image, TOP_LEFT) > 0.2  # fps and latency
    assert _changed(image, TOP_CENTRE) == 0  # no badge while a face is seen
    assert _changed(image, TOP_RIGHT) == 0  # no self-view unless given


def test_without_emotion_shows_no_bars_but_everything_else():
    image = _draw(Hud(SIZE), _params(top=None))
    assert _changed(image, BOTTOM_RIGHT) == 0
    assert _changed(image, BOTTOM_LEFT) > 0.3
    assert _changed(image, TOP_LEFT) > 0.2


def test_top_class_is_highlighted():
    def amber_rows(top: str) -> float:
        image = _draw(Hud(SIZE), _params(top=top))
        r, g, b = (image[BOTTOM_RIGHT][..., c].astype(int) for c in range(3))
        rows, _ = np.nonzero((r > 200) & (g > 150) & (b < 120))
        assert rows.size > 20
        return rows.mean()

    assert amber_rows("Neutral") < amber_rows("Happy") < amber_rows("Fear") < amber_rows("Contempt")


def test_current_point_follows_valence_and_arousal():
    hud = Hud(SIZE)
    centre = np.array(hud.circumplex_point(0.0, 0.0))
    assert hud.circumplex_point(1.0, 0.0)[0] > centre[0]  # pleasant to the right
    assert hud.circumplex_point(0.0, 1.0)[1] < centre[1]  # excited up
    radius = hud.circumplex_point(1.0, 0.0)[0] - centre[0]
    assert np.hypot(*(np.array(hud.circumplex_point(3.0, 3.0)) - centre)) == pytest.approx(radius, abs=1.5)
    x, y = hud.circumplex_point(-0.7, -0.4)
    image = _draw(hud, _params(valence=-0.7, arousal=-0.4))
    blank = _draw(Hud(SIZE), _params(top=None))
    assert np.any(image[y - 2:y + 3, x - 2:x + 3] != blank[y - 2:y + 3, x - 2:x + 3])


def test_no_face_badge():
    with_face = _draw(Hud(SIZE), _params(), _stats(face=True))
    without = _draw(Hud(SIZE), _params(), _stats(face=False))
    assert _changed(without, TOP_CENTRE, with_face) > 0.05
    r, g, b = (without[TOP_CENTRE][..., c].astype(int) for c in range(3))
    assert ((r > g + 80) & (r > b + 80)).sum() > 500  # a red badge


def test_calibrating_notice():
    plain = _draw(Hud(SIZE), _params(), _stats())
    calibrating = _draw(Hud(SIZE), _params(), _stats(calibrating=True))
    assert _changed(calibrating, TOP_CENTRE, plain) > 0.02
    assert _changed(calibrating, BOTTOM_RIGHT, plain) == 0


def test_latency_may_be_unknown():
    known = _draw(Hud(SIZE), _params(), _stats())
    unknown = _draw(Hud(SIZE), _params(), HudStats(fps=30.0, latency_ms=None, face=True, calibrating=False))
    assert _changed(unknown, TOP_LEFT, known) > 0


def test_self_view_inset_in_the_top_right_corner():
    camera = np.zeros((360, 640, 3), np.uint8)
    camera[..., 0] = 255
    image = Hud(SIZE).draw_self_view(_frame(), camera)
    red = (image[..., 0] == 255) & (image[..., 1] == 0) & (image[..., 2] == 0)
    ys, xs = np.nonzero(red)
    assert xs.min() > W * 0.7 and ys.max() < H * 0.3
    assert (xs.max() - xs.min()) / (ys.max() - ys.min()) == pytest.approx(640 / 360, rel=0.1)


def _trail_hud() -> tuple[Hud, list[tuple[float, float, float]]]:
    """A HUD that was shown a point moving from unpleasant-calm to pleasant-excited."""
    hud = Hud(SIZE, trail_seconds=2.0)
    path = [(t, -0.8 + 0.9 * t, -0.6 + 0.6 * t) for t in np.linspace(0.0, 1.5, 7)]
    for t, v, a in path:
        _draw(hud, _params(valence=v, arousal=a), time=t)
    return hud, path


def test_trail_fades_with_age():
    hud, path = _trail_hud()
    t, v, a = path[-1]
    trailed = _draw(hud, _params(valence=v, arousal=a), time=t)
    fresh = _draw(Hud(SIZE), _params(valence=v, arousal=a), time=t)

    def trail_strength(i: int) -> float:
        """How much the trail changes pixels around the middle of segment i -> i+1."""
        (x0, y0), (x1, y1) = hud.circumplex_point(*path[i][1:]), hud.circumplex_point(*path[i + 1][1:])
        x, y = (x0 + x1) // 2, (y0 + y1) // 2
        window = (slice(y - 3, y + 4), slice(x - 3, x + 4))
        return float(np.abs(trailed[window].astype(int) - fresh[window]).sum())

    strengths = [trail_strength(i) for i in range(len(path) - 2)]
    assert strengths[0] > 0
    assert strengths[-1] > 2 * strengths[0]


def test_trail_expires_resets_and_clears_when_time_goes_back():
    t, v, a = 1.5, 0.3, 0.3
    fresh = _draw(Hud(SIZE), _params(valence=v, arousal=a), time=t)

    hud, _ = _trail_hud()
    assert not np.array_equal(_draw(hud, _params(valence=v, arousal=a), time=t), fresh)
    assert np.array_equal(_draw(hud, _params(valence=v, arousal=a), time=t + 10.0), fresh)

    hud, _ = _trail_hud()
    hud.reset()
    assert np.array_equal(_draw(hud, _params(valence=v, arousal=a), time=t), fresh)

    hud, _ = _trail_hud()
    assert np.array_equal(_draw(hud, _params(valence=v, arousal=a), time=0.0), _draw(Hud(SIZE), _params(valence=v, arousal=a), time=0.0))


def test_scales_with_the_frame_size():
    small, large = Hud((640, 480)), Hud((1280, 960))
    radius = [hud.circumplex_point(1.0, 0.0)[0] - hud.circumplex_point(0.0, 0.0)[0] for hud in (small, large)]
    assert radius[1] == pytest.approx(2 * radius[0], abs=1)
    image = np.full((960, 1280, 3), 90, np.uint8)
    large.draw(image, _params(), _stats(face=False), time=0.0)
    assert np.any(image[-300:, -400:] != 90)


def test_rejects_frames_of_another_size():
    with pytest.raises(ValueError, match="480 x 640"):
        Hud(SIZE).draw(np.zeros((240, 320, 3), np.uint8), _params(), _stats(), time=0.0)

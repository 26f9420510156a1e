"""The avatar sheet: one picture of a rig's neutral face, every shape and a few expressions.

A labelled grid rendered offscreen, for judging a head at a glance (and for reviewers):
the neutral pose first, then each of the rig's ARKit blendshapes at full weight in rig
order, then the combined expressions in `SHEET_EXPRESSIONS`.

Two shapes are drawn the way a face makes them rather than alone, and say so in their
labels: `eyeLook*` shapes turn the eyes to the matching gaze as well ("+ gaze"), since the
lid shapes alone barely move; `mouthClose` is drawn over `jawOpen` ("+ jawOpen"), since
ARKit defines it as the lips closing against an open jaw.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.face.rig import Rig
from avatar_live.render.renderer import AvatarRenderer, RenderOptions
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES, FaceParams

SHEET_EXPRESSIONS: dict[str, dict[str, float]] = {
    "joy": {
        "mouthSmileLeft": 0.9, "mouthSmileRight": 0.9, "cheekSquintLeft": 0.6, "cheekSquintRight": 0.6,
        "eyeSquintLeft": 0.3, "eyeSquintRight": 0.3, "jawOpen": 0.12, "mouthUpperUpLeft": 0.2,
        "mouthUpperUpRight": 0.2,
    },
    "surprise": {
        "browInnerUp": 0.9, "browOuterUpLeft": 0.9, "browOuterUpRight": 0.9, "eyeWideLeft": 0.8,
        "eyeWideRight": 0.8, "jawOpen": 0.55, "mouthFunnel": 0.25,
    },
    "anger": {
        "browDownLeft": 1.0, "browDownRight": 1.0, "eyeSquintLeft": 0.5, "eyeSquintRight": 0.5,
        "noseSneerLeft": 0.4, "noseSneerRight": 0.4, "mouthPressLeft": 0.6, "mouthPressRight": 0.6,
        "mouthFrownLeft": 0.3, "mouthFrownRight": 0.3,
    },
    "sadness": {
        "browInnerUp": 0.9, "browDownLeft": 0.2, "browDownRight": 0.2, "mouthFrownLeft": 0.8,
        "mouthFrownRight": 0.8, "mouthShrugLower": 0.5, "mouthPressLeft": 0.2, "mouthPressRight": 0.2,
        "eyeLookDownLeft": 0.3, "eyeLookDownRight": 0.3,
    },
    "disgust": {
        "noseSneerLeft": 1.0, "noseSneerRight": 1.0, "mouthUpperUpLeft": 0.7, "mouthUpperUpRight": 0.7,
        "browDownLeft": 0.4, "browDownRight": 0.4, "cheekSquintLeft": 0.4, "cheekSquintRight": 0.4,
        "mouthFrownLeft": 0.3, "mouthFrownRight": 0.3,
    },
}
"""Combined expressions drawn at the end of the sheet: name -> ARKit weights."""

LOOK_GAZE = np.radians(20.0)
"""How far (radians) the eyes turn in the cells of the `eyeLook*` shapes."""

# eyeLook shape (without Left/Right) -> gaze (yaw, pitch) direction for the left eye; the
# right eye's in/out are mirrored. Positive yaw looks to the subject's left (+x).
_LOOK_DIRECTION = {"eyeLookUp": (0.0, 1.0), "eyeLookDown": (0.0, -1.0), "eyeLookIn": (-1.0, 0.0),
                   "eyeLookOut": (1.0, 0.0)}

_BACKGROUND = (22, 23, 28)
_TEXT = (235, 235, 240)
_NOTE = (150, 200, 255)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class _Cell:
    """One picture on the sheet: its label, an optional note under it and what to render."""

    label: str
    note: str
    params: FaceParams


def render_avatar_sheet(rig: Rig, *, cell_size: tuple[int, int] = (240, 240), columns: int = 8) -> np.ndarray:
    """Render a rig's neutral face, each ARKit blendshape and the sheet expressions in a grid.

    Cells run left to right, top to bottom: "neutral", the rig's blendshapes in rig order
    (those whose names are not ARKit names cannot be driven and are left out), then the
    expressions of `SHEET_EXPRESSIONS`. Each cell has its label underneath; a title row
    "avatar-live: <rig.name>" heads the sheet. `eyeLook*` cells also turn the eyes to the
    matching gaze and `mouthClose` is drawn over an open jaw (see the module docstring).

    Args:
        rig: the avatar.
        cell_size: (width, height) in pixels of each rendered face.
        columns: cells per row.

    Returns:
        H x W x 3 RGB uint8 with W = columns * width and
        H = title + rows * (height + label strip), rows = ceil(cells / columns).

    Raises:
        AvatarLiveError: the cell size or column count is unusable, or no headless OpenGL.
    """
    width, height = cell_size
    if width < 64 or height < 64:
        raise AvatarLiveError(f"sheet cells must be at least 64 x 64 pixels, got {width} x {height}")
    if columns < 1:
        raise AvatarLiveError(f"sheet columns must be at least 1, got {columns}")
    cells = _sheet_cells(rig)
    font = 0.5 * width / 240.0
    thickness = max(1, round(width / 240.0))
    line = cv2.getTextSize("Ag", _FONT, font, thickness)[0][1]
    strip = 2 * line + 3 * max(4, line // 2)  # a label line and a note line
    title_height = 4 * line
    rows = -(-len(cells) // columns)
    sheet = np.empty((title_height + rows * (height + strip), columns * width, 3), np.uint8)
    sheet[:] = _BACKGROUND
    _put_text(sheet, f"avatar-live: {rig.name}", (line, 3 * line), 1.6 * font, _TEXT, 2 * thickness)

    renderer = AvatarRenderer.create_from_options(rig, RenderOptions(size=(width, height), close_up=True))
    try:
        for k, cell in enumerate(cells):
            x, y = (k % columns) * width, title_height + (k // columns) * (height + strip)
            sheet[y:y + height, x:x + width] = renderer.render(cell.params)
            pad = max(4, line // 2)
            _put_text(sheet, _fit(cell.label, width - 2 * pad, font, thickness), (x + pad, y + height + pad + line),
                      font, _TEXT, thickness)
            if cell.note:
                _put_text(sheet, _fit(cell.note, width - 2 * pad, 0.85 * font, thickness),
                          (x + pad, y + height + 2 * pad + 2 * line), 0.85 * font, _NOTE, thickness)
    finally:
        renderer.release()
    return sheet


def _sheet_cells(rig: Rig) -> list[_Cell]:
    """What the sheet shows, in order: neutral, the rig's ARKit shapes, the expressions."""
    cells = [_Cell("neutral", "", _params({}))]
    for name in rig.blendshape_names:
        if name not in ARKIT_INDEX:
            continue
        weights, gaze, note = {name: 1.0}, (0.0, 0.0), ""
        look = next((prefix for prefix in _LOOK_DIRECTION if name.startswith(prefix)), None)
        if look is not None:
            yaw, pitch = _LOOK_DIRECTION[look]
            mirror = -1.0 if name.endswith("Right") else 1.0
            gaze, note = (mirror * yaw * LOOK_GAZE, pitch * LOOK_GAZE), "+ gaze"
        elif name == "mouthClose":
            weights, note = {"jawOpen": 1.0, name: 1.0}, "+ jawOpen"
        cells.append(_Cell(name, note, _params(weights, gaze)))
    cells += [_Cell(name, "expression", _params(weights)) for name, weights in SHEET_EXPRESSIONS.items()]
    return cells


def _params(weights: dict[str, float], gaze: tuple[float, float] = (0.0, 0.0)) -> FaceParams:
    """Face parameters for a frontal, centred face with the given ARKit weights and gaze."""
    arkit = np.zeros(len(ARKIT_NAMES), np.float32)
    for name, value in weights.items():
        arkit[ARKIT_INDEX[name]] = value
    return FaceParams(face=True, rotation=np.zeros(3, np.float32), translation=np.zeros(3, np.float32), arkit=arkit,
                      gaze=np.array(gaze, np.float32), confidence=1.0)


def _fit(text: str, width: int, font: float, thickness: int) -> str:
    """`text`, cut short with ".." where it would be wider than `width` pixels."""
    while len(text) > 3 and cv2.getTextSize(text, _FONT, font, thickness)[0][0] > width:
        text = text[:-3] + ".."
    return text


def _put_text(image: np.ndarray, text: str, origin: tuple[int, int], font: float, color: tuple[int, int, int],
              thickness: int) -> None:
    """Anti-aliased text with its baseline starting at `origin` (x, y)."""
    cv2.putText(image, text, origin, _FONT, font, color, thickness, cv2.LINE_AA)

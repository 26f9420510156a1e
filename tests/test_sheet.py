"""The avatar sheet: a labelled grid of the neutral face, every shape and the expressions."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_live.errors import AvatarLiveError
from avatar_live.face.builtin import build_builtin_head
from avatar_live.render.sheet import SHEET_EXPRESSIONS, render_avatar_sheet
from avatar_live.types import ARKIT_NAMES

CELL = (160, 160)
N_CELLS = 1 + len(ARKIT_NAMES) + len(SHEET_EXPRESSIONS)


@pytest.fixture(scope="module")
def sheets() -> dict[int, np.ndarray]:
    """The built-in head's sheet at 8 and 10 columns."""
    rig = build_builtin_head()
    return {columns: render_avatar_sheet(rig, cell_size=CELL, columns=columns) for columns in (8, 10)}


def _layout(sheets: dict[int, np.ndarray]) -> tuple[int, int]:
    """(title height, row pitch) solved from the two sheets' heights (8 and 6 rows of cells)."""
    rows8, rows10 = -(-N_CELLS // 8), -(-N_CELLS // 10)
    pitch = (sheets[8].shape[0] - sheets[10].shape[0]) // (rows8 - rows10)
    return sheets[8].shape[0] - rows8 * pitch, pitch


def _cell(sheet: np.ndarray, k: int, title: int, pitch: int, columns: int = 8) -> np.ndarray:
    x, y = (k % columns) * CELL[0], title + (k // columns) * pitch
    return sheet[y:y + CELL[1], x:x + CELL[0]].astype(np.int16)


def test_grid_size(sheets):
    for columns, sheet in sheets.items():
        assert sheet.dtype == np.uint8 and sheet.ndim == 3 and sheet.shape[2] == 3
        assert sheet.shape[1] == columns * CELL[0]
    title, pitch = _layout(sheets)
    assert title > 0 and CELL[1] < pitch < 1.5 * CELL[1]  # a title row, a label strip under each cell
    assert sheets[10].shape[0] == title + -(-N_CELLS // 10) * pitch


def test_every_shape_and_expression_is_visible(sheets):
    """Each cell after the neutral one differs visibly from it: every shape does something."""
    sheet = sheets[8]
    title, pitch = _layout(sheets)
    neutral = _cell(sheet, 0, title, pitch)
    assert neutral.std() > 10  # a face, not an empty frame
    for k in range(1, N_CELLS):
        changed = np.abs(_cell(sheet, k, title, pitch) - neutral).max(axis=2) > 10
        assert changed.sum() >= 10, k


def test_labels_are_drawn(sheets):
    sheet = sheets[8]
    title, pitch = _layout(sheets)
    assert (sheet[:title].min(axis=2) > 180).sum() > 50  # light title text on the dark band
    for k in range(N_CELLS):
        x, y = (k % 8) * CELL[0], title + (k // 8) * pitch + CELL[1]
        strip = sheet[y:y + pitch - CELL[1], x:x + CELL[0]]
        assert (strip.max(axis=2) > 120).sum() > 20, k
    # Cells past the last one stay empty.
    x, y = (N_CELLS % 8) * CELL[0], title + (N_CELLS // 8) * pitch
    empty = sheet[y:y + pitch, x:x + CELL[0]]
    assert (empty == empty[0, 0]).all()


def test_bad_arguments_raise():
    rig = build_builtin_head()
    with pytest.raises(AvatarLiveError):
        render_avatar_sheet(rig, cell_size=(10, 240))
    with pytest.raises(AvatarLiveError):
        render_avatar_sheet(rig, columns=0)

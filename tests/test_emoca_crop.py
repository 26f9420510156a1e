"""EMOCA's crop: square box from the landmarks, similarity warp to 224 x 224."""

from __future__ import annotations

import numpy as np
import pytest

from avatar_live.encoders.crop import crop_box, crop_face


def _landmarks(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(x0, x1, 478), rng.uniform(y0, y1, 478), rng.normal(0, 20, 478)])
    points[:2, :2] = [[x0, y0], [x1, y1]]  # pin the extent
    return points.astype(np.float32)


def test_box_matches_hand_computed_values():
    # Extent 120 x 200 around (200, 150): side = (120 + 200) / 2 * 1.1 * 1.25 = 220.
    center, side = crop_box(_landmarks(140, 260, 50, 250))
    assert center == pytest.approx((200.0, 150.0))
    assert side == pytest.approx(220.0)


def test_crop_maps_box_corners_to_crop_pixels_and_keeps_rgb():
    image = np.zeros((360, 480, 3), np.uint8)
    image[145:156, 195:206] = (255, 0, 0)  # red square at the box centre (200, 150)
    crop = crop_face(image, _landmarks(140, 260, 50, 250))
    assert crop.image.shape == (224, 224, 3) and crop.image.dtype == np.float32
    assert 0.0 <= crop.image.min() and crop.image.max() <= 1.0

    # Box corners (90, 40) and (310, 260) land on the crop's first and last pixel centres.
    corners = np.array([[90.0, 40.0, 1.0], [310.0, 260.0, 1.0]])
    np.testing.assert_allclose(corners @ crop.transform.T, [[0, 0], [223, 223]], atol=1e-9)
    back = np.column_stack([corners @ crop.transform.T, np.ones(2)]) @ crop.inverse.T
    np.testing.assert_allclose(back, corners[:, :2], atol=1e-9)

    # The red square sits at the crop centre, still red (channel 0), scaled to [0, 1].
    np.testing.assert_allclose(crop.image[111, 111], [1.0, 0.0, 0.0], atol=1e-6)
    assert crop.image[5, 5].max() == 0.0


def test_bad_inputs_are_rejected():
    image = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(ValueError, match="N x 2 or N x 3"):
        crop_face(image, np.zeros((478, 4)))
    with pytest.raises(ValueError, match="no area"):
        crop_face(image, np.full((478, 3), 5.0))
    with pytest.raises(ValueError, match="uint8"):
        crop_face(image.astype(np.float32), _landmarks(10, 90, 10, 90))

"""EMOCA's face crop: a square around the landmarks, warped to 224 x 224.

The box follows EMOCA's `bbox2point` for landmarks: centre of the landmarks' x/y extent,
side ((w + h) / 2) x 1.1, then scaled by 1.25. As EMOCA's `estimate_transform`, the box's
corners map to pixel centres 0 and 223 of the crop (not to its outer edges).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CROP_SIZE = 224
"""EMOCA's input: a square crop of this many pixels a side."""


BOX_MARGIN = 1.1
BOX_SCALE = 1.25


@dataclass
class Crop:
    """One face crop.

    Attributes:
        image: 224 x 224 x 3 float32 RGB in [0, 1] (EMOCA takes no mean/std normalization).
        pixels: the same crop as 224 x 224 x 3 uint8 RGB (`image` is pixels / 255): what a
            GPU backend uploads, a quarter of the bytes, converting on the GPU.
        transform: 2 x 3 float64 affine map from image pixels to crop pixels.
        inverse: 2 x 3 float64 affine map from crop pixels back to image pixels.
        center: (x, y) of the box in image pixels.
        side: the box's side in image pixels.
    """

    image: np.ndarray
    pixels: np.ndarray
    transform: np.ndarray
    inverse: np.ndarray
    center: tuple[float, float]
    side: float


def crop_box(landmarks: np.ndarray) -> tuple[tuple[float, float], float]:
    """EMOCA's square box around a face's landmarks.

    Args:
        landmarks: N x 2 or N x 3 pixel coordinates (MediaPipe's 478 x 3; z is ignored).

    Returns:
        ((centre x, centre y), side) in pixels.

    Raises:
        ValueError: not N x 2 or N x 3 with N > 0, or not finite.
    """
    points = np.asarray(landmarks, np.float64)
    if points.ndim != 2 or points.shape[0] == 0 or points.shape[1] not in (2, 3):
        raise ValueError(f"landmarks must be N x 2 or N x 3, got {points.shape}")
    if not np.all(np.isfinite(points[:, :2])):
        raise ValueError("landmarks must be finite")
    low, high = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    width, height = high - low
    side = (width + height) / 2 * BOX_MARGIN * BOX_SCALE
    center = (low + high) / 2
    return (float(center[0]), float(center[1])), float(side)


def crop_face(image: np.ndarray, landmarks: np.ndarray) -> Crop:
    """Cut EMOCA's input crop out of a frame.

    Args:
        image: H x W x 3 RGB uint8.
        landmarks: 478 x 3 MediaPipe landmarks in pixels (any N x 2 / N x 3 works).

    Returns:
        The crop with its transforms; parts of the box outside the frame are black.

    Raises:
        ValueError: the image is not H x W x 3 uint8, the landmarks are malformed, or
            they span no area.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be H x W x 3 uint8, got {image.shape} {image.dtype}")
    (cx, cy), side = crop_box(landmarks)
    if side <= 0:
        raise ValueError("landmarks span no area; cannot crop")
    scale = (CROP_SIZE - 1) / side
    transform = np.array([[scale, 0.0, -(cx - side / 2) * scale], [0.0, scale, -(cy - side / 2) * scale]])
    inverse = cv2.invertAffineTransform(transform)
    warped = cv2.warpAffine(
        image, transform, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return Crop(image=warped.astype(np.float32) / 255.0, pixels=warped, transform=transform, inverse=inverse,
                center=(cx, cy), side=side)

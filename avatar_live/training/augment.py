"""Image augmentation for the student's input: other cameras, light and framing.

The student learns from FaceMesh's landmarks on an augmented frame and the teacher's
reading of the clean frame, so it learns to read through the tracker's noise on blurred,
dark, small, tilted or mirrored faces. One `Augmentation` is drawn per clip and pass (a
clip seen through one other camera) so that FaceMesh can follow the face from frame to
frame as it does live; sensor noise is drawn anew per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Augmentation:
    """One simulated camera.

    Attributes:
        mirror: flip left and right (the teacher's Left and Right names are swapped to match).
        angle: in-plane rotation, degrees.
        scale: the frame's size relative to the original (below 1: a smaller, blurrier face).
        shift: (x, y) translation as a fraction of the frame's size (the face nearer an edge).
        blur: Gaussian blur sigma in pixels of the scaled frame (focus, motion).
        contrast: gain on the pixel values.
        brightness: offset on the pixel values, in 0-255 units.
        gamma: exponent on normalized values (exposure curve).
        tint: per-channel gains (R, G, B) (white balance).
        noise: Gaussian sensor noise std, 0-255 units.
        jpeg: JPEG quality to re-encode at, or 0 to leave as is.
    """

    mirror: bool = False
    angle: float = 0.0
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)
    blur: float = 0.0
    contrast: float = 1.0
    brightness: float = 0.0
    gamma: float = 1.0
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise: float = 0.0
    jpeg: int = 0


def random_augmentation(rng: np.random.Generator, *, mirror: bool) -> Augmentation:
    """A camera drawn from the ranges webcams and video calls show."""
    return Augmentation(
        mirror=mirror,
        angle=float(rng.uniform(-20.0, 20.0)),
        scale=float(rng.uniform(0.45, 1.0)),
        shift=(float(rng.uniform(-0.1, 0.1)), float(rng.uniform(-0.1, 0.1))),
        blur=float(rng.choice([0.0, rng.uniform(0.5, 2.0)])),
        contrast=float(rng.uniform(0.6, 1.3)),
        brightness=float(rng.uniform(-40.0, 30.0)),
        gamma=float(np.exp(rng.uniform(-0.4, 0.4))),
        tint=tuple(float(g) for g in rng.uniform(0.85, 1.15, size=3)),
        noise=float(rng.uniform(0.0, 8.0)),
        jpeg=int(rng.choice([0, int(rng.integers(30, 90))])),
    )


def _tone_curve(a: Augmentation) -> np.ndarray:
    """Contrast, brightness, gamma and tint as one 256 x 1 x 3 lookup table for `cv2.LUT`."""
    values = np.arange(256, dtype=np.float64)[:, None] / 255.0
    values = np.power(np.clip(values * a.contrast + a.brightness / 255.0, 0.0, 1.0), a.gamma)
    return np.clip(values * np.asarray(a.tint) * 255.0, 0, 255).astype(np.uint8)[:, None, :]


def augment_image(image: np.ndarray, augmentation: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """Apply one camera to a frame.

    Args:
        image: H x W x 3 RGB uint8.
        augmentation: the camera.
        rng: draws this frame's sensor noise.

    Returns:
        h x w x 3 RGB uint8, h and w scaled by `augmentation.scale`.
    """
    a = augmentation
    out = cv2.flip(image, 1) if a.mirror else image
    height, width = out.shape[:2]
    size = (max(16, round(width * a.scale)), max(16, round(height * a.scale)))
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), a.angle, 1.0)
    matrix *= np.array([[size[0] / width], [size[1] / height]])
    matrix[:, 2] += (a.shift[0] * size[0], a.shift[1] * size[1])
    out = cv2.warpAffine(out, matrix, size, flags=cv2.INTER_AREA if a.scale < 1 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT101)
    if a.blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), a.blur)
    out = cv2.LUT(out, _tone_curve(a))
    if a.noise > 0:
        # OpenCV's generator is several times faster than numpy's; seeded from `rng`.
        cv2.setRNGSeed(int(rng.integers(2**31)))
        noise = cv2.randn(np.empty(out.shape, np.float32), (0.0,) * 3, (a.noise,) * 3)
        out = cv2.add(out, noise, dtype=cv2.CV_8U)
    if a.jpeg:
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, a.jpeg])
        out = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out

"""What every tracker offers, and the preparation of small stills that both trackers share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import cv2
import numpy as np

from avatar_live.types import Track


class Tracker(Protocol):
    """Finds the most prominent face; MediaPipe Tasks' per-image / per-video calls.

    `detect` treats each image as independent; `detect_for_video` may follow the face
    from the previous frame. Both return None when there is no face.
    """

    def detect(self, image: np.ndarray) -> Track | None: ...

    def detect_for_video(self, image: np.ndarray, time: float) -> Track | None: ...

    def close(self) -> None: ...


SMALL_STILL_SIDE = 192
"""Stills whose shorter side is below this are enlarged to it before detection. MediaPipe's
face detector works on a 128 px input and misses faces that fill a tiny, tightly cropped
image."""

SMALL_STILL_PADS = (0.25, 0.0, 0.5)
"""Borders tried, in turn, around an enlarged still until a face is found, as fractions of
its size: a face cropped at the forehead and chin needs room around it, as in the photos
the detector was trained on, and which framing suits a face varies. On FER2013's 48 x 48
faces (every third of its public test split) FaceMesh finds 85.5 % as they are, 89.1 %
enlarged with the first border, 93.2 % trying all three."""


@dataclass(frozen=True)
class StillPreparation:
    """How a still was enlarged: prepared pixel = original pixel * scale + pad."""

    scale: float = 1.0
    pad: int = 0

    def restore(self, track: Track | None) -> Track | None:
        """A track found in the prepared image, in the original image's pixels."""
        if track is None or (self.scale == 1.0 and self.pad == 0):
            return track
        landmarks = track.landmarks.copy()
        landmarks[:, :2] -= self.pad
        landmarks /= self.scale  # z is in x's pixel units, so it scales with x
        x0, y0, x1, y1 = track.box
        box = tuple((v - self.pad) / self.scale for v in (x0, y0, x1, y1))
        return Track(landmarks=landmarks, box=box, score=track.score, blendshapes=track.blendshapes)


def check_image(image: np.ndarray) -> None:
    """Raise ValueError unless `image` is H x W x 3 uint8 (RGB)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {image.shape} {image.dtype}")


def prepared_stills(image: np.ndarray) -> Iterator[tuple[np.ndarray, StillPreparation]]:
    """The images to try detecting a still's face in, in order: the image itself, or, when it
    is too small for the face detector, enlarged with each of `SMALL_STILL_PADS`.

    Args:
        image: H x W x 3 RGB uint8.

    Yields:
        An image to detect on, and how to map its landmarks back (`StillPreparation.restore`).
    """
    height, width = image.shape[:2]
    if min(height, width) >= SMALL_STILL_SIDE:
        yield image, StillPreparation()
        return
    scale = SMALL_STILL_SIDE / min(height, width)
    enlarged = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_CUBIC)
    for fraction in SMALL_STILL_PADS:
        pad = round(fraction * SMALL_STILL_SIDE)
        yield cv2.copyMakeBorder(enlarged, pad, pad, pad, pad, cv2.BORDER_REPLICATE), StillPreparation(scale, pad)


def detect_still(detect: Callable[[np.ndarray], Track | None], image: np.ndarray) -> Track | None:
    """Run a tracker's detection on a still's preparations until one finds the face."""
    check_image(image)
    for prepared, preparation in prepared_stills(image):
        track = detect(prepared)
        if track is not None:
            return preparation.restore(track)
    return None

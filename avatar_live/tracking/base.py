"""What every tracker offers, and the preparation of stills that both trackers share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import cv2
import numpy as np

from avatar_live.tracking.mediapipe_import import import_mediapipe
from avatar_live.types import Track


class Tracker(Protocol):
    """Finds the most prominent face; MediaPipe Tasks' per-image / per-video calls.

    `detect` treats each image as independent; `detect_for_video` may follow the face
    from the previous frame. Both return None when there is no face.
    """

    def detect(self, image: np.ndarray) -> Track | None: ...

    def detect_for_video(self, image: np.ndarray, time: float) -> Track | None: ...

    def close(self) -> None: ...


TRACKING_SIDE = 640
"""Video frames whose longer side is longer than this are tracked on a copy shrunk to it
(`tracking_image`). FaceMesh never looks at more pixels than that: its face detector sees
the whole frame at 128 x 128 and its landmark model the face's region at 192 x 192, so a
larger frame only costs more to copy into MediaPipe and to resample there. 640 is the
width of the default camera size (640 x 480), which the rest of the project is tuned
on; a 1920 x 1080 frame is tracked at 640 x 360."""


def tracking_image(image: np.ndarray) -> np.ndarray | None:
    """A video frame shrunk for the tracker, or None when it is no larger than `TRACKING_SIDE`.

    Bilinear, not area-averaging: MediaPipe samples the face region bilinearly from
    whatever it is given, so area averaging buys no accuracy here (on a 1080p clip both
    track 1.9 px, 0.4 % of the eye distance, from the full frame's landmarks), and costs
    5 ms a 1080p frame against 1 ms.

    Args:
        image: H x W x 3 RGB uint8.

    Returns:
        h x w x 3 RGB uint8 with max(h, w) = TRACKING_SIDE, the aspect ratio kept; or None.
    """
    height, width = image.shape[:2]
    scale = TRACKING_SIDE / max(height, width)
    if scale >= 1.0:
        return None
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def track_in_image(track: Track | None, tracked_shape: tuple[int, ...], image_shape: tuple[int, ...]) -> Track | None:
    """A track found in a resized copy of an image, in the image's own pixels.

    MediaPipe's landmarks are fractions of the width and height of what it tracked, so
    scaling by the ratio of the sizes per axis puts them where a full-size run would.

    Args:
        track: found in an image of `tracked_shape`, or None.
        tracked_shape, image_shape: (H, W, ...) of the copy and of the image.
    """
    if track is None:
        return None
    scale_x, scale_y = image_shape[1] / tracked_shape[1], image_shape[0] / tracked_shape[0]
    landmarks = track.landmarks * np.array([scale_x, scale_y, scale_x], np.float32)  # z is in x's pixel units
    x0, y0, x1, y1 = track.box
    return Track(landmarks=landmarks, box=(x0 * scale_x, y0 * scale_y, x1 * scale_x, y1 * scale_y),
                 score=track.score, blendshapes=track.blendshapes)


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


FACE_CROP_SIZE = 2.0
"""When a still's face is found only by the full-range detector, FaceMesh runs on a square
this many times the detector's box, around its centre (clipped to the image): room for the
whole head, while a larger crop in a group photo takes in the neighbours, and the tracker
may follow one of them instead."""

Box = tuple[float, float, float, float]
"""(x0, y0, x1, y1) in pixels."""


@dataclass(frozen=True)
class StillPreparation:
    """How a still was cropped or enlarged: prepared pixel = original pixel * scale + offset."""

    scale: float = 1.0
    offset: tuple[float, float] = (0.0, 0.0)

    def restore(self, track: Track | None) -> Track | None:
        """A track found in the prepared image, in the original image's pixels."""
        if track is None or (self.scale == 1.0 and self.offset == (0.0, 0.0)):
            return track
        landmarks = track.landmarks.copy()
        landmarks[:, :2] -= np.asarray(self.offset, np.float32)
        landmarks /= self.scale  # z is in x's pixel units, so it scales with x
        (ox, oy), (x0, y0, x1, y1) = self.offset, track.box
        box = ((x0 - ox) / self.scale, (y0 - oy) / self.scale, (x1 - ox) / self.scale, (y1 - oy) / self.scale)
        return Track(landmarks=landmarks, box=box, score=track.score, blendshapes=track.blendshapes)


class FullRangeFaceDetector:
    """MediaPipe's full-range face detector (shipped in the wheel), created on first use.

    FaceMesh and FaceLandmarker detect with MediaPipe's short-range model, made for a face
    that fills much of the frame (a selfie); it misses faces that are small in a still, such
    as each face in a group photo. This model finds those.
    """

    def __init__(self, min_confidence: float) -> None:
        self._min_confidence = min_confidence
        self._detector = None

    def __call__(self, image: np.ndarray) -> list[Box]:
        """The faces in `image` (H x W x 3 RGB uint8), as pixel boxes, in no particular order."""
        if self._detector is None:
            face_detection = import_mediapipe().solutions.face_detection
            self._detector = face_detection.FaceDetection(model_selection=1,
                                                          min_detection_confidence=self._min_confidence)
        height, width = image.shape[:2]
        result = self._detector.process(image)
        boxes = (detection.location_data.relative_bounding_box for detection in result.detections or ())
        return [(b.xmin * width, b.ymin * height, (b.xmin + b.width) * width, (b.ymin + b.height) * height)
                for b in boxes]

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None


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
        yield cv2.copyMakeBorder(enlarged, pad, pad, pad, pad, cv2.BORDER_REPLICATE), StillPreparation(scale, (pad, pad))


def main_face(boxes: list[Box], image_shape: tuple[int, ...]) -> Box | None:
    """The largest face box; among equally large ones, the one nearest the image's centre (None if no box)."""
    if not boxes:
        return None
    centre_x, centre_y = image_shape[1] / 2, image_shape[0] / 2

    def rank(box: Box) -> tuple[float, float]:
        x0, y0, x1, y1 = box
        return -(x1 - x0) * (y1 - y0), math.hypot((x0 + x1) / 2 - centre_x, (y0 + y1) / 2 - centre_y)

    return min(boxes, key=rank)


def face_crop(image: np.ndarray, box: Box) -> tuple[np.ndarray, StillPreparation]:
    """A square `FACE_CROP_SIZE` times `box` around its centre, clipped to the image.

    Args:
        image: H x W x 3 RGB uint8.
        box: a face's (x0, y0, x1, y1) pixels.

    Returns:
        The crop (at most S x S x 3, S = `FACE_CROP_SIZE` times the box's longer side), and
        how to map what is found in it back to `image`.
    """
    x0, y0, x1, y1 = box
    half = FACE_CROP_SIZE * max(x1 - x0, y1 - y0) / 2
    height, width = image.shape[:2]
    left, top = max(round((x0 + x1) / 2 - half), 0), max(round((y0 + y1) / 2 - half), 0)
    right, bottom = min(round((x0 + x1) / 2 + half), width), min(round((y0 + y1) / 2 + half), height)
    return np.ascontiguousarray(image[top:bottom, left:right]), StillPreparation(offset=(-left, -top))


def _detect_prepared(detect: Callable[[np.ndarray], Track | None], image: np.ndarray) -> Track | None:
    for prepared, preparation in prepared_stills(image):
        track = detect(prepared)
        if track is not None:
            return preparation.restore(track)
    return None


def detect_still(detect: Callable[[np.ndarray], Track | None], image: np.ndarray,
                 find_faces: Callable[[np.ndarray], list[Box]] | None = None) -> Track | None:
    """Run a tracker's detection on a still's preparations until one finds the face.

    Args:
        detect: the tracker's detection on one prepared image.
        image: H x W x 3 RGB uint8.
        find_faces: a detector of faces that `detect` can miss (`FullRangeFaceDetector`);
            run only when `detect` finds none, then `detect` runs again on a crop around
            the main one (`main_face`, `face_crop`).

    Returns:
        The face in `image`'s pixels, or None.
    """
    check_image(image)
    track = _detect_prepared(detect, image)
    if track is not None or find_faces is None:
        return track
    box = main_face(find_faces(image), image.shape)
    if box is None:
        return None
    crop, cropping = face_crop(image, box)
    return cropping.restore(_detect_prepared(detect, crop))

"""The optional learned tracker: MediaPipe FaceLandmarker (Tasks API).

It needs a `face_landmarker.task` bundle that the user downloads from MediaPipe (it is in
no wheel). Besides the same 478 landmarks as FaceMesh, it estimates ARKit blendshapes
with a learned model, which then replace the landmark solver's expression weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.tracking.base import FullRangeFaceDetector, check_image, detect_still
from avatar_live.tracking.facemesh import track_from_normalized
from avatar_live.tracking.mediapipe_import import import_mediapipe
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES, Track


@dataclass(frozen=True)
class LandmarkerOptions:
    """Options for `FaceLandmarkerTracker`.

    Attributes:
        task_path: the `face_landmarker.task` model bundle.
        min_detection_confidence: face detector threshold in [0, 1].
        min_tracking_confidence: below this, a video frame falls back to detection.
    """

    task_path: Path
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5


def blendshapes_to_arkit(categories) -> np.ndarray:
    """MediaPipe's blendshape categories (by name) as 52 weights in ARKIT_NAMES order.

    MediaPipe has no `tongueOut` (it stays 0) and adds `_neutral` (ignored).
    """
    weights = np.zeros(len(ARKIT_NAMES), np.float32)
    for category in categories:
        index = ARKIT_INDEX.get(category.category_name)
        if index is not None:
            weights[index] = category.score
    return np.clip(weights, 0.0, 1.0)


class FaceLandmarkerTracker:
    """478 landmarks plus learned ARKit blendshapes for the most prominent face."""

    def __init__(self, options: LandmarkerOptions) -> None:
        mp = import_mediapipe()
        BaseOptions, vision = mp.tasks.BaseOptions, mp.tasks.vision

        path = Path(options.task_path).expanduser()
        if not path.is_file():
            raise AvatarLiveError(f"no FaceLandmarker model at {path}: download face_landmarker.task from MediaPipe")
        self._vision = vision
        self._graphs = {}
        for mode in (vision.RunningMode.IMAGE, vision.RunningMode.VIDEO):
            task_options = vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(path)),
                running_mode=mode,
                num_faces=1,
                min_face_detection_confidence=options.min_detection_confidence,
                min_tracking_confidence=options.min_tracking_confidence,
                output_face_blendshapes=True,
            )
            try:
                self._graphs[mode] = vision.FaceLandmarker.create_from_options(task_options)
            except RuntimeError as exc:
                raise AvatarLiveError(
                    f"{path} is not a usable FaceLandmarker model ({str(exc).strip().splitlines()[0]}): "
                    "download face_landmarker.task again"
                ) from exc
        self._last_ms = -1
        self._full_range = FullRangeFaceDetector(options.min_detection_confidence)  # for stills it misses

    @classmethod
    def create_from_options(cls, options: LandmarkerOptions) -> "FaceLandmarkerTracker":
        return cls(options)

    def detect(self, image: np.ndarray) -> Track | None:
        """Find a face in an independent still (H x W x 3 RGB uint8; as `FaceMeshTracker.detect`)."""
        graph = self._graphs[self._vision.RunningMode.IMAGE]
        return detect_still(lambda prepared: self._track(graph.detect(self._mp_image(prepared)), prepared), image,
                            self._full_range)

    def detect_for_video(self, image: np.ndarray, time: float) -> Track | None:
        """Find or follow the face in the next video frame; `time` in seconds, increasing."""
        # The Tasks API insists on strictly increasing integer milliseconds.
        stamp = max(int(round(time * 1000.0)), self._last_ms + 1)
        self._last_ms = stamp
        graph = self._graphs[self._vision.RunningMode.VIDEO]
        return self._track(graph.detect_for_video(self._mp_image(image), stamp), image)

    def close(self) -> None:
        for graph in self._graphs.values():
            graph.close()
        self._full_range.close()

    @staticmethod
    def _mp_image(image: np.ndarray):
        mp = import_mediapipe()
        check_image(image)
        return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))

    @staticmethod
    def _track(result, image: np.ndarray) -> Track | None:
        if not result.face_landmarks:
            return None
        blendshapes = blendshapes_to_arkit(result.face_blendshapes[0]) if result.face_blendshapes else None
        return track_from_normalized(result.face_landmarks[0], image.shape, score=1.0, blendshapes=blendshapes)

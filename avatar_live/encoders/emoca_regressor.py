"""EMOCA as a per-frame encoder: face crop -> FLAME parameters, and EMOCA's own emotion.

Runs the user's converted ONNX models (`avatar-live models add-emoca/add-emotion`) on the
best inference backend available (`avatar_live.runtime.select`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_live.encoders.crop import crop_face
from avatar_live.pipeline.channels import Closed, LatestMailbox
from avatar_live.runtime.base import InferenceBackend
from avatar_live.runtime.select import select_backend
from avatar_live.types import Emotion, FlameParams


@dataclass(frozen=True)
class EmocaOptions:
    """Options for `EmocaRegressor`.

    Attributes:
        encoder_onnx: the converted EMOCA encoders (`emoca/<name>.onnx` in the model store).
        emotion_onnx: the converted emotion MLP, or None to leave emotion to the rules.
        backend: force an inference backend ("tensorrt", "torch-cuda", "onnxruntime",
            "torch-cpu"), or None to pick the best available.
    """

    encoder_onnx: Path
    emotion_onnx: Path | None = None
    backend: str | None = None


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


class EmocaRegressor:
    """FLAME parameters (and emotion) for a face, from its MediaPipe landmarks' crop."""

    def __init__(self, encoder: InferenceBackend, emotion: InferenceBackend | None) -> None:
        self._encoder = encoder
        self._emotion = emotion

    @classmethod
    def create_from_options(cls, options: EmocaOptions) -> "EmocaRegressor":
        """Raises AvatarLiveError when a forced backend is not available here."""
        encoder = select_backend(options.encoder_onnx, None, prefer=options.backend)
        emotion = None if options.emotion_onnx is None else select_backend(
            options.emotion_onnx, None, prefer=options.backend)
        return cls(encoder, emotion)

    @property
    def backend_name(self) -> str:
        return self._encoder.name

    def encode(self, image: np.ndarray, landmarks: np.ndarray) -> tuple[FlameParams, Emotion | None]:
        """Encode one face.

        Args:
            image: H x W x 3 RGB uint8 frame.
            landmarks: 478 x 3 MediaPipe landmarks in pixels.

        Returns:
            FLAME parameters (shape 100, expression 50, jaw 3, global 3, cam 3) and EMOCA's
            emotion (None without the emotion model).
        """
        crop = crop_face(image, landmarks)
        codes = self._encoder.run({"image": np.ascontiguousarray(crop.image.transpose(2, 0, 1)[None])})
        pose = codes["pose"][0]
        flame = FlameParams(shape=codes["shape"][0].astype(np.float32), expression=codes["exp"][0].astype(np.float32),
                            jaw=pose[3:6].astype(np.float32), global_rotation=pose[:3].astype(np.float32),
                            cam=codes["cam"][0].astype(np.float32))
        if self._emotion is None:
            return flame, None
        features = np.concatenate([flame.shape, flame.expression, flame.jaw])[None].astype(np.float32)
        out = self._emotion.run({"codes": features})["emotion"][0]
        emotion = Emotion(valence=float(np.clip(out[8], -1, 1)), arousal=float(np.clip(out[9], -1, 1)),
                          probs=_softmax(out[:8]).astype(np.float32), source="emoca")
        return flame, emotion

    def close(self) -> None:
        self._encoder.close()
        if self._emotion is not None:
            self._emotion.close()


class BackgroundEmoca:
    """Runs an `EmocaRegressor` on its own thread, always on the newest face submitted.

    Live mode uses it so a slow encoder never holds the pipeline back: each frame submits
    its face and takes the latest finished result (older submissions are dropped).
    """

    def __init__(self, regressor: EmocaRegressor) -> None:
        self._regressor = regressor
        self._inbox: LatestMailbox[tuple[np.ndarray, np.ndarray]] = LatestMailbox()
        self._latest: tuple[FlameParams, Emotion | None] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="emoca", daemon=True)
        self._thread.start()

    def submit(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        """Queue a face for encoding, replacing one not yet started."""
        if self._error is not None:
            raise self._error
        self._inbox.put((image, landmarks))

    def latest(self) -> tuple[FlameParams, Emotion | None] | None:
        """The most recent result, or None before the first one is ready."""
        return self._latest

    def close(self) -> None:
        self._inbox.close()
        self._thread.join(timeout=5)
        self._regressor.close()

    def _work(self) -> None:
        try:
            while True:
                try:
                    item = self._inbox.get()
                except Closed:
                    return
                self._latest = self._regressor.encode(*item)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the next submit()
            self._error = exc

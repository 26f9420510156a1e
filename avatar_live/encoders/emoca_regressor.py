"""EMOCA as a per-frame encoder: face crop -> FLAME parameters, and EMOCA's own emotion.

Runs the user's converted models (`avatar-live models add-emoca/add-emotion`) on the best
inference backend available (`avatar_live.runtime.select`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_live.encoders.base import FaceInput, Readout
from avatar_live.encoders.crop import crop_face
from avatar_live.learned.mlp import softmax
from avatar_live.runtime.base import InferenceBackend, ModelFiles
from avatar_live.runtime.select import select_backend
from avatar_live.types import Emotion, FaceParams, FlameParams


@dataclass(frozen=True)
class EmocaOptions:
    """Options for `EmocaRegressor`.

    Attributes:
        encoder: the converted EMOCA encoders (`model_store.emoca_files`).
        emotion: the converted emotion MLP, or None to leave emotion to the rules.
        backend: force one of `runtime.BACKEND_NAMES`, or None to pick the best available.
        cpu_threads: threads for ONNX Runtime on the CPU (None: one per core). Live mode
            uses 1 so the encoder leaves a core to capture, tracking and rendering.
    """

    encoder: ModelFiles
    emotion: ModelFiles | None = None
    backend: str | None = None
    cpu_threads: int | None = None


def _emotion_backend(encoder_backend: str | None) -> str | None:
    """The emotion MLP has no INT8 copy (it is tiny): a forced INT8 encoder pairs with float32 ONNX Runtime."""
    return "onnxruntime" if encoder_backend == "onnxruntime-int8" else encoder_backend


REALTIME_BACKENDS = ("tensorrt", "torch-cuda")
"""Backends that encode a face in a few milliseconds (measured 1-2.5 ms on an H200)."""


class EmocaRegressor(Readout[tuple[FlameParams, Emotion | None]]):
    """FLAME parameters (and emotion) for a face, from its MediaPipe landmarks' crop.

    As a read-out it sets `FaceParams.flame`, and `emotion` when EMOCA's emotion model is
    imported (the stage's emotion read-out then has nothing to add).
    """

    name = "emoca"

    def __init__(self, encoder: InferenceBackend, emotion: InferenceBackend | None) -> None:
        self._encoder = encoder
        self._emotion = emotion

    @classmethod
    def create_from_options(cls, options: EmocaOptions) -> "EmocaRegressor":
        """Raises AvatarLiveError when a forced backend is not available here."""
        encoder = select_backend(options.encoder, prefer=options.backend, cpu_threads=options.cpu_threads,
                                 label="EMOCA encoder")
        emotion = None if options.emotion is None else select_backend(
            options.emotion, prefer=_emotion_backend(options.backend), cpu_threads=options.cpu_threads,
            label="emotion model")
        return cls(encoder, emotion)

    def describe(self) -> str:
        """For the HUD: "emoca <backend> <precision>", e.g. "emoca tensorrt fp16"."""
        return f"emoca {self._encoder.name} {self._encoder.precision}"

    @property
    def keeps_up(self) -> bool:
        """Whether it encodes faster than a camera delivers them: on a GPU (TensorRT,
        torch-CUDA) every frame is encoded in line; on a CPU it runs beside the stage on
        the newest face (`pipeline.background`)."""
        return self._encoder.name in REALTIME_BACKENDS

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
        if getattr(self._encoder, "accepts_uint8_nhwc", False):
            batch = crop.pixels[None]  # converted to NCHW floats on the GPU
        else:
            batch = np.ascontiguousarray(crop.image.transpose(2, 0, 1)[None])
        codes = self._encoder.run({"image": batch})
        pose = codes["pose"][0]
        flame = FlameParams(shape=codes["shape"][0].astype(np.float32), expression=codes["exp"][0].astype(np.float32),
                            jaw=pose[3:6].astype(np.float32), global_rotation=pose[:3].astype(np.float32),
                            cam=codes["cam"][0].astype(np.float32))
        if self._emotion is None:
            return flame, None
        features = np.concatenate([flame.shape, flame.expression, flame.jaw])[None].astype(np.float32)
        out = self._emotion.run({"codes": features})["emotion"][0]
        emotion = Emotion(valence=float(np.clip(out[8], -1, 1)), arousal=float(np.clip(out[9], -1, 1)),
                          probs=softmax(out[:8]).astype(np.float32), source="emoca")
        return flame, emotion

    def estimate(self, face: FaceInput, params: FaceParams) -> tuple[FlameParams, Emotion | None]:
        return self.encode(face.image, face.track.landmarks)

    def apply(self, result: tuple[FlameParams, Emotion | None], params: FaceParams) -> None:
        params.flame, emotion = result
        if emotion is not None:
            params.emotion = emotion

    def close(self) -> None:
        self._encoder.close()
        if self._emotion is not None:
            self._emotion.close()

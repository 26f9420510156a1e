"""EMOCA as a per-frame encoder: face crop -> FLAME parameters, and EMOCA's own emotion.

Runs the user's converted models (`avatar-live models add-emoca/add-emotion`) on the best
inference backend available (`avatar_live.runtime.select`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from avatar_live.encoders.crop import crop_face
from avatar_live.pipeline.channels import Closed, LatestMailbox
from avatar_live.pipeline.metrics import RateMeter
from avatar_live.runtime.base import InferenceBackend, ModelFiles
from avatar_live.runtime.select import select_backend
from avatar_live.types import Emotion, FlameParams

log = logging.getLogger(__name__)


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
        encoder = select_backend(options.encoder, prefer=options.backend, cpu_threads=options.cpu_threads,
                                 label="EMOCA encoder")
        emotion = None if options.emotion is None else select_backend(
            options.emotion, prefer=_emotion_backend(options.backend), cpu_threads=options.cpu_threads,
            label="emotion model")
        return cls(encoder, emotion)

    def describe(self) -> str:
        """For the HUD: "emoca <backend>"."""
        return f"emoca {self._encoder.name}"

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
    its face and takes the latest finished result (older submissions are dropped). The
    thread runs at a lower scheduling priority where the OS allows it (Linux), so on a
    small CPU the display keeps its frame rate and the encoder takes the time left over.
    """

    PRIORITY_DROP = 10
    """Niceness added to the encoder thread (Linux; elsewhere it keeps normal priority)."""

    def __init__(self, regressor: EmocaRegressor) -> None:
        self._regressor = regressor
        self._inbox: LatestMailbox[tuple[np.ndarray, np.ndarray]] = LatestMailbox()
        self._latest: tuple[FlameParams, Emotion | None] | None = None
        self._error: BaseException | None = None
        self._started = time.perf_counter()
        self._rate = RateMeter()
        self.encoded = 0
        """Faces encoded so far."""
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

    def describe(self) -> str:
        """For the HUD: "emoca <backend> <results per second>/s"."""
        return f"{self._regressor.describe()} {self._rate.rate:.0f}/s"

    def close(self) -> None:
        self._inbox.close()
        self._thread.join(timeout=5)
        self._regressor.close()
        seconds = time.perf_counter() - self._started
        log.info("EMOCA encoded %d faces in %.1f s (%.1f per second) beside the display", self.encoded, seconds,
                 self.encoded / seconds if seconds > 0 else 0.0)

    def _work(self) -> None:
        try:
            # Only the calling thread's niceness changes: on Linux a thread id names one thread.
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.PRIORITY_DROP)
        except (AttributeError, OSError):
            pass  # Windows has no setpriority; macOS applies it to the process, and refuses thread ids
        try:
            while True:
                try:
                    item = self._inbox.get()
                except Closed:
                    return
                self._latest = self._regressor.encode(*item)
                self.encoded += 1
                self._rate.tick()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the next submit()
            self._error = exc

"""The learned emotion model: ARKit weights and face geometry -> AffectNet's 8 classes.

Inputs per face: the 52 ARKit weights (what the expression read-out shows), and the face's
pose-free landmark offsets (`features.LandmarkFeatures`) projected on their main
components of variation (`projection`, a PCA of the training faces, whitened), which carry
what the 52 weights leave out (how wide the eyes are against the brows, the lips' shape).
Both are standardized and read by an MLP, trained on every face and its mirror image.
Reading each face mirrored too and averaging scored 0.571 against 0.570 read once (FER2013
`val/` accuracy), for twice the network's cost: not taken.

Contempt: no data here teaches it (FER2013 has no Contempt, the labelled stills have 9
faces), so the network has seven outputs, and Contempt's probability is the FACS rules'
(`emotion.rules`: a one-sided smile and dimple), the network's seven sharing the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_live.emotion.rules import estimate_emotion
from avatar_live.learned.features import LandmarkFeatures
from avatar_live.learned.mlp import Mlp, linear, softmax
from avatar_live.learned.weights import (
    STORED_MATRIX,
    load_checked,
    mlp_arrays,
    mlp_layers,
    save_model,
    shipped,
)
from avatar_live.types import ARKIT_NAMES, EMOTION_CLASSES, NUM_LANDMARKS

KIND = "emotion"
FILE_NAME = "emotion.npz"
REBUILD = "avatar-live train emotion"
LEARNED_CLASSES = EMOTION_CLASSES[:EMOTION_CLASSES.index("Contempt")]
"""The classes the network outputs (all but Contempt), EMOTION_CLASSES order."""
_CONTEMPT = EMOTION_CLASSES.index("Contempt")


@dataclass(frozen=True)
class EmotionNet:
    """ARKit weights and landmarks -> 8 class probabilities.

    Attributes:
        features: the geometry feature map (D features).
        projection: K x D rows: standardized features -> K whitened components.
        input_mean: 52 + K means of the network's inputs.
        input_std: 52 + K standard deviations of them (positive).
        mlp: inputs -> 7 logits (`LEARNED_CLASSES`).
    """

    features: LandmarkFeatures
    projection: np.ndarray
    input_mean: np.ndarray
    input_std: np.ndarray
    mlp: Mlp

    def __post_init__(self) -> None:
        size = len(ARKIT_NAMES) + self.projection.shape[0]
        if (self.projection.ndim != 2 or self.projection.shape[1] != self.features.mean.shape[0]
                or self.input_mean.shape != (size,) or self.input_std.shape != (size,)
                or self.mlp.inputs != size or self.mlp.outputs != len(LEARNED_CLASSES)):
            raise ValueError(f"inconsistent shapes: projection {self.projection.shape}, inputs "
                             f"{self.input_mean.shape}/{self.input_std.shape}, network "
                             f"{self.mlp.inputs} -> {self.mlp.outputs}")
        if not np.all(self.input_std > 0):
            raise ValueError("input standard deviations must be positive")
        # Derived once, contiguous for the per-row products (frozen, hence object.__setattr__).
        object.__setattr__(self, "_projection_t", np.ascontiguousarray(self.projection.T, np.float32))

    def inputs(self, arkit: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The network's standardized inputs: (N x 52), (N x 478 x 3) -> (N x 52 + K)."""
        geometry = linear(self.features(landmarks), self._projection_t)
        return ((np.concatenate([arkit, geometry], axis=-1) - self.input_mean) / self.input_std).astype(np.float32)

    def learned_probabilities(self, arkit: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The network's 7 probabilities: (N x 52), (N x 478 x 3) -> N x 7."""
        return softmax(self.mlp(self.inputs(arkit, landmarks)))

    def __call__(self, arkit: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Class probabilities of one face or many.

        Args:
            arkit: (... x 52) ARKit weights, ARKIT_NAMES order.
            landmarks: (... x 478 x 3) FaceMesh landmarks in pixels.

        Returns:
            (... x 8) float64 probabilities in EMOTION_CLASSES order, summing to 1.
        """
        batch = np.shape(arkit)[:-1]
        flat = np.asarray(arkit, np.float32).reshape(-1, len(ARKIT_NAMES))
        contempt = np.array([estimate_emotion(w).probs[_CONTEMPT] for w in flat])[:, None]
        learned = (1.0 - contempt) * self.learned_probabilities(flat, np.reshape(landmarks, (-1, NUM_LANDMARKS, 3)))
        return np.concatenate([learned, contempt], axis=1).reshape(*batch, len(EMOTION_CLASSES))


def save_emotion_net(net: EmotionNet, path: Path, meta: dict) -> None:
    """Write a model file (see `weights`)."""
    save_model(path, KIND, {**net.features.to_arrays(), "projection": np.asarray(net.projection, STORED_MATRIX),
                            "input_mean": net.input_mean, "input_std": net.input_std,
                            **mlp_arrays("mlp", net.mlp.weights, net.mlp.biases)}, meta)


def load_emotion_net(path: Path | None = None) -> EmotionNet:
    """The shipped model, or the one at `path`.

    Raises:
        AvatarLiveError: the file is missing, corrupt or not an emotion model.
    """
    return load_checked(shipped(FILE_NAME) if path is None else path, KIND, REBUILD, _emotion_net)


def _emotion_net(arrays: dict[str, np.ndarray]) -> EmotionNet:
    return EmotionNet(features=LandmarkFeatures.from_arrays(arrays), projection=arrays["projection"].astype(np.float32),
                      input_mean=arrays["input_mean"], input_std=arrays["input_std"],
                      mlp=Mlp(*mlp_layers(arrays, "mlp")))

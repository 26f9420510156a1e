"""The learned expression model: FaceMesh landmarks -> 52 ARKit weights.

An MLP over `features.LandmarkFeatures`, distilled from MediaPipe FaceLandmarker's
blendshape scores (`avatar_live.training.expression` trains it). It reads a face as it
is, with no calibration: the teacher is uncalibrated too. It learned from every face and
its mirror image, so a mirrored face reads with Left and Right swapped. Reading each face
twice at run time, as itself and mirrored, and averaging would add 0.006 to the mean r
with the teacher on the validation people, for twice the cost (0.2 ms a frame more here):
not taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_live.learned.features import LandmarkFeatures
from avatar_live.learned.mlp import Mlp, sigmoid
from avatar_live.learned.weights import (
    load_checked,
    mlp_arrays,
    mlp_layers,
    save_model,
    shipped,
)
from avatar_live.types import ARKIT_NAMES

KIND = "expression"
FILE_NAME = "expression.npz"
REBUILD = "avatar-live train expression"


@dataclass(frozen=True)
class ExpressionNet:
    """Landmarks -> ARKit weights.

    Attributes:
        features: the feature map the network was trained on.
        mlp: features -> 52 logits in ARKIT_NAMES order.
    """

    features: LandmarkFeatures
    mlp: Mlp

    def __post_init__(self) -> None:
        if self.mlp.inputs != self.features.mean.shape[0] or self.mlp.outputs != len(ARKIT_NAMES):
            raise ValueError(f"the network maps {self.mlp.inputs} -> {self.mlp.outputs}, expected "
                             f"{self.features.mean.shape[0]} -> {len(ARKIT_NAMES)}")

    def __call__(self, landmarks: np.ndarray) -> np.ndarray:
        """ARKit weights of one face or many.

        Args:
            landmarks: ([N x] 478 x 3) FaceMesh landmarks in pixels (`Track.landmarks`).

        Returns:
            ([N x] 52) float32 weights in [0, 1], ARKIT_NAMES order.
        """
        return sigmoid(self.mlp(self.features(landmarks))).astype(np.float32)


def save_expression_net(net: ExpressionNet, path: Path, meta: dict) -> None:
    """Write a model file (see `weights`)."""
    save_model(path, KIND, {**net.features.to_arrays(), **mlp_arrays("mlp", net.mlp.weights, net.mlp.biases)}, meta)


def load_expression_net(path: Path | None = None) -> ExpressionNet:
    """The shipped model, or the one at `path`.

    Raises:
        AvatarLiveError: the file is missing, corrupt or not an expression model.
    """
    return load_checked(shipped(FILE_NAME) if path is None else path, KIND, REBUILD,
                        lambda arrays: ExpressionNet(LandmarkFeatures.from_arrays(arrays),
                                                     Mlp(*mlp_layers(arrays, "mlp"))))

"""A multilayer perceptron's forward pass in numpy.

The project's networks are small (a few hundred thousand weights): numpy runs one face in
tens of microseconds, less than handing it to ONNX Runtime would cost, and the app needs
no inference library for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SMALL_BATCH = 4
"""Up to this many inputs are run one by one (see `Mlp.__call__`)."""


@dataclass(frozen=True)
class Mlp:
    """Dense layers with ReLU between them; the last layer's output is returned as is (logits).

    Attributes:
        weights: per layer, an (inputs x outputs) float32 matrix.
        biases: per layer, an (outputs,) float32 vector.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if not self.weights or len(self.weights) != len(self.biases):
            raise ValueError(f"an Mlp needs as many bias vectors as weight matrices, got "
                             f"{len(self.weights)} and {len(self.biases)}")
        inputs = self.weights[0].shape[0]
        for n, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            if weight.ndim != 2 or weight.shape[0] != inputs or bias.shape != (weight.shape[1],):
                raise ValueError(f"layer {n}: weight {weight.shape} and bias {bias.shape} do not follow "
                                 f"a layer with {inputs} outputs")
            if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
                raise ValueError(f"layer {n} has NaN or infinite weights")
            inputs = weight.shape[1]

    @property
    def inputs(self) -> int:
        return self.weights[0].shape[0]

    @property
    def outputs(self) -> int:
        return self.weights[-1].shape[1]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(..., inputs) -> (..., outputs) logits, float32."""
        if x.shape[-1] != self.inputs:
            raise ValueError(f"expected {self.inputs} inputs, got shape {x.shape}")
        h = x.astype(np.float32, copy=False)
        last = len(self.weights) - 1
        for n, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = linear(h, weight) + bias
            if n < last:
                np.maximum(h, 0.0, out=h)
        return h


def linear(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """x @ weight for (..., n) inputs and an n x m matrix.

    OpenBLAS multiplies a matrix by 2-4 rows several times slower than by each row alone
    (0.51 ms against 2 x 0.05 ms for 1443 x 256 here), and the app reads one face, or a
    face and its mirror image, per frame: a few rows go one by one.
    """
    if x.ndim == 1 or np.prod(x.shape[:-1]) > SMALL_BATCH:
        return x @ weight
    rows = x.reshape(-1, x.shape[-1])
    return np.stack([row @ weight for row in rows]).reshape(*x.shape[:-1], weight.shape[1])


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, in the form that cannot overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)

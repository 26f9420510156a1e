"""The one interface every inference backend implements, plus the checks they share.

A backend loads one model (the same network as an ONNX file or a torch module), runs a batch
of named float32 arrays and returns named float32 arrays; it also says where it runs and at
which precision so the HUD and the logs can report it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_live.errors import AvatarLiveError


@dataclass(frozen=True)
class ModelFiles:
    """One network in every form the backends can run; each form is optional.

    Attributes:
        onnx: the float32 ONNX export (TensorRT builds its FP16 engine from it; ONNX
            Runtime runs it as is). It also names the inputs and outputs for torch.
        int8_onnx: the same network quantized to INT8 for ONNX Runtime on the CPU.
        torch_factory: builds the network as a torch module with its weights loaded.
    """

    onnx: Path | None = None
    int8_onnx: Path | None = None
    torch_factory: Callable[[], object] | None = None


class InferenceBackend(ABC):
    """A loaded model that runs batches.

    Attributes:
        name: the backend's name, one of `avatar_live.runtime.BACKEND_NAMES`.
        device: where it runs, e.g. "cpu" or "cuda:0 (NVIDIA H100)".
        precision: "fp32", "fp16" or "int8" (the arithmetic; inputs and outputs are always float32).
        input_names: the model's input names, in the model's order.
        output_names: the model's output names, in the model's order.
    """

    name: str
    device: str
    precision: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    @abstractmethod
    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch.

        Args:
            inputs: one array per input name, each B x ... with the same batch size B.

        Returns:
            One float32 array per output name, each B x ...

        Raises:
            AvatarLiveError: the input names or batch sizes do not match the model.
        """

    def close(self) -> None:
        """Release the model and its buffers; the backend cannot run afterwards."""

    def __enter__(self) -> InferenceBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def describe(self) -> str:
        """One line for logs and the HUD, e.g. "onnxruntime on cpu, fp32"."""
        return f"{self.name} on {self.device}, {self.precision}"


def check_inputs(inputs: Mapping[str, np.ndarray], input_names: Sequence[str]) -> tuple[dict[str, np.ndarray], int]:
    """Validate a batch against the model's inputs and make it float32 and contiguous.

    Args:
        inputs: one array per input name, each B x ...
        input_names: the model's input names.

    Returns:
        The arrays as C-contiguous float32, keyed and ordered like `input_names`, and B.

    Raises:
        AvatarLiveError: names differ from the model's, an array has no batch axis, or
            the batch sizes differ.
    """
    if set(inputs) != set(input_names):
        raise AvatarLiveError(f"model inputs are {sorted(input_names)}, got {sorted(inputs)}")
    arrays = {name: np.ascontiguousarray(inputs[name], dtype=np.float32) for name in input_names}
    batches = {name: array.shape[0] if array.ndim else None for name, array in arrays.items()}
    if None in batches.values() or len(set(batches.values())) != 1:
        raise AvatarLiveError(f"every input needs the same leading batch axis, got shapes "
                              f"{ {name: arrays[name].shape for name in input_names} }")
    return arrays, next(iter(batches.values()))


def max_relative_error(outputs: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]) -> float:
    """The largest |output - reference| / max|reference| over all outputs.

    Scaling by each output's largest magnitude (not element-wise) keeps near-zero
    reference values from turning FP16 rounding into huge relative errors.

    Args:
        outputs: one array per output name.
        reference: the float32 reference, same names and shapes.

    Returns:
        The worst error over all outputs (0 for identical outputs).

    Raises:
        AvatarLiveError: names or shapes differ.
    """
    if set(outputs) != set(reference):
        raise AvatarLiveError(f"outputs {sorted(outputs)} do not match the reference's {sorted(reference)}")
    worst = 0.0
    for name, expected in reference.items():
        got = np.asarray(outputs[name], dtype=np.float64)
        if got.shape != expected.shape:
            raise AvatarLiveError(f"output {name!r} has shape {got.shape}, the reference {expected.shape}")
        scale = max(float(np.abs(expected).max(initial=0.0)), 1e-12)
        worst = max(worst, float(np.abs(got - expected).max(initial=0.0)) / scale)
    return worst


def check_against_reference(backend: InferenceBackend, reference: InferenceBackend,
                            inputs: Mapping[str, np.ndarray], tolerance: float) -> float:
    """Run both backends on the same batch and fail when they disagree.

    Args:
        backend: the backend under test (e.g. TensorRT FP16).
        reference: a float32 backend of the same model (e.g. torch on CPU).
        inputs: one batch, as for `InferenceBackend.run`.
        tolerance: the largest acceptable `max_relative_error`.

    Returns:
        The measured `max_relative_error`.

    Raises:
        AvatarLiveError: the error exceeds `tolerance`.
    """
    error = max_relative_error(backend.run(inputs), reference.run(inputs))
    if error > tolerance:
        raise AvatarLiveError(f"{backend.describe()} disagrees with {reference.describe()}: "
                              f"relative error {error:.2e} > {tolerance:.0e}")
    return error

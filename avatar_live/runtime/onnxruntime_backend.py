"""ONNX Runtime on the CPU: the portable backend, for float32 or INT8-quantized models."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.runtime.base import InferenceBackend, check_inputs


class OnnxRuntimeBackend(InferenceBackend):
    """Runs an ONNX file with onnxruntime's CPU execution provider.

    Inputs and outputs are float32 either way; an INT8 model (`encoders.quantize`)
    quantizes inside the graph.
    """

    device = "cpu"

    def __init__(self, onnx_path: str | Path, *, int8: bool = False, threads: int | None = None) -> None:
        """Load the model.

        Args:
            onnx_path: the exported model.
            int8: the file is the INT8-quantized model (names the backend "onnxruntime-int8").
            threads: intra-op threads (None: onnxruntime's default, one per core).

        Raises:
            AvatarLiveError: onnxruntime is not installed or the file cannot be loaded.
        """
        try:
            import onnxruntime
        except ImportError as error:
            raise AvatarLiveError("onnxruntime is not installed (pip install 'avatar-live[emoca]')") from error
        self.name = "onnxruntime-int8" if int8 else "onnxruntime"
        self.precision = "int8" if int8 else "fp32"
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            self._session = onnxruntime.InferenceSession(str(onnx_path), options,
                                                         providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own untyped exceptions
            raise AvatarLiveError(f"cannot load ONNX model {onnx_path}: {error}") from error
        self.input_names = tuple(i.name for i in self._session.get_inputs())
        self.output_names = tuple(o.name for o in self._session.get_outputs())

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays, _ = check_inputs(inputs, self.input_names)
        results = self._session.run(list(self.output_names), arrays)
        return {name: np.asarray(value, dtype=np.float32) for name, value in zip(self.output_names, results)}

    def close(self) -> None:
        self._session = None

"""ONNX Runtime on the CPU: the portable float32 backend."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.runtime.base import InferenceBackend, check_inputs


class OnnxRuntimeBackend(InferenceBackend):
    """Runs an ONNX file with onnxruntime's CPU execution provider, float32."""

    name = "onnxruntime"
    device = "cpu"
    precision = "fp32"

    def __init__(self, onnx_path: str | Path, *, threads: int | None = None) -> None:
        """Load the model.

        Args:
            onnx_path: the exported model.
            threads: intra-op threads (None: onnxruntime's default, one per core).

        Raises:
            AvatarLiveError: onnxruntime is not installed or the file cannot be loaded.
        """
        try:
            import onnxruntime
        except ImportError as error:
            raise AvatarLiveError("onnxruntime is not installed (pip install 'avatar-live[emoca]')") from error
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

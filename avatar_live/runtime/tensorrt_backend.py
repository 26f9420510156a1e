"""TensorRT 10: an FP16 engine built from the ONNX file, run with pycuda buffers.

`tensorrt` and `pycuda` are imported inside, so this module imports everywhere and only
constructing the backend needs them. The engine has one optimization profile for a
dynamic batch (min 1, opt 1, max `max_batch`); I/O buffers are allocated once for the
largest batch (page-locked on the host, device memory from pycuda) and reused.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.runtime.base import InferenceBackend, check_inputs
from avatar_live.runtime.engine_cache import load_or_build

log = logging.getLogger(__name__)

WORKSPACE_BYTES = 1 << 30


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise AvatarLiveError(f"the TensorRT backend needs {name.split('.')[0]}, which is not installed") from error


class TensorRTBackend(InferenceBackend):
    """Runs an ONNX model as a TensorRT engine (FP16 or FP32) on CUDA device 0."""

    name = "tensorrt"

    def __init__(self, onnx_path: str | Path, *, precision: str = "fp16", max_batch: int = 8,
                 cache_dir: str | Path | None = None) -> None:
        """Load the cached engine for the model, or build it (a minute or two) and cache it.

        Args:
            onnx_path: the exported model; only its batch axis (axis 0) may be dynamic.
            precision: "fp16" (default) or "fp32".
            max_batch: the largest batch the engine accepts.
            cache_dir: the engine cache folder (default: `engine_cache.default_cache_dir()`, in the user's cache folder).

        Raises:
            AvatarLiveError: tensorrt or pycuda is missing, there is no CUDA GPU, the ONNX
                file does not parse, or building fails.
        """
        if precision not in ("fp16", "fp32"):
            raise AvatarLiveError(f"TensorRT precision must be fp16 or fp32, not {precision!r}")
        if max_batch < 1:
            raise AvatarLiveError(f"max_batch must be at least 1, got {max_batch}")
        self._trt = trt = _import("tensorrt")
        self._cuda = cuda = _import("pycuda.driver")
        self.precision = precision
        self.max_batch = max_batch
        self._onnx_name = Path(onnx_path).name

        cuda.init()
        if cuda.Device.count() < 1:
            raise AvatarLiveError("the TensorRT backend needs a CUDA GPU; none was found")
        gpu = cuda.Device(0)
        self.device = f"cuda:0 ({gpu.name()})"
        # The primary context is the one torch and the CUDA runtime use too, so buffers
        # and engines live in one context whichever library touched the GPU first.
        self._context = gpu.retain_primary_context()
        self._context.push()
        try:
            self._logger = trt.Logger(trt.Logger.WARNING)
            self._runtime = trt.Runtime(self._logger)
            # The batch range is part of what was built, so it goes into the cache key too.
            self._engine = load_or_build(onnx_path, tensorrt_version=trt.__version__, gpu_name=gpu.name(),
                                         precision=f"{precision}-batch{max_batch}", build=self._build,
                                         deserialize=self._runtime.deserialize_cuda_engine, cache_dir=cache_dir)
            self._execution = self._engine.create_execution_context()
            self._stream = cuda.Stream()
            self._allocate()
        finally:
            self._context.pop()

    def _build(self, onnx_bytes: bytes) -> bytes:
        trt = self._trt
        print(f"building TensorRT engine for {self._onnx_name} (first run, ~1-2 min)...", file=sys.stderr, flush=True)
        builder = trt.Builder(self._logger)
        network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(onnx_bytes):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise AvatarLiveError(f"TensorRT cannot parse {self._onnx_name}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        if self.precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            if tensor.shape[0] != -1:
                raise AvatarLiveError(f"{self._onnx_name}: input {tensor.name!r} needs a dynamic batch axis "
                                      f"(export with dynamic_axes), its shape is {tuple(tensor.shape)}")
            sample = _sample_shape(tensor.name, tuple(tensor.shape))
            profile.set_shape(tensor.name, (1, *sample), (1, *sample), (self.max_batch, *sample))
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise AvatarLiveError(f"TensorRT failed to build an engine for {self._onnx_name} (see its log above)")
        return bytes(serialized)

    def _allocate(self) -> None:
        trt, cuda, engine = self._trt, self._cuda, self._engine
        inputs, outputs = [], []
        self._host: dict[str, np.ndarray] = {}
        self._device_buffers: dict[str, object] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (inputs if is_input else outputs).append(name)
            sample = _sample_shape(name, tuple(engine.get_tensor_shape(name)))
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            self._host[name] = cuda.pagelocked_empty(self.max_batch * int(np.prod(sample)), dtype)
            self._device_buffers[name] = cuda.mem_alloc(self._host[name].nbytes)
            # Addresses never change, so they are bound once, not per run.
            self._execution.set_tensor_address(name, int(self._device_buffers[name]))
        self.input_names, self.output_names = tuple(inputs), tuple(outputs)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._engine is None:
            raise AvatarLiveError("this TensorRT backend was closed")
        arrays, batch = check_inputs(inputs, self.input_names)
        if not 1 <= batch <= self.max_batch:
            raise AvatarLiveError(f"batch {batch} is outside the TensorRT engine's range 1..{self.max_batch}")
        cuda = self._cuda
        # The calling thread (a pipeline stage) need not be the one that built the backend.
        self._context.push()
        try:
            for name, array in arrays.items():
                staged = self._host[name][:array.size].reshape(array.shape)
                np.copyto(staged, array, casting="same_kind")
                if not self._execution.set_input_shape(name, array.shape):
                    raise AvatarLiveError(f"TensorRT rejected input {name!r} of shape {array.shape}")
                cuda.memcpy_htod_async(self._device_buffers[name], staged, self._stream)
            if not self._execution.execute_async_v3(self._stream.handle):
                raise AvatarLiveError("TensorRT failed to run the engine")
            staged_outputs = {}
            for name in self.output_names:
                shape = tuple(self._execution.get_tensor_shape(name))
                staged_outputs[name] = self._host[name][:int(np.prod(shape))].reshape(shape)
                cuda.memcpy_dtoh_async(staged_outputs[name], self._device_buffers[name], self._stream)
            self._stream.synchronize()
        finally:
            self._context.pop()
        # Copies: the page-locked buffers are reused by the next run.
        return {name: staged.astype(np.float32, copy=True) for name, staged in staged_outputs.items()}

    def close(self) -> None:
        if self._engine is None:
            return
        self._context.push()
        try:
            for buffer in self._device_buffers.values():
                buffer.free()
            self._device_buffers, self._host = {}, {}
            self._execution = self._engine = self._runtime = None
        finally:
            self._context.pop()
        self._context.detach()


def _sample_shape(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A tensor's shape without its batch axis; only the batch axis may be dynamic (-1)."""
    if len(shape) < 1 or any(size < 0 for size in shape[1:]):
        raise AvatarLiveError(f"tensor {name!r} has shape {shape}: only the batch axis may be dynamic")
    return shape[1:]

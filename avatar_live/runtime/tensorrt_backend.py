"""TensorRT 10: an engine built from the ONNX file, run with named I/O tensors and `execute_async_v3`.

`tensorrt` and the CUDA memory library (see `device_memory`) are imported inside, so this
module imports everywhere and only constructing the backend needs them.

Build: the ONNX parser fills a network; every input whose batch axis is dynamic gets one
optimization profile entry (min 1, opt 1 for the live single frame, max `max_batch`). FP16
comes from the model itself when its weights are already FP16 (a strongly typed network,
which is all TensorRT 11 builds), else from `BuilderFlag.FP16` (TensorRT 10's mixed precision).
Run: I/O buffers (page-locked host + device) are allocated once for the largest batch, their
addresses bound once; per call only the input shapes are set, and only when the batch changes.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.runtime import device_memory
from avatar_live.runtime.base import InferenceBackend, check_inputs
from avatar_live.runtime.engine_cache import load_or_build

log = logging.getLogger(__name__)

WORKSPACE_BYTES = 1 << 30
ONNX_FLOAT16 = 10  # onnx.TensorProto.FLOAT16


class TensorRTBackend(InferenceBackend):
    """Runs an ONNX model as a TensorRT engine (FP16 or FP32) on CUDA device 0."""

    name = "tensorrt"

    def __init__(self, onnx_path: str | Path, *, precision: str = "fp16", max_batch: int = 8,
                 cache_dir: str | Path | None = None) -> None:
        """Load the cached engine for the model, or build it (minutes) and cache it.

        Args:
            onnx_path: the exported model; only its batch axis (axis 0) may be dynamic. A
                fixed batch axis is accepted: the engine then runs exactly that batch.
            precision: "fp16" (default) or "fp32"; a model with FP16 weights always runs as fp16.
            max_batch: the largest batch the engine accepts (dynamic batch axis only).
            cache_dir: the engine cache folder (default: `engine_cache.default_cache_dir()`).

        Raises:
            AvatarLiveError: tensorrt or every CUDA memory library is missing, there is no
                CUDA GPU, the ONNX file does not parse, or building fails.
        """
        if precision not in ("fp16", "fp32"):
            raise AvatarLiveError(f"TensorRT precision must be fp16 or fp32, not {precision!r}")
        if max_batch < 1:
            raise AvatarLiveError(f"max_batch must be at least 1, got {max_batch}")
        try:
            self._trt = trt = importlib.import_module("tensorrt")
        except ImportError as error:
            raise AvatarLiveError(f"the TensorRT backend needs tensorrt, which is not installed "
                                  f"({device_memory.INSTALL_HINT})") from error
        self.precision = precision
        self.max_batch = max_batch
        self._onnx_name = Path(onnx_path).name
        self._strongly_typed = _holds_fp16_weights(Path(onnx_path))
        if self._strongly_typed and precision == "fp32":
            log.warning("%s holds FP16 weights: its engine computes in fp16 whatever precision is asked",
                        self._onnx_name)
            self.precision = "fp16"
        self._memory = device_memory.open_device_memory()
        self.device = f"cuda:0 ({self._memory.gpu_name})"
        try:
            with self._memory.active():
                self._logger = trt.Logger(trt.Logger.WARNING)
                self._runtime = trt.Runtime(self._logger)
                # The batch range is part of what was built, so it goes into the cache key too.
                self._engine = load_or_build(onnx_path, tensorrt_version=trt.__version__,
                                             gpu_name=self._memory.gpu_name,
                                             precision=f"{self.precision}-batch{max_batch}", build=self._build,
                                             deserialize=self._runtime.deserialize_cuda_engine, cache_dir=cache_dir)
                self._execution = self._engine.create_execution_context()
                self._allocate()
        except BaseException:
            self._memory.close()  # a failed start must not keep the GPU context and buffers
            raise

    def _build(self, onnx_bytes: bytes) -> bytes:
        """ONNX bytes -> serialized engine (the slow part, cached by `load_or_build`)."""
        trt = self._trt
        started = time.monotonic()
        print(f"building TensorRT engine for {self._onnx_name} (first run, ~1-2 min)...", file=sys.stderr, flush=True)
        builder = trt.Builder(self._logger)
        strongly_typed = self._strongly_typed
        # 0: explicit batch is the only mode since TensorRT 10; no EXPLICIT_BATCH flag.
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(onnx_bytes):
            errors = "; ".join(" ".join(str(parser.get_error(i)).split()) for i in range(parser.num_errors))
            raise AvatarLiveError(f"TensorRT cannot parse {self._onnx_name}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        if self.precision == "fp16" and not strongly_typed:
            if not hasattr(trt.BuilderFlag, "FP16"):
                raise AvatarLiveError(f"TensorRT {trt.__version__} builds FP16 only from a model with FP16 "
                                      f"weights; {self._onnx_name} is FP32: use tensorrt<11 (the [tensorrt] "
                                      f"extra) or precision='fp32'")
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        dynamic = False
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            shape = tuple(tensor.shape)
            sample = _sample_shape(tensor.name, shape)
            if shape[0] == -1:
                profile.set_shape(tensor.name, (1, *sample), (1, *sample), (self.max_batch, *sample))
                dynamic = True
            else:
                log.warning("%s: input %r has a fixed batch of %d; its engine runs only that batch",
                            self._onnx_name, tensor.name, shape[0])
        if dynamic:
            config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise AvatarLiveError(f"TensorRT failed to build an engine for {self._onnx_name} (see its log above)")
        log.info("built TensorRT engine for %s in %.0f s", self._onnx_name, time.monotonic() - started)
        return bytes(serialized)

    def _allocate(self) -> None:
        """Buffers for the largest batch, bound once (their addresses never change)."""
        trt, engine = self._trt, self._engine
        inputs, outputs, batches = [], [], set()
        self._dtypes: dict[str, np.dtype] = {}
        self._buffers: dict[str, device_memory.Buffer] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (inputs if is_input else outputs).append(name)
            shape = tuple(engine.get_tensor_shape(name))
            sample = _sample_shape(name, shape)
            if is_input:
                batches.add(shape[0])
            self._dtypes[name] = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            largest = self.max_batch if shape[0] == -1 else shape[0]
            self._buffers[name] = self._memory.allocate(largest * int(np.prod(sample)) * self._dtypes[name].itemsize)
            self._execution.set_tensor_address(name, self._buffers[name].address)
        if len(batches) > 1:
            raise AvatarLiveError(f"{self._onnx_name}: inputs mix dynamic and fixed batch axes ({sorted(batches)})")
        fixed = next(iter(batches), -1)
        self.batch_range = (1, self.max_batch) if fixed == -1 else (fixed, fixed)
        self.input_names, self.output_names = tuple(inputs), tuple(outputs)
        self._batch: int | None = None  # the batch the input shapes were last set for
        self._output_shapes: dict[str, tuple[int, ...]] = {}

    def _set_batch(self, arrays: Mapping[str, np.ndarray], batch: int) -> None:
        """Tell the context the input shapes; TensorRT then knows the output shapes."""
        for name, array in arrays.items():
            if not self._execution.set_input_shape(name, array.shape):
                raise AvatarLiveError(f"TensorRT rejected input {name!r} of shape {array.shape}")
        self._output_shapes = {name: tuple(self._execution.get_tensor_shape(name)) for name in self.output_names}
        self._batch = batch

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._engine is None:
            raise AvatarLiveError("this TensorRT backend was closed")
        arrays, batch = check_inputs(inputs, self.input_names)
        low, high = self.batch_range
        if not low <= batch <= high:
            raise AvatarLiveError(f"batch {batch} is outside the TensorRT engine's range {low}..{high}")
        memory = self._memory
        # The calling thread (a pipeline stage) need not be the one that built the backend.
        with memory.active():
            if batch != self._batch:
                self._set_batch(arrays, batch)
            for name, array in arrays.items():
                buffer, dtype = self._buffers[name], self._dtypes[name]
                staged = buffer.host[:array.size * dtype.itemsize].view(dtype).reshape(array.shape)
                np.copyto(staged, array, casting="same_kind")  # float32 -> the engine's input type
                memory.upload(buffer, staged.nbytes)
            if not self._execution.execute_async_v3(memory.stream_handle):
                raise AvatarLiveError("TensorRT failed to run the engine")
            staged_outputs = {}
            for name, shape in self._output_shapes.items():
                dtype = self._dtypes[name]
                nbytes = int(np.prod(shape)) * dtype.itemsize
                staged_outputs[name] = self._buffers[name].host[:nbytes].view(dtype).reshape(shape)
                memory.download(self._buffers[name], nbytes)
            memory.synchronize()
        # Copies: the page-locked buffers are reused by the next run.
        return {name: staged.astype(np.float32, copy=True) for name, staged in staged_outputs.items()}

    def close(self) -> None:
        if self._engine is None:
            return
        # The context and engine go before the memory they point into.
        with self._memory.active():
            self._execution = self._engine = self._runtime = None
        self._buffers = {}
        self._memory.close()


def _holds_fp16_weights(onnx_path: Path) -> bool:
    """Whether the model is already FP16 (e.g. from ModelOpt AutoCast): any FP16 initializer.

    Inputs are no guide: converters keep float32 inputs and cast inside. Without the onnx
    package, or for a file it cannot read (the TensorRT parser then says why), this is False.
    """
    try:
        import onnx

        graph = onnx.load(str(onnx_path), load_external_data=False).graph
    except Exception:  # ImportError, OSError, DecodeError, ...
        return False
    return any(initializer.data_type == ONNX_FLOAT16 for initializer in graph.initializer)


def _sample_shape(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A tensor's shape without its batch axis; only the batch axis may be dynamic (-1)."""
    if len(shape) < 1 or any(size < 0 for size in shape[1:]):
        raise AvatarLiveError(f"tensor {name!r} has shape {shape}: only the batch axis may be dynamic")
    return shape[1:]

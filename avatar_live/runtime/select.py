"""Pick the fastest inference backend this machine can run, and say why.

Order: TensorRT (needs tensorrt, one CUDA memory library of pycuda, torch or cuda-python,
and a CUDA GPU) -> torch on CUDA -> ONNX Runtime
on the CPU with the INT8 model -> ONNX Runtime float32 -> torch on the CPU. One log line
names the choice and why each better one was skipped; `prefer` forces one backend and
fails clearly when it cannot run here.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

from avatar_live.errors import AvatarLiveError
from avatar_live.runtime.base import InferenceBackend, ModelFiles

log = logging.getLogger(__name__)

BACKEND_NAMES = ("tensorrt", "torch-cuda", "onnxruntime-int8", "onnxruntime", "torch-cpu")
# Any one of these gives TensorRT its device buffers (see device_memory for the order);
# cuda-python by its modules, as other packages share its `cuda` namespace.
TENSORRT_MEMORY_MODULES = ("pycuda", "torch", "cuda.bindings", "cuda.cudart")


def installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (a None entry in sys.modules means blocked)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def cuda_gpu() -> bool:
    """Whether a CUDA GPU is usable, asked of torch when installed, else of pycuda."""
    if installed("torch"):
        import torch

        return torch.cuda.is_available()
    if installed("pycuda"):
        import pycuda.driver as cuda

        try:
            cuda.init()
            return cuda.Device.count() > 0
        except cuda.Error:
            return False
    return False


def unavailable_reason(name: str, model: ModelFiles) -> str | None:
    """Why backend `name` cannot run `model` here, or None when it can."""
    if name not in BACKEND_NAMES:
        raise AvatarLiveError(f"unknown inference backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    if name == "onnxruntime-int8" and model.int8_onnx is None:
        return "no INT8 model"
    if name in ("tensorrt", "onnxruntime") and model.onnx is None:
        return "no ONNX model"
    if name.startswith("torch") and (model.torch_factory is None or model.onnx is None):
        # The ONNX export names the torch module's inputs and outputs.
        return "no torch model"
    if name == "tensorrt":
        if not installed("tensorrt"):
            return "TensorRT not installed"
        if not any(installed(module) for module in TENSORRT_MEMORY_MODULES):
            return "no CUDA memory library (pycuda, torch or cuda-python) installed"
        # Whether one of them reaches a GPU is left to the backend, which tries each in
        # turn (a CPU-only torch beside cuda-python is fine) and says why none did.
        return None
    if name.startswith("onnxruntime") and not installed("onnxruntime"):
        return "ONNX Runtime not installed"
    if name.startswith("torch") and not installed("torch"):
        return "torch not installed"
    if name == "torch-cuda" and not cuda_gpu():
        return "no CUDA GPU"
    return None


def onnx_io_names(onnx_path: str | Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The input and output names of an ONNX model (inputs that are weights excluded).

    Raises:
        AvatarLiveError: the onnx package is missing or the file cannot be read.
    """
    try:
        import onnx
    except ImportError as error:
        raise AvatarLiveError("onnx is not installed (pip install 'avatar-live[emoca]')") from error
    try:
        graph = onnx.load(str(onnx_path), load_external_data=False).graph
    except Exception as error:  # onnx raises DecodeError, OSError, ... for bad files
        raise AvatarLiveError(f"cannot read ONNX model {onnx_path}: {error}") from error
    weights = {initializer.name for initializer in graph.initializer}
    return (tuple(i.name for i in graph.input if i.name not in weights), tuple(o.name for o in graph.output))


def create_backend(name: str, model: ModelFiles, *, cache_dir: str | Path | None = None,
                   cpu_threads: int | None = None) -> InferenceBackend:
    """Construct backend `name` (assumed available; see `unavailable_reason`)."""
    if name == "tensorrt":
        from avatar_live.runtime.tensorrt_backend import TensorRTBackend

        return TensorRTBackend(model.onnx, cache_dir=cache_dir)
    if name.startswith("onnxruntime"):
        from avatar_live.runtime.onnxruntime_backend import OnnxRuntimeBackend

        int8 = name == "onnxruntime-int8"
        return OnnxRuntimeBackend(model.int8_onnx if int8 else model.onnx, int8=int8, threads=cpu_threads)
    from avatar_live.runtime.torch_backend import TorchBackend

    input_names, output_names = onnx_io_names(model.onnx)
    return TorchBackend(model.torch_factory, input_names, output_names,
                        device="cuda" if name == "torch-cuda" else "cpu")


def select_backend(model: ModelFiles, *, prefer: str | None = None, cache_dir: str | Path | None = None,
                   cpu_threads: int | None = None, label: str = "") -> InferenceBackend:
    """The best available backend for a model.

    Args:
        model: the forms the model is available in (ONNX, INT8 ONNX, torch).
        prefer: force one of `BACKEND_NAMES`.
        cache_dir: the TensorRT engine cache (default: `engine_cache.default_cache_dir()`, in the user's cache folder).
        cpu_threads: threads for ONNX Runtime on the CPU (None: one per core).
        label: what the model is, for the log line when an app runs several (e.g. "EMOCA encoder").

    Returns:
        The constructed backend; one INFO line says which and why better ones were skipped.

    Raises:
        AvatarLiveError: `prefer` is unknown or cannot run here, or no backend can.
    """
    subject = f"inference backend for the {label}" if label else "inference backend"
    if prefer is not None:
        reason = unavailable_reason(prefer, model)
        if reason is not None:
            raise AvatarLiveError(f"inference backend {prefer!r} is not available here: {reason}")
        backend = create_backend(prefer, model, cache_dir=cache_dir, cpu_threads=cpu_threads)
        log.info("%s: %s (forced)", subject, backend.describe())
        return backend

    skipped = []
    for name in BACKEND_NAMES:
        reason = unavailable_reason(name, model)
        if reason is None:
            try:
                backend = create_backend(name, model, cache_dir=cache_dir, cpu_threads=cpu_threads)
            except AvatarLiveError as error:
                # A backend that is installed but fails to start (e.g. TensorRT cannot
                # parse the model) should not stop the app when a slower one works.
                reason = str(error)
            else:
                because = f"; skipped {', '.join(skipped)}" if skipped else ""
                log.info("%s: %s%s", subject, backend.describe(), because)
                return backend
        skipped.append(f"{name} ({reason})")
    raise AvatarLiveError(f"no inference backend can run this model: {', '.join(skipped)}")

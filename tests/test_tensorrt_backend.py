"""The TensorRT backend against a stand-in `tensorrt` (10.x names) and stand-in device memory.

No GPU, TensorRT, torch or onnx is needed: the "ONNX" file is JSON that the stand-in parser
reads, "device" memory is host memory reached through real addresses (ctypes), and the
stand-in engine computes params[b, k] = sum(image[b]) * (k + 1) in that memory. What only a
GPU can show (real builds, speed, FP16 accuracy) is left to benchmarks/gpu_check.py.
"""

from __future__ import annotations

import ctypes
import json
import logging
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from avatar_live.errors import AvatarLiveError
from avatar_live.runtime import device_memory, select, tensorrt_backend
from avatar_live.runtime.device_memory import Buffer, DeviceMemory
from avatar_live.runtime.tensorrt_backend import TensorRTBackend

REPO = Path(__file__).resolve().parents[1]
MAGIC = b"FAKE-TRT-10-ENGINE\n"
WEIGHTS = np.arange(1, 8, dtype=np.float32)


def _view(address: int, count: int, dtype=np.float32) -> np.ndarray:
    """`count` elements of `dtype` at a raw address, as the engine would see them."""
    nbytes = count * np.dtype(dtype).itemsize
    return np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(address)).view(dtype)


class FakeMemory(DeviceMemory):
    """"Device" buffers that are host bytearrays; copies are memmoves, recorded."""

    library = "fake"

    def __init__(self, gpu_name: str = "NVIDIA H200") -> None:
        super().__init__()
        self.gpu_name, self.stream_handle = gpu_name, 0x5EED
        self.live: dict[int, bytearray] = {}
        self.copies: list[tuple[str, int]] = []
        self.synchronized = 0

    def _allocate(self, nbytes: int) -> Buffer:
        memory = bytearray(nbytes)
        address = ctypes.addressof((ctypes.c_uint8 * nbytes).from_buffer(memory))
        self.live[address] = memory
        return Buffer(np.zeros(nbytes, np.uint8), address, memory)

    def _free(self, buffer: Buffer) -> None:
        del self.live[buffer.address]

    def upload(self, buffer: Buffer, nbytes: int) -> None:
        self.copies.append(("up", nbytes))
        ctypes.memmove(buffer.address, buffer.host.ctypes.data, nbytes)

    def download(self, buffer: Buffer, nbytes: int) -> None:
        self.copies.append(("down", nbytes))
        ctypes.memmove(buffer.host.ctypes.data, buffer.address, nbytes)

    def synchronize(self) -> None:
        self.synchronized += 1


def fake_tensorrt(version: str = "10.16.1.11", fp16_flag: bool = True) -> types.ModuleType:
    """A `tensorrt` stand-in with the 10.x class tree; every call lands in `trt.calls`."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    calls: list[tuple] = []
    trt.calls, trt.builds = calls, []
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=1)
    trt.BuilderFlag = types.SimpleNamespace(**({"FP16": "FP16"} if fp16_flag else {}), TF32="TF32")
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
    trt.TensorIOMode = types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")
    trt.DataType = types.SimpleNamespace(FLOAT="FLOAT", HALF="HALF")
    trt.nptype = lambda dtype: {"FLOAT": np.float32, "HALF": np.float16}[dtype]

    class NetworkDefinition:
        def __init__(self, flags: int) -> None:
            self.flags, self.inputs, self.outputs = flags, [], []

        num_inputs = property(lambda self: len(self.inputs))

        def get_input(self, i):
            return self.inputs[i]

    class OnnxParser:
        def __init__(self, network, logger) -> None:
            self.network, self.errors = network, []

        def parse(self, data: bytes) -> bool:
            try:
                spec = json.loads(data)
            except ValueError:
                self.errors = ["In node 0 (parseGraph):\nINVALID_GRAPH: not an ONNX model", "second\nerror"]
                return False
            self.network.inputs = [types.SimpleNamespace(name=n, shape=tuple(s)) for n, s in spec["inputs"]]
            self.network.outputs = [types.SimpleNamespace(name=n, shape=tuple(s)) for n, s in spec["outputs"]]
            return True

        num_errors = property(lambda self: len(self.errors))

        def get_error(self, i):
            return self.errors[i]

    class BuilderConfig:
        def __init__(self) -> None:
            self.flags, self.profiles, self.pools = set(), [], {}

        def set_flag(self, flag):
            self.flags.add(flag)

        def set_memory_pool_limit(self, pool, size):
            self.pools[pool] = size

        def add_optimization_profile(self, profile):
            self.profiles.append(profile)
            return len(self.profiles) - 1

    class OptimizationProfile:
        def __init__(self) -> None:
            self.shapes = {}

        def set_shape(self, name, min, opt, max):  # TensorRT's own keyword names
            self.shapes[name] = (tuple(min), tuple(opt), tuple(max))

    class Builder:
        def __init__(self, logger) -> None:
            pass

        def create_network(self, flags):
            calls.append(("create_network", flags))
            return NetworkDefinition(flags)

        def create_builder_config(self):
            return BuilderConfig()

        def create_optimization_profile(self):
            return OptimizationProfile()

        def build_serialized_network(self, network, config):
            trt.builds.append({"flags": network.flags, "builder_flags": config.flags, "pools": config.pools,
                               "profiles": [p.shapes for p in config.profiles]})
            io = [[v.name, "INPUT", v.shape] for v in network.inputs] + [[v.name, "OUTPUT", v.shape]
                                                                          for v in network.outputs]
            return MAGIC + json.dumps({"io": io}).encode()

    class IExecutionContext:
        def __init__(self, engine) -> None:
            self.engine, self.addresses, self.shapes = engine, {}, {}

        def set_tensor_address(self, name, address):
            calls.append(("set_tensor_address", name, address))
            self.addresses[name] = address
            return True

        def set_input_shape(self, name, shape):
            calls.append(("set_input_shape", name, tuple(shape)))
            self.shapes[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name):
            return (self.shapes["image"][0], *self.engine.io[name][1][1:])

        def execute_async_v3(self, stream_handle):
            calls.append(("execute_async_v3", stream_handle))
            shape = self.shapes["image"]
            image = _view(self.addresses["image"], int(np.prod(shape))).reshape(shape)
            params = _view(self.addresses["params"], shape[0] * 7).reshape(shape[0], 7)
            params[:] = image.reshape(shape[0], -1).sum(axis=1, keepdims=True) * WEIGHTS
            return True

        def execute_async_v2(self, *args):
            raise AssertionError("execute_async_v2 is TensorRT 8 API")

    class ICudaEngine:
        def __init__(self, spec) -> None:
            self.io = {name: (mode, tuple(shape)) for name, mode, shape in spec["io"]}

        num_io_tensors = property(lambda self: len(self.io))

        def get_tensor_name(self, i):
            return list(self.io)[i]

        def get_tensor_mode(self, name):
            return self.io[name][0]

        def get_tensor_dtype(self, name):
            return "FLOAT"

        def get_tensor_shape(self, name):
            return self.io[name][1]

        def create_execution_context(self):
            return IExecutionContext(self)

    class Runtime:
        def __init__(self, logger) -> None:
            pass

        def deserialize_cuda_engine(self, data: bytes):
            if not data.startswith(MAGIC):
                return None
            return ICudaEngine(json.loads(data[len(MAGIC):]))  # truncated JSON raises, as TensorRT may

    trt.__dict__.update(Builder=Builder, OnnxParser=OnnxParser, Runtime=Runtime)
    return trt


def write_model(path: Path, batch: int = -1, size: int = 224) -> Path:
    """A stand-in ONNX file (JSON) with input image (B,3,size,size) and output params (B,7)."""
    path.write_text(json.dumps({"inputs": [["image", [batch, 3, size, size]]], "outputs": [["params", [batch, 7]]]}))
    return path


@pytest.fixture
def trt(monkeypatch):
    module = fake_tensorrt()
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    return module


@pytest.fixture
def memory(monkeypatch) -> list[FakeMemory]:
    """Every FakeMemory the backends opened, in order."""
    opened: list[FakeMemory] = []

    def open_fake() -> FakeMemory:
        opened.append(FakeMemory())
        return opened[-1]

    monkeypatch.setattr(device_memory, "open_device_memory", open_fake)
    return opened


@pytest.fixture
def model(tmp_path) -> Path:
    return write_model(tmp_path / "tiny.onnx")


def backend(model: Path, cache: Path, **kwargs) -> TensorRTBackend:
    return TensorRTBackend(model, cache_dir=cache, **kwargs)


def test_build_uses_a_1_1_8_profile_the_fp16_flag_and_a_workspace_limit(trt, memory, model, tmp_path, capsys):
    trt_backend = backend(model, tmp_path / "engines", precision="fp16", max_batch=8)
    assert "building TensorRT engine for tiny.onnx" in capsys.readouterr().err
    (build,) = trt.builds
    assert build["flags"] == 0  # FP32 model: weakly typed, explicit batch without flags
    assert build["builder_flags"] == {"FP16"}
    assert build["pools"] == {"WORKSPACE": tensorrt_backend.WORKSPACE_BYTES}
    assert build["profiles"] == [{"image": ((1, 3, 224, 224), (1, 3, 224, 224), (8, 3, 224, 224))}]
    assert trt_backend.describe() == "tensorrt on cuda:0 (NVIDIA H200), fp16"
    assert (trt_backend.input_names, trt_backend.output_names, trt_backend.batch_range) == (("image",), ("params",),
                                                                                            (1, 8))


def test_fp32_sets_no_precision_flag(trt, memory, model, tmp_path):
    assert backend(model, tmp_path, precision="fp32").precision == "fp32"
    assert trt.builds[0]["builder_flags"] == set()


def test_a_model_with_fp16_weights_builds_a_strongly_typed_network(trt, memory, model, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(tensorrt_backend, "_holds_fp16_weights", lambda path: True)
    with caplog.at_level(logging.WARNING):
        trt_backend = backend(model, tmp_path, precision="fp32")
    assert trt.builds[0]["flags"] == 1 << 1 and trt.builds[0]["builder_flags"] == set()
    assert trt_backend.precision == "fp16" and "holds FP16 weights" in caplog.text


def test_tensorrt_11_without_the_fp16_flag_says_what_to_do(monkeypatch, memory, model, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt("11.4.0", fp16_flag=False))
    with pytest.raises(AvatarLiveError, match=r"builds FP16 only from a model with FP16 weights.*tensorrt<11"):
        backend(model, tmp_path)
    assert memory[0].live == {}  # the failed start freed what it had
    assert backend(model, tmp_path, precision="fp32").precision == "fp32"


def test_run_binds_every_tensor_once_sets_shapes_per_batch_and_uses_v3(trt, memory, model, tmp_path):
    trt_backend = backend(model, tmp_path)
    (fake,) = memory
    bound = {call[1]: call[2] for call in trt.calls if call[0] == "set_tensor_address"}
    assert set(bound) == {"image", "params"} and set(bound.values()) == set(fake.live)
    assert len(fake.live[bound["image"]]) == 8 * 3 * 224 * 224 * 4  # allocated for the largest batch

    images = np.random.default_rng(0).random((3, 3, 224, 224), dtype=np.float32)
    first = trt_backend.run({"image": images})
    expected = images.reshape(3, -1).sum(axis=1, keepdims=True) * WEIGHTS
    assert first["params"].shape == (3, 7) and first["params"].dtype == np.float32
    np.testing.assert_allclose(first["params"], expected, rtol=1e-5)
    trt_backend.run({"image": images})
    single = trt_backend.run({"image": images[1:2]})
    np.testing.assert_allclose(single["params"], expected[1:2], rtol=1e-5)
    np.testing.assert_allclose(first["params"], expected, rtol=1e-5)  # a copy, not the reused buffer

    shapes = [call[2] for call in trt.calls if call[0] == "set_input_shape"]
    assert shapes == [(3, 3, 224, 224), (1, 3, 224, 224)]  # only when the batch changes
    assert [call for call in trt.calls if call[0] == "execute_async_v3"] == [("execute_async_v3", 0x5EED)] * 3
    assert fake.synchronized == 3 and fake.copies[:2] == [("up", images.nbytes), ("down", 3 * 7 * 4)]
    assert not any(call[0] in ("execute_async_v2", "execute_v2") for call in trt.calls)

    with pytest.raises(AvatarLiveError, match=r"batch 9 is outside the TensorRT engine's range 1..8"):
        trt_backend.run({"image": np.zeros((9, 3, 224, 224), np.float32)})
    trt_backend.close()
    assert fake.live == {}
    with pytest.raises(AvatarLiveError, match="closed"):
        trt_backend.run({"image": images})


def test_a_fixed_batch_model_is_built_for_that_batch(trt, memory, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        trt_backend = backend(write_model(tmp_path / "fixed.onnx", batch=1), tmp_path)
    assert "input 'image' has a fixed batch of 1" in caplog.text
    assert trt.builds[0]["profiles"] == [] and trt_backend.batch_range == (1, 1)
    assert trt_backend.run({"image": np.ones((1, 3, 224, 224), np.float32)})["params"].shape == (1, 7)
    with pytest.raises(AvatarLiveError, match=r"range 1..1"):
        trt_backend.run({"image": np.ones((2, 3, 224, 224), np.float32)})


def test_only_the_batch_axis_may_be_dynamic(trt, memory, tmp_path):
    path = tmp_path / "free.onnx"
    path.write_text(json.dumps({"inputs": [["image", [-1, 3, -1, -1]]], "outputs": [["params", [-1, 7]]]}))
    with pytest.raises(AvatarLiveError, match="only the batch axis may be dynamic"):
        backend(path, tmp_path)


def test_parse_errors_are_one_line(trt, memory, tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07garbage")
    with pytest.raises(AvatarLiveError) as error:
        backend(path, tmp_path)
    assert "\n" not in str(error.value)
    assert str(error.value) == ("TensorRT cannot parse broken.onnx: In node 0 (parseGraph): INVALID_GRAPH: not an "
                                "ONNX model; second error")


def test_engine_cache_loads_rebuilds_on_mismatch_and_recovers_from_corruption(monkeypatch, memory, model, tmp_path,
                                                                              caplog):
    cache = tmp_path / "engines"
    trt = fake_tensorrt("10.16.1.11")
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    backend(model, cache).close()
    backend(model, cache).close()
    assert len(trt.builds) == 1  # the second start loaded the cached engine
    (cached,) = cache.glob("*.engine")
    assert "trt10.16.1.11_nvidia-h200_fp16-batch8" in cached.name

    backend(model, cache, precision="fp32").close()
    backend(model, cache, max_batch=4).close()
    assert len(trt.builds) == 3 and len(list(cache.glob("*.engine"))) == 3

    other_version = fake_tensorrt("10.17.0.1")
    monkeypatch.setitem(sys.modules, "tensorrt", other_version)
    backend(model, cache).close()
    assert len(other_version.builds) == 1
    monkeypatch.setitem(sys.modules, "tensorrt", trt)

    monkeypatch.setattr(device_memory, "open_device_memory", lambda: FakeMemory("NVIDIA H100 80GB HBM3"))
    backend(model, cache).close()
    assert len(trt.builds) == 4  # another GPU model: its own engine

    cached.write_bytes(cached.read_bytes()[:-10])
    with caplog.at_level(logging.WARNING):
        monkeypatch.setattr(device_memory, "open_device_memory", FakeMemory)
        trt_backend = backend(model, cache)
    assert len(trt.builds) == 5
    assert any(r.levelname == "WARNING" and "corrupt or truncated" in r.message for r in caplog.records)
    assert trt_backend.run({"image": np.ones((2, 3, 224, 224), np.float32)})["params"].shape == (2, 7)
    backend(model, cache).close()
    assert len(trt.builds) == 5  # the rebuilt engine was cached


def test_without_tensorrt_the_error_names_the_extra(monkeypatch, memory, model, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(AvatarLiveError, match=r"^the TensorRT backend needs tensorrt, which is not installed "
                                              r"\(pip install 'avatar-live\[tensorrt\]'\)$"):
        backend(model, tmp_path)
    assert memory == []  # nothing touched the GPU


def test_the_modules_import_without_any_gpu_library(model, tmp_path):
    blocked = ["tensorrt", "pycuda", "pycuda.driver", "torch", "cuda", "cuda.bindings", "cuda.bindings.runtime",
               "cuda.cudart", "onnx"]
    script = (f"import sys; sys.modules.update(dict.fromkeys({blocked!r}))\n"
              "from avatar_live.runtime import device_memory, tensorrt_backend\n"
              "construct = lambda: tensorrt_backend.TensorRTBackend(sys.argv[1])\n"
              "for start in (device_memory.open_device_memory, construct):\n"
              "    try:\n        start()\n    except Exception as error:\n        print(error)\n")
    result = subprocess.run([sys.executable, "-c", script, str(model)], check=False, cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        ("no CUDA device memory for TensorRT (pycuda not installed; torch not installed; cuda-python not installed); "
         "pip install 'avatar-live[tensorrt]' on a machine with an NVIDIA GPU and driver"),
        "the TensorRT backend needs tensorrt, which is not installed (pip install 'avatar-live[tensorrt]')"]


# ---- which library provides device memory -------------------------------------------------

def fake_pycuda(works: bool = True) -> types.ModuleType:
    cuda = types.ModuleType("pycuda.driver")

    def init():
        if not works:
            raise RuntimeError("cuInit failed: no CUDA-capable device is detected")

    context = types.SimpleNamespace(push=lambda: None, pop=lambda: None, detach=lambda: None)
    device = types.SimpleNamespace(name=lambda: "NVIDIA Fake (pycuda)", retain_primary_context=lambda: context)
    cuda.__dict__.update(init=init, Device=type("Device", (), {"count": staticmethod(lambda: 1),
                                                              "__new__": lambda cls, index: device}),
                         Stream=lambda: types.SimpleNamespace(handle=11))
    return cuda


def fake_torch(cuda_build: bool = True) -> types.ModuleType:
    torch = types.ModuleType("torch")
    torch.cuda = types.SimpleNamespace(is_available=lambda: cuda_build,
                                       get_device_name=lambda index: "NVIDIA Fake (torch)",
                                       Stream=lambda device: types.SimpleNamespace(cuda_stream=22))
    return torch


def fake_cudart() -> types.ModuleType:
    """cuda-python's runtime API over host memory: (error, *results) tuples, raw addresses."""
    rt = types.ModuleType("cuda.bindings.runtime")
    held: dict[int, ctypes.Array] = {}

    def malloc(nbytes):
        memory = (ctypes.c_uint8 * nbytes)()
        held[ctypes.addressof(memory)] = memory
        return 0, ctypes.addressof(memory)

    def free(address):
        del held[int(address)]
        return (0,)

    def memcpy_async(destination, source, nbytes, kind, stream):
        assert stream == 33 and kind in ("h2d", "d2h")
        ctypes.memmove(destination, source, nbytes)
        return (0,)

    rt.__dict__.update(cudaError_t=types.SimpleNamespace(cudaSuccess=0), held=held,
                       cudaMemcpyKind=types.SimpleNamespace(cudaMemcpyHostToDevice="h2d", cudaMemcpyDeviceToHost="d2h"),
                       cudaGetDeviceCount=lambda: (0, 1), cudaSetDevice=lambda index: (0,),
                       cudaGetDeviceProperties=lambda index: (0, types.SimpleNamespace(
                           name=b"NVIDIA Fake (cudart)\0\0")),
                       cudaStreamCreate=lambda: (0, 33), cudaStreamSynchronize=lambda stream: (0,),
                       cudaStreamDestroy=lambda stream: (0,), cudaMalloc=malloc, cudaMallocHost=malloc,
                       cudaFree=free, cudaFreeHost=free, cudaMemcpyAsync=memcpy_async)
    return rt


def install(monkeypatch, pycuda=None, torch=None, cudart=None, legacy_cudart=None) -> None:
    """Put these stand-ins (None: not installed) where the providers import them from."""
    for name, module in {"pycuda.driver": pycuda, "torch": torch, "cuda.bindings.runtime": cudart,
                         "cuda.cudart": legacy_cudart}.items():
        monkeypatch.setitem(sys.modules, name, module)


@pytest.mark.parametrize(("available", "library", "gpu"), [
    ({"pycuda", "torch", "cudart"}, "pycuda", "NVIDIA Fake (pycuda)"),
    ({"torch", "cudart"}, "torch", "NVIDIA Fake (torch)"),
    ({"cudart"}, "cuda-python", "NVIDIA Fake (cudart)"),
])
def test_providers_are_tried_pycuda_then_torch_then_cuda_python(monkeypatch, available, library, gpu):
    install(monkeypatch, pycuda=fake_pycuda() if "pycuda" in available else None,
            torch=fake_torch() if "torch" in available else None,
            cudart=fake_cudart() if "cudart" in available else None)
    memory = device_memory.open_device_memory()
    assert (memory.library, memory.gpu_name) == (library, gpu)
    assert memory.stream_handle == {"pycuda": 11, "torch": 22, "cuda-python": 33}[library]


def test_a_library_that_cannot_reach_a_gpu_is_skipped(monkeypatch):
    # A pycuda whose cuInit fails and a CPU-only torch (the usual pip install) fall through to cuda-python.
    install(monkeypatch, pycuda=fake_pycuda(works=False), torch=fake_torch(cuda_build=False),
            legacy_cudart=fake_cudart())
    assert device_memory.open_device_memory().library == "cuda-python"  # the pre-12.6 `cuda.cudart` module


def test_no_provider_is_one_line_saying_why_each_failed(monkeypatch):
    install(monkeypatch, pycuda=fake_pycuda(works=False), torch=fake_torch(cuda_build=False))
    with pytest.raises(AvatarLiveError) as error:
        device_memory.open_device_memory()
    assert str(error.value) == ("no CUDA device memory for TensorRT (pycuda: cuInit failed: no CUDA-capable device is "
                                "detected; torch: no CUDA (a CPU-only build, or no GPU); cuda-python not installed); "
                                "pip install 'avatar-live[tensorrt]' on a machine with an NVIDIA GPU and driver")


def test_cuda_python_buffers_round_trip_and_are_freed(monkeypatch):
    rt = fake_cudart()
    install(monkeypatch, cudart=rt)
    memory = device_memory.open_device_memory()
    buffer = memory.allocate(16)
    buffer.host[:] = np.arange(16, dtype=np.uint8)
    memory.upload(buffer, 16)
    buffer.host[:] = 0
    memory.download(buffer, 8)
    memory.synchronize()
    assert buffer.host.tolist() == list(range(8)) + [0] * 8
    memory.close()
    assert rt.held == {}


@pytest.mark.parametrize(("installed", "reason"), [
    ({"tensorrt", "cuda.bindings"}, None),  # no toolkit and no torch: cuda-python is enough
    ({"tensorrt", "torch"}, None),
    ({"tensorrt"}, "no CUDA memory library (pycuda, torch or cuda-python) installed"),
    ({"pycuda", "torch"}, "TensorRT not installed"),
])
def test_select_needs_tensorrt_and_any_memory_library(monkeypatch, model, installed, reason):
    monkeypatch.setattr(select, "installed", lambda name: name in installed)
    assert select.unavailable_reason("tensorrt", select.ModelFiles(model)) == reason


def test_select_builds_tensorrt_first_and_it_matches_the_reference(trt, memory, model, tmp_path, monkeypatch, caplog):
    """With TensorRT and a GPU, `select_backend` builds the engine, says so, and its outputs
    agree with the model's own (here: the fake engine's formula) at every batch size."""
    from avatar_live.runtime.base import max_relative_error

    monkeypatch.setattr(select, "installed", lambda name: True)
    with caplog.at_level(logging.INFO, logger="avatar_live.runtime.select"):
        chosen = select.select_backend(select.ModelFiles(model), cache_dir=tmp_path)
    assert caplog.messages[-1] == "inference backend: tensorrt on cuda:0 (NVIDIA H200), fp16"
    images = np.random.default_rng(0).random((8, 3, 224, 224), dtype=np.float32)
    expected = images.reshape(8, -1).sum(axis=1, keepdims=True) * WEIGHTS
    for batch in (8, 3, 1):
        assert max_relative_error(chosen.run({"image": images[:batch]}), {"params": expected[:batch]}) < 1e-6
    chosen.close()

"""Inference backends: agreement with a float32 reference, selection, and the TensorRT engine cache.

There is no GPU here, so the TensorRT path runs against small stand-ins for `tensorrt` and
`pycuda.driver` installed in sys.modules. The stand-in engine executes the real ONNX file
with onnxruntime on the bytes in its fake device memory, so the backend's buffer handling
(shapes, copies, batch slicing) is checked end to end against the torch reference.
"""

from __future__ import annotations

import logging
import sys
import warnings

import numpy as np
import pytest
from conftest import requires_extra

# Before importing the extra's modules: a missing extra then skips this module instead of breaking collection.
requires_extra("emoca", "torch", "onnx", "onnxruntime")

import onnx
import torch

from avatar_live.errors import AvatarLiveError
from avatar_live.runtime import base, engine_cache, select
from avatar_live.runtime.base import (
    InferenceBackend,
    ModelFiles,
    check_against_reference,
    max_relative_error,
)
from avatar_live.runtime.onnxruntime_backend import OnnxRuntimeBackend
from avatar_live.runtime.select import select_backend
from avatar_live.runtime.torch_backend import TorchBackend


class TinyEncoder(torch.nn.Module):
    """224x224 RGB -> 7 parameters; small enough to export and run in milliseconds."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 8, 7, stride=8)
        self.head = torch.nn.Linear(8, 7)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(image)).mean(dim=(2, 3)))


def export(module: torch.nn.Module, path) -> None:
    with warnings.catch_warnings():
        # The legacy exporter is deprecated in favour of one that needs onnxscript (not a dependency).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module.eval(), (torch.zeros(1, 3, 224, 224),), str(path), input_names=["image"],
                          output_names=["params"], dynamic_axes={"image": {0: "batch"}, "params": {0: "batch"}},
                          dynamo=False)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    export(TinyEncoder(), path)
    return path


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).random((3, 3, 224, 224), dtype=np.float32)


def reference(images: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {"params": TinyEncoder().eval()(torch.from_numpy(images)).numpy()}


@pytest.fixture
def no_gpu(monkeypatch):
    """This machine as the tests assume it, whatever is really installed: no TensorRT, no CUDA."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setattr(select, "cuda_gpu", lambda: False)


def test_cpu_backends_match_float32_reference(model, images):
    expected = reference(images)
    with OnnxRuntimeBackend(model) as ort, TorchBackend(TinyEncoder, ["image"], ["params"]) as cpu:
        for backend in (ort, cpu):
            assert (backend.input_names, backend.output_names) == (("image",), ("params",))
            assert backend.precision == "fp32" and backend.device == "cpu"
            outputs = backend.run({"image": images})
            assert outputs["params"].dtype == np.float32 and outputs["params"].shape == (3, 7)
            assert max_relative_error(outputs, expected) < 1e-4
            # Batch 1 after batch 3: nothing is stuck to the first batch size.
            assert max_relative_error(backend.run({"image": images[1:2]}), {"params": expected["params"][1:2]}) < 1e-4
        assert check_against_reference(ort, cpu, {"image": images}, tolerance=1e-4) < 1e-4


def test_reference_check_fails_on_a_different_model(model, images):
    with OnnxRuntimeBackend(model) as ort, TorchBackend(lambda: TinyEncoder(seed=1), ["image"], ["params"]) as other:
        with pytest.raises(AvatarLiveError, match="disagrees"):
            check_against_reference(ort, other, {"image": images}, tolerance=1e-3)


def test_run_rejects_inputs_that_do_not_fit(model, images):
    with OnnxRuntimeBackend(model) as ort:
        with pytest.raises(AvatarLiveError, match="inputs are"):
            ort.run({"img": images})
    with pytest.raises(AvatarLiveError, match="same leading batch"):
        base.check_inputs({"a": np.zeros((2, 3)), "b": np.zeros((3, 3))}, ["a", "b"])


def test_select_uses_onnxruntime_without_gpu_and_says_why(model, images, no_gpu, caplog):
    with caplog.at_level(logging.INFO, logger="avatar_live.runtime.select"):
        backend = select_backend(ModelFiles(model, torch_factory=TinyEncoder))
    assert backend.name == "onnxruntime"
    assert caplog.messages == ["inference backend: onnxruntime on cpu, fp32; skipped tensorrt (TensorRT not "
                               "installed), torch-cuda (no CUDA GPU), onnxruntime-int8 (no INT8 model)"]
    assert max_relative_error(backend.run({"image": images}), reference(images)) < 1e-4


def test_select_falls_back_to_torch_cpu_without_onnxruntime(model, no_gpu, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with caplog.at_level(logging.INFO, logger="avatar_live.runtime.select"):
        backend = select_backend(ModelFiles(model, torch_factory=TinyEncoder))
    assert backend.name == "torch-cpu"
    assert "onnxruntime (ONNX Runtime not installed)" in caplog.text


class FakeBackend(InferenceBackend):
    def __init__(self, name: str) -> None:
        self.name, self.device, self.precision = name, "fake", "fp16"

    def run(self, inputs):
        return {}


@pytest.mark.parametrize(("missing", "gpu", "int8", "expected"), [
    (set(), True, True, "tensorrt"),
    ({"pycuda"}, True, True, "tensorrt"),  # torch or cuda-python give TensorRT its buffers too
    ({"tensorrt"}, True, True, "torch-cuda"),
    ({"tensorrt"}, False, True, "onnxruntime-int8"),
    ({"tensorrt"}, False, False, "onnxruntime"),
    ({"tensorrt", "onnxruntime"}, False, True, "torch-cpu"),
])
def test_select_order(monkeypatch, model, missing, gpu, int8, expected):
    monkeypatch.setattr(select, "installed", lambda name: name not in missing)
    monkeypatch.setattr(select, "cuda_gpu", lambda: gpu)
    monkeypatch.setattr(select, "create_backend", lambda name, *args, **kwargs: FakeBackend(name))
    files = ModelFiles(model, int8_onnx=model if int8 else None, torch_factory=TinyEncoder)
    assert select_backend(files).name == expected


def test_select_skips_a_backend_that_fails_to_start(monkeypatch, model, caplog):
    monkeypatch.setattr(select, "installed", lambda name: True)
    monkeypatch.setattr(select, "cuda_gpu", lambda: True)

    def create(name, *args, **kwargs):
        if name == "tensorrt":
            raise AvatarLiveError("TensorRT cannot parse tiny.onnx")
        return FakeBackend(name)

    monkeypatch.setattr(select, "create_backend", create)
    with caplog.at_level(logging.INFO, logger="avatar_live.runtime.select"):
        assert select_backend(ModelFiles(model, torch_factory=TinyEncoder)).name == "torch-cuda"
    assert "skipped tensorrt (TensorRT cannot parse tiny.onnx)" in caplog.text


def test_forced_backends(model, no_gpu, caplog):
    with caplog.at_level(logging.INFO, logger="avatar_live.runtime.select"):
        assert select_backend(ModelFiles(model, torch_factory=TinyEncoder), prefer="torch-cpu").name == "torch-cpu"
    assert "(forced)" in caplog.text
    assert select_backend(ModelFiles(model), prefer="onnxruntime").name == "onnxruntime"
    with pytest.raises(AvatarLiveError, match="'tensorrt' is not available here: TensorRT not installed"):
        select_backend(ModelFiles(model, torch_factory=TinyEncoder), prefer="tensorrt")
    with pytest.raises(AvatarLiveError, match="'torch-cuda' is not available here: no CUDA GPU"):
        select_backend(ModelFiles(model, torch_factory=TinyEncoder), prefer="torch-cuda")
    with pytest.raises(AvatarLiveError, match="'torch-cpu' is not available here: no torch model"):
        select_backend(ModelFiles(model), prefer="torch-cpu")
    with pytest.raises(AvatarLiveError, match="'onnxruntime-int8' is not available here: no INT8 model"):
        select_backend(ModelFiles(model), prefer="onnxruntime-int8")
    with pytest.raises(AvatarLiveError, match="unknown inference backend 'cuda'"):
        select_backend(ModelFiles(model, torch_factory=TinyEncoder), prefer="cuda")


def test_torch_cuda_backend_needs_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(AvatarLiveError, match="no CUDA GPU"):
        TorchBackend(TinyEncoder, ["image"], ["params"], device="cuda")



# ---- INT8 ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    """Smooth random images (quantization ranges from pure noise would say little)."""
    rng = np.random.default_rng(3)
    coarse = rng.random((24, 3, 14, 14), dtype=np.float32)
    return np.ascontiguousarray(coarse.repeat(16, axis=2).repeat(16, axis=3))


def test_int8_copy_agrees_with_float32_and_is_the_cpu_choice(model, crops, no_gpu, tmp_path, caplog):
    from avatar_live.encoders import quantize

    int8_path = tmp_path / "tiny.int8.onnx"
    deviation = quantize.quantize_encoder(model, int8_path, crops)
    assert 0 < deviation <= quantize.MAX_DEVIATION
    with caplog.at_level(logging.INFO, logger="avatar_live.runtime.select"):
        backend = select_backend(ModelFiles(model, int8_onnx=int8_path, torch_factory=TinyEncoder))
    assert backend.name == "onnxruntime-int8" and backend.precision == "int8"
    assert caplog.messages[0].startswith("inference backend: onnxruntime-int8 on cpu, int8")
    unseen = crops[:5] * 0.9 + 0.05  # not the calibration batch
    assert max_relative_error(backend.run({"image": unseen}), reference(unseen)) < quantize.MAX_DEVIATION
    assert "QuantizeLinear" in {node.op_type for node in onnx.load(str(int8_path)).graph.node}


def test_an_int8_copy_that_deviates_too_much_is_not_written(model, crops, tmp_path, monkeypatch):
    from avatar_live.encoders import quantize

    monkeypatch.setattr(quantize, "MAX_DEVIATION", 1e-9)
    with pytest.raises(AvatarLiveError, match=r"INT8 encoder deviates .* from float32"):
        quantize.quantize_encoder(model, tmp_path / "tiny.int8.onnx", crops)
    assert list(tmp_path.iterdir()) == []


# ---- TensorRT stand-ins -----------------------------------------------------------------

def test_engine_key_holds_everything_an_engine_depends_on():
    key = engine_cache.engine_key(b"onnx", "10.3.0", "NVIDIA GeForce RTX 4090", "fp16")
    assert str(key) == f"{key.onnx_sha256}_trt10.3.0_nvidia-geforce-rtx-4090_fp16"
    assert len(key.onnx_sha256) == 16
    variants = [engine_cache.engine_key(b"onnx2", "10.3.0", "NVIDIA GeForce RTX 4090", "fp16"),
                engine_cache.engine_key(b"onnx", "10.4.0", "NVIDIA GeForce RTX 4090", "fp16"),
                engine_cache.engine_key(b"onnx", "10.3.0", "NVIDIA H100 80GB HBM3", "fp16"),
                engine_cache.engine_key(b"onnx", "10.3.0", "NVIDIA GeForce RTX 4090", "fp32")]
    assert len({str(k) for k in variants} | {str(key)}) == 5
    assert engine_cache.sanitise("../Quadro RTX/8000 ") == "..-quadro-rtx-8000"


def test_a_fresh_engine_that_will_not_load_is_an_error(tmp_path, model):
    with pytest.raises(AvatarLiveError, match="cannot load"):
        engine_cache.load_or_build(model, tensorrt_version="10", gpu_name="gpu", precision="fp16",
                                   build=lambda onnx: b"junk", deserialize=lambda data: None, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing unusable was cached

"""The torch backend's device-independent logic, on the CPU: uint8 upload, branches, compile fallback, gpu_check.

The CUDA-only parts (graphs, streams, pinned buffers, inductor) run in
`benchmarks/gpu_check.py` on a GPU machine; here the same functions run on CPU tensors.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_extra

requires_extra("emoca", "torch")

import torch

from avatar_live.encoders import crop
from avatar_live.encoders.emoca_model import (
    CODE_SIZES,
    EExpression,
    EFlame,
    EmocaEncoder,
    ResnetRegressor,
)
from avatar_live.errors import AvatarLiveError
from avatar_live.runtime.base import max_relative_error
from avatar_live.runtime.torch_backend import TorchBackend
from avatar_live.torch_runner import TorchRunner, prepare_input, run_branches
from avatar_live.torch_runner import max_relative_error as torch_max_relative_error

REPO = Path(__file__).resolve().parents[1]


class SmallEncoder(EmocaEncoder):
    """EmocaEncoder's structure (two regressors, `branches`/`combine`) with tiny trunks, for speed."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        super().__init__(EFlame(), EExpression())
        for branch in self.branches():
            branch.encoder = torch.nn.Sequential(torch.nn.Conv2d(3, 2048, 16, stride=16), torch.nn.AdaptiveAvgPool2d(1),
                                                 torch.nn.Flatten())


@pytest.fixture
def pixels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)


def test_crop_size_matches_the_crop_module():
    from avatar_live.encoders.emoca_model import CROP_SIZE

    assert CROP_SIZE == crop.CROP_SIZE


def test_uint8_nhwc_is_converted_like_the_float_crop(pixels):
    # What crop_face gives the float path: uint8 / 255 in float32, then NCHW.
    expected = torch.from_numpy((pixels.astype(np.float32) / 255.0).transpose(0, 3, 1, 2).copy())
    for channels_last in (False, True):
        got = prepare_input(torch.from_numpy(pixels), torch.float32, channels_last)
        assert got.shape == (2, 3, 224, 224) and torch.equal(got, expected)
        layout = torch.channels_last if channels_last else torch.contiguous_format
        assert got.is_contiguous(memory_format=layout)
    assert prepare_input(expected, torch.float16, True).dtype == torch.float16
    with pytest.raises(ValueError, match="B x H x W x 3"):
        prepare_input(torch.zeros(2, 3, 224, 224, dtype=torch.uint8), torch.float32, False)


def test_backend_gives_the_same_codes_for_uint8_and_float_images(pixels):
    floats = (pixels.astype(np.float32) / 255.0).transpose(0, 3, 1, 2)
    with TorchBackend(SmallEncoder, ["image"], list(CODE_SIZES)) as backend:
        assert backend.accepts_uint8_nhwc
        from_float = backend.run({"image": floats})
        from_uint8 = backend.run({"image": pixels})
        assert max_relative_error(from_uint8, from_float) == 0.0
        with torch.no_grad():
            expected = dict(zip(CODE_SIZES, SmallEncoder().eval()(torch.from_numpy(floats.copy()))))
        assert max_relative_error(from_float, {name: value.numpy() for name, value in expected.items()}) < 1e-6
        with pytest.raises(AvatarLiveError, match="B x H x W x 3"):
            backend.run({"image": pixels[:, :, :, :2]})


def test_branches_fork_join_equals_the_module():
    model = SmallEncoder().eval()
    image = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        expected = model(image)
        got = run_branches(model.branches(), model.combine, [image])
    assert len(got) == len(CODE_SIZES) and all(torch.equal(a, b) for a, b in zip(got, expected))
    assert [branch.outputs for branch in model.branches()] == [236, 50]
    assert all(isinstance(branch, ResnetRegressor) for branch in model.branches())


def test_runner_with_branches_equals_the_module_and_names_outputs():
    image = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        expected = dict(zip(CODE_SIZES, SmallEncoder().eval()(image)))
    runner = TorchRunner(SmallEncoder(), CODE_SIZES, channels_last=True)
    got = runner.run([image])
    assert list(got) == list(CODE_SIZES)
    assert torch_max_relative_error(got, expected) < 1e-5
    runner.close()
    with pytest.raises(AvatarLiveError, match="closed"):
        runner.run([image])


def test_relative_error_in_torch_matches_numpy():
    rng = np.random.default_rng(1)
    reference = {"a": rng.normal(size=(2, 5)).astype(np.float32), "b": rng.normal(size=(2, 3)).astype(np.float32)}
    outputs = {name: value + rng.normal(scale=1e-3, size=value.shape).astype(np.float32)
               for name, value in reference.items()}
    as_torch = {name: torch.from_numpy(value) for name, value in outputs.items()}
    expected = max_relative_error(outputs, reference)
    assert torch_max_relative_error(as_torch, {n: torch.from_numpy(v) for n, v in reference.items()}) == pytest.approx(expected)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """Keep inductor's settings and the compile markers in a temporary folder."""
    monkeypatch.setenv("AVATAR_LIVE_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    monkeypatch.setenv("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
    return tmp_path


def test_compile_that_cannot_start_warns_and_runs_eager(cache, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("no inductor here")

    monkeypatch.setattr(torch, "compile", broken)
    image = torch.rand(1, 3, 224, 224)
    with caplog.at_level(logging.WARNING, logger="avatar_live.torch_runner"):
        runner = TorchRunner(SmallEncoder(), CODE_SIZES, compile=True)
    assert not runner.compiled
    assert "torch.compile is not usable here (RuntimeError: no inductor here)" in caplog.text
    assert set(runner.run([image])) == set(CODE_SIZES)


def test_compile_that_fails_on_first_call_warns_and_runs_eager(cache, monkeypatch, caplog):
    def failing_on_call(module, **kwargs):
        def call(*args):
            raise RuntimeError("inductor lowering failed")
        return call

    monkeypatch.setattr(torch, "compile", failing_on_call)
    image = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        expected = dict(zip(CODE_SIZES, SmallEncoder().eval()(image)))
    runner = TorchRunner(SmallEncoder(), CODE_SIZES, compile=True)
    assert runner.compiled
    with caplog.at_level(logging.INFO, logger="avatar_live.torch_runner"):
        got = runner.run([image])
    assert "compiling the EMOCA encoder for this CPU (about a minute, once)" in caplog.messages
    assert "compiling the EMOCA encoder failed (RuntimeError: inductor lowering failed); running it uncompiled" \
        in caplog.messages
    assert not runner.compiled
    assert torch_max_relative_error(got, expected) < 1e-5
    assert not (cache / "inductor" / "compiled").exists()  # no marker: the next start tries again


BLOCKED = ("numpy", "cv2", "mediapipe", "platformdirs", "onnx")


def test_gpu_check_dry_run_needs_only_torch(tmp_path):
    out = tmp_path / "result.json"
    wrapper = (f"import runpy, sys\n"
               f"for name in {BLOCKED!r}: sys.modules[name] = None\n"
               f"sys.argv = ['gpu_check.py', '--device', 'cpu', '--iters', '2', '--batches', '1', '--out', {str(out)!r}]\n"
               f"runpy.run_path('benchmarks/gpu_check.py', run_name='__main__')\n")
    result = subprocess.run([sys.executable, "-c", wrapper], cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": ""},
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "| configuration | batch | host median ms |" in result.stdout
    assert "| + uint8 upload | 1 |" in result.stdout
    assert '"rows"' in out.read_text()


def test_gpu_check_without_a_gpu_says_so_in_one_line():
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    result = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--iters", "1"], cwd=REPO,
                            env={"PYTHONPATH": str(REPO), "PATH": ""}, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no CUDA GPU" in result.stderr

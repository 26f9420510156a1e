"""Where TensorRT engines are cached by default: per user, never in the checkout or installation.

No TensorRT is needed: building and deserialising are callables (see test_runtime.py for the
cache's reuse and rebuild rules, which need torch to make ONNX files).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import platformdirs

import avatar_live
from avatar_live.runtime import engine_cache

REPO = Path(__file__).resolve().parents[1]


def _load(onnx: Path, build: Callable[[bytes], bytes]) -> bytes:
    """Load (or build and cache) a stand-in engine for `onnx` in the default cache."""
    return engine_cache.load_or_build(onnx, tensorrt_version="10.3", gpu_name="Fake GPU", precision="fp16",
                                      build=build, deserialize=lambda data: data)


def test_the_default_cache_is_the_users_cache_folder(monkeypatch):
    monkeypatch.delenv("AVATAR_LIVE_CACHE", raising=False)
    default = engine_cache.default_cache_dir()
    assert default == platformdirs.user_cache_path("avatar-live") / "engines"
    for installed in (REPO, Path(avatar_live.__file__).parent):
        assert not default.resolve().is_relative_to(installed.resolve())


def test_avatar_live_cache_moves_the_cache_which_is_created_on_first_write(monkeypatch, tmp_path):
    base = tmp_path / "cache"
    monkeypatch.setenv("AVATAR_LIVE_CACHE", str(base))
    onnx = tmp_path / "tiny.onnx"
    onnx.write_bytes(b"onnx")
    builds: list[bytes] = []

    def build(onnx_bytes: bytes) -> bytes:
        builds.append(onnx_bytes)
        return b"engine:" + onnx_bytes

    assert engine_cache.default_cache_dir() == base / "engines" and not base.exists()
    assert _load(onnx, build) == b"engine:onnx"
    (cached,) = (base / "engines").iterdir()
    assert cached.name.startswith("tiny.") and cached.name.endswith("_fake-gpu_fp16.engine")
    assert _load(onnx, build) == b"engine:onnx" and len(builds) == 1  # the second load came from the cache

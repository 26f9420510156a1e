"""On-disk cache of TensorRT engines, keyed by what makes an engine valid.

An engine only runs on the TensorRT version and GPU model that built it, for the ONNX
file it was built from, at the precision it was built with. The key holds all four:
``sha256(onnx bytes)[:16]``, the TensorRT version, the sanitised GPU name and the
precision. The key is in the file name, so engines for several GPUs can share a folder,
and again in a header inside the file, so a file copied or renamed from elsewhere is
recognised as foreign and rebuilt instead of handed to TensorRT.

Engines are cached per user, outside the installation: in `engines/` under the user
cache folder (platformdirs', e.g. `~/.cache/avatar-live` on Linux), or under
`$AVATAR_LIVE_CACHE` when that is set. The folder is created on the first write.

This module knows nothing about TensorRT itself: building and deserialising are
callables, which keeps the logic testable without a GPU.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from avatar_live.errors import AvatarLiveError
from avatar_live.user_folders import cache_folder

log = logging.getLogger(__name__)

MAGIC = b"AVATAR-LIVE-TRT-ENGINE 1\n"

Engine = TypeVar("Engine")


@dataclass(frozen=True)
class EngineKey:
    """What an engine was built from and for."""

    onnx_sha256: str  # first 16 hex digits of the ONNX file's sha256
    tensorrt_version: str
    gpu_name: str  # sanitised: lower case, [a-z0-9-] only
    precision: str  # "fp16" or "fp32"

    def __str__(self) -> str:
        return f"{self.onnx_sha256}_trt{self.tensorrt_version}_{self.gpu_name}_{self.precision}"


def default_cache_dir() -> Path:
    """The engine cache used when none is given.

    Returns:
        `$AVATAR_LIVE_CACHE/engines` when that variable is set, else `engines/` in the user
        cache folder (e.g. `~/.cache/avatar-live/engines` on Linux). It may not exist yet.
    """
    return cache_folder() / "engines"


def sanitise(text: str) -> str:
    """Lower case, runs of anything but letters, digits, '.' and '-' made one '-'; safe in file names."""
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-") or "unknown"


def engine_key(onnx_bytes: bytes, tensorrt_version: str, gpu_name: str, precision: str) -> EngineKey:
    """The cache key of an engine built from `onnx_bytes` with this TensorRT, GPU and precision."""
    return EngineKey(hashlib.sha256(onnx_bytes).hexdigest()[:16], sanitise(tensorrt_version),
                     sanitise(gpu_name), precision)


def engine_path(cache_dir: Path, onnx_path: Path, key: EngineKey) -> Path:
    """Where the engine for `key` is stored: ``<cache_dir>/<onnx stem>.<key>.engine``."""
    return cache_dir / f"{onnx_path.stem}.{key}.engine"


def read_engine(path: Path, key: EngineKey) -> bytes | None:
    """The serialized engine stored at `path`, or None when it is missing or not built for `key`."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    header = MAGIC + str(key).encode() + b"\n"
    if not data.startswith(header):
        log.info("cached TensorRT engine %s was built for something else (stale or foreign); rebuilding", path.name)
        return None
    return data[len(header):]


def write_engine(path: Path, key: EngineKey, serialized: bytes) -> None:
    """Store an engine with its key header; atomically, so a crash never leaves half a file under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(MAGIC + str(key).encode() + b"\n" + serialized)
    os.replace(partial, path)


def load_or_build(onnx_path: str | Path, *, tensorrt_version: str, gpu_name: str, precision: str,
                  build: Callable[[bytes], bytes], deserialize: Callable[[bytes], Engine | None],
                  cache_dir: str | Path | None = None) -> Engine:
    """Load the cached engine for an ONNX file, building (and caching) it when needed.

    Args:
        onnx_path: the ONNX model.
        tensorrt_version: `tensorrt.__version__`.
        gpu_name: the GPU's marketing name, e.g. "NVIDIA H100 80GB HBM3".
        precision: "fp16" or "fp32".
        build: ONNX bytes -> serialized engine bytes (slow: minutes).
        deserialize: serialized engine -> engine, or None (or an exception) when the
            bytes are not a valid engine.
        cache_dir: the cache folder (default: `default_cache_dir()`).

    Returns:
        The deserialized engine.

    Raises:
        AvatarLiveError: the ONNX file is missing, or a freshly built engine does not deserialize.
    """
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise AvatarLiveError(f"ONNX model not found: {onnx_path}")
    onnx_bytes = onnx_path.read_bytes()
    key = engine_key(onnx_bytes, tensorrt_version, gpu_name, precision)
    path = engine_path(Path(cache_dir) if cache_dir is not None else default_cache_dir(), onnx_path, key)

    cached = read_engine(path, key)
    if cached is not None:
        engine = _try_deserialize(deserialize, cached)
        if engine is not None:
            log.info("loaded cached TensorRT engine %s", path)
            return engine
        log.warning("cached TensorRT engine %s is corrupt or truncated; rebuilding it", path)

    serialized = build(onnx_bytes)
    engine = _try_deserialize(deserialize, serialized)
    if engine is None:
        raise AvatarLiveError(f"TensorRT built an engine for {onnx_path.name} that it cannot load")
    write_engine(path, key, serialized)
    log.info("cached TensorRT engine %s", path)
    return engine


def _try_deserialize(deserialize: Callable[[bytes], Engine | None], data: bytes) -> Engine | None:
    try:
        return deserialize(data)
    except Exception as error:  # TensorRT raises plain RuntimeErrors on bad engine bytes
        log.debug("engine deserialization failed: %s", error)
        return None

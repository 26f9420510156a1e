"""Model files: numpy archives of named arrays plus a JSON description, checked on load.

A file holds `meta` (JSON: at least `kind` and `format`) and the arrays its model needs.
The shipped files sit in `weights/` with their SHA-256 in `weights/SHA256SUMS` (the format
of `sha256sum`, so `sha256sum -c SHA256SUMS` checks them too); a file that does not match
is reported as corrupt before numpy reads a byte of it. Archives are read with
`allow_pickle=False`: a model file cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

from avatar_live.errors import AvatarLiveError

Model = TypeVar("Model")

FORMAT = 1
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CHECKSUMS = "SHA256SUMS"


def shipped(name: str) -> Path:
    """The path of a shipped model file ("expression.npz", ...)."""
    return WEIGHTS_DIR / name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checksums(folder: Path) -> dict[str, str]:
    """File name -> SHA-256 from a folder's `SHA256SUMS` (empty when there is none)."""
    listing = folder / CHECKSUMS
    if not listing.is_file():
        return {}
    sums = {}
    for line in listing.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest
    return sums


def write_checksum(path: Path) -> str:
    """Record a file's SHA-256 in its folder's `SHA256SUMS` (replacing an older line)."""
    sums = read_checksums(path.parent)
    sums[path.name] = sha256_of(path)
    text = "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))
    (path.parent / CHECKSUMS).write_text(text)
    return sums[path.name]


def save_model(path: Path, kind: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write a model file atomically (a failed write leaves the old file in place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, meta=np.array(json.dumps({"kind": kind, "format": FORMAT, **meta}, sort_keys=True)),
             **arrays)
    os.replace(partial, path)


def load_model(path: Path, kind: str, rebuild: str) -> tuple[dict[str, np.ndarray], dict]:
    """Read and check a model file.

    Args:
        path: the file.
        kind: the `kind` it must declare ("expression", "emotion").
        rebuild: the command that makes it again, for error messages.

    Returns:
        The arrays by name (without `meta`) and the parsed `meta`.

    Raises:
        AvatarLiveError: the file is missing, does not match its recorded checksum, is
            not a readable archive, or is not a `kind` model of this format.
    """
    if not path.is_file():
        raise AvatarLiveError(f"model file {path} is missing: reinstall avatar-live or rebuild it with `{rebuild}`")
    expected = read_checksums(path.parent).get(path.name)
    if expected is not None and sha256_of(path) != expected:
        raise AvatarLiveError(f"model file {path} is corrupt (its SHA-256 does not match {CHECKSUMS}): "
                              f"reinstall avatar-live or rebuild it with `{rebuild}`")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise AvatarLiveError(f"model file {path} is unreadable ({type(exc).__name__}): reinstall avatar-live "
                              f"or rebuild it with `{rebuild}`") from None
    if meta.get("kind") != kind or meta.get("format") != FORMAT:
        raise AvatarLiveError(f"model file {path} is not a format-{FORMAT} {kind} model "
                              f"(it says kind {meta.get('kind')!r}, format {meta.get('format')!r})")
    return arrays, meta


STORED_MATRIX = np.float16
"""Weight matrices are stored in half precision (read back as float32): it halves the files,
and a relative error of 1e-3 on each weight moves the models' outputs by less than their
own frame-to-frame noise."""


def load_checked(path: Path, kind: str, rebuild: str, build: Callable[[dict[str, np.ndarray]], Model]) -> Model:
    """Read a model file (`load_model`) and build the model from its arrays.

    Raises:
        AvatarLiveError: as `load_model`, or the arrays do not make a valid model.
    """
    arrays, _ = load_model(path, kind, rebuild)
    try:
        return build(arrays)
    except (KeyError, ValueError) as exc:
        raise AvatarLiveError(f"model file {path} is not a usable {kind} model ({exc}): "
                              f"rebuild it with `{rebuild}`") from None


def mlp_arrays(prefix: str, weights, biases) -> dict[str, np.ndarray]:
    """An Mlp's layers as named arrays: `<prefix>.<n>.weight`, `<prefix>.<n>.bias`."""
    arrays = {}
    for n, (weight, bias) in enumerate(zip(weights, biases)):
        arrays[f"{prefix}.{n}.weight"] = np.asarray(weight, STORED_MATRIX)
        arrays[f"{prefix}.{n}.bias"] = np.asarray(bias, np.float32)
    return arrays


def mlp_layers(arrays: dict[str, np.ndarray], prefix: str) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The layers `mlp_arrays` wrote, in order."""
    count = sum(1 for name in arrays if name.startswith(f"{prefix}.") and name.endswith(".weight"))
    weights = tuple(arrays[f"{prefix}.{n}.weight"].astype(np.float32) for n in range(count))
    biases = tuple(arrays[f"{prefix}.{n}.bias"].astype(np.float32) for n in range(count))
    return weights, biases

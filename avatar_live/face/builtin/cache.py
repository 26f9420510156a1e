"""The built-in head kept on disk between runs, since building it takes about a second.

An entry is one compressed .npz of the `Rig`'s arrays (read with allow_pickle=False) in
the user cache folder, named by a hash of everything the build depends on: the source of
this package and of the modules outside it that it imports (`BUILD_DEPENDENCIES`), the
look, numpy's version and the machine. So an entry holds exactly what a fresh build here
returns, and editing the builder starts new entries (old ones are left; about 250 kB
each). Entries are written to a temporary file and renamed into place, so a reader never
sees half of one. The cache only ever saves time: an entry that cannot be read is built
again and rewritten, and a cache folder that cannot be written is passed over.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from avatar_live import types as avatar_types
from avatar_live.face import rig as rig_module
from avatar_live.face.builtin.look import Look
from avatar_live.face.rig import LandmarkEmbedding, Rig
from avatar_live.tracking import topology
from avatar_live.user_folders import cache_folder

log = logging.getLogger(__name__)

BUILD_DEPENDENCIES = (avatar_types, rig_module, topology)
"""The avatar_live modules outside this package that the build imports; their source is
part of an entry's key (tests/test_startup.py checks that the list is complete)."""

UNREADABLE_ENTRY = (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error)
"""What reading a damaged, truncated or foreign .npz raises."""


def cached_head(look: Look, build: Callable[[Look], Rig]) -> Rig:
    """The head for `look` from the cache, or `build(look)`, then stored for the next run."""
    path = entry_path(look)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return rig_from_arrays(arrays)
    except FileNotFoundError:
        pass
    except UNREADABLE_ENTRY as exc:
        log.debug("the cached built-in head %s is unreadable (%s): building it again", path, exc)
    rig = build(look)
    _store(rig_to_arrays(rig), path)
    return rig


def entry_path(look: Look) -> Path:
    """Where the entry for `look` built by this code, numpy and machine lives."""
    key = hashlib.sha256()
    package = Path(__file__).parent
    sources = sorted(package.glob("*.py")) + [Path(module.__file__) for module in BUILD_DEPENDENCIES]
    for source in sources:
        key.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    key.update(f"{look!r}\0numpy {np.__version__}\0{platform.machine()}".encode())
    return cache_folder() / "builtin-head" / f"{key.hexdigest()[:32]}.npz"


def rig_to_arrays(rig: Rig) -> dict[str, np.ndarray]:
    """Every field of the rig as an array (names and numbers as 0-d or string arrays)."""
    return {
        "name": np.array(rig.name),
        "vertices": rig.vertices,
        "faces": rig.faces,
        "materials": rig.materials,
        "colors": rig.colors,
        "blendshape_names": np.array(rig.blendshape_names),
        "blendshapes": rig.blendshapes,
        "joints": rig.joints,
        "skin_weights": rig.skin_weights,
        "embedding.landmark_indices": rig.embedding.landmark_indices,
        "embedding.face_idx": rig.embedding.face_idx,
        "embedding.bary": rig.embedding.bary,
        "eye_scale": np.array(rig.eye_scale),
    }


def rig_from_arrays(arrays) -> Rig:
    """The rig that `rig_to_arrays` turned into `arrays` (a mapping, such as an NpzFile).

    Raises:
        KeyError: a field is missing.
    """
    return Rig(
        name=str(arrays["name"]),
        vertices=arrays["vertices"],
        faces=arrays["faces"],
        materials=arrays["materials"],
        colors=arrays["colors"],
        blendshape_names=tuple(str(name) for name in arrays["blendshape_names"]),
        blendshapes=arrays["blendshapes"],
        joints=arrays["joints"],
        skin_weights=arrays["skin_weights"],
        embedding=LandmarkEmbedding(
            landmark_indices=arrays["embedding.landmark_indices"],
            face_idx=arrays["embedding.face_idx"],
            bary=arrays["embedding.bary"],
        ),
        eye_scale=float(arrays["eye_scale"]),
    )


def _store(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write the entry atomically; a folder that cannot be written (read-only, full) only
    costs the next run the build."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    except OSError as exc:
        log.debug("cannot cache the built-in head in %s: %s", path.parent, exc)
        return
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez_compressed(file, **arrays)
        os.replace(temporary, path)
    except OSError as exc:
        log.debug("cannot cache the built-in head in %s: %s", path.parent, exc)
        with contextlib.suppress(OSError):
            os.remove(temporary)

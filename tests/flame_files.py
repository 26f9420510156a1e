"""Test files in the official FLAME formats, made from random but well-formed arrays.

No FLAME data is used: the bases are random, the mesh a UV sphere with two eyeballs.
What matches the real files is the format: a Python-2-style pickle (protocol 2) of a dict
whose arrays are partly `chumpy.ch.Ch` objects (a stand-in class registered as
`chumpy.ch` only while pickling, so the bytes name `chumpy.ch Ch` like the real files),
a scipy sparse `J_regressor`, FLAME's key names, sizes and joint tree; and the landmark
embeddings of EMOCA/MICA (`.npz`) and DECA (`.npy` of a pickled dict).
"""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path
from typing import BinaryIO

import numpy as np
import scipy.sparse

N_VERTICES = 5023
N_FACES = 9976
EYE_VERTICES = 546  # per eyeball
JOINT_TARGETS = np.array([
    [0.0, -0.10, -0.02],   # global: base of the neck
    [0.0, -0.06, -0.02],   # neck
    [0.0, -0.03, 0.00],    # jaw hinge
    [0.035, 0.03, 0.06],   # left eye (subject's left is +x)
    [-0.035, 0.03, 0.06],  # right eye
])
JAW, LEFT_EYE, RIGHT_EYE = 2, 3, 4


class Ch:
    """Pickles like a plain chumpy `Ch`: a new-style object whose state holds `x`."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = np.asarray(x, np.float64)
        self._dirty_vars = set()
        self._itr = None
        self._depends_on_deps = {}
        self._make_dense = False
        self._make_sparse = False


def _sphere(n: int, radius: np.ndarray, centre: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Fibonacci points: even coverage without a grid; a little noise keeps them generic.
    i = np.arange(n) + 0.5
    polar = np.arccos(1 - 2 * i / n)
    azimuth = np.pi * (1 + 5 ** 0.5) * i
    unit = np.stack([np.sin(polar) * np.cos(azimuth), np.cos(polar), np.sin(polar) * np.sin(azimuth)], axis=1)
    return centre + unit * radius + rng.normal(0, 1e-4, (n, 3))


def flame_arrays(seed: int = 0) -> dict[str, object]:
    """The dict a FLAME pickle holds, at FLAME's sizes, with chumpy-style and sparse entries.

    Lower-front head vertices are skinned partly to the jaw; each eyeball's vertices fully
    to its eye joint; neck and jaw correctives touch only vertices that joint moves.
    """
    rng = np.random.default_rng(seed)
    n_head = N_VERTICES - 2 * EYE_VERTICES
    head = _sphere(n_head, np.array([0.08, 0.11, 0.095]), np.zeros(3), rng)
    eyes = [_sphere(EYE_VERTICES, np.full(3, 0.012), JOINT_TARGETS[k], rng) for k in (LEFT_EYE, RIGHT_EYE)]
    v_template = np.concatenate([head] + eyes)

    weights = np.zeros((N_VERTICES, 5))
    y = head[:, 1]
    neck_share = np.clip((y + 0.11) / 0.04, 0.0, 1.0)  # below the chin the global joint takes over
    jaw_share = np.clip((-0.01 - y) / 0.04, 0.0, 1.0) * (head[:, 2] > 0.02) * neck_share
    weights[:n_head, 0] = 1 - neck_share
    weights[:n_head, 1] = neck_share - jaw_share
    weights[:n_head, JAW] = jaw_share
    weights[n_head:n_head + EYE_VERTICES, LEFT_EYE] = 1
    weights[n_head + EYE_VERTICES:, RIGHT_EYE] = 1

    regressor = np.zeros((5, N_VERTICES))
    for j, target in enumerate(JOINT_TARGETS):
        nearest = np.argsort(np.linalg.norm(v_template - target, axis=1))[:8]
        regressor[j, nearest] = 1 / 8

    shapedirs = rng.normal(0, 1e-3, (N_VERTICES, 3, 400))
    posedirs = np.zeros((N_VERTICES, 3, 36))
    for j in (1, JAW):  # eyeballs are rigid: no correctives for the eye joints
        moved = weights[:, j] > 0
        posedirs[moved, :, (j - 1) * 9:j * 9] = rng.normal(0, 2e-3, (moved.sum(), 3, 9))

    # A strip triangulation over consecutive vertices: valid indices, FLAME's face count.
    start = np.arange(N_FACES) % (N_VERTICES - 2)
    faces = np.stack([start, start + 1, start + 2], axis=1).astype(np.uint32)

    kintree = np.array([[2 ** 32 - 1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64)
    return {
        "v_template": Ch(v_template),
        "f": faces,
        "shapedirs": Ch(shapedirs),
        "posedirs": posedirs,
        "J_regressor": scipy.sparse.csc_matrix(regressor),
        "weights": Ch(weights),
        "kintree_table": kintree,
        "J": Ch(regressor @ v_template),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def write_pickle_as_python2(target: Path | BinaryIO, obj: object, protocol: int = 2) -> None:
    """Pickle (protocol 2, as FLAME's files) while `Ch` is importable as `chumpy.ch.Ch`.

    `target` is a path or a binary stream.
    """
    chumpy = types.ModuleType("chumpy")
    chumpy_ch = types.ModuleType("chumpy.ch")
    chumpy_ch.Ch = Ch
    chumpy.ch = chumpy_ch
    saved = (Ch.__module__, Ch.__qualname__)
    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    sys.modules.update({"chumpy": chumpy, "chumpy.ch": chumpy_ch})
    try:
        if isinstance(target, Path):
            target.write_bytes(pickle.dumps(obj, protocol=protocol))
        else:
            pickle.dump(obj, target, protocol=protocol)
    finally:
        Ch.__module__, Ch.__qualname__ = saved
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


def write_flame(path: Path, seed: int = 0, **changes: object) -> Path:
    """A FLAME-format pickle; `changes` replace (or, with value None, drop) entries."""
    write_pickle_as_python2(path, _changed(flame_arrays(seed), changes))
    return path


def _changed(content: dict[str, object], changes: dict[str, object]) -> dict[str, object]:
    """`content` with entries replaced by `changes`, or dropped where the change is None."""
    merged = {**content, **changes}
    return {key: value for key, value in merged.items() if value is not None}


def embedding_arrays(n: int = 105, seed: int = 1) -> dict[str, np.ndarray]:
    """MediaPipe landmark embedding arrays (EMOCA v2 / MICA layout): n landmarks."""
    rng = np.random.default_rng(seed)
    bary = rng.uniform(0.05, 1.0, (n, 3))
    return {
        "lmk_face_idx": rng.choice(N_FACES, n, replace=False).astype(np.int64),
        "lmk_b_coords": bary / bary.sum(axis=1, keepdims=True),
        "landmark_indices": np.sort(rng.choice(478, n, replace=False)).astype(np.int64),
    }


def write_mediapipe_embedding(path: Path, **changes: object) -> Path:
    """`mediapipe_landmark_embedding.npz`; `changes` replace arrays."""
    np.savez(path, **_changed(embedding_arrays(), changes))
    return path


def write_deca_embedding(path: Path, **changes: object) -> Path:
    """DECA's `landmark_embedding.npy`: a dict pickled by np.save; `changes` replace entries."""
    rng = np.random.default_rng(2)
    static = embedding_arrays(51, seed=3)
    bary = rng.uniform(0.05, 1.0, (79, 17, 3))
    content: dict[str, object] = {
        "static_lmk_faces_idx": static["lmk_face_idx"],
        "static_lmk_bary_coords": static["lmk_b_coords"],
        "dynamic_lmk_faces_idx": rng.integers(0, N_FACES, (79, 17)),
        "dynamic_lmk_bary_coords": bary / bary.sum(axis=2, keepdims=True),
        "full_lmk_faces_idx": rng.integers(0, N_FACES, (1, 68)),
        "full_lmk_bary_coords": np.full((1, 68, 3), 1 / 3),
    }
    np.save(path, _changed(content, changes), allow_pickle=True)
    return path

"""Landmark embeddings on the FLAME mesh: where tracked landmarks sit on its triangles.

- `mediapipe_landmark_embedding.npz` (shipped with EMOCA v2 and MICA): MediaPipe FaceMesh
  landmarks -> `rig.LandmarkEmbedding`.
- DECA's `landmark_embedding.npy` (a dict pickled by `np.save`): its static part, the
  51 iBUG-68 points 17..67 (brows, eyes, nose, mouth; the jaw contour is pose-dependent
  in DECA and not covered). Read with the restricted unpickler, never plain `np.load`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.face import safe_pickle
from avatar_live.face.flame import FLAME_FACES
from avatar_live.face.rig import LandmarkEmbedding

MEDIAPIPE_LANDMARKS = 478
IBUG_STATIC_FIRST = 17
"""DECA's static embedding covers iBUG-68 points 17..67, in that order."""


@dataclass(frozen=True)
class Ibug68Embedding:
    """Where iBUG 68-point landmarks sit on the FLAME mesh.

    Attributes:
        ibug_indices: K int64 iBUG-68 point numbers (0..67) covered.
        face_idx: K int64 FLAME triangle holding each one.
        bary: K x 3 float32 barycentric coordinates (rows sum to 1).
    """

    ibug_indices: np.ndarray
    face_idx: np.ndarray
    bary: np.ndarray


def _checked_triangles(description: str, face_idx: np.ndarray, bary: np.ndarray, n_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Shape, range and normalisation checks shared by both formats; returns cast arrays."""

    def fail(message: str) -> AvatarLiveError:
        return AvatarLiveError(f"{description}: not a FLAME landmark embedding: {message}")

    face_idx, bary = np.asarray(face_idx), np.asarray(bary)
    if face_idx.ndim != 1 or bary.shape != (len(face_idx), 3):
        raise fail(f"triangle indices {face_idx.shape} and barycentric coordinates {bary.shape} do not match (K and K x 3)")
    if face_idx.dtype.kind not in "iu" or bary.dtype.kind != "f":
        raise fail(f"dtypes {face_idx.dtype} and {bary.dtype}, expected integers and floats")
    if len(face_idx) and (face_idx.min() < 0 or face_idx.max() >= n_faces):
        raise fail(f"triangle indices {face_idx.min()}..{face_idx.max()}, the mesh has {n_faces}")
    if not np.all(np.isfinite(bary)) or bary.min() < -1e-3 or not np.allclose(bary.sum(axis=1), 1.0, atol=1e-3):
        raise fail("barycentric coordinates are not in [0, 1] summing to 1")
    return face_idx.astype(np.int64), bary.astype(np.float32)


def load_mediapipe_embedding(path: str | Path, n_faces: int = FLAME_FACES) -> LandmarkEmbedding:
    """Read `mediapipe_landmark_embedding.npz` (keys lmk_face_idx, lmk_b_coords, landmark_indices).

    Args:
        path: the `.npz` file.
        n_faces: triangles in the mesh it refers to (FLAME's by default).

    Returns:
        The embedding, in the file's landmark order.

    Raises:
        AvatarLiveError: unreadable file, missing key, wrong shapes or out-of-range values.
    """
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an archive")
        with data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise AvatarLiveError(f"{path}: not a readable .npz file ({exc})".splitlines()[0]) from None
    missing = [key for key in ("lmk_face_idx", "lmk_b_coords", "landmark_indices") if key not in arrays]
    if missing:
        raise AvatarLiveError(f"{path}: not a MediaPipe landmark embedding: missing {', '.join(missing)}")
    face_idx, bary, landmarks = arrays["lmk_face_idx"], arrays["lmk_b_coords"], arrays["landmark_indices"]
    face_idx, bary = _checked_triangles(str(path), face_idx, bary, n_faces)
    if landmarks.shape != face_idx.shape or landmarks.dtype.kind not in "iu":
        raise AvatarLiveError(f"{path}: landmark_indices {landmarks.shape} {landmarks.dtype}, expected {len(face_idx)} integers")
    if len(landmarks) and (landmarks.min() < 0 or landmarks.max() >= MEDIAPIPE_LANDMARKS):
        raise AvatarLiveError(f"{path}: landmark_indices outside MediaPipe's 0..{MEDIAPIPE_LANDMARKS - 1}")
    if len(np.unique(landmarks)) != len(landmarks):
        raise AvatarLiveError(f"{path}: landmark_indices repeat a landmark")
    return LandmarkEmbedding(landmark_indices=landmarks.astype(np.int64), face_idx=face_idx, bary=bary)


def load_deca_embedding(path: str | Path, n_faces: int = FLAME_FACES) -> Ibug68Embedding:
    """Read the static part of DECA's `landmark_embedding.npy`.

    Args:
        path: the `.npy` file (a 0-d object array holding a dict).
        n_faces: triangles in the mesh it refers to (FLAME's by default).

    Returns:
        The 51 static iBUG points 17..67.

    Raises:
        AvatarLiveError: not an .npy of a pickled dict, a global outside the restricted
            unpickler's allow-list, missing keys, wrong shapes or out-of-range values.
    """
    try:
        data = Path(path).read_bytes()
        stream = io.BytesIO(data)
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(stream)
    except (OSError, ValueError) as exc:
        raise AvatarLiveError(f"{path}: not a readable .npy file ({exc})".splitlines()[0]) from None
    if dtype != object or shape != ():
        raise AvatarLiveError(f"{path}: holds a {shape} {dtype} array, expected DECA's pickled dict")
    content = safe_pickle.load(stream, str(path))
    if isinstance(content, np.ndarray) and content.dtype == object and content.shape == ():
        content = content[()]
    if not isinstance(content, dict):
        raise AvatarLiveError(f"{path}: holds a {type(content).__name__}, expected DECA's dict")
    missing = [key for key in ("static_lmk_faces_idx", "static_lmk_bary_coords") if key not in content]
    if missing:
        raise AvatarLiveError(f"{path}: not a DECA landmark embedding: missing {', '.join(missing)}")
    face_idx, bary = _checked_triangles(str(path), content["static_lmk_faces_idx"], content["static_lmk_bary_coords"], n_faces)
    if len(face_idx) != 68 - IBUG_STATIC_FIRST:
        raise AvatarLiveError(f"{path}: {len(face_idx)} static landmarks, expected {68 - IBUG_STATIC_FIRST} (iBUG 17..67)")
    return Ibug68Embedding(ibug_indices=np.arange(IBUG_STATIC_FIRST, 68, dtype=np.int64), face_idx=face_idx, bary=bary)

"""The user's model store: face models they downloaded themselves, validated and copied here.

Layout under `store_root()` (the platform's user data dir, or `$AVATAR_LIVE_HOME`):

    flame/<file name>             a FLAME pickle, or a landmark embedding beside it
    flame/<file name>.json        what `add_flame` found when it validated the file
    emoca/<name>.onnx             EMOCA's encoders, converted from the user's checkpoint
    emoca/<name>.int8.onnx        the same, quantized for ONNX Runtime on the CPU
    emotion/<name>.onnx           EmoDECA's emotion MLP, converted likewise
    <kind>/<name>.pt              the converted weights, for the torch backends
    <kind>/<name>.onnx.json       what the conversion read (checkpoint file, sizes)

A converted model is listed once, by its `.onnx`; the `.int8.onnx` and `.pt` beside it
are other forms of it (`converted_model`).

Nothing is downloaded and nothing is shipped: FLAME's and EMOCA's licences leave that to
the user, and converted EMOCA models never leave their machine.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from avatar_live.errors import AvatarLiveError
from avatar_live.face.embeddings import load_deca_embedding, load_mediapipe_embedding
from avatar_live.face.flame import (
    FLAME_EXPRESSION_COMPONENTS,
    FLAME_SHAPE_COMPONENTS,
    load_flame,
)
from avatar_live.runtime.base import ModelFiles
from avatar_live.user_folders import data_folder

log = logging.getLogger(__name__)

METADATA_SUFFIX = ".json"
# Folder under the store -> the kind a hand-placed file there is listed as.
_FOLDER_KINDS = {"flame": "flame", "emoca": "emoca", "emotion": "emotion", "avatars": "avatar"}
AVATAR_SUFFIXES = (".vrm", ".glb", ".gltf")
INT8_SUFFIX = ".int8.onnx"
WEIGHTS_SUFFIX = ".pt"


@dataclass(frozen=True)
class StoredModel:
    """One file in the store.

    Attributes:
        kind: "flame", "embedding-mediapipe", "embedding-ibug68", "emoca" or "emotion".
        name: the file name.
        path: where it is stored.
        size: bytes.
        details: what validation found, e.g. {"vertices": 5023, "faces": 9976}; empty for a
            file put there by hand.
    """

    kind: str
    name: str
    path: Path
    size: int
    details: dict[str, int | str] = field(default_factory=dict)


def store_root() -> Path:
    """The store's directory: `$AVATAR_LIVE_HOME` if set, else the user data dir."""
    return data_folder()


def _validate_embedding(path: Path) -> tuple[str, dict[str, int | str]]:
    if path.suffix == ".npz":
        return "embedding-mediapipe", {"landmarks": len(load_mediapipe_embedding(path).landmark_indices)}
    if path.suffix == ".npy":
        return "embedding-ibug68", {"landmarks": len(load_deca_embedding(path).ibug_indices)}
    raise AvatarLiveError(f"{path}: unknown embedding format (expected mediapipe_landmark_embedding.npz or DECA's .npy)")


def _store(source: Path, kind: str, details: dict[str, int | str], *, folder_name: str = "flame",
           name: str | None = None) -> StoredModel:
    """Copy a validated file into `folder_name`/ under `name` (default: its own; atomically,
    replacing one of the same name) with its metadata."""
    folder = store_root() / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name or source.name)
    # Copy to a temporary name first so an interrupted copy never leaves a half file under the real name.
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{source.name}.")
    os.close(handle)
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise AvatarLiveError(f"cannot copy {source} into {folder}: {exc.strerror or exc}") from None
    metadata = target.with_name(target.name + METADATA_SUFFIX)
    metadata.write_text(json.dumps({"kind": kind, "details": details}, indent=1))
    return StoredModel(kind=kind, name=target.name, path=target, size=target.stat().st_size, details=details)


def add_flame(path: str | Path, embedding: str | Path | None = None) -> StoredModel:
    """Validate a FLAME pickle (and optionally a landmark embedding), then copy them into the store.

    Args:
        path: `generic_model.pkl`, `flame2023_Open.pkl` or another FLAME-format pickle.
        embedding: optional `mediapipe_landmark_embedding.npz` or DECA `landmark_embedding.npy`,
            stored beside the model.

    Returns:
        The stored model (the embedding, if any, shows up in `list_models`).

    Raises:
        AvatarLiveError: a file is missing or invalid (nothing is copied then), or the copy fails.
    """
    source = Path(path)
    model = load_flame(source, n_shape=FLAME_SHAPE_COMPONENTS, n_expression=FLAME_EXPRESSION_COMPONENTS)
    details: dict[str, int | str] = {
        "vertices": int(model.v_template.shape[0]),
        "faces": int(model.faces.shape[0]),
        "shape": model.n_shape,
        "expression": model.n_expression,
    }
    embedding_info = None
    if embedding is not None:
        embedding_path = Path(embedding)
        embedding_info = (embedding_path, *_validate_embedding(embedding_path))
    stored = _store(source, "flame", details)
    if embedding_info is not None:
        _store(*embedding_info)
    return stored


def add_avatar(path: str | Path, name: str | None = None) -> StoredModel:
    """Validate a VRM or glTF avatar (it must load, with a head bone) and keep a copy by name.

    Args:
        path: a .vrm or .glb file (a .gltf with separate buffers cannot be copied alone:
            convert it to .glb first).
        name: what `--avatar NAME` will call it (default: the file's stem).

    Raises:
        AvatarLiveError: a file that does not load, or a bad name.
    """
    from avatar_live.avatars.gltf import load_avatar_file

    path = Path(path).expanduser()
    if path.suffix.lower() not in (".vrm", ".glb"):
        raise AvatarLiveError(f"{path}: keep a .vrm or .glb file (a .gltf refers to other files: use it by path)")
    name = name or path.stem
    if not name or any(c in name for c in '/\\:') or name in ("builtin", "flame"):
        raise AvatarLiveError(f"{name!r} cannot name an avatar: use letters, digits, - and _, not builtin or flame")
    avatar = load_avatar_file(path)
    details = {"vrm": avatar.vrm_version or "-", "primitives": len(avatar.primitives),
               "expressions": len(avatar.expressions)}
    return _store(path, "avatar", details, folder_name="avatars", name=name + path.suffix.lower())


def stored_avatar(name: str) -> Path | None:
    """The stored avatar file `--avatar NAME` means, or None."""
    folder = store_root() / "avatars"
    return next((folder / (name + suffix) for suffix in (".vrm", ".glb") if (folder / (name + suffix)).is_file()), None)


def list_models() -> list[StoredModel]:
    """Everything in the store, sorted by kind and name.

    Returns:
        One entry per stored file (metadata files excluded).
    """
    models = []
    for folder_name, folder_kind in _FOLDER_KINDS.items():
        folder = store_root() / folder_name
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.suffix == METADATA_SUFFIX or not path.is_file():
                continue
            if folder_name != "flame" and _is_companion(path):
                continue
            kind, details = folder_kind, {}
            if folder_name == "flame" and path.suffix != ".pkl":
                kind = "embedding"
            metadata = path.with_name(path.name + METADATA_SUFFIX)
            try:
                saved = json.loads(metadata.read_text())
                kind, details = saved["kind"], saved["details"]
            except (OSError, ValueError, KeyError, TypeError):
                pass  # put there by hand: listed, with nothing validated
            models.append(StoredModel(kind=kind, name=path.name, path=path, size=path.stat().st_size, details=details))
    return sorted(models, key=lambda m: (m.kind, m.name))


def _add_converted(source: Path, kind: str, name: str | None) -> StoredModel:
    """Find, load and export an EMOCA-family checkpoint folder into `<kind>/<name>.onnx` (+ forms) with metadata."""
    # torch is imported only here: listing and FLAME imports should not pay its start-up time.
    # Both are optional (the emoca extra); without one, say which instead of an internal error.
    for module_name in ("torch", "onnx"):
        try:
            importlib.import_module(module_name)
        except ImportError:
            raise AvatarLiveError(
                f"models add-{kind} needs torch and onnx, and {module_name} cannot be imported: install the emoca "
                "extra (EXTRAS=dev,emoca ./install.sh, or pip install 'avatar-live[emoca]')"
            ) from None
    from avatar_live.encoders import checkpoint, export, quantize

    loaders = {
        "emoca": (checkpoint.EMOCA_CHECKPOINTS, checkpoint.load_emoca, export.export_encoder),
        "emotion": (checkpoint.EMOTION_CHECKPOINTS, checkpoint.load_emotion, export.export_emotion),
    }
    subfolder, load, write = loaders[kind]
    chosen = checkpoint.find_checkpoint(source / subfolder)
    log.info("reading %s", chosen)
    module = load(source)
    target = store_root() / kind / f"{name or source.resolve().name}.onnx"
    log.info("exporting to %s", target)
    write(module, target)
    export.save_weights(module, _companion(target, WEIGHTS_SUFFIX))
    details: dict[str, int | str] = {"checkpoint": str(chosen.relative_to(source)), "opset": export.OPSET}
    if kind == "emoca":
        int8 = _companion(target, INT8_SUFFIX)
        int8.unlink(missing_ok=True)  # never pair a new model with an old INT8 copy
        log.info("quantizing to INT8 for the CPU, calibrated on the demo face (about 15 s)")
        try:
            deviation = quantize.quantize_encoder(
                target, int8, quantize.demo_face_crops(quantize.CALIBRATION_CROPS + quantize.CHECK_CROPS))
        except AvatarLiveError as error:
            log.warning("no INT8 encoder: %s", error)
            details["int8"] = "none"
        else:
            details["int8"] = f"max deviation {deviation:.2%}"
    target.with_name(target.name + METADATA_SUFFIX).write_text(json.dumps({"kind": kind, "details": details}, indent=1))
    return StoredModel(kind=kind, name=target.name, path=target, size=target.stat().st_size, details=details)


def _companion(model: Path, suffix: str) -> Path:
    """Another form of the converted model stored at `model` (`<name>.onnx` -> `<name><suffix>`)."""
    return model.with_name(model.name.removesuffix(".onnx") + suffix)


def _is_companion(path: Path) -> bool:
    return path.name.endswith(INT8_SUFFIX) or path.suffix == WEIGHTS_SUFFIX


def converted_model(path: Path, kind: str) -> ModelFiles:
    """Every form of a converted model stored at `path` that is present.

    Args:
        path: the stored `<kind>/<name>.onnx`.
        kind: "emoca" or "emotion".

    Returns:
        The ONNX file, the INT8 copy if there is one, and a loader of the torch weights if
        they are there (torch is imported only when a torch backend calls it).
    """
    int8, weights = _companion(path, INT8_SUFFIX), _companion(path, WEIGHTS_SUFFIX)

    def load_torch_module() -> object:
        from avatar_live.encoders.checkpoint import load_weights

        return load_weights(weights, kind)

    return ModelFiles(onnx=path, int8_onnx=int8 if int8.is_file() else None,
                      torch_factory=load_torch_module if weights.is_file() else None)


def add_emoca(folder: str | Path, name: str | None = None) -> StoredModel:
    """Convert the user's EMOCA download (E_flame + E_expression) into the store.

    Writes the ONNX export, the weights for the torch backends, and an INT8 copy for
    ONNX Runtime on the CPU when quantization keeps its outputs close (else a warning).

    Args:
        folder: the model folder holding `detail/checkpoints/*.ckpt`, e.g. `EMOCA_v2_lr_mse_20/`.
        name: the stored name (`emoca/<name>.onnx`); default the folder's name.

    Returns:
        The stored ONNX model; `details` names the checkpoint used.

    Raises:
        AvatarLiveError: torch or onnx is not installed, no checkpoint, an unreadable one,
            a missing, mis-shaped or non-finite weight (nothing is stored then), or the file
            cannot be written.
    """
    return _add_converted(Path(folder), "emoca", name)


def add_emotion(folder: str | Path, name: str | None = None) -> StoredModel:
    """Convert the user's EmoDECA emotion-recognition download (its MLP) into the store (ONNX and weights).

    Args:
        folder: the model folder holding `checkpoints/*.ckpt`.
        name: the stored name (`emotion/<name>.onnx`); default the folder's name.

    Returns:
        The stored ONNX model.

    Raises:
        AvatarLiveError: as `add_emoca`.
    """
    return _add_converted(Path(folder), "emotion", name)


def flame_avatar_files() -> tuple[Path, Path]:
    """The stored FLAME model and MediaPipe landmark embedding that `--avatar flame` uses.

    Returns:
        (model path, embedding path); with several stored, the first by name of each.

    Raises:
        AvatarLiveError: one of them is not stored yet (says how to add it).
    """
    stored = list_models()
    models = [m.path for m in stored if m.kind == "flame"]
    embeddings = [m.path for m in stored if m.kind == "embedding-mediapipe"]
    if not models or not embeddings:
        missing = "a FLAME model" if not models else "a MediaPipe landmark embedding"
        raise AvatarLiveError(
            f"--avatar flame needs {missing}: download FLAME (flame.is.tue.mpg.de) and "
            "mediapipe_landmark_embedding.npz (EMOCA v2 or MICA), then run "
            "`avatar-live models add-flame generic_model.pkl --embedding mediapipe_landmark_embedding.npz`"
        )
    return models[0], embeddings[0]


def emoca_files() -> tuple[ModelFiles, ModelFiles | None]:
    """The stored EMOCA encoder and (if any) emotion model that `--encoder emoca` uses.

    Returns:
        (encoder, emotion model or None), each in every form stored; the first by name of each.

    Raises:
        AvatarLiveError: no EMOCA encoder is stored yet (says how to add one).
    """
    stored = list_models()
    encoders = [m.path for m in stored if m.kind == "emoca"]
    emotions = [m.path for m in stored if m.kind == "emotion"]
    if not encoders:
        raise AvatarLiveError(
            "--encoder emoca needs your EMOCA download (emoca.is.tue.mpg.de): run "
            "`avatar-live models add-emoca EMOCA_v2_lr_mse_20` (and `models add-emotion FOLDER` for its emotion)"
        )
    return converted_model(encoders[0], "emoca"), (converted_model(emotions[0], "emotion") if emotions else None)

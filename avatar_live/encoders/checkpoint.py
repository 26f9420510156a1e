"""Read EMOCA's PyTorch Lightning checkpoints without running any code they name.

A Lightning `.ckpt` is a torch pickle. Besides tensors it holds the training
hyper-parameters as OmegaConf objects, so `torch.load(weights_only=True)` refuses it,
and a plain `torch.load` would call whatever the pickle names. Here the pickle may only
resolve torch's tensor-rebuild functions and `OrderedDict`; every other global becomes
an inert stand-in class that records its arguments and state and does nothing else.
Only `state_dict` is used afterwards.

Key layout (EMOCA's `DecaModule` and EmoDECA's `MLP`):
    deca.E_flame.encoder.*, deca.E_flame.layers.{0,2}.*      -> EFlame
    deca.E_expression.encoder.*, deca.E_expression.layers.*   -> EExpression
    mlp.model.{0,1,3,4,6,7,9,10,12}.*                         -> EmotionMLP
BatchNorm running statistics are read too; `num_batches_tracked` is optional (unused in eval).
"""

from __future__ import annotations

import collections
import math
import pickle
import types
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avatar_live.encoders.emoca_model import (
    EExpression,
    EFlame,
    EmocaEncoder,
    EmotionMLP,
)
from avatar_live.errors import AvatarLiveError
from avatar_live.face.safe_pickle import Guarded

EMOCA_CHECKPOINTS = Path("detail") / "checkpoints"
EMOTION_CHECKPOINTS = Path("checkpoints")
EMOCA_PREFIXES = {"e_flame": "deca.E_flame.", "e_expression": "deca.E_expression."}
EMOTION_PREFIX = "mlp."
_OPTIONAL_SUFFIX = "num_batches_tracked"


class StandIn:
    """What any non-allowed class or function in a checkpoint becomes: a record, never called.

    Attributes:
        args: the positional arguments the pickle passed to the original.
        state: what the pickle would have restored into it (BUILD), or None.
    """

    qualified_name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<stand-in for {self.qualified_name}>"


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): Guarded(torch._utils._rebuild_tensor_v2),
    ("torch._utils", "_rebuild_tensor_v3"): Guarded(torch._utils._rebuild_tensor_v3),
    ("torch._utils", "_rebuild_parameter"): Guarded(torch._utils._rebuild_parameter),
}


class _CheckpointUnpickler(pickle.Unpickler):
    # torch.load subclasses this and resolves storage types ("...Storage") itself before
    # calling find_class; those are plain dtype holders.
    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get((module, name))
        if allowed is not None:
            return allowed
        return type(name, (StandIn,), {"qualified_name": f"{module}.{name}", "__module__": __name__})


# torch.load takes a pickle *module*: it uses its `Unpickler` and `load`.
_PICKLE_MODULE = types.SimpleNamespace(
    Unpickler=_CheckpointUnpickler,
    load=lambda file, **kwargs: _CheckpointUnpickler(file, **kwargs).load(),
    __name__="avatar_live.encoders.checkpoint.restricted_pickle",
)


def _checkpoint_number(path: Path) -> float:
    # Lightning names checkpoints like "deca-epoch=03-val_loss=0.45.ckpt" (EMOCA's metric
    # name holds a "/", which puts the last part in a sub-folder); the number after the
    # last "=" is the monitored loss, lower is better.
    try:
        return float(path.stem.rsplit("=", 1)[1])
    except (IndexError, ValueError):
        return math.inf


def find_checkpoint(folder: str | Path) -> Path:
    """The best checkpoint under `folder`: the `.ckpt` with the lowest number after the last `=`.

    Args:
        folder: a checkpoints directory (searched recursively); `last.ckpt` is skipped.

    Returns:
        The chosen file; ties and unnumbered files are ordered by path.

    Raises:
        AvatarLiveError: the folder is missing or holds no checkpoint besides `last.ckpt`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AvatarLiveError(f"{folder}: no such folder (expected the model's checkpoints folder)")
    candidates = sorted(p for p in folder.rglob("*.ckpt") if p.name != "last.ckpt" and p.is_file())
    if not candidates:
        raise AvatarLiveError(f"{folder}: no .ckpt checkpoint in it (last.ckpt is not used)")
    return min(candidates, key=_checkpoint_number)


def _first_line(error: BaseException) -> str:
    """A one-line reason: the error's first line, or its type when it has no message."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The `state_dict` of a Lightning checkpoint, read with the restricted unpickler.

    Args:
        path: a `.ckpt` file (torch's zip format or its legacy format).

    Returns:
        Parameter name -> tensor (CPU); entries that are not tensors are dropped.

    Raises:
        AvatarLiveError: the file is unreadable, truncated or corrupt, or has no `state_dict`.
    """
    try:
        checkpoint = torch.load(Path(path), map_location="cpu", pickle_module=_PICKLE_MODULE, weights_only=False)
    except OSError as exc:
        raise AvatarLiveError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError,
            IndexError, zipfile.BadZipFile, MemoryError, UnicodeError, OverflowError, RecursionError) as exc:
        raise AvatarLiveError(f"{path}: not a readable checkpoint (truncated or corrupt: {_first_line(exc)})") from None
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise AvatarLiveError(f"{path}: not a PyTorch Lightning checkpoint (no state_dict)")
    return {key: value for key, value in state.items() if isinstance(key, str) and isinstance(value, torch.Tensor)}


def load_into(module: nn.Module, state: dict[str, torch.Tensor], prefix: str, source: str | Path) -> nn.Module:
    """Copy `prefix`+name tensors from a checkpoint's state into `module`, checking each.

    Args:
        module: the module to fill; left in eval mode.
        state: from `read_state_dict`.
        prefix: e.g. "deca.E_flame."; keys without it are ignored.
        source: the checkpoint path, for messages.

    Returns:
        `module`.

    Raises:
        AvatarLiveError: a parameter or buffer (BatchNorm statistics included) is missing,
            has a different shape, or holds NaN or infinity (the first such key is named).
    """
    filled = {}
    for name, expected in module.state_dict().items():
        key = prefix + name
        value = state.get(key)
        if value is None:
            if name.endswith(_OPTIONAL_SUFFIX):
                continue
            raise AvatarLiveError(f"{source}: missing key {key} (not an EMOCA checkpoint of the expected version?)")
        if value.shape != expected.shape:
            raise AvatarLiveError(
                f"{source}: key {key} has shape {tuple(value.shape)}, expected {tuple(expected.shape)}"
            )
        # Checked after the cast: a float64 weight too large for float32 becomes infinite there.
        filled[name] = value.to(expected.dtype)
        if not torch.isfinite(filled[name]).all():
            raise AvatarLiveError(f"{source}: non-finite values (NaN or infinity) in {key}: not a usable model")
    module.load_state_dict(filled, strict=False)
    return module.eval()


def load_emoca(folder: str | Path) -> EmocaEncoder:
    """EMOCA's encoders from a downloaded model folder (the one holding `detail/checkpoints/`).

    Args:
        folder: e.g. `EMOCA_v2_lr_mse_20/`.

    Returns:
        The encoder in eval mode.

    Raises:
        AvatarLiveError: no checkpoint, an unreadable one, or a missing, mis-shaped or non-finite weight.
    """
    path = find_checkpoint(Path(folder) / EMOCA_CHECKPOINTS)
    state = read_state_dict(path)
    e_flame = load_into(EFlame(), state, EMOCA_PREFIXES["e_flame"], path)
    e_expression = load_into(EExpression(), state, EMOCA_PREFIXES["e_expression"], path)
    return EmocaEncoder(e_flame, e_expression).eval()


def load_emotion(folder: str | Path) -> EmotionMLP:
    """EmoDECA's emotion MLP from a downloaded emotion-recognition folder (holding `checkpoints/`).

    Args:
        folder: an EmoDECA model folder trained on EMOCA's codes.

    Returns:
        The MLP in eval mode.

    Raises:
        AvatarLiveError: as `load_emoca`.
    """
    path = find_checkpoint(Path(folder) / EMOTION_CHECKPOINTS)
    return load_into(EmotionMLP(), read_state_dict(path), EMOTION_PREFIX, path)


def load_weights(path: str | Path, kind: str) -> nn.Module:
    """A converted model back as a torch module, from the weights file `export.save_weights` wrote.

    Args:
        path: the `.pt` file beside the stored ONNX model.
        kind: "emoca" (an `EmocaEncoder`) or "emotion" (an `EmotionMLP`).

    Returns:
        The module in eval mode.

    Raises:
        AvatarLiveError: the file is unreadable or holds other weights than `kind` needs.
    """
    modules = {"emoca": lambda: EmocaEncoder(EFlame(), EExpression()), "emotion": EmotionMLP}
    if kind not in modules:
        raise AvatarLiveError(f"unknown converted model kind {kind!r}; expected one of {sorted(modules)}")
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except OSError as exc:
        raise AvatarLiveError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise AvatarLiveError(f"{path}: not a converted weights file ({_first_line(exc)})") from None
    if not isinstance(state, dict):
        raise AvatarLiveError(f"{path}: not a converted weights file")
    return load_into(modules[kind](), state, "", path)

"""Export EMOCA's encoder and emotion MLP, on the user's machine only: to ONNX, and as weights.

Both graphs take a dynamic batch axis. The legacy TorchScript-based exporter is used
(`dynamo=False`): the newer one needs onnxscript, which is not a dependency. The weights
file is a plain tensor dict that `torch.load(weights_only=True)` reads back for the torch
backends (`checkpoint.load_weights`).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from avatar_live.encoders.emoca_model import (
    CODE_SIZES,
    CROP_SIZE,
    EMOTION_INPUTS,
    EmocaEncoder,
    EmotionMLP,
)
from avatar_live.errors import AvatarLiveError

OPSET = 17
ENCODER_INPUT = "image"
ENCODER_OUTPUTS = tuple(CODE_SIZES)  # shape, tex, exp, pose, cam, light
EMOTION_INPUT = "codes"
EMOTION_OUTPUT = "emotion"


def _export(module: nn.Module, example: torch.Tensor, path: Path, input_name: str, output_names: tuple[str, ...]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {name: {0: "batch"} for name in (input_name, *output_names)}
    # Export to memory, then write once, so a failed export never leaves a partial file.
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The modules' input shape checks read tensor sizes; tracing warns that they become
        # constants, which is what they are (only the batch axis is dynamic).
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # The legacy exporter is deprecated in favour of one that needs onnxscript (not a dependency).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module.eval(), (example,), buffer, input_names=[input_name], output_names=list(output_names),
            dynamic_axes=axes, opset_version=OPSET, dynamo=False,
        )
    return write_atomically(path, buffer.getvalue())


def write_atomically(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file, so a failure never leaves a partial file.

    Raises:
        AvatarLiveError: the file cannot be written.
    """
    temporary = path.with_name(f".{path.name}.partial")
    try:
        temporary.write_bytes(data)
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise AvatarLiveError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def save_weights(module: nn.Module, path: str | Path) -> Path:
    """Write a converted module's `state_dict` (tensors only) for the torch backends.

    Args:
        module: a loaded `EmocaEncoder` or `EmotionMLP`.
        path: the `.pt` file to write (replaced if present).

    Returns:
        `path`.

    Raises:
        AvatarLiveError: the file cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({name: tensor.detach().cpu() for name, tensor in module.state_dict().items()}, buffer)
    return write_atomically(path, buffer.getvalue())


def export_encoder(encoder: EmocaEncoder, path: str | Path) -> Path:
    """Write the encoder as ONNX: input "image" B x 3 x 224 x 224 -> outputs named as `ENCODER_OUTPUTS`.

    Args:
        encoder: a loaded `EmocaEncoder`.
        path: the `.onnx` file to write (replaced if present).

    Returns:
        `path`.

    Raises:
        AvatarLiveError: the file cannot be written.
    """
    example = torch.rand(1, 3, CROP_SIZE, CROP_SIZE)
    return _export(encoder, example, Path(path), ENCODER_INPUT, ENCODER_OUTPUTS)


def export_emotion(mlp: EmotionMLP, path: str | Path) -> Path:
    """As `export_encoder`, for the emotion MLP: input "codes" B x 153 -> output "emotion" B x 10."""
    example = torch.zeros(1, EMOTION_INPUTS)
    return _export(mlp, example, Path(path), EMOTION_INPUT, (EMOTION_OUTPUT,))

"""Test checkpoints in EMOCA's official layout, made from random but well-behaved weights.

No EMOCA data is used. What matches the real files is the format: a PyTorch Lightning
`.ckpt` (torch.save of a dict with `state_dict`, `hyper_parameters`, `epoch`, ...), the
`deca.E_flame.*` / `deca.E_expression.*` / `mlp.model.*` key names and shapes (written out
here from torchvision's ResNet-50 naming, independently of the model code under test),
extra keys a converter must ignore, and hyper-parameters that pickle as
`omegaconf.dictconfig.DictConfig` (a stand-in class registered under that module only
while saving, so the bytes name it like the real files do).
"""

from __future__ import annotations

import sys
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

RESNET50_STAGES = ((3, 64), (4, 128), (6, 256), (3, 512))


def _bn(prefix: str, channels: int, gen: torch.Generator, gamma: float = 1.0) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.weight": gamma * (1 + 0.1 * torch.randn(channels, generator=gen)),
        f"{prefix}.bias": 0.1 * torch.randn(channels, generator=gen),
        f"{prefix}.running_mean": 0.1 * torch.randn(channels, generator=gen),
        f"{prefix}.running_var": 1 + 0.2 * torch.rand(channels, generator=gen),
        f"{prefix}.num_batches_tracked": torch.tensor(1000),
    }


def _conv(key: str, out: int, inp: int, k: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    # He-scaled so activations keep their size through 50 layers.
    return {key: torch.randn(out, inp, k, k, generator=gen) * (2.0 / (inp * k * k)) ** 0.5}


def _linear(prefix: str, out: int, inp: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    return {f"{prefix}.weight": torch.randn(out, inp, generator=gen) / inp ** 0.5,
            f"{prefix}.bias": 0.1 * torch.randn(out, generator=gen)}


def resnet_regressor_state(prefix: str, outputs: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """DECA `ResnetEncoder` weights under `prefix` (e.g. "deca.E_flame.")."""
    state = {**_conv(f"{prefix}encoder.conv1.weight", 64, 3, 7, gen), **_bn(f"{prefix}encoder.bn1", 64, gen)}
    channels = 64
    for stage, (blocks, width) in enumerate(RESNET50_STAGES, start=1):
        for block in range(blocks):
            name = f"{prefix}encoder.layer{stage}.{block}"
            state.update(_conv(f"{name}.conv1.weight", width, channels, 1, gen))
            state.update(_bn(f"{name}.bn1", width, gen))
            state.update(_conv(f"{name}.conv2.weight", width, width, 3, gen))
            state.update(_bn(f"{name}.bn2", width, gen))
            state.update(_conv(f"{name}.conv3.weight", width * 4, width, 1, gen))
            # A small last gain per block keeps the residual sum from growing block by block.
            state.update(_bn(f"{name}.bn3", width * 4, gen, gamma=0.2))
            if block == 0:
                state.update(_conv(f"{name}.downsample.0.weight", width * 4, channels, 1, gen))
                state.update(_bn(f"{name}.downsample.1", width * 4, gen))
            channels = width * 4
    state.update(_linear(f"{prefix}layers.0", 1024, 2048, gen))
    state.update(_linear(f"{prefix}layers.2", outputs, 1024, gen))
    return state


def emoca_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A `state_dict` like EMOCA's: both encoders plus keys the converter must ignore."""
    gen = torch.Generator().manual_seed(seed)
    return {
        **resnet_regressor_state("deca.E_flame.", 236, gen),
        **resnet_regressor_state("deca.E_expression.", 50, gen),
        "deca.D_detail.layers.0.weight": torch.randn(8, 8, generator=gen),
        "deca.E_detail.layers.2.bias": torch.randn(128, generator=gen),
        "emonet.emo_fc_2.1.running_mean": torch.zeros(4),
    }


def emotion_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A `state_dict` like EmoDECA's: `mlp.model` of Linear/BatchNorm1d/LeakyReLU triples, plus DECA keys."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    size = 153
    for block in range(4):
        state.update(_linear(f"mlp.model.{3 * block}", 2048, size, gen))
        state.update(_bn(f"mlp.model.{3 * block + 1}", 2048, gen))
        size = 2048
    state.update(_linear("mlp.model.12", 10, 2048, gen))
    state["deca.E_flame.layers.0.bias"] = torch.zeros(1024)
    return state


@contextmanager
def fake_omegaconf() -> Iterator[type]:
    """A `DictConfig` stand-in that pickles as omegaconf's, present only inside the block."""

    class DictConfig:
        def __init__(self, content: dict) -> None:
            self._content = content
            self._metadata = {"ref_type": "typing.Any", "object_type": dict}

    module = types.ModuleType("omegaconf.dictconfig")
    DictConfig.__module__ = module.__name__
    DictConfig.__qualname__ = "DictConfig"
    module.DictConfig = DictConfig
    saved = {name: sys.modules.get(name) for name in ("omegaconf", "omegaconf.dictconfig")}
    sys.modules["omegaconf"] = types.ModuleType("omegaconf")
    sys.modules["omegaconf.dictconfig"] = module
    try:
        yield DictConfig
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


def write_checkpoint(path: Path, state: dict[str, torch.Tensor], extra: dict | None = None) -> Path:
    """torch.save a Lightning-style checkpoint holding `state` (and `extra` top-level entries)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with fake_omegaconf() as DictConfig:
        checkpoint = {
            "epoch": 3,
            "global_step": 12000,
            "pytorch-lightning_version": "1.4.9",
            "state_dict": state,
            "hyper_parameters": {"config": DictConfig({"model": {"n_shape": 100, "n_exp": 50}})},
            "callbacks": {},
            **(extra or {}),
        }
        torch.save(checkpoint, path)
    return path


def write_emoca(folder: Path, state: dict[str, torch.Tensor] | None = None) -> Path:
    """An EMOCA model folder: `detail/checkpoints/` with a best, a worse and a `last.ckpt`.

    Returns:
        The checkpoint a converter should pick (lowest validation loss).
    """
    state = emoca_state() if state is None else state
    checkpoints = folder / "detail" / "checkpoints"
    best = write_checkpoint(checkpoints / "deca-epoch=03-val_loss=0.45.ckpt", state)
    # Worse loss but otherwise valid-looking: truncated so choosing it would fail loudly.
    (checkpoints / "deca-epoch=01-val_loss=1.50.ckpt").write_bytes(best.read_bytes()[:1000])
    (checkpoints / "last.ckpt").write_bytes(b"not a checkpoint")
    return best


def write_emotion(folder: Path, state: dict[str, torch.Tensor] | None = None) -> Path:
    """An EmoDECA model folder: `checkpoints/` with one checkpoint; returns its path."""
    state = emotion_state() if state is None else state
    return write_checkpoint(folder / "checkpoints" / "deca-epoch=07-val_loss=2.10.ckpt", state)

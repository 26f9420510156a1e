"""Training an `Mlp` with torch: seeded, on the CPU, with a progress bar.

Both models are small MLPs on standardized features, so one loop serves both: AdamW with a
cosine learning-rate schedule, dropout between layers, the model of the epoch with the
best validation score kept (when validation data is given).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from avatar_live.learned.mlp import Mlp


@dataclass(frozen=True)
class FitOptions:
    """Options for `fit_mlp`.

    Attributes:
        hidden: widths of the hidden layers.
        epochs: passes over the training samples.
        batch: samples per step.
        learning_rate: AdamW's peak learning rate (cosine decay to 0 over the run).
        weight_decay: AdamW's decoupled weight decay.
        dropout: dropout probability on the inputs of each hidden layer's output.
        input_dropout: dropout probability on the input features (robustness to a few
            badly tracked landmarks).
        seed: seeds torch's generator (weights, dropout, shuffling).
        threads: torch's CPU threads (results are reproducible for a fixed count).
    """

    hidden: tuple[int, ...] = (256, 256)
    epochs: int = 30
    batch: int = 512
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.1
    input_dropout: float = 0.0
    seed: int = 0
    threads: int = 2


def fit_mlp(
    x: np.ndarray,
    y: np.ndarray,
    loss: Callable,
    outputs: int,
    options: FitOptions,
    *,
    sample_weight: np.ndarray | None = None,
    validate: Callable[[Mlp], float] | None = None,
    keep_best: bool = False,
    desc: str = "train",
) -> tuple[Mlp, list[float]]:
    """Train an MLP from `x` to `y`.

    Args:
        x: N x D float32 standardized inputs.
        y: N x K targets (float for regression, int64 class indices as N for classification).
        loss: torch function (logits B x K, targets B..., per-sample weights B) -> scalar.
        outputs: K, the network's outputs.
        options: see `FitOptions`.
        sample_weight: N per-sample weights (None: all 1).
        validate: scores each epoch's model (higher is better), for the progress bar and the
            returned scores.
        keep_best: return the epoch `validate` scored best (selection on validation data)
            instead of the last.
        desc: the progress bar's label.

    Returns:
        The trained network and each epoch's validation score (empty without `validate`).
    """
    import torch
    from tqdm import tqdm

    torch.manual_seed(options.seed)
    torch.set_num_threads(options.threads)
    torch.use_deterministic_algorithms(True)
    sizes = [x.shape[1], *options.hidden, outputs]
    layers: list = [torch.nn.Dropout(options.input_dropout)] if options.input_dropout else []
    for n, (width_in, width_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(width_in, width_out))
        if n < len(sizes) - 2:
            layers += [torch.nn.ReLU(), torch.nn.Dropout(options.dropout)]
    network = torch.nn.Sequential(*layers)
    inputs = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    targets = torch.from_numpy(np.ascontiguousarray(y))
    weights = torch.from_numpy(np.ones(len(x), np.float32) if sample_weight is None
                               else np.ascontiguousarray(sample_weight, np.float32))
    optimizer = torch.optim.AdamW(network.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay)
    steps = options.epochs * ((len(x) + options.batch - 1) // options.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=options.learning_rate, total_steps=steps,
                                                   pct_start=0.1, anneal_strategy="cos")
    generator = torch.Generator().manual_seed(options.seed)
    scores: list[float] = []
    best: tuple[float, Mlp] | None = None
    with tqdm(total=options.epochs, desc=desc, unit="epoch", disable=None) as bar:
        for _ in range(options.epochs):
            network.train()
            order = torch.randperm(len(x), generator=generator)
            total = 0.0
            for start in range(0, len(x), options.batch):
                batch = order[start:start + options.batch]
                value = loss(network(inputs[batch]), targets[batch], weights[batch])
                optimizer.zero_grad()
                value.backward()
                optimizer.step()
                schedule.step()
                total += value.item() * len(batch)
            model = _to_mlp(network)
            postfix = {"loss": f"{total / len(x):.4f}"}
            if validate is not None:
                scores.append(validate(model))
                postfix["val"] = f"{scores[-1]:.4f}"
                if best is None or scores[-1] > best[0]:
                    best = (scores[-1], model)
            bar.set_postfix(postfix)
            bar.update(1)
    return (best[1] if keep_best and best is not None else model), scores


def _to_mlp(network) -> Mlp:
    import torch

    linear = [layer for layer in network if isinstance(layer, torch.nn.Linear)]
    return Mlp(weights=tuple(layer.weight.detach().numpy().T.copy() for layer in linear),
               biases=tuple(layer.bias.detach().numpy().copy() for layer in linear))

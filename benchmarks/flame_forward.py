"""FLAME forward pass for one face (100 shape + 50 expression + 5-joint pose): median ms.

numpy: `pose_flame` with the identity part cached (`shape_flame` once), the per-frame cost.
torch: `flame_forward` with batch 1 (shape included, as EMOCA runs it), no autograd.
Goal: <= 0.5 ms in numpy on this CPU.

    python benchmarks/flame_forward.py [FLAME_PKL] [--repeats 500] [--threads N]

Without FLAME_PKL a random model in FLAME's format and sizes is generated (timing does not
depend on the values).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from avatar_live.face.flame import FLAME_JOINTS, load_flame, pose_flame, shape_flame
from avatar_live.face.flame_torch import flame_forward, flame_tensors

REPO = Path(__file__).resolve().parents[1]


def median_ms(run: Callable[[], object], repeats: int) -> float:
    for _ in range(20):  # warm caches and lazy initialisation
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("flame", nargs="?", help="an official FLAME pickle (default: a generated one)")
    parser.add_argument("--repeats", type=int, default=500)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.flame:
        model = load_flame(args.flame)
    else:
        # The test-data generator writes the official format; reuse it rather than a second generator.
        sys.path.insert(0, str(REPO / "tests"))
        import flame_files

        with tempfile.TemporaryDirectory() as folder:
            model = load_flame(flame_files.write_flame(Path(folder) / "generic_model.pkl"))

    rng = np.random.default_rng(0)
    betas = rng.normal(0, 1, model.n_shape).astype(np.float32)
    expression = rng.normal(0, 1, model.n_expression).astype(np.float32)
    pose = rng.normal(0, 0.2, (FLAME_JOINTS, 3))

    shaped = shape_flame(model, betas)
    numpy_ms = median_ms(lambda: pose_flame(shaped, expression, pose), args.repeats)
    shape_ms = median_ms(lambda: shape_flame(model, betas), max(args.repeats // 10, 10))

    tensors = flame_tensors(model)
    inputs = [torch.from_numpy(np.asarray(a, np.float32))[None] for a in (betas, expression, pose)]
    with torch.inference_mode():
        torch_ms = median_ms(lambda: flame_forward(tensors, *inputs), args.repeats)

    print(f"FLAME forward, {model.v_template.shape[0]} vertices, {model.n_shape} shape + {model.n_expression} "
          f"expression, {platform.processor() or platform.machine()}, torch {torch.get_num_threads()} threads")
    print(f"numpy pose_flame (shape cached): {numpy_ms:.3f} ms median  (goal <= 0.5 ms)")
    print(f"numpy shape_flame (once per user): {shape_ms:.3f} ms median")
    print(f"torch flame_forward, batch 1:      {torch_ms:.3f} ms median")


if __name__ == "__main__":
    main()

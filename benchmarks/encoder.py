"""EMOCA encoder inference per available backend: median and p95 ms at batch 1 and 8.

    python benchmarks/encoder.py [ENCODER_ONNX] [--batches 1 8] [--repeats 30] [--backends NAME ...]

With ENCODER_ONNX (e.g. written by `avatar_live.encoders.export.export_encoder`) only the ONNX
backends (TensorRT, ONNX Runtime) run, since there is no torch module to go with it. Without
it, an `EmocaEncoder` (two ResNet-50s) with random weights is built and exported to a
temporary folder, and every backend available here runs it; timing does not depend on the
weights. Each backend's output is also compared with the float32 reference (torch on the
CPU, else ONNX Runtime) on the same batch.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from avatar_live.runtime import BACKEND_NAMES, InferenceBackend, max_relative_error
from avatar_live.runtime.select import create_backend, unavailable_reason


def random_encoder() -> torch.nn.Module:
    from avatar_live.encoders.emoca_model import EExpression, EFlame, EmocaEncoder

    torch.manual_seed(0)
    return EmocaEncoder(EFlame(), EExpression()).eval()


def timings_ms(backend: InferenceBackend, batch: np.ndarray, repeats: int) -> tuple[float, float]:
    """Median and 95th percentile of `repeats` runs, after warm-up (CUDA graph capture, cuDNN tuning)."""
    inputs = {backend.input_names[0]: batch}
    for _ in range(3):
        backend.run(inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        backend.run(inputs)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), float(np.percentile(times, 95))


def benchmark(onnx_path: Path, factory: Callable[[], torch.nn.Module] | None, names: list[str],
              batches: list[int], repeats: int) -> None:
    rng = np.random.default_rng(0)
    data = {size: rng.random((size, 3, 224, 224), dtype=np.float32) for size in batches}
    reference_name = "torch-cpu" if factory is not None else "onnxruntime"
    references = {}
    print(f"{'backend':<12} {'device':<28} {'prec':<5} {'batch':>5} {'median ms':>10} {'p95 ms':>8} {'rel err':>9}")
    for name in sorted(names, key=lambda n: n != reference_name):  # the reference first
        reason = unavailable_reason(name, onnx_path, factory)
        if reason is not None:
            print(f"{name:<12} skipped: {reason}")
            continue
        with create_backend(name, onnx_path, factory) as backend:
            for size in batches:
                outputs = backend.run({backend.input_names[0]: data[size]})
                if name == reference_name:
                    references[size] = outputs
                error = max_relative_error(outputs, references[size]) if size in references else float("nan")
                median, p95 = timings_ms(backend, data[size], repeats)
                print(f"{name:<12} {backend.device:<28} {backend.precision:<5} {size:>5} {median:>10.2f} "
                      f"{p95:>8.2f} {error:>9.1e}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("onnx", nargs="?", type=Path, help="an exported encoder (default: a random EmocaEncoder)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--backends", nargs="+", choices=BACKEND_NAMES, default=list(BACKEND_NAMES))
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")
    if args.onnx is not None:
        benchmark(args.onnx, None, args.backends, args.batches, args.repeats)
        return
    from avatar_live.encoders.export import export_encoder

    with tempfile.TemporaryDirectory() as folder:
        path = export_encoder(random_encoder(), Path(folder) / "emoca_encoder.onnx")
        benchmark(path, random_encoder, args.backends, args.batches, args.repeats)


if __name__ == "__main__":
    main()

"""EMOCA encoder inference per available backend: median and p95 ms at batch 1 and 8.

    python benchmarks/encoder.py [ENCODER_ONNX] [--batches 1 8] [--repeats 30] [--backends NAME ...]

ENCODER_ONNX is a converted model in the store (`models add-emoca`; `models list` shows the
path): every form stored beside it runs (the INT8 copy, the torch weights). Without it, an
`EmocaEncoder` (two ResNet-50s) with random weights is built, exported and quantized in a
temporary folder, and every backend available here runs it; timing does not depend on the
weights. The inputs are EMOCA crops of the demo face. Each backend's output is compared
with the float32 reference (torch on the CPU, else ONNX Runtime) on the same batch.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from avatar_live.console import filter_native_stderr
from avatar_live.encoders import quantize
from avatar_live.errors import AvatarLiveError
from avatar_live.model_store import converted_model
from avatar_live.runtime import (
    BACKEND_NAMES,
    InferenceBackend,
    ModelFiles,
    max_relative_error,
)
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


def benchmark(model: ModelFiles, crops: np.ndarray, names: list[str], batches: list[int], repeats: int) -> None:
    data = {size: np.resize(crops, (size, *crops.shape[1:])) for size in batches}
    reference_name = "torch-cpu" if model.torch_factory is not None else "onnxruntime"
    references = {}
    print(f"{'backend':<17} {'device':<28} {'prec':<5} {'batch':>5} {'median ms':>10} {'p95 ms':>8} {'rel err':>9}")
    for name in sorted(names, key=lambda n: n != reference_name):  # the reference first
        reason = unavailable_reason(name, model)
        if reason is not None:
            print(f"{name:<17} skipped: {reason}")
            continue
        with create_backend(name, model) as backend:
            for size in batches:
                outputs = backend.run({backend.input_names[0]: data[size]})
                if name == reference_name:
                    references[size] = outputs
                error = max_relative_error(outputs, references[size]) if size in references else float("nan")
                median, p95 = timings_ms(backend, data[size], repeats)
                print(f"{name:<17} {backend.device:<28} {backend.precision:<5} {size:>5} {median:>10.2f} "
                      f"{p95:>8.2f} {error:>9.1e}", flush=True)


def main() -> None:
    filter_native_stderr()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("onnx", nargs="?", type=Path, help="a stored encoder (default: a random EmocaEncoder)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--backends", nargs="+", choices=BACKEND_NAMES, default=list(BACKEND_NAMES))
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")
    crops = quantize.demo_face_crops(quantize.CALIBRATION_CROPS + quantize.CHECK_CROPS)
    if args.onnx is not None:
        benchmark(converted_model(args.onnx, "emoca"), crops, args.backends, args.batches, args.repeats)
        return
    from avatar_live.encoders.export import export_encoder

    with tempfile.TemporaryDirectory() as folder:
        path = export_encoder(random_encoder(), Path(folder) / "emoca_encoder.onnx")
        int8: Path | None = Path(folder) / "emoca_encoder.int8.onnx"
        try:
            deviation = quantize.quantize_encoder(path, int8, crops)
            print(f"INT8 copy: max deviation {deviation:.2%} from float32 on {quantize.CHECK_CROPS} unseen crops")
        except AvatarLiveError as error:
            print(f"no INT8 copy: {error}")
            int8 = None
        benchmark(ModelFiles(path, int8, random_encoder), crops, args.backends, args.batches, args.repeats)


if __name__ == "__main__":
    main()

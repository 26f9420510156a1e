"""Every GPU backend of the EMOCA encoder, timed and checked against float32, in one table.

    PYTHONPATH=. python benchmarks/gpu_check.py [--iters 300] [--batches 1,8] [--out FILE]
    PYTHONPATH=. python benchmarks/gpu_check.py --device cpu --iters 3    # dry run, no GPU

It needs only torch (GPU machines here have nothing else and no network): the encoder has
random weights (seeded) and the crops are random pixels. The torch configurations are a
ladder, each adding one thing to the one before: eager FP16, + CUDA graph, + channels_last,
+ two streams, + torch.compile, + uint8 upload. TensorRT is added when tensorrt, onnx
(to export the model) and numpy (its backend's interface) import. Each row: host-timed
median / p95 per call including the copies (synchronized around), GPU time of the device
work alone (CUDA events around graph replays), and the max relative error against the
float32 CPU output (as `runtime.base.max_relative_error`). Expected to take 2-4 minutes on
an H200 (not yet measured), most of it torch.compile and the TensorRT engine build; what
would start after the time budget is spent is skipped, with a note in the table. torch.compile
needs triton's C compiler on the machine; without it that row notes the eager fallback.

Exit status: 0; 1 when a row's error exceeds the tolerance; 2 when there is no CUDA GPU.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from avatar_live.encoders.emoca_model import (
    CODE_SIZES,
    CROP_SIZE,
    EExpression,
    EFlame,
    EmocaEncoder,
)
from avatar_live.torch_runner import TorchRunner, max_relative_error

log = logging.getLogger("gpu_check")

TOLERANCE = 1e-3
TARGET_MS = 0.8  # issue #13: batch 1, host-timed with copies
BUDGET_S = 270.0  # of the 5 minutes the check may take; the rest is start-up and margin
COMPILE_RESERVE_S = 120.0  # torch.compile is only tried with this much budget left
TENSORRT_RESERVE_S = 60.0  # and TensorRT (an engine build) with this much

# (configuration, TorchRunner options, uint8 input, needs CUDA), each adding one thing.
GRAPH = {"cuda_graphs": True}
LAYOUT = {**GRAPH, "channels_last": True}
STREAMS = {**LAYOUT, "two_streams": True}
COMPILED = {**STREAMS, "compile": True}
LADDER: tuple[tuple[str, dict[str, bool], bool, bool], ...] = (
    ("eager", {"cuda_graphs": False}, False, False),
    ("+ CUDA graph", GRAPH, False, True),
    ("+ channels_last", LAYOUT, False, False),
    ("+ two streams", STREAMS, False, True),
    ("+ torch.compile", COMPILED, False, True),
    ("+ uint8 upload", COMPILED, True, False),
)


@dataclass
class Row:
    """One configuration at one batch size; times in milliseconds, None when not measured."""

    config: str
    batch: int
    host_median: float | None = None
    host_p95: float | None = None
    gpu_median: float | None = None
    error: float | None = None
    note: str = ""


def random_crops(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random RGB crops as uint8 B x 224 x 224 x 3 and as float32 B x 3 x 224 x 224 in [0, 1] (the same pixels)."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (batch, CROP_SIZE, CROP_SIZE, 3), dtype=torch.uint8, generator=generator)
    return pixels, (pixels.permute(0, 3, 1, 2).float() / 255).contiguous()


def random_encoder(seed: int = 0) -> EmocaEncoder:
    """The encoder with seeded random weights, on the CPU in float32."""
    torch.manual_seed(seed)
    return EmocaEncoder(EFlame(), EExpression()).eval()


def host_times(call: Callable[[], object], iters: int, cuda: bool) -> list[float]:
    """Milliseconds per call, synchronized before and after each, after a short warm-up."""
    for _ in range(min(10, iters)):
        call()
    times = []
    for _ in range(iters):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        call()
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def gpu_times(replay: Callable[[], None], iters: int) -> list[float]:
    """Milliseconds of device work per replay, from CUDA events."""
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
    for start, end in events:
        start.record()
        replay()
        end.record()
    torch.cuda.synchronize()
    return [start.elapsed_time(end) for start, end in events]


def p95(times: list[float]) -> float:
    return sorted(times)[min(len(times) - 1, int(0.95 * len(times)))]


def torch_rows(name: str, options: dict[str, bool], uint8: bool, device: str,
               crops: dict[int, tuple[torch.Tensor, torch.Tensor]], reference: dict[int, dict[str, torch.Tensor]],
               iters: int) -> list[Row]:
    """Build one runner (on its own copy of the encoder: the runner converts it in place) and measure it."""
    cuda = device != "cpu"
    started = time.monotonic()
    runner = TorchRunner(random_encoder(), CODE_SIZES, device=device, **options)
    rows = []
    for batch, (pixels, floats) in crops.items():
        inputs = [pixels if uint8 else floats]
        first = time.monotonic()
        outputs = runner.run(inputs)  # builds: warm-up, compile, capture
        note = f"first call {time.monotonic() - first:.1f} s" if time.monotonic() - first > 1 else ""
        if options.get("compile") and not runner.compiled:
            note = "compile failed: uncompiled (see log)"
        if options.get("two_streams") and cuda and not runner.two_streams:
            note = "two-stream capture failed: one stream (see log)"
        times = host_times(lambda inputs=inputs: runner.run(inputs), iters, cuda)
        gpu = statistics.median(gpu_times(runner.replay, iters)) if cuda else None
        rows.append(Row(name, batch, statistics.median(times), p95(times), gpu,
                        max_relative_error(outputs, reference[batch]), note))
    runner.close()
    if options.get("compile"):
        # Forget this runner's compiled frames: the ladder's compiled runners share the
        # regressors' forward code, whose in-process cache is limited (inductor's disk cache stays).
        torch.compiler.reset()
    log.info("%s: %.0f s", name, time.monotonic() - started)
    return rows


def tensorrt_rows(model: EmocaEncoder, crops: dict[int, tuple[torch.Tensor, torch.Tensor]],
                  reference: dict[int, dict[str, torch.Tensor]], iters: int, workdir: Path) -> list[Row] | str:
    """TensorRT FP16 rows, or why TensorRT cannot run here."""
    for module, why in (("tensorrt", "tensorrt not installed"), ("onnx", "onnx not installed (exports the model)"),
                        ("numpy", "numpy not installed (the TensorRT backend's interface)")):
        try:
            __import__(module)
        except ImportError:
            return why
    try:
        from avatar_live.runtime.tensorrt_backend import TensorRTBackend
    except ImportError as error:
        return f"the TensorRT backend cannot import: {error}"
    onnx_path = workdir / "emoca_random.onnx"
    names = list(CODE_SIZES)
    torch.onnx.export(model, (torch.zeros(1, 3, CROP_SIZE, CROP_SIZE),), str(onnx_path), input_names=["image"],
                      output_names=names, dynamic_axes={name: {0: "batch"} for name in ["image", *names]},
                      opset_version=17, dynamo=False)
    backend = TensorRTBackend(onnx_path, precision="fp16", max_batch=max(crops), cache_dir=workdir / "engines")
    rows = []
    for batch, (_, floats) in crops.items():
        inputs = {"image": floats.numpy()}
        outputs = {name: torch.from_numpy(array) for name, array in backend.run(inputs).items()}
        times = host_times(lambda inputs=inputs: backend.run(inputs), iters, cuda=True)
        rows.append(Row("TensorRT fp16", batch, statistics.median(times), p95(times), None,
                        max_relative_error(outputs, reference[batch])))
    backend.close()
    return rows


def table(rows: list[Row]) -> str:
    """The rows as one markdown table."""
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = ["| configuration | batch | host median ms | host p95 ms | GPU ms | max rel. error | note |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        error = "-" if row.error is None else f"{row.error:.1e}" + (" FAIL" if row.error > TOLERANCE else "")
        lines.append(f"| {row.config} | {row.batch} | {ms(row.host_median)} | {ms(row.host_p95)} | "
                     f"{ms(row.gpu_median)} | {error} | {row.note} |")
    return "\n".join(lines)


def versions(device: str) -> dict[str, str]:
    """What ran: the device and the library versions."""
    found = {"device": torch.cuda.get_device_name(device) if device != "cpu" else "cpu",
             "torch": torch.__version__, "cuda": str(torch.version.cuda),
             "cudnn": str(torch.backends.cudnn.version()), "tensorrt": "not installed"}
    try:
        import tensorrt

        found["tensorrt"] = tensorrt.__version__
    except ImportError:
        pass
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=300, help="timed calls per row (default 300)")
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes (default 1,8)")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a dry run")
    parser.add_argument("--out", type=Path, help="also write the results here as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cuda = args.device != "cpu"
    if cuda and not torch.cuda.is_available():
        print(f"gpu_check: torch {torch.__version__} sees no CUDA GPU (use --device cpu for a dry run)",
              file=sys.stderr)
        return 2
    started = time.monotonic()
    batches = [int(batch) for batch in args.batches.split(",")]
    model = random_encoder()
    crops = {batch: random_crops(batch, seed=batch) for batch in batches}
    with torch.no_grad():
        reference = {batch: dict(zip(CODE_SIZES, model(floats))) for batch, (_, floats) in crops.items()}
    rows: list[Row] = []
    for name, options, uint8, needs_cuda in LADDER:
        if needs_cuda and not cuda:
            continue
        left = BUDGET_S - (time.monotonic() - started)
        if left <= 0 or (options.get("compile") and cuda and left < COMPILE_RESERVE_S):
            rows += [Row(name, batch, note="skipped: time budget spent") for batch in batches]
            continue
        # torch.compile is only exercised on the GPU: on the CPU it needs a C++ toolchain.
        options = dict(options, compile=options.get("compile", False) and cuda)
        rows += torch_rows(name, options, uint8, args.device, crops, reference, args.iters)
    if cuda and BUDGET_S - (time.monotonic() - started) < TENSORRT_RESERVE_S:
        rows += [Row("TensorRT fp16", batch, note="skipped: time budget spent") for batch in batches]
    elif cuda:
        with tempfile.TemporaryDirectory() as workdir:
            try:
                result = tensorrt_rows(model, crops, reference, args.iters, Path(workdir))
            except Exception as error:  # noqa: BLE001 - one failing backend must not hide the others' table
                result = f"failed: {type(error).__name__}: {error}"
        rows += result if isinstance(result, list) else [Row("TensorRT fp16", batch, note=result) for batch in batches]
    info = versions(args.device)
    print(" | ".join(f"{key} {value}" for key, value in info.items()))
    print(table(rows))
    print(f"total {time.monotonic() - started:.0f} s; tolerance {TOLERANCE:.0e} relative to float32 on the CPU")
    timed = [row for row in rows if row.batch == 1 and row.host_median is not None]
    if cuda and timed:
        best = min(timed, key=lambda row: row.host_median)
        print(f"fastest at batch 1: {best.config}, {best.host_median:.2f} ms host-timed "
              f"(target <= {TARGET_MS} ms on an H100/H200)")
    if args.out:
        args.out.write_text(json.dumps({**info, "tolerance": TOLERANCE, "rows": [asdict(row) for row in rows]}, indent=2))
    return 1 if any(row.error is not None and row.error > TOLERANCE for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

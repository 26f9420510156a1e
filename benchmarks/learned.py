"""The learned read-outs' cost per frame: the expression model, the emotion model, and the
encode stage around them (learned against solver), on a real clip's FaceMesh landmarks.

Also the expression network alone in numpy and, where onnxruntime is installed, in ONNX
Runtime (the same weights exported through torch): the reason the app runs it in numpy.

Usage: python benchmarks/learned.py [VIDEO] [--passes N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from avatar_live.app import AppOptions, make_encode_stage
from avatar_live.capture.sources import open_source
from avatar_live.console import filter_native_stderr
from avatar_live.learned.emotion import load_emotion_net
from avatar_live.learned.expression import load_expression_net
from avatar_live.learned.mlp import Mlp
from avatar_live.tracking.facemesh import FaceMeshTracker
from avatar_live.types import Frame, Packet, Track

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "WolfgangLanger_Pexels.mp4"
GOAL_MS = 0.3


def _tracks(video: Path) -> tuple[list[Track], tuple[int, int]]:
    tracker = FaceMeshTracker.create_from_options()
    source = open_source(str(video))
    tracks = [track for frame in iter(source.read, None)
              if (track := tracker.detect_for_video(frame.image, frame.time)) is not None]
    size = source.size
    source.close()
    tracker.close()
    return tracks, size


def _per_call(function, items, passes: int) -> np.ndarray:
    """Milliseconds of each call, over `passes` passes through `items` (the first pass warms up)."""
    for item in items[:20]:
        function(item)
    times = []
    for _ in range(passes):
        for item in items:
            started = time.perf_counter()
            function(item)
            times.append(time.perf_counter() - started)
    return np.array(times) * 1000.0


def _line(name: str, ms: np.ndarray, goal: float | None = None) -> str:
    verdict = "" if goal is None else f"  (goal <= {goal} ms: {'met' if np.median(ms) <= goal else 'NOT met'})"
    return f"  {name:44s} median {np.median(ms):6.3f} ms  p95 {np.percentile(ms, 95):6.3f} ms{verdict}"


def _onnxruntime_session(mlp: Mlp):
    """The expression network in ONNX Runtime (one thread), or None without torch/onnxruntime."""
    try:
        import io

        import onnxruntime
        import torch
    except ImportError:
        return None
    layers = []
    for n, (weight, bias) in enumerate(zip(mlp.weights, mlp.biases)):
        linear = torch.nn.Linear(*weight.shape)
        linear.weight.data = torch.from_numpy(weight.T.copy())
        linear.bias.data = torch.from_numpy(bias.copy())
        layers += [linear] + ([torch.nn.ReLU()] if n < len(mlp.weights) - 1 else [])
    buffer = io.BytesIO()
    torch.onnx.export(torch.nn.Sequential(*layers), torch.zeros(1, mlp.inputs), buffer, input_names=["x"],
                      dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


def main() -> None:
    filter_native_stderr()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    tracks, size = _tracks(args.video)
    landmarks = [track.landmarks for track in tracks]
    expression, emotion = load_expression_net(), load_emotion_net()
    weights = [expression(points) for points in landmarks]
    print(f"{args.video.name}: {len(tracks)} faces, {args.passes} passes")
    print(_line("expression model (landmarks -> 52 weights)",
                _per_call(expression, landmarks, args.passes), GOAL_MS))
    print(_line("emotion model (weights + landmarks -> 8 classes)",
                _per_call(lambda n: emotion(weights[n], landmarks[n]), list(range(len(tracks))), args.passes)))
    features = [expression.features(points) for points in landmarks]
    print(_line("  expression network alone, numpy", _per_call(expression.mlp, features, args.passes)))
    session = _onnxruntime_session(expression.mlp)
    if session is not None:
        rows = [x[None] for x in features]
        print(_line("  expression network alone, ONNX Runtime",
                    _per_call(lambda x: session.run(None, {"x": x}), rows, args.passes)))
    blank = np.zeros((size[1], size[0], 3), np.uint8)
    for readout in ("learned", "solver"):
        stage = make_encode_stage(AppOptions(readout=readout), stills=False)
        packets = [Packet(frame=Frame(n, n / 30.0, blank), track=track) for n, track in enumerate(tracks)]
        print(_line(f"encode stage, --readout {readout} (pose, read-outs, smoother, emotion)",
                    _per_call(stage, packets, 1)))


if __name__ == "__main__":
    main()

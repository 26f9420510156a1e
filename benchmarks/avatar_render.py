"""Render speed of the built-in character and of its VRM export, at two frame sizes.

    python benchmarks/avatar_render.py [--frames 200]

Each avatar is driven by a moving face (head turns, blinks, jaw, smile) for the given
number of frames; prints median and p95 milliseconds a frame, readback included.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from avatar_live.avatars.export import export_avatar
from avatar_live.avatars.gltf import load_avatar_file
from avatar_live.face.builtin import build_builtin_head
from avatar_live.render.gltf_renderer import GltfRenderer
from avatar_live.render.renderer import AvatarRenderer, RenderOptions
from avatar_live.types import ARKIT_INDEX, FaceParams

SIZES = ((640, 480), (1280, 720))


def moving_face(i: int) -> FaceParams:
    """A face that turns, blinks, talks and smiles over about four seconds at 30 fps."""
    t = i / 30.0
    params = FaceParams.neutral()
    params.face = True
    params.rotation[:] = (0.15 * np.sin(t * 1.3), 0.35 * np.sin(t * 0.9), 0.08 * np.sin(t * 0.7))
    for name, value in (("jawOpen", 0.5 + 0.5 * np.sin(t * 5.0)), ("eyeBlinkLeft", float(i % 40 < 4)),
                        ("eyeBlinkRight", float(i % 40 < 4)), ("mouthSmileLeft", 0.5 + 0.5 * np.sin(t)),
                        ("mouthSmileRight", 0.5 + 0.5 * np.sin(t))):
        params.arkit[ARKIT_INDEX[name]] = value
    params.gaze[:] = (0.2 * np.sin(t * 2.0), 0.1 * np.cos(t * 1.5))
    return params


def time_renderer(renderer, frames: int) -> tuple[float, float]:
    renderer.render(moving_face(0))  # first frame: shader compilation, uploads
    times = []
    for i in range(frames):
        started = time.perf_counter()
        renderer.render(moving_face(i))
        times.append((time.perf_counter() - started) * 1000.0)
    renderer.release()
    return statistics.median(times), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    rig = build_builtin_head()
    with tempfile.TemporaryDirectory() as folder:
        exported = load_avatar_file(export_avatar(rig, Path(folder) / "builtin.vrm", vrm="1.0"))
    print(f"{'avatar':<22}{'size':>11}{'median ms':>11}{'p95 ms':>9}{'fps':>7}")
    for size in SIZES:
        options = RenderOptions(size=size)
        for name, renderer in (("built-in", AvatarRenderer.create_from_options(rig, options)),
                               ("exported VRM 1.0", GltfRenderer.create_from_options(exported, options))):
            median, p95 = time_renderer(renderer, args.frames)
            print(f"{name:<22}{size[0]:>6}x{size[1]:<4}{median:>11.2f}{p95:>9.2f}{1000.0 / median:>7.0f}")


if __name__ == "__main__":
    main()

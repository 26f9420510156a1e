"""Recordings and files a streamer can trust, through the real command line (subprocesses):
signals, SIGKILL, a full disk, outputs that would overwrite inputs, damaged sources."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import shared_file

ENV = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}


def _avatar_live(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "avatar_live", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, **kwargs)


def _times(path: Path) -> list[float]:
    """The time in seconds of each frame that decodes, up to the first damaged packet
    (where a player stops too)."""
    times = []
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(video=0):
                times.append(float(frame.pts * frame.time_base))
        except av.error.InvalidDataError:
            pass
    return times


def _wait_for(pattern: str, folder: Path, process: subprocess.Popen, *, size: int = 1) -> Path:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        found = [p for p in folder.glob(pattern) if p.stat().st_size >= size]
        if found:
            return found[0]
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"no {pattern} appeared: {process.communicate()[1][-2000:]}")


@pytest.mark.parametrize("name, status", [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_a_signal_finalizes_the_recording_and_exits_non_zero(tmp_path, name, status):
    out = tmp_path / "live.mp4"
    process = _avatar_live("--source", "demo", "--headless", "--record", str(out), "--size", "320x240")
    _wait_for("live.partial-*.mp4", tmp_path, process, size=20_000)
    process.send_signal(getattr(signal, name))
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert len(_times(out)) > 10  # finalized under its own name
    assert not list(tmp_path.glob("*partial*"))


def test_sigkill_keeps_all_but_the_last_second(tmp_path):
    video = shared_file("video/WolfgangLanger_Pexels.mp4")
    out, params = tmp_path / "live.mp4", tmp_path / "live.jsonl"
    process = _avatar_live("--source", str(video), "--headless", "--record", str(out), "--params", str(params),
                           "--size", "320x240")
    lines = _wait_for("live.partial-*.jsonl", tmp_path, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(lines.read_text().splitlines()) < 24 * 5:
        time.sleep(0.1)
    process.kill()
    process.communicate(timeout=30)
    written = [json.loads(line)["time"] for line in lines.read_text().splitlines() if line.endswith("}")]
    (partial,) = tmp_path.glob("live.partial-*.mp4")  # the name says it is incomplete
    kept = _times(partial)
    assert written[-1] - written[0] >= 4.5
    assert kept[-1] >= written[-1] - written[0] - 1.2  # all but about the last second


def test_a_full_disk_is_one_line_a_failure_status_and_keeps_what_was_written(tmp_path):
    video = shared_file("video/WolfgangLanger_Pexels.mp4")
    out = tmp_path / "avatar.mp4"

    def small_disk() -> None:
        # A 300 kB file size limit: writes beyond it fail as they do on a full disk.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    process = _avatar_live("render", str(video), "-o", str(out), "--size", "320x240", preexec_fn=small_disk)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1
    errors = [line for line in stderr.splitlines() if line.startswith("avatar-live: error:")]
    assert len(errors) == 1 and "File too large" in errors[0] and "kept" in errors[0], stderr
    assert "Traceback" not in stderr
    (partial,) = tmp_path.glob("avatar.partial-*.mp4")
    assert str(partial) in errors[0] and not out.exists()
    assert len(_times(partial)) > 24  # the seconds before the disk filled stay playable


def test_an_interrupted_render_saves_and_exits_130(tmp_path):
    video = shared_file("video/WolfgangLanger_Pexels.mp4")
    out = tmp_path / "avatar.mp4"
    process = _avatar_live("render", str(video), "-o", str(out), "--size", "320x240")
    _wait_for("avatar.partial-*.mp4", tmp_path, process, size=20_000)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert 10 < len(_times(out)) < 472


def test_a_damaged_source_saves_what_was_read_and_exits_non_zero(tmp_path):
    source = tmp_path / "clip.mp4"
    noise = np.random.default_rng(0).integers(0, 255, (90, 48, 64, 3), dtype=np.uint8)  # the data outweighs the index
    with av.open(str(source), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(90):
            frame = av.VideoFrame.from_ndarray(noise[i], format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])
    out = tmp_path / "params.jsonl"
    result = subprocess.run([sys.executable, "-m", "avatar_live", "track", str(source), "-o", str(out)],
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "stopped decoding at frame" in result.stderr and "saved" in result.stderr
    assert 0 < len(out.read_text().splitlines()) < 90


@pytest.mark.parametrize("args, message", [
    (["render", "{video}", "-o", "{video}"], "would overwrite the input"),
    (["render", "{video}", "-o", "{tmp}/a.mp4", "--params", "{tmp}/a.mp4"], "-o and --params are the same file"),
    (["track", "{video}", "-o", "{video}"], "would overwrite the input"),
    (["--source", "{video}", "--record", "{tmp}/x.mp4", "--params", "{tmp}/./x.mp4"], "are the same file"),
])
def test_outputs_never_overwrite_the_input_or_each_other(tmp_path, args, message):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"precious")
    args = [a.format(video=video, tmp=tmp_path) for a in args]
    result = subprocess.run([sys.executable, "-m", "avatar_live", *args], capture_output=True, text=True,
                            env=ENV, timeout=120)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert video.read_bytes() == b"precious"


def test_json_lines_to_standard_output_and_messages_to_standard_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "avatar_live", "track", str(shared_file("video/single_face.mp4")),
                             "-o", "-"], capture_output=True, text=True, env=ENV, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    frames = [json.loads(line)["frame"] for line in result.stdout.splitlines()]
    assert frames == list(range(72))
    assert "tracked: 72 frames" in result.stderr and not (tmp_path / "-").exists()


def test_a_full_device_for_json_lines_is_one_line():
    result = subprocess.run([sys.executable, "-m", "avatar_live", "track", str(shared_file("video/single_face.mp4")),
                             "-o", "/dev/full"], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "avatar-live: error: cannot write /dev/full: No space left on device" in result.stderr


def test_a_live_recording_lasts_as_long_as_the_run_at_any_frame_rate(tmp_path):
    out = tmp_path / "live.mp4"
    result = subprocess.run([sys.executable, "-m", "avatar_live", "--source", "demo", "--headless", "--fps", "1000",
                             "--duration", "4", "--record", str(out), "--size", "320x240"],
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    times = _times(out)
    assert times[-1] == pytest.approx(4.0, abs=0.5)  # was 14 frames in 14 ms with nominal stamps


def test_a_signal_during_start_up_is_an_interruption_not_an_internal_error():
    for delay in (0.3, 0.8, 1.5):  # at different points of the imports and model loading
        process = _avatar_live("--source", "demo", "--headless", "--duration", "5")
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        # Before our handler exists, SIGTERM's default action ends the process silently.
        assert process.returncode in (143, -signal.SIGTERM), stderr
        assert "internal error" not in stderr and "Traceback" not in stderr

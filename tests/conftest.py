"""Shared test fixtures.

Real media lives in `../shared/data` beside the checkout (or where AVATAR_LIVE_DATA points).
Tests that need it skip when it is absent, except under CI (env CI set), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("AVATAR_LIVE_DATA", REPO.parent / "shared" / "data"))


def shared_file(relative: str) -> Path:
    """A file from the shared test media; skips (or fails under CI) when missing."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = f"shared test media missing: {path} (set AVATAR_LIVE_DATA or put ../shared/data beside the repo)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def tiny_video(tmp_path) -> Path:
    """A 12-frame 64x48 video at 15 fps made by the test, no face in it."""
    import cv2

    path = tmp_path / "tiny.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, (64, 48))
    for i in range(12):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    return path


class FakeVirtualCamera:
    """A pyvirtualcam backend that keeps every frame it is sent (no device needed)."""

    received: list[np.ndarray] = []

    def __init__(self, width, height, fps, fourcc, device, **kw):
        FakeVirtualCamera.received = []

    def close(self):
        pass

    def send(self, frame):
        FakeVirtualCamera.received.append(frame.copy())

    def device(self):
        return "fake"

    def native_fourcc(self):
        return None


class MissingVirtualCamera(FakeVirtualCamera):
    def __init__(self, *args, **kw):
        raise RuntimeError("device not found")


@pytest.fixture
def fake_virtualcam():
    """Registers pyvirtualcam backends "fake" (records frames) and "nodevice" (fails to open)."""
    import pyvirtualcam

    pyvirtualcam.register_backend("fake", FakeVirtualCamera)
    pyvirtualcam.register_backend("nodevice", MissingVirtualCamera)
    yield FakeVirtualCamera
    pyvirtualcam.camera.BACKENDS.pop("fake", None)
    pyvirtualcam.camera.BACKENDS.pop("nodevice", None)


def free_display_number() -> int:
    """An X display number with no server (no socket and no lock file)."""
    for number in range(90, 200):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}") and not os.path.exists(f"/tmp/.X{number}-lock"):
            return number
    pytest.skip("no free X display number")


@pytest.fixture(scope="session")
def xvfb_display():
    """A virtual X display (":N") for real-window tests; skips where Xvfb is not installed."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb); .ci/run installs it")
    number = free_display_number()
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1024x768x24"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(f"/tmp/.X11-unix/X{number}"):
            assert time.monotonic() < deadline and server.poll() is None, "Xvfb did not start"
            time.sleep(0.05)
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)

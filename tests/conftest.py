"""Shared test fixtures.

Real media lives in `../shared/data` beside the checkout (or where AVATAR_LIVE_DATA points).
Tests that need it skip when it is absent, except under CI (env CI set), where they fail.
Tests that need an optional extra (`requires_extra`) skip when it was not installed, unless
it was asked for: by install.sh's EXTRAS, or under CI, which asks for all of them.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("AVATAR_LIVE_DATA", REPO.parent / "shared" / "data"))


def pytest_configure(config) -> None:
    """Keep the tester's own settings file and saved calibrations out of every test, and
    the tests' out of theirs (subprocesses inherit these variables)."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="avatar-live-test-home-"))
    os.environ["AVATAR_LIVE_CONFIG"] = str(home / "config.toml")
    os.environ["AVATAR_LIVE_HOME"] = str(home)
    os.environ["AVATAR_LIVE_CACHE"] = str(home / "cache")  # the built-in head's cache, engines


def shared_file(relative: str) -> Path:
    """A file from the shared test media; skips (or fails under CI) when missing."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = f"shared test media missing: {path} (set AVATAR_LIVE_DATA or put ../shared/data beside the repo)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def requested_extras() -> set[str]:
    """The extras install.sh installed into this Python's virtual environment (none when it kept no record)."""
    record = Path(sys.prefix) / "avatar-live-extras"  # written by install.sh, e.g. "dev,emoca"
    if not record.is_file():
        return set()
    return {name.strip() for name in record.read_text().split(",") if name.strip()}


def requires_extra(extra: str, *modules: str) -> None:
    """Skip the calling test, or test module when called at its top, if an extra's modules are missing.

    Call it at a module's top before importing those modules, so that collection skips
    instead of erroring. Missing modules fail instead of skipping when the extra was asked
    for (recorded by install.sh, see `requested_extras`) or under CI (env CI set): the
    installation is broken then, and skipping would hide it.

    Args:
        extra: the name in pyproject.toml's optional-dependencies, e.g. "emoca".
        modules: the modules the test needs from it, e.g. "torch", "onnx".
    """
    __tracebackhide__ = True  # pytest then reports the caller's line, not this one
    missing: list[str] = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if not missing:
        return
    install = f"EXTRAS=dev,{extra} ./install.sh"
    if os.environ.get("CI") or extra in requested_extras():
        asker = "CI" if os.environ.get("CI") else "install.sh"
        pytest.fail(f"{', '.join(missing)} cannot be imported, though {asker} asked for the {extra} extra: {install}",
                    pytrace=False)
    pytest.skip(f"needs the {extra} extra ({', '.join(modules)}): {install}", allow_module_level=True)


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

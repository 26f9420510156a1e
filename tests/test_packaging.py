"""The package installed from a wheel (`pip install .`) is complete: it works without the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "avatar_live"

pytestmark = pytest.mark.slow  # builds a wheel and installs it: a few seconds


def _pip(*args: str, cwd: Path | None = None) -> None:
    """Run pip offline, failing the test with its output."""
    command = [sys.executable, "-m", "pip", *args, "--no-index", "--no-deps", "--disable-pip-version-check", "-q"]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from the checkout's files, as `pip install .` builds it."""
    # Built from a copy: setuptools writes build/ and *.egg-info into the source folder,
    # which must not appear in a working tree that others use at the same time.
    source = tmp_path_factory.mktemp("source")
    shutil.copy2(REPO / "pyproject.toml", source)
    shutil.copy2(REPO / "README.md", source)
    shutil.copytree(PACKAGE, source / "avatar_live", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", "--no-build-isolation", "-w", str(out), str(source))
    (built,) = out.glob("avatar_live-*.whl")
    return built


def test_the_wheel_holds_every_shader_and_the_learned_weights(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shaders = sorted(PACKAGE.glob("shaders/*"))
    weights = sorted(PACKAGE.glob("learned/weights/*.npz")) + [PACKAGE / "learned" / "weights" / "SHA256SUMS"]
    assert len(shaders) >= 5 and len(weights) >= 3
    missing = [path.relative_to(REPO).as_posix() for path in shaders + weights
               if path.relative_to(REPO).as_posix() not in names]
    assert missing == []


INSTALLED_CHECK = """
import sys
from pathlib import Path

import avatar_live
from avatar_live.learned.emotion import load_emotion_net
from avatar_live.learned.expression import load_expression_net
from avatar_live.render.context import create_offscreen_context
from avatar_live.render.frame import load_program, read_shader

target = Path(sys.argv[1]).resolve()
assert Path(avatar_live.__file__).resolve().is_relative_to(target), avatar_live.__file__
names = [path.name for path in (Path(avatar_live.__file__).parent / "shaders").iterdir()]
assert all(read_shader(name).strip() for name in names), names
ctx = create_offscreen_context()
for vertex, fragment in (("head.vert", "head.frag"), ("fullscreen.vert", "background.frag"),
                         ("fullscreen.vert", "blit.frag")):
    load_program(ctx, vertex, fragment).release()
ctx.release()
assert load_expression_net().mlp.outputs == 52 and load_emotion_net().mlp.outputs == 7
print("installed package works:", len(names), "shaders")
"""


def test_the_installed_wheel_renders_without_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    _pip("install", "--target", str(target), str(wheel))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Only the target on PYTHONPATH: it comes before the virtual environment's editable
    # install of the checkout, whose dependencies (numpy, moderngl, ...) are still used.
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run([sys.executable, "-c", INSTALLED_CHECK, str(target)], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"installed package works: {len(list(PACKAGE.glob('shaders/*')))} shaders" in result.stdout

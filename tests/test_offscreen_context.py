"""The offscreen OpenGL context: each platform's ways, tried in order, and one clear error when none works."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import glfw
import moderngl
import numpy as np
import pytest

from avatar_live.errors import AvatarLiveError
from avatar_live.render.context import create_offscreen_context
from avatar_live.render.frame import load_program


class FakeContexts:
    """Stands in for `moderngl.create_standalone_context`: records each call, fails the listed backends."""

    def __init__(self, failing: dict[str | None, str]) -> None:
        self.failing = failing  # backend (None: the platform's default) -> error message
        self.calls: list[dict] = []

    def __call__(self, **kwargs) -> str:
        self.calls.append(kwargs)
        backend = kwargs.get("backend")
        if backend in self.failing:
            raise Exception(self.failing[backend])
        return f"context from {backend or 'the default'}"


@pytest.fixture
def fake_contexts(monkeypatch):
    def install(system: str, failing: dict[str | None, str]) -> FakeContexts:
        fake = FakeContexts(failing)
        monkeypatch.setattr(platform, "system", lambda: system)
        monkeypatch.setattr(moderngl, "create_standalone_context", fake)
        return fake

    return install


def test_linux_tries_egl_first_then_glx(fake_contexts):
    fake = fake_contexts("Linux", {"egl": "eglInitialize failed"})
    assert create_offscreen_context() == "context from the default"
    assert fake.calls == [{"require": 330, "backend": "egl"}, {"require": 330}]


def test_linux_uses_egl_when_it_works(fake_contexts):
    fake = fake_contexts("Linux", {})
    assert create_offscreen_context() == "context from egl"
    assert fake.calls == [{"require": 330, "backend": "egl"}]


@pytest.mark.parametrize("system", ["Windows", "Darwin"])
def test_windows_and_macos_use_their_own_standalone_context(fake_contexts, system):
    fake = fake_contexts(system, {})
    assert create_offscreen_context() == "context from the default"
    assert fake.calls == [{"require": 330}]


def test_when_every_way_fails_one_line_names_each_and_why(fake_contexts, monkeypatch):
    fake_contexts("Linux", {"egl": "eglGetDisplay failed", None: "(standalone) XOpenDisplay:\n  cannot open display"})
    monkeypatch.setattr(glfw, "init", lambda: False)  # what glfw does without a display, with this reason:
    monkeypatch.setattr(glfw, "get_error", lambda: (glfw.PLATFORM_UNAVAILABLE, b"X11: Failed to open display :9"))
    with pytest.raises(AvatarLiveError) as raised:
        create_offscreen_context()
    assert str(raised.value) == (
        "cannot create an offscreen OpenGL 3.3 context; tried EGL (eglGetDisplay failed), "
        "GLX ((standalone) XOpenDisplay: cannot open display), "
        "hidden glfw window (cannot start glfw: X11: Failed to open display :9)")


def test_macos_names_cgl_and_asks_glfw_for_a_forward_compatible_core_context(fake_contexts, monkeypatch):
    fake_contexts("Darwin", {None: "CGLChoosePixelFormat failed"})
    hints: dict[int, int] = {}
    monkeypatch.setattr(glfw, "init", lambda: True)
    monkeypatch.setattr(glfw, "default_window_hints", hints.clear)
    monkeypatch.setattr(glfw, "window_hint", hints.__setitem__)
    monkeypatch.setattr(glfw, "create_window", lambda *args: None)
    monkeypatch.setattr(glfw, "get_error", lambda: (0, None))
    with pytest.raises(AvatarLiveError, match=r"tried CGL \(CGLChoosePixelFormat failed\), "
                                              r"hidden glfw window \(cannot create a hidden window\)$"):
        create_offscreen_context()
    assert hints == {glfw.VISIBLE: False, glfw.CONTEXT_VERSION_MAJOR: 3, glfw.CONTEXT_VERSION_MINOR: 3,
                     glfw.OPENGL_PROFILE: glfw.OPENGL_CORE_PROFILE, glfw.OPENGL_FORWARD_COMPAT: True}


def _draws(ctx: moderngl.Context) -> bool:
    """Whether `ctx` compiles the head shaders and clears a framebuffer to the colour asked for."""
    load_program(ctx, "head.vert", "head.frag").release()
    framebuffer = ctx.simple_framebuffer((8, 8))
    framebuffer.use()
    framebuffer.clear(0.0, 1.0, 0.0, 1.0)
    pixels = np.frombuffer(framebuffer.read(components=3), np.uint8).reshape(8, 8, 3)
    framebuffer.release()
    return bool((pixels == [0, 255, 0]).all())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="EGL is tried on Linux")
def test_the_real_egl_context_draws_here():
    ctx = create_offscreen_context()
    try:
        assert ctx.version_code >= 330 and _draws(ctx)
    finally:
        ctx.release()


HIDDEN_WINDOW_CHECK = """
import moderngl
import test_offscreen_context as test


def no_standalone_context(**kwargs):
    raise Exception("no standalone context in this test")


moderngl.create_standalone_context = no_standalone_context
ctx = test.create_offscreen_context()
assert ctx.version_code >= 330 and test._draws(ctx)
ctx.release()
print("hidden window drew")
"""


def test_a_hidden_glfw_window_is_the_last_resort(xvfb_display):
    # Its own process: a GLX context made after a headless EGL one in the same process
    # ends the process (Mesa/glvnd).
    result = subprocess.run([sys.executable, "-c", HIDDEN_WINDOW_CHECK], cwd=Path(__file__).parent,
                            capture_output=True, text=True, timeout=60, env={**os.environ, "DISPLAY": xvfb_display})
    assert result.returncode == 0, result.stderr
    assert "hidden window drew" in result.stdout

"""An offscreen OpenGL 3.3 context from whatever the platform offers.

Tried in order, the first that works is used:

- Linux: EGL (works on headless servers, no display needed), then the standalone GLX
  context (needs a display);
- Windows and macOS (and other systems): the platform's standalone context (WGL, CGL);
- everywhere, last: the context of a hidden glfw window.
"""

from __future__ import annotations

import platform
import warnings
import weakref
from collections.abc import Callable
from types import ModuleType

import moderngl

from avatar_live.errors import AvatarLiveError

GL_VERSION = 330
"""The OpenGL version the shaders need (GLSL 3.30), as moderngl's `require`."""

_STANDALONE_NAMES = {"Linux": "GLX", "Windows": "WGL", "Darwin": "CGL"}


def create_offscreen_context() -> moderngl.Context:
    """Create an OpenGL 3.3 context for rendering into framebuffers, without a visible window.

    Returns:
        The context; the caller releases it. A hidden window's context keeps its window
        until the context object is garbage collected.

    Raises:
        AvatarLiveError: no way worked; the one-line message names each way tried and why
            it failed.
    """
    failures: list[str] = []
    for name, create in _attempts(platform.system()):
        try:
            return create()
        except Exception as error:  # moderngl/glcontext raise plain Exceptions, glfw GLFWError
            failures.append(f"{name} ({_one_line(error)})")
    raise AvatarLiveError("cannot create an offscreen OpenGL 3.3 context; tried " + ", ".join(failures))


def _attempts(system: str) -> list[tuple[str, Callable[[], moderngl.Context]]]:
    """The ways to get a context on `system` (a `platform.system()` name), in the order to try them."""
    attempts: list[tuple[str, Callable[[], moderngl.Context]]] = []
    if system == "Linux":
        attempts.append(("EGL", lambda: moderngl.create_standalone_context(require=GL_VERSION, backend="egl")))
    attempts.append((_STANDALONE_NAMES.get(system, "standalone"),
                     lambda: moderngl.create_standalone_context(require=GL_VERSION)))
    attempts.append(("hidden glfw window", lambda: _hidden_window_context(system)))
    return attempts


def _hidden_window_context(system: str) -> moderngl.Context:
    """The OpenGL 3.3 core context of a new invisible glfw window, destroyed with the context object."""
    # Imported here: glfw is only the last resort, and a glfw library that fails to load
    # must be one reason among the others rather than break importing the renderer.
    import glfw

    with warnings.catch_warnings():
        # pyGLFW also reports errors as warnings; the reason is read back with get_error instead.
        warnings.simplefilter("ignore", glfw.GLFWError)
        if not glfw.init():
            raise RuntimeError(_glfw_reason(glfw, "cannot start glfw"))
        glfw.default_window_hints()
        glfw.window_hint(glfw.VISIBLE, False)
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        if system == "Darwin":
            glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)  # macOS has no 3.3 core context without it
        window = glfw.create_window(16, 16, "avatar-live offscreen", None, None)
        if not window:
            raise RuntimeError(_glfw_reason(glfw, "cannot create a hidden window"))
    try:
        glfw.make_context_current(window)
        ctx = moderngl.create_context(require=GL_VERSION)
    except BaseException:
        glfw.destroy_window(window)
        raise
    weakref.finalize(ctx, glfw.destroy_window, window)
    return ctx


def _glfw_reason(glfw: ModuleType, what: str) -> str:
    """`what`, with glfw's description of its last error."""
    _, description = glfw.get_error()
    return f"{what}: {description.decode(errors='replace')}" if description else what


def _one_line(error: BaseException) -> str:
    """An exception's message on one line (glcontext's span several), or its type's name."""
    return " ".join(str(error).split()) or type(error).__name__

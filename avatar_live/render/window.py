"""A desktop window (glfw, OpenGL 3.3 core) that shows rendered frames.

The window owns an OpenGL context; pass `Window.ctx` to
`AvatarRenderer.create_from_options` so rendering and display share it. glfw and that
context must be used from the main thread only.
"""

from __future__ import annotations

import os
import sys
import warnings

import glfw
import moderngl
import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.render.frame import load_program

_SPECIAL_KEYS: dict[int, str] = {
    glfw.KEY_ESCAPE: "escape",
    glfw.KEY_SPACE: "space",
    glfw.KEY_ENTER: "enter",
    glfw.KEY_TAB: "tab",
    glfw.KEY_BACKSPACE: "backspace",
    glfw.KEY_LEFT: "left",
    glfw.KEY_RIGHT: "right",
    glfw.KEY_UP: "up",
    glfw.KEY_DOWN: "down",
    **{getattr(glfw, f"KEY_F{i}"): f"f{i}" for i in range(1, 13)},
}


def has_display() -> bool:
    """Whether a desktop window can be opened here (Windows and macOS always have one)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Window:
    """A resizable window showing RGB frames letterboxed to its size.

    Attributes:
        ctx: the window's OpenGL context.
    """

    def __init__(self, size: tuple[int, int], title: str = "avatar-live", *, vsync: bool = True) -> None:
        """Open the window.

        Args:
            size: (width, height) of the window in screen coordinates.
            title: the window title.
            vsync: wait for the display's refresh in `show` (limits the loop to its rate).

        Raises:
            AvatarLiveError: no display is available, or it cannot give OpenGL 3.3.
        """
        width, height = size
        if width <= 0 or height <= 0:
            raise AvatarLiveError(f"window size must be positive, got {width} x {height}")
        if not has_display():
            raise AvatarLiveError("no display to open a window on ($DISPLAY is not set); use a file or virtual-camera output instead")
        _glfw_call(glfw.init, "cannot start glfw")
        try:
            glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
            glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
            glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
            glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)  # required on macOS
            self._window = _glfw_call(lambda: glfw.create_window(width, height, title, None, None), "cannot open a window")
            glfw.make_context_current(self._window)
            glfw.swap_interval(1 if vsync else 0)
            self.ctx = moderngl.create_context(require=330)
        except BaseException:
            glfw.terminate()
            raise
        self._keys: list[str] = []
        glfw.set_key_callback(self._window, self._on_key)
        self._program = load_program(self.ctx, "fullscreen.vert", "blit.frag")
        self._quad = self.ctx.vertex_array(self._program, [])
        self._texture: moderngl.Texture | None = None

    def show(self, rgb: np.ndarray) -> None:
        """Draw a frame scaled to fit the window (black bars keep its aspect) and present it.

        Args:
            rgb: H x W x 3 RGB uint8, top row first.

        Raises:
            ValueError: rgb is not an RGB uint8 image.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be H x W x 3 uint8, got {rgb.shape} {rgb.dtype}")
        glfw.make_context_current(self._window)
        height, width = rgb.shape[:2]
        if self._texture is None or self._texture.size != (width, height):
            if self._texture is not None:
                self._texture.release()
            # alignment 1: rows of W x 3 bytes need not be a multiple of 4
            self._texture = self.ctx.texture((width, height), 3, alignment=1)
            self._texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self._texture.write(np.ascontiguousarray(rgb), alignment=1)

        screen = self.ctx.screen
        screen.use()
        self.ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE | moderngl.BLEND)
        fb_width, fb_height = glfw.get_framebuffer_size(self._window)
        screen.viewport = (0, 0, fb_width, fb_height)
        screen.clear(0.0, 0.0, 0.0)
        scale = min(fb_width / width, fb_height / height)
        view_w, view_h = max(1, round(width * scale)), max(1, round(height * scale))
        screen.viewport = ((fb_width - view_w) // 2, (fb_height - view_h) // 2, view_w, view_h)
        self._texture.use(0)
        self._program["u_image"].value = 0
        self._quad.render(moderngl.TRIANGLES, vertices=3)
        glfw.swap_buffers(self._window)

    def poll(self) -> list[str]:
        """Process window events.

        Returns:
            Names of the keys pressed since the last call, in order: lower-case letters
            and digits as typed ("c", "q", "h", "1"), "escape", "space", "enter", "tab",
            "backspace", arrows "left"/"right"/"up"/"down", "f1".."f12".
        """
        glfw.poll_events()
        keys, self._keys = self._keys, []
        return keys

    @property
    def should_close(self) -> bool:
        """True once the user asked to close the window (or it was closed)."""
        return self._window is None or bool(glfw.window_should_close(self._window))

    def close(self) -> None:
        """Destroy the window and its context; the Window is unusable afterwards."""
        if self._window is None:
            return
        glfw.make_context_current(self._window)
        for resource in (self._texture, self._quad, self._program):
            if resource is not None:
                resource.release()
        glfw.destroy_window(self._window)
        self._window = None
        glfw.terminate()

    def _on_key(self, window, key: int, scancode: int, action: int, mods: int) -> None:
        if action != glfw.PRESS:
            return
        name = _SPECIAL_KEYS.get(key) or glfw.get_key_name(key, scancode)
        if name:
            self._keys.append(name.lower())


def _glfw_call(call, what: str):
    """Run a glfw call that signals failure by a false result; failures raise AvatarLiveError.

    pyGLFW also reports glfw errors as warnings or exceptions (see `glfw.ERROR_REPORTING`);
    they are silenced here and the reason, read back with `glfw.get_error`, is the message.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", glfw.GLFWError)
        try:
            result = call()
        except glfw.GLFWError:
            result = None
    if not result:
        _, description = glfw.get_error()
        reason = description.decode(errors="replace") if description else "no reason given"
        raise AvatarLiveError(f"{what}: {reason}")
    return result

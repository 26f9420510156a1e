"""The OpenGL calls that take long on software OpenGL, made without holding the GIL.

On llvmpipe a draw call shades and bins every vertex on the calling thread, and a
readback waits while the triangles are rasterised; moderngl holds the GIL through both.
Measured in the render pipeline, the readback alone held it for a quarter of all the time
the GIL was held and the draw another 7-9 %, stalling tracking and encoding on the other
core. Functions called through ctypes release the GIL, so these few calls go through the
system's OpenGL library instead, which dispatches to the calling thread's current
context whoever created it (GLVND's libOpenGL/libGL on Linux, for EGL and GLX alike).
Where that library lacks them (Windows' opengl32 exports OpenGL 1.1 only), moderngl
makes the same calls, holding the GIL.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform
from dataclasses import dataclass

import moderngl

_GL_TRIANGLES = 0x0004
_GL_UNSIGNED_INT = 0x1405


@dataclass(frozen=True)
class _SystemGl:
    """Entry points of the system OpenGL library (ctypes releases the GIL around each call)."""

    finish: ctypes._CFuncPtr
    use_program: ctypes._CFuncPtr
    bind_vertex_array: ctypes._CFuncPtr
    draw_elements: ctypes._CFuncPtr


def wait_for_drawing(ctx: moderngl.Context) -> None:
    """Return once every queued GL command has run (glFinish), other threads running meanwhile."""
    gl = _system_gl()
    if gl is None:
        ctx.finish()
    else:
        gl.finish()


def draw_triangles(vao: moderngl.VertexArray, program: moderngl.Program, count: int) -> None:
    """`vao.render(moderngl.TRIANGLES)` for a vertex array with a 4-byte index buffer.

    Args:
        vao: the vertex array (its program is `program`).
        program: the program to draw with, its uniforms already set.
        count: indices to draw (3 per triangle).
    """
    gl = _system_gl()
    if gl is None:
        vao.render(moderngl.TRIANGLES, vertices=count)
        return
    # What moderngl's render does, in the same order: bind the program and the array, draw.
    gl.use_program(program.glo)
    gl.bind_vertex_array(vao.glo)
    gl.draw_elements(_GL_TRIANGLES, count, _GL_UNSIGNED_INT, None)


@functools.cache
def _system_gl() -> _SystemGl | None:
    """The system OpenGL library's entry points, or None when none loads or one is missing."""
    system = platform.system()
    if system == "Windows":
        names = ["opengl32"]
    elif system == "Darwin":
        names = [ctypes.util.find_library("OpenGL") or "/System/Library/Frameworks/OpenGL.framework/OpenGL"]
    else:
        names = ["libOpenGL.so.0", "libGL.so.1"]  # GLVND's dispatch library first
    for name in names:
        try:
            library = ctypes.CDLL(name)
            gl = _SystemGl(library.glFinish, library.glUseProgram, library.glBindVertexArray, library.glDrawElements)
        except (OSError, AttributeError):
            continue
        gl.finish.argtypes, gl.finish.restype = [], None
        gl.use_program.argtypes, gl.use_program.restype = [ctypes.c_uint], None
        gl.bind_vertex_array.argtypes, gl.bind_vertex_array.restype = [ctypes.c_uint], None
        gl.draw_elements.argtypes = [ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
        gl.draw_elements.restype = None
        return gl
    return None

"""The offscreen frame every avatar renderer draws into: backdrop in, avatar drawn, pixels out.

Shared by the built-in rig's renderer and the glTF/VRM renderer, so both treat
backdrops, transparency, anti-aliasing and the readback the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import TypeVar

import cv2
import moderngl
import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.render.backdrop import Backdrop, cover
from avatar_live.render.context import create_offscreen_context
from avatar_live.render.gil_free import wait_for_drawing

T = TypeVar("T")


def read_shader(name: str) -> str:
    """The source of a shader shipped in the package (`avatar_live/shaders/`).

    Args:
        name: the file name, e.g. "head.vert".

    Returns:
        The GLSL source.

    Raises:
        AvatarLiveError: the installed package lacks the file.
    """
    source = resources.files("avatar_live") / "shaders" / name
    if not source.is_file():
        raise AvatarLiveError(f"shader {source} is missing; reinstall avatar-live (its shaders are package data)")
    return source.read_text(encoding="utf-8")


def load_program(ctx: moderngl.Context, vertex: str, fragment: str) -> moderngl.Program:
    """Compile a program from two shaders shipped in the package (see `read_shader`).

    Raises:
        AvatarLiveError: a shader file is missing.
    """
    return ctx.program(vertex_shader=read_shader(vertex), fragment_shader=read_shader(fragment))


def is_software_renderer(ctx: moderngl.Context) -> bool:
    """Whether `ctx` rasterises on the CPU (Mesa llvmpipe/softpipe, SwiftShader)."""
    renderer = ctx.info["GL_RENDERER"].lower()
    return any(name in renderer for name in ("llvmpipe", "softpipe", "swiftshader", "software"))


def in_context(ctx: moderngl.Context | None, samples: int | None,
               construct: Callable[[moderngl.Context, bool, int], T]) -> T:
    """A renderer built by `construct(ctx, owns_context, samples)` in `ctx`, or in a new
    offscreen context that the renderer then owns (released here if construction fails).

    Args:
        ctx: a context to draw with (a window's), or None for a new offscreen one.
        samples: the requested MSAA samples (see `choose_samples`).
    """
    owns_context = ctx is None
    if ctx is None:
        ctx = create_offscreen_context()
    try:
        return construct(ctx, owns_context, choose_samples(ctx, samples))
    except BaseException:
        if owns_context:
            ctx.release()
        raise


def choose_samples(ctx: moderngl.Context, requested: int | None) -> int:
    """MSAA samples to use: `requested`, or 4 on a GPU and none on software OpenGL (where
    4x more than doubles the frame time); 0 means off.

    Raises:
        AvatarLiveError: more samples than the context allows.
    """
    samples = requested if requested is not None else (0 if is_software_renderer(ctx) else min(4, ctx.max_samples))
    if samples > ctx.max_samples:
        raise AvatarLiveError(f"{samples} MSAA samples requested, this OpenGL allows {ctx.max_samples}")
    return samples if samples > 1 else 0


class FrameTarget:
    """An offscreen RGBA frame with depth: `begin` lays the backdrop, the caller draws,
    `finish` returns the pixels.

    Args:
        ctx: the OpenGL context (current on the calling thread).
        size: (width, height) in pixels.
        samples: MSAA samples (0: none).
        backdrop: what is behind the avatar; transparent makes `finish` return RGBA.
    """

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int], samples: int, backdrop: Backdrop) -> None:
        width, height = size
        self._ctx = ctx
        self._target = _framebuffer(ctx, size, samples, depth=True)
        # Multisampled buffers cannot be read directly; they are resolved into this one.
        self._resolved = _framebuffer(ctx, size, 0, depth=False) if samples else self._target
        # The backdrop never changes: draw it once, copy it in each frame (a memcpy on
        # software OpenGL, where shading it every frame costs about a millisecond).
        self._backdrop = _framebuffer(ctx, size, samples, depth=False)
        _draw_backdrop(ctx, self._backdrop, backdrop, size)
        # RGBA readback is a plain copy on software OpenGL, RGB readback converts slowly.
        self._readback = np.empty((height, width, 4), np.uint8)
        self._rgb = None if backdrop.transparent else np.empty((height, width, 3), np.uint8)
        self._unpremultiply = backdrop.transparent and samples > 0

    def begin(self) -> None:
        """Lay the backdrop, clear depth, and make the frame the draw target."""
        self._ctx.copy_framebuffer(self._target, self._backdrop)
        # Clear depth only (keeping the backdrop); moderngl applies masks on use().
        self._target.color_mask = (False, False, False, False)
        self._target.use()
        self._target.clear(depth=1.0)
        self._target.color_mask = (True, True, True, True)
        self._target.use()

    def finish(self) -> np.ndarray:
        """The drawn frame: H x W x 3 RGB uint8, or H x W x 4 RGBA (straight alpha) over a
        transparent backdrop; top row first, a new array each call."""
        if self._resolved is not self._target:
            self._ctx.copy_framebuffer(self._resolved, self._target)
        wait_for_drawing(self._ctx)
        self._resolved.read_into(self._readback, components=4)
        if self._rgb is None:
            if self._unpremultiply:
                _unpremultiply(self._readback)
            # OpenGL reads bottom row first; the flipped copy is also the caller's own array.
            return cv2.flip(self._readback, 0)
        cv2.cvtColor(self._readback, cv2.COLOR_RGBA2RGB, dst=self._rgb)
        return cv2.flip(self._rgb, 0)

    def release(self) -> None:
        for framebuffer in {self._target, self._resolved, self._backdrop}:
            for attachment in (*framebuffer.color_attachments, framebuffer.depth_attachment):
                if attachment is not None:
                    attachment.release()
            framebuffer.release()


def _framebuffer(ctx: moderngl.Context, size: tuple[int, int], samples: int, *, depth: bool) -> moderngl.Framebuffer:
    """An RGBA8 framebuffer, with a depth buffer when `depth`, multisampled when `samples`."""
    return ctx.framebuffer(
        color_attachments=[ctx.renderbuffer(size, 4, samples=samples)],
        depth_attachment=ctx.depth_renderbuffer(size, samples=samples) if depth else None,
    )


def _draw_backdrop(ctx: moderngl.Context, target: moderngl.Framebuffer, backdrop: Backdrop,
                   size: tuple[int, int]) -> None:
    """Fill `target` with the backdrop (alpha 0 where transparent)."""
    ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE | moderngl.BLEND)
    target.use()
    if backdrop.kind in ("color", "transparent"):
        target.clear(*backdrop.color, 0.0 if backdrop.transparent else 1.0)
        return
    if backdrop.kind == "image":
        program = load_program(ctx, "fullscreen.vert", "blit.frag")
        texture = ctx.texture(size, 3, cover(backdrop.image, size).tobytes(), alignment=1)
        texture.use(0)
        program["u_image"].value = 0
        owned = [program, texture]
    else:
        program = load_program(ctx, "fullscreen.vert", "background.frag")
        program["u_color"].value = tuple(float(c) for c in backdrop.color)
        program["u_aspect"].value = size[0] / size[1]
        owned = [program]
    vao = ctx.vertex_array(program, [])
    vao.render(moderngl.TRIANGLES, vertices=3)
    for resource in (vao, *owned):
        resource.release()


def _unpremultiply(rgba: np.ndarray) -> None:
    """Straight alpha from a multisampled edge's premultiplied colour, in place (H x W x 4)."""
    alpha = rgba[:, :, 3]
    edge = (alpha > 0) & (alpha < 255)
    scale = 255.0 / alpha[edge].astype(np.float32)
    rgba[edge, :3] = np.clip(rgba[edge, :3] * scale[:, None], 0, 255).astype(np.uint8)

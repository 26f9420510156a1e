"""Rendering: the avatar (moderngl, offscreen or in a window) and the HUD drawn over it.

Import from the modules (`render.renderer`, `render.hud`, `render.window`, ...): this
package imports nothing itself, so that what needs one part (the backdrop parser, `track`)
does not load moderngl and glfw.
"""

"""Rendering: the avatar (moderngl, offscreen or in a window) and the HUD drawn over it.

`avatar_live.render.window.Window` (glfw) is imported from its module, only where a
desktop window is wanted.
"""

from avatar_live.render.hud import Hud, HudStats
from avatar_live.render.renderer import AvatarRenderer, RenderOptions

__all__ = ["AvatarRenderer", "Hud", "HudStats", "RenderOptions"]

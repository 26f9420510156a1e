"""What is behind the avatar: the studio backdrop, a solid colour, a picture, or nothing.

`--background` takes `studio` (the default soft glow), a colour (`green`, `#00ff00`,
`0,255,0`) for chroma keying, `transparent` (frames carry alpha; outputs that cannot keep
it show the avatar over the studio colour), or an image file (scaled to cover the frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from avatar_live.errors import AvatarLiveError

STUDIO_COLOR = (0.2, 0.21, 0.25)
"""Display RGB in [0, 1] at the centre of the studio glow; also what transparency is shown over."""

NAMED_COLORS = {
    "green": (0, 255, 0), "blue": (0, 0, 255), "magenta": (255, 0, 255), "black": (0, 0, 0),
    "white": (255, 255, 255), "gray": (128, 128, 128), "grey": (128, 128, 128),
}


@dataclass(frozen=True)
class Backdrop:
    """What the renderer draws behind the avatar.

    Attributes:
        kind: "studio", "color", "image" or "transparent".
        color: display RGB in [0, 1]: the studio glow's centre, the solid colour, or what a
            transparent frame is shown over where alpha cannot be kept.
        image: H x W x 3 RGB uint8 picture for "image" (any size; it is scaled to cover).
        text: how the user wrote it (`--background`), for messages and `avatar-live config`.
    """

    kind: str = "studio"
    color: tuple[float, float, float] = STUDIO_COLOR
    image: np.ndarray | None = field(default=None, repr=False)
    text: str = "studio"

    def __str__(self) -> str:
        return self.text

    @property
    def transparent(self) -> bool:
        return self.kind == "transparent"

    @property
    def color_u8(self) -> np.ndarray:
        """3 uint8: `color` as a pixel."""
        return np.round(np.asarray(self.color) * 255.0).astype(np.uint8)


def _parse_color(text: str) -> tuple[int, int, int] | None:
    """An RGB triple from a name, #rrggbb or r,g,b; None when `text` is none of those."""
    lowered = text.strip().lower()
    if lowered in NAMED_COLORS:
        return NAMED_COLORS[lowered]
    hex_digits = lowered.removeprefix("#")
    if len(hex_digits) == 6 and all(c in "0123456789abcdef" for c in hex_digits):
        return tuple(int(hex_digits[i:i + 2], 16) for i in (0, 2, 4))
    parts = lowered.split(",")
    if len(parts) == 3 and all(p.strip().isdigit() and int(p) <= 255 for p in parts):
        return tuple(int(p) for p in parts)
    return None


def parse_backdrop(text: str) -> Backdrop:
    """The `--background` value as a Backdrop.

    Raises:
        AvatarLiveError: `text` is no colour, keyword or readable image file.
    """
    keyword = text.strip().lower()
    if keyword == "studio":
        return Backdrop()
    if keyword == "transparent":
        return Backdrop("transparent", text=text)
    rgb = _parse_color(text)
    if rgb is not None:
        return Backdrop("color", tuple(c / 255.0 for c in rgb), text=text)
    path = Path(text).expanduser()
    if not path.is_file():
        raise AvatarLiveError(f"--background {text!r}: not studio, transparent, a colour (green, #00ff00, "
                              "0,255,0) or an image file")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise AvatarLiveError(f"--background {path}: not an image file OpenCV can read")
    return Backdrop("image", image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), text=text)


def cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` scaled to fill (width, height), centred, the overflow cropped (no bars)."""
    height, width = image.shape[:2]
    scale = max(size[0] / width, size[1] / height)
    scaled = cv2.resize(image, (max(size[0], round(width * scale)), max(size[1], round(height * scale))),
                        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y0 = (scaled.shape[0] - size[1]) // 2
    x0 = (scaled.shape[1] - size[0]) // 2
    return np.ascontiguousarray(scaled[y0:y0 + size[1], x0:x0 + size[0]])


def flatten(image: np.ndarray, color: np.ndarray) -> np.ndarray:
    """An RGBA frame shown over a solid colour, for outputs without alpha.

    Args:
        image: H x W x 4 RGBA uint8 (straight alpha), or H x W x 3, returned as it is.
        color: 3 uint8 RGB.

    Returns:
        H x W x 3 RGB uint8.
    """
    if image.shape[2] == 3:
        return image
    alpha = image[:, :, 3:4].astype(np.float32) * (1.0 / 255.0)
    blended = image[:, :, :3] * alpha + color.astype(np.float32) * (1.0 - alpha)
    return np.round(blended).astype(np.uint8)

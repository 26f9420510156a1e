"""Looks: the user-pickable colours and hair style of the built-in character."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

HairStyle = Literal["short", "bob"]
"""`short`: a cropped cut with volume on top, ears free. `bob`: chin-length, over the ears."""

HAIR_STYLES: tuple[HairStyle, ...] = ("short", "bob")

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class Look:
    """What a user can change about the built-in character without touching its shape.

    Colours are linear-ish RGB albedo in [0, 1]. Hashable, so builds can be cached per look.

    Attributes:
        skin: skin tone; blush, lips and lid creases are derived from it.
        hair: hair colour; brows and lashes are derived from it.
        hair_style: one of HAIR_STYLES.
        top: colour of the top (the shirt on the shoulders).
        iris: eye colour.
    """

    skin: RGB = (0.93, 0.76, 0.64)
    hair: RGB = (0.30, 0.19, 0.13)
    hair_style: HairStyle = "short"
    top: RGB = (0.18, 0.52, 0.56)
    iris: RGB = (0.45, 0.30, 0.15)

    def __post_init__(self) -> None:
        if self.hair_style not in HAIR_STYLES:
            raise ValueError(f"unknown hair style {self.hair_style!r}; expected one of {HAIR_STYLES}")
        for name in ("skin", "hair", "top", "iris"):
            value = getattr(self, name)
            if len(value) != 3 or not all(0.0 <= c <= 1.0 for c in value):
                raise ValueError(f"look.{name} must be three numbers in [0, 1], got {value!r}")

    def color(self, name: str) -> np.ndarray:
        """A colour of this look as a float64 array (3): one of the fields or a derived one
        (`blush`, `lips`, `brow`, `lash`)."""
        skin, hair = np.array(self.skin), np.array(self.hair)
        derived = {
            "blush": skin * np.array([1.02, 0.82, 0.86]),
            "lips": skin * np.array([0.88, 0.58, 0.60]),
            "brow": hair * 0.85,
            "lash": hair * 0.45 + 0.02,
        }
        return np.clip(derived[name] if name in derived else np.array(getattr(self, name), dtype=np.float64), 0.0, 1.0)


DEFAULT_LOOK = Look()

LOOKS: dict[str, Look] = {
    "default": DEFAULT_LOOK,
    "ginger": Look(skin=(0.96, 0.82, 0.73), hair=(0.66, 0.30, 0.13), hair_style="bob", top=(0.16, 0.24, 0.44),
                   iris=(0.30, 0.45, 0.30)),
    "ebony": Look(skin=(0.47, 0.31, 0.22), hair=(0.07, 0.05, 0.05), hair_style="short", top=(0.88, 0.64, 0.20),
                  iris=(0.25, 0.15, 0.08)),
    "honey": Look(skin=(0.78, 0.57, 0.42), hair=(0.15, 0.10, 0.07), hair_style="bob", top=(0.86, 0.38, 0.36)),
    "blonde": Look(skin=(0.94, 0.78, 0.67), hair=(0.86, 0.70, 0.42), hair_style="bob", top=(0.30, 0.30, 0.34),
                   iris=(0.30, 0.45, 0.62)),
}
"""Named presets, for `--look NAME`."""

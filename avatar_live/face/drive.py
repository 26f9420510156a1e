"""How `FaceParams` drive a rig: blendshape weights by name, and the jaw joint for FLAME.

A rig's blendshapes are named: ARKit names take `params.arkit`, FLAME expression
components (`FLAME_EXPRESSION_NAMES`) take `params.flame.expression`; other names stay 0.
A rig with FLAME expression components also takes its jaw rotation from
`params.flame.jaw` (FLAME opens the mouth with the jaw joint, not a blendshape).
"""

from __future__ import annotations

import numpy as np

from avatar_live.face.rig import JOINT_NAMES, Rig
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES, FaceParams

FLAME_EXPRESSION_NAMES: tuple[str, ...] = tuple(f"flame_expression_{i:02d}" for i in range(50))
"""Blendshape names of FLAME's first 50 expression components (EMOCA's), in order."""

_FLAME_INDEX = {name: i for i, name in enumerate(FLAME_EXPRESSION_NAMES)}
_JAW = JOINT_NAMES.index("jaw")


class RigDriver:
    """Maps face parameters onto one rig.

    Args:
        rig: the avatar whose blendshape names decide what drives what.
    """

    def __init__(self, rig: Rig) -> None:
        names = tuple(rig.blendshape_names)
        self._arkit_identity = names == ARKIT_NAMES
        self._arkit_source = np.array([ARKIT_INDEX.get(n, -1) for n in names], dtype=np.int64)
        self._flame_source = np.array([_FLAME_INDEX.get(n, -1) for n in names], dtype=np.int64)
        self.uses_flame = bool((self._flame_source >= 0).any())

    def weights(self, params: FaceParams) -> np.ndarray:
        """S float32 blendshape weights for the rig."""
        if self._arkit_identity:
            return params.arkit
        weights = np.where(self._arkit_source >= 0, params.arkit[np.maximum(self._arkit_source, 0)], 0.0)
        if self.uses_flame and params.flame is not None:
            flame = params.flame.expression[np.maximum(self._flame_source, 0)]
            weights = np.where(self._flame_source >= 0, flame, weights)
        return weights.astype(np.float32)

    def set_jaw(self, joint_rotations: np.ndarray, params: FaceParams) -> None:
        """Write the jaw rotation into J x 3 joint rotations (FLAME rigs only; in place)."""
        if self.uses_flame:
            joint_rotations[_JAW] = 0.0 if params.flame is None else params.flame.jaw

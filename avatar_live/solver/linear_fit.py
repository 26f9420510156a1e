"""Bounded linear fits of landmark motion: the part of a rig fit that is independent of
which rig it is (FLAME's expression and jaw, or any other linear landmark model).

Landmark positions are modelled as `neutral + sum_i x_i * columns[i]` with box bounds on
x; a fit minimises the (depth-weighted) squared landmark error plus a ridge prior, exactly,
through the unit-box QP of `box_qp` after rescaling x = lower + (upper - lower) * w.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_live.solver.box_qp import solve_box_qp


@dataclass(frozen=True)
class LandmarkBasis:
    """Landmarks as a linear function of parameters.

    Attributes:
        indices: K MediaPipe landmark indices.
        neutral: K x 3 landmark positions at x = 0.
        columns: P x K x 3 landmark motion per unit of each parameter.
        lower: P lower bounds.
        upper: P upper bounds.
        names: P parameter names.
    """

    indices: np.ndarray
    neutral: np.ndarray
    columns: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        k = self.indices.shape[0]
        p = self.columns.shape[0]
        if self.neutral.shape != (k, 3) or self.columns.shape != (p, k, 3):
            raise ValueError(f"neutral must be {k} x 3 and columns P x {k} x 3, got "
                             f"{self.neutral.shape} and {self.columns.shape}")
        if self.lower.shape != (p,) or self.upper.shape != (p,) or len(self.names) != p:
            raise ValueError(f"lower, upper and names must have {p} entries")
        if np.any(self.upper <= self.lower):
            raise ValueError("every upper bound must exceed its lower bound")


class BoundedLinearFit:
    """Fits a `LandmarkBasis` to observed landmark motion; the quadratic is fixed per basis.

    Args:
        basis: the model.
        prior: ridge weight relative to the mean squared landmark motion of one unit of a
            parameter (so it does not depend on the rig's units).
        depth_weight: weight of z errors relative to x and y (MediaPipe depth is noisy).
    """

    def __init__(self, basis: LandmarkBasis, *, prior: float = 0.05, depth_weight: float = 0.1) -> None:
        if prior <= 0:
            raise ValueError(f"prior must be positive, got {prior}")
        self.basis = basis
        weights = np.array([1.0, 1.0, depth_weight])
        self._design = (basis.columns * np.sqrt(weights)).reshape(len(basis.names), -1)  # P x 3K
        self._sqrt_weights = np.sqrt(weights)
        gram = self._design @ self._design.T
        gram += prior * np.mean(np.diag(gram)) * np.eye(len(gram))
        self._span = basis.upper - basis.lower
        # x = lower + span * w: the unit-box problem's quadratic and its constant part.
        self._hessian = gram * np.outer(self._span, self._span)
        self._gram = gram

    def fit(self, motion: np.ndarray) -> np.ndarray:
        """Parameters that best explain landmark motion relative to the basis's neutral.

        Args:
            motion: K x 3 observed landmarks minus the neutral, in the basis's frame and units.

        Returns:
            P float64 parameters within their bounds.
        """
        if motion.shape != self.basis.neutral.shape:
            raise ValueError(f"motion must be {self.basis.neutral.shape}, got {motion.shape}")
        target = (motion * self._sqrt_weights).reshape(-1)
        linear = self._span * (self._design @ target - self._gram @ self.basis.lower)
        unit = solve_box_qp(self._hessian, linear)
        return self.basis.lower + self._span * unit

"""A small dense quadratic program with box constraints, solved exactly by active sets.

The expression solve is min_w 1/2 w^T H w - b^T w subject to 0 <= w <= 1 with H a small
(tens of shapes) positive definite matrix fixed per rig. A primal active-set method
finishes in a handful of small linear solves, far below the call overhead of
general-purpose solvers (scipy's `lsq_linear`) at this size.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack


def solve_box_qp(hessian: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """Minimise 1/2 w^T hessian w - linear^T w over the unit box 0 <= w <= 1.

    Primal active-set method (Nocedal & Wright, Numerical Optimization, 16.5): keep a
    feasible point and a set of variables held at a bound; move to the minimiser over the
    free variables, stopping at the first bound crossed; when none is crossed, release the
    held variables whose gradient pushes into the box. Each step lowers the objective, so
    the first point that passes the optimality (KKT) test is the exact solution.

    Args:
        hessian: S x S symmetric positive definite.
        linear: S.

    Returns:
        S float64 weights in [0, 1].

    Raises:
        ValueError: on mismatched shapes, or a hessian that is not positive definite.
    """
    n = linear.shape[0]
    if hessian.shape != (n, n):
        raise ValueError(f"hessian must be {n} x {n}, got {hessian.shape}")
    # Start from the clipped unconstrained minimiser: usually few shapes end up at a
    # different bound, so few steps follow.
    w = np.clip(_solve_spd(hessian, linear), 0.0, 1.0)
    at_lower = w <= 0.0
    at_upper = w >= 1.0
    tolerance = 1e-10 * (1.0 + float(np.abs(linear).max(initial=0.0)))
    # Termination is guaranteed in exact arithmetic; the cap only guards against rounding
    # making the method cycle, and then returns a feasible, nearly optimal point.
    for _ in range(4 * n + 4):
        free = np.flatnonzero(~(at_lower | at_upper))
        gradient = hessian @ w - linear
        if free.size:
            step = -_solve_spd(hessian.take(free, 0).take(free, 1), gradient.take(free))
            # Ratio test: the longest feasible move along the step, up to the full step.
            current = w.take(free)
            speed = np.abs(step)
            room = np.divide(
                np.where(step < 0.0, current, 1.0 - current), speed, out=np.full(free.size, np.inf), where=speed > 0.0
            )
            blocking = int(room.argmin())
            if room[blocking] < 1.0:
                w[free] = np.clip(current + room[blocking] * step, 0.0, 1.0)
                held = free[blocking]
                if step[blocking] < 0.0:
                    w[held], at_lower[held] = 0.0, True
                else:
                    w[held], at_upper[held] = 1.0, True
                continue
            w[free] = np.clip(current + step, 0.0, 1.0)
            gradient = hessian @ w - linear
        # At the subspace minimiser: optimal unless a held variable wants back into the box.
        wrong = (at_lower & (gradient < -tolerance)) | (at_upper & (gradient > tolerance))
        if not wrong.any():
            return w
        at_lower &= ~wrong
        at_upper &= ~wrong
    return w


def _solve_spd(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """matrix^-1 rhs by Cholesky; LAPACK directly, as numpy's wrapper costs more than the
    solve at this size."""
    _, solution, info = lapack.dposv(matrix, rhs)
    if info != 0:
        raise ValueError("hessian is not positive definite")
    return solution

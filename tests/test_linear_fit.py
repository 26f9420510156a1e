"""Bounded linear landmark fits recover known parameters and respect their bounds."""

import numpy as np
import pytest

from avatar_live.solver.linear_fit import BoundedLinearFit, LandmarkBasis


def _basis(p=12, k=60, seed=0):
    rng = np.random.default_rng(seed)
    return LandmarkBasis(
        indices=np.arange(k), neutral=rng.normal(size=(k, 3)), columns=rng.normal(scale=0.1, size=(p, k, 3)),
        lower=np.full(p, -3.0), upper=np.full(p, 3.0), names=tuple(f"p{i}" for i in range(p)),
    )


def test_recovers_signed_parameters():
    basis = _basis()
    truth = np.linspace(-2, 2, 12)
    motion = np.tensordot(truth, basis.columns, axes=1)
    fitted = BoundedLinearFit(basis, prior=1e-6).fit(motion)
    np.testing.assert_allclose(fitted, truth, atol=1e-3)


def test_bounds_hold_and_the_prior_shrinks():
    basis = _basis()
    truth = np.full(12, 5.0)  # beyond the bounds
    motion = np.tensordot(truth, basis.columns, axes=1)
    fitted = BoundedLinearFit(basis, prior=1e-6).fit(motion)
    assert np.all(fitted <= 3.0 + 1e-9) and np.all(fitted >= -3.0 - 1e-9)
    small = np.tensordot(np.full(12, 1.0), basis.columns, axes=1)
    assert np.all(np.abs(BoundedLinearFit(basis, prior=1.0).fit(small)) < 1.0)


def test_depth_errors_count_less():
    basis = _basis()
    motion = np.zeros_like(basis.neutral)
    motion[:, 2] = np.tensordot(np.ones(12), basis.columns, axes=1)[:, 2]  # motion in depth only
    shallow = BoundedLinearFit(basis, prior=1e-3, depth_weight=0.01).fit(motion)
    deep = BoundedLinearFit(basis, prior=1e-3, depth_weight=1.0).fit(motion)
    assert np.abs(deep - 1).mean() < np.abs(shallow - 1).mean()


def test_rejects_mismatched_shapes():
    basis = _basis()
    with pytest.raises(ValueError):
        BoundedLinearFit(basis).fit(np.zeros((5, 3)))
    with pytest.raises(ValueError):
        LandmarkBasis(np.arange(3), np.zeros((3, 3)), np.zeros((2, 3, 3)), np.zeros(2), np.zeros(2), ("a", "b"))

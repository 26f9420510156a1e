"""Inference backends for the learned encoders: one interface, picked per machine.

See `select_backend` for the order and `InferenceBackend` for the interface.
"""

from avatar_live.runtime.base import (
    InferenceBackend,
    ModelFiles,
    check_against_reference,
    max_relative_error,
)
from avatar_live.runtime.select import BACKEND_NAMES, select_backend

__all__ = ["BACKEND_NAMES", "InferenceBackend", "ModelFiles", "check_against_reference", "max_relative_error", "select_backend"]

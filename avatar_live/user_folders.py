"""Where avatar-live keeps the user's files: one place for both folders and their overrides.

Light on purpose (the standard library and platformdirs): the model store, the saved
calibrations, the TensorRT engine cache and the inductor cache all ask it.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOME_ENV = "AVATAR_LIVE_HOME"
"""Overrides the user data folder (models, avatars, calibrations)."""

CACHE_ENV = "AVATAR_LIVE_CACHE"
"""Overrides the user cache folder (compiled engines and kernels)."""


def data_folder() -> Path:
    """`$AVATAR_LIVE_HOME`, else the platform's user data folder for avatar-live."""
    override = os.environ.get(HOME_ENV)
    return Path(override) if override else platformdirs.user_data_path("avatar-live")


def cache_folder() -> Path:
    """`$AVATAR_LIVE_CACHE`, else the platform's user cache folder for avatar-live."""
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else platformdirs.user_cache_path("avatar-live")

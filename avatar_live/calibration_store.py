"""Calibrated neutral faces remembered per camera, so a later run starts from them.

Layout under the user data folder (`$AVATAR_LIVE_HOME` if set, as for the model store):

    calibration/<kind>/<slug>-<hash>.npz    one read-out's neutral for one camera

`kind` is the read-out whose state it is ("learned", "solver"): their states differ. The
file name is the camera key (`capture.cameras.camera_key`) made safe for any file system,
plus a short hash of the whole key so that keys differing only in unsafe characters do not
share a file. Each value of a state is a numeric array or a float; nothing is pickled.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.user_folders import data_folder

log = logging.getLogger(__name__)

_KIND = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SLUG_LENGTH = 48


def calibration_root() -> Path:
    """`calibration/` in the user data folder (`user_folders.data_folder`)."""
    return data_folder() / "calibration"


def neutral_path(key: str, kind: str) -> Path:
    """Where `key`'s neutral of `kind` is stored (whether or not it exists).

    Args:
        key: any text naming the camera, e.g. "HD Pro Webcam C920 046d:082d".
        kind: the read-out: lowercase letters, digits, "-" and "_".

    Raises:
        ValueError: `kind` is not such a name.
    """
    if not _KIND.fullmatch(kind):
        raise ValueError(f"calibration kind must be lowercase letters, digits, - and _, got {kind!r}")
    slug = re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")[:_SLUG_LENGTH].rstrip("-") or "camera"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    return calibration_root() / kind / f"{slug}-{digest}.npz"


def save_neutral(key: str, kind: str, state: Mapping[str, np.ndarray | float]) -> Path:
    """Store a read-out's neutral for a camera, replacing any stored before.

    The file is written beside its final place and moved there in one step, so a crash or
    a second instance never leaves a half-written file behind.

    Args:
        key: the camera's key (`camera_key`).
        kind: the read-out's name.
        state: name -> numeric array or float (a read-out's `neutral_state()`).

    Returns:
        The file written.

    Raises:
        ValueError: a value is not numeric, or `kind` is not a plain name.
        AvatarLiveError: the file cannot be written (one line with the reason).
    """
    path = neutral_path(key, kind)
    arrays = {name: np.asarray(value) for name, value in state.items()}
    for name, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise ValueError(f"calibration value {name!r} must be numeric, got dtype {array.dtype}")
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp",
                                         delete=False) as file:
            temporary = Path(file.name)
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise AvatarLiveError(f"cannot save the calibration to {path}: {exc.strerror or exc}") from None
    return path


def load_neutral(key: str, kind: str) -> dict[str, np.ndarray | float] | None:
    """A stored neutral, as `save_neutral` was given it (0-d values come back as floats).

    Returns:
        The state, or None when none is stored or the file cannot be read (a warning is
        logged: a damaged file costs a calibration, never the run).
    """
    path = neutral_path(key, kind)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    # A damaged archive fails in many ways (zip, zlib, header, pickle refused): all alike here.
    except Exception as exc:
        log.warning("ignoring the unreadable calibration %s (%s: %s)", path, type(exc).__name__, exc)
        return None
    return {name: float(array) if array.ndim == 0 else array for name, array in arrays.items()}

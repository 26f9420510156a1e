"""`avatar-live train expression|emotion`: rebuild a shipped model and say how it validated."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.learned import emotion as emotion_model
from avatar_live.learned import expression as expression_model
from avatar_live.learned.weights import sha256_of, shipped, write_checksum
from avatar_live.training import datasets
from avatar_live.types import EMOTION_CLASSES

log = logging.getLogger(__name__)


def default_cache() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("avatar-live")) / "training"


def train(model: str, *, data: Path | None, cache: Path | None, output: Path | None, workers: int) -> int:
    """Train `model` ("expression" or "emotion"), write it, print its validation.

    Raises:
        AvatarLiveError: torch is missing, the training media are missing, or the output
            cannot be written.
    """
    try:
        import torch  # noqa: F401 - only to fail early, with a clear message
    except ImportError:
        raise AvatarLiveError("training needs torch: install the `emoca` extra (EXTRAS=dev,emoca ./install.sh)") \
            from None
    if workers < 1:
        raise AvatarLiveError(f"--workers must be at least 1, got {workers}")
    root = data if data is not None else datasets.default_data_root()
    cache = cache if cache is not None else default_cache()
    started = time.perf_counter()
    if model == "expression":
        path = output if output is not None else shipped(expression_model.FILE_NAME)
        _train_expression(root, cache, path, workers)
    else:
        path = output if output is not None else shipped(emotion_model.FILE_NAME)
        _train_emotion(root, cache, path, workers)
    digest = write_checksum(path)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, sha256 {digest}) "
          f"in {(time.perf_counter() - started) / 60:.1f} min")
    return 0


def _train_expression(root: Path, cache: Path, path: Path, workers: int) -> None:
    from avatar_live.training.expression import (
        ExpressionRecipe,
        mean_r,
        save,
        train_expression,
    )

    recipe = ExpressionRecipe()
    result = train_expression(root, cache, recipe, workers=workers)
    print(f"validation people: mean r with the teacher {mean_r(result.reports):.3f} over "
          f"{len(result.reports)} clips (frame by frame, no smoothing)")
    for report in result.reports:
        print(f"  {report.clip:42s} {report.frames:4d} frames  mean r {report.mean_r:+.3f}")
    _write(path, lambda: save(result, path, recipe))


def _train_emotion(root: Path, cache: Path, path: Path, workers: int) -> None:
    from avatar_live.training.emotion import EmotionRecipe, save, train_emotion

    recipe = EmotionRecipe()
    expression_path = shipped(expression_model.FILE_NAME)
    result = train_emotion(root, cache, expression_model.load_expression_net(expression_path), recipe,
                           workers=workers)
    print(f"FER2013 val: accuracy {result.accuracy:.3f} over all images (FaceMesh found {result.found:.1%}; "
          f"a face not found counts as wrong); best epoch {int(np.argmax(result.epochs)) + 1} of "
          f"{len(result.epochs)}; classes {', '.join(EMOTION_CLASSES)}")
    _write(path, lambda: save(result, path, recipe, sha256_of(expression_path)))


def _write(path: Path, save) -> None:
    try:
        save()
    except OSError as exc:
        raise AvatarLiveError(f"cannot write {path}: {exc.strerror or exc}") from None

"""A person's resting face, learned while they use the app, taken out of the learned weights.

The expression model reads faces uncalibrated, as its teacher does, so part of some
people's resting face reads as expression (a mouth that rests slightly pursed, brows that
sit low). Per shape, the weight this person's face rests at is estimated as a low
percentile of the weights seen so far: the most relaxed moments, wherever in the stream
they come, never "the first second", so a stream that starts mid-expression (crying,
laughing) is read as it is. At most `limit` of a shape is ever taken for the resting face,
so even a person who smiles the whole time still smiles on the avatar, and gaze (the
eyeLook shapes) is never adjusted: where someone looks is not their face.

A weight w with resting value r is shown as (w - r) / (1 - r): 0 at rest, 1 at full.

A resting face saved from an earlier stream (`neutral_state`, `restore_neutral`) is taken
out from this stream's first frame, until this stream's own estimate replaces it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.types import ARKIT_NAMES

ADJUSTED = np.array([not name.startswith("eyeLook") for name in ARKIT_NAMES])
"""The shapes whose resting value is taken out (all but gaze)."""


@dataclass(frozen=True)
class RestingOptions:
    """Options for `RestingFace`.

    Attributes:
        percentile: per shape, this percentile of the weights seen is taken as its resting
            value; low enough to be the relaxed moments, high enough to ignore a few
            misread frames.
        limit: the largest resting value taken out of any shape.
        min_seconds: stream time with a face before any resting value is taken out.
        history_seconds: weights older than this are forgotten (lighting and posture change).
        sample_seconds: at most one frame is kept per this interval (bounds memory and cost).
        refresh_seconds: the percentiles are recomputed at this interval.
    """

    percentile: float = 10.0
    limit: float = 0.3
    min_seconds: float = 1.0
    history_seconds: float = 120.0
    sample_seconds: float = 0.1
    refresh_seconds: float = 0.5

    def __post_init__(self) -> None:
        if not (0.0 <= self.percentile <= 50.0 and 0.0 <= self.limit < 1.0 and self.min_seconds >= 0.0
                and self.history_seconds > 0.0 and self.sample_seconds >= 0.0 and self.refresh_seconds >= 0.0):
            raise AvatarLiveError(f"resting-face options out of range: {self}")


class RestingFace:
    """The running estimate of one person's resting weights in one stream."""

    def __init__(self, options: RestingOptions = RestingOptions()) -> None:
        self._options = options
        self._history: deque[tuple[float, np.ndarray]] = deque()
        self._first: float | None = None
        self._last_sample: float | None = None
        self._last_refresh: float | None = None
        self._resting = np.zeros(len(ARKIT_NAMES), np.float32)
        self._restored = False

    @property
    def resting(self) -> np.ndarray:
        """52 resting weights being taken out (zeros until `min_seconds` have passed)."""
        return self._resting.copy()

    @property
    def settling(self) -> bool:
        """True until the first estimate (or a restored one) is in use."""
        return not self._restored and (self._first is None or self._last_refresh is None)

    def restart(self) -> None:
        """Forget everything seen: the next frames (a held neutral face) start a new estimate."""
        self._history.clear()
        self._first = self._last_sample = self._last_refresh = None
        self._resting[:] = 0.0
        self._restored = False

    def neutral_state(self) -> dict[str, np.ndarray] | None:
        """The resting face in use, for `restore_neutral` in a later stream; None while settling.

        Returns:
            {"resting": 52 float32 resting weights}.
        """
        return None if self.settling else {"resting": self.resting}

    def restore_neutral(self, state: Mapping[str, np.ndarray | float]) -> None:
        """Take a saved resting face (`neutral_state`) out from the next frame on.

        It stands in for the `min_seconds` before this stream's own estimate exists, which
        then replaces it: the saved face spares the user the wait, never overrides what
        this stream shows.

        Raises:
            ValueError: the state does not hold 52 finite resting weights.
        """
        resting = np.asarray(state.get("resting", ()), np.float32)
        if resting.shape != (len(ARKIT_NAMES),) or not np.all(np.isfinite(resting)):
            raise ValueError(f"a resting face is {len(ARKIT_NAMES)} finite weights, got shape {resting.shape}")
        self.restart()
        # Held to what this stream's own estimate could take out.
        self._resting = np.where(ADJUSTED, np.clip(resting, 0.0, self._options.limit), 0.0).astype(np.float32)
        self._restored = True

    def update(self, weights: np.ndarray, time: float) -> np.ndarray:
        """Add one frame's weights and return them with the resting face taken out.

        Args:
            weights: 52 weights in [0, 1] as the model read them.
            time: the frame's stream time in seconds, non-decreasing.

        Returns:
            52 float32 weights in [0, 1].
        """
        options = self._options
        if self._first is None:
            self._first = time
        if self._last_sample is None or time - self._last_sample >= options.sample_seconds:
            self._history.append((time, np.asarray(weights, np.float32).copy()))
            self._last_sample = time
        while self._history and time - self._history[0][0] > options.history_seconds:
            self._history.popleft()
        due = self._last_refresh is None or time - self._last_refresh >= options.refresh_seconds
        if time - self._first >= options.min_seconds and due:
            values = np.stack([w for _, w in self._history])
            low = np.percentile(values, options.percentile, axis=0)
            self._resting = np.where(ADJUSTED, np.minimum(low, options.limit), 0.0).astype(np.float32)
            self._last_refresh = time
        return np.clip((weights - self._resting) / (1.0 - self._resting), 0.0, 1.0).astype(np.float32)

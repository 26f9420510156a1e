"""The calibration window: a user's neutral face, taken from the first moments of video."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from avatar_live.types import NUM_LANDMARKS


@dataclass(frozen=True)
class CalibrationResult:
    """Medians over the calibration window.

    Attributes:
        landmarks: 478 x 3 observed landmarks in the rig's frame (after removing head pose).
        scale: face scale (pixels per rig unit).
        centre: 3, the head's centre in head-space pixels (x right, y up).
    """

    landmarks: np.ndarray
    scale: float
    centre: np.ndarray


class CalibrationWindow:
    """Collects frames with a face for a span of frame time, then yields their medians.

    The window opens at the first frame added after construction or `restart`, and closes
    with the first frame at least `seconds` later, which is still included. Medians
    rather than means, so a blink or a word during calibration does not shift the neutral.
    A neutral saved from an earlier stream (`neutral_state`) can close it instead
    (`restore_neutral`).
    """

    def __init__(self, seconds: float) -> None:
        """Args:
            seconds: length of the window in frame time; 0 takes a single frame.
        """
        self._seconds = seconds
        self._start: float | None = None
        self._landmarks: list[np.ndarray] = []
        self._scales: list[float] = []
        self._centres: list[np.ndarray] = []
        self._open = True
        self._result: CalibrationResult | None = None

    @property
    def open(self) -> bool:
        """True until the window has closed."""
        return self._open

    @property
    def frames(self) -> int:
        """Frames collected since the window opened."""
        return len(self._landmarks)

    def restart(self) -> None:
        """Forget what was collected; the next frame added opens a new window."""
        self._start = None
        self._landmarks.clear()
        self._scales.clear()
        self._centres.clear()
        self._open = True

    def provisional(self) -> CalibrationResult:
        """The medians of the frames so far; needs at least one frame."""
        return CalibrationResult(
            landmarks=np.median(self._landmarks, axis=0),
            scale=float(np.median(self._scales)),
            centre=np.median(self._centres, axis=0),
        )

    def add(self, time: float, landmarks: np.ndarray, scale: float, centre: np.ndarray) -> CalibrationResult | None:
        """Add one frame while the window is open.

        Args:
            time: the frame's time in seconds.
            landmarks: 478 x 3 landmarks in the rig's frame.
            scale: the frame's face scale.
            centre: 3, the frame's head centre.

        Returns:
            The medians when this frame closes the window, otherwise None.

        Raises:
            RuntimeError: when the window is already closed.
        """
        if not self._open:
            raise RuntimeError("the calibration window is closed; restart() it first")
        if self._start is None:
            self._start = time
        self._landmarks.append(landmarks)
        self._scales.append(scale)
        self._centres.append(centre)
        if time - self._start < self._seconds:
            return None
        self._open = False
        self._result = self.provisional()
        return self._result

    def neutral_state(self) -> dict[str, np.ndarray | float] | None:
        """The last closed window's medians, for `restore_neutral` in a later stream.

        Kept through `restart` until the next window closes, as the solver keeps using them;
        None before any window closed.

        Returns:
            {"landmarks": 478 x 3, "scale": float, "centre": 3}, as in `CalibrationResult`.
        """
        if self._result is None:
            return None
        result = self._result
        return {"landmarks": result.landmarks.copy(), "scale": result.scale, "centre": result.centre.copy()}

    def restore_neutral(self, state: Mapping[str, np.ndarray | float]) -> CalibrationResult:
        """Close the window with a saved neutral (`neutral_state`) instead of frames.

        Returns:
            The saved medians, for the solver to use as the neutral; `restart` takes a new one.

        Raises:
            ValueError: the state is not a neutral: missing values, wrong shapes, values
                that are not finite, or a scale that is not positive.
        """
        try:
            landmarks = np.asarray(state["landmarks"], np.float64)
            scale = float(state["scale"])
            centre = np.asarray(state["centre"], np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a calibrated neutral: {exc!r}") from None
        valid = np.isfinite(landmarks).all() and np.isfinite(centre).all() and np.isfinite(scale) and scale > 0.0
        if landmarks.shape != (NUM_LANDMARKS, 3) or centre.shape != (3,) or not valid:
            raise ValueError(f"not a calibrated neutral: landmarks {landmarks.shape}, centre {centre.shape}, "
                             f"scale {scale}")
        self.restart()
        self._open = False
        self._result = CalibrationResult(landmarks=landmarks, scale=scale, centre=centre)
        return self._result

"""The calibration window: a user's neutral face, taken from the first moments of video."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
        return self.provisional()

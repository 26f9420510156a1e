"""The one interface through which the encode stage talks to read-outs.

A read-out turns what the tracker saw of a face into some of the face parameters: the
learned expression model, the landmark solver's weights, FaceLandmarker's own blendshapes,
EMOCA's FLAME parameters, an emotion model. The stage first solves head pose (the landmark
solver, always), then asks each read-out in turn.

Reading is split in two so that a slow read-out can run beside the stage
(`pipeline.background.BackgroundReadout`): `estimate` does the work and returns a result
without touching the parameters; `apply` writes a result into them. Run inline, the stage
calls one after the other on the same frame.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from avatar_live.types import FaceParams, Track

Result = TypeVar("Result")


@dataclass(frozen=True)
class FaceInput:
    """What a read-out sees of one face.

    Attributes:
        image: H x W x 3 RGB uint8 frame.
        track: the face's landmarks.
        time: the frame's time in seconds on the source's clock.
        still: an independent image: no state may carry over to or from other frames.
    """

    image: np.ndarray
    track: Track
    time: float
    still: bool


class Readout(ABC, Generic[Result]):
    """A read-out (see the module docstring)."""

    name: str = "readout"
    """Short name for the HUD and logs."""

    @abstractmethod
    def estimate(self, face: FaceInput, params: FaceParams) -> Result:
        """Read one face. `params` holds what the stage knows so far; leave it unchanged."""

    @abstractmethod
    def apply(self, result: Result, params: FaceParams) -> None:
        """Write a result of `estimate` into `params`."""

    def describe(self) -> str:
        """For the HUD: what is reading the face."""
        return self.name

    @property
    def calibrating(self) -> bool:
        """True while it is taking the user's neutral face (the HUD says so)."""
        return False

    def recalibrate(self) -> None:
        """The user asked for a new neutral face (safe to ignore)."""

    def neutral_states(self) -> dict[str, dict[str, np.ndarray | float]]:
        """The user's neutral face as this read-out holds it, by kind, to be saved for the
        next run with the same camera (`calibration_store`); empty when it holds none."""
        return {}

    def restore_neutrals(self, states: dict[str, dict[str, np.ndarray | float]]) -> None:
        """Take a neutral saved from an earlier run (`neutral_states`'s kinds; others are
        ignored).

        Raises:
            ValueError: a saved state of this read-out's kind is unusable.
        """

    def close(self) -> None:
        """Release what it holds."""


def read(readout: Readout, face: FaceInput, params: FaceParams) -> None:
    """Run a read-out inline on one face."""
    readout.apply(readout.estimate(face, params), params)

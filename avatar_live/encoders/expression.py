"""Expression read-outs: where the 52 ARKit weights come from (`--readout`, `--tracker`).

- `LearnedExpression` (default): the project's learned model, with the few shapes its
  teacher never shows taken from the landmark solver (`SOLVER_SHAPES`); gaze follows its
  eyeLook weights. It reads faces as they are; asked to (`--calibrate`, or the c key), it also
  takes out the user's resting face, learned from their most relaxed moments
  (`learned.neutral`).
- `SolverExpression` (`--readout solver`): the landmark solver's weights and gaze, as the
  stage already solved them, calibrated on the user's first second.
- `TrackerBlendshapes` (`--tracker landmarker`): FaceLandmarker's own learned blendshapes.
"""

from __future__ import annotations

import numpy as np

from avatar_live.encoders.base import FaceInput, Readout
from avatar_live.learned.expression import ExpressionNet
from avatar_live.learned.neutral import RestingFace, RestingOptions
from avatar_live.solver.gaze import gaze_from_eye_look
from avatar_live.solver.landmark_solver import LandmarkSolver
from avatar_live.types import ARKIT_INDEX, FaceParams

SOLVER_SHAPES = ("jawForward", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
                 "noseSneerRight")
"""Shapes the learned model cannot read, kept from the landmark solver. Its teacher never
outputs them: over the 23,000 training frames FaceLandmarker's largest jawForward was
0.015, cheekPuff 0.004, and cheekSquint and noseSneer were 0 (tongueOut too, but it shows
on no landmark, so the solver has none either). Every other shape the learned model reads
closer to the teacher than the solver does (`benchmarks/fidelity.py`, per shape over the
shared clips and the validation people)."""
_SOLVER_ROWS = np.array([ARKIT_INDEX[name] for name in SOLVER_SHAPES])

RESTING_KIND = "resting-face"
"""The learned read-out's saved neutral (`Readout.neutral_states`)."""


class LearnedExpression(Readout[np.ndarray]):
    """The learned expression model's weights for each face."""

    name = "learned"

    def __init__(self, net: ExpressionNet, resting: RestingOptions = RestingOptions(), *,
                 calibrate: bool = False) -> None:
        """Args:
            net: the model (`learned.expression.load_expression_net`).
            resting: how the user's resting face is learned, once it is asked for.
            calibrate: take the resting face out of video from the start. Off by default:
                on the shared clips the mean r with the teacher was 0.93 as read, 0.84 with
                the resting face taken out (the teacher reads faces as they are too).
        """
        self._net = net
        self._options = resting
        self._resting = RestingFace(resting) if calibrate else None
        self._recalibrating = False

    def estimate(self, face: FaceInput, params: FaceParams) -> np.ndarray:
        weights = self._net(face.track.landmarks)
        if self._resting is not None and not face.still:
            weights = self._resting.update(weights, face.time)
            self._recalibrating = self._recalibrating and self._resting.settling
        weights[_SOLVER_ROWS] = params.arkit[_SOLVER_ROWS]
        return weights

    def apply(self, result: np.ndarray, params: FaceParams) -> None:
        params.arkit = result
        params.gaze = gaze_from_eye_look(result).astype(np.float32)

    @property
    def calibrating(self) -> bool:
        """True from the user's request until the resting face is in use."""
        return self._recalibrating

    def recalibrate(self) -> None:
        """Learn the resting face afresh from the next frames (the user holds a neutral face)."""
        self._resting = RestingFace(self._options)
        self._recalibrating = True

    def neutral_states(self) -> dict[str, dict[str, np.ndarray | float]]:
        state = None if self._resting is None else self._resting.neutral_state()
        return {} if state is None else {RESTING_KIND: state}

    def restore_neutrals(self, states: dict[str, dict[str, np.ndarray | float]]) -> None:
        # Only a user who asked for the refinement (or pressed c) gets it back.
        if self._resting is not None and RESTING_KIND in states:
            self._resting.restore_neutral(states[RESTING_KIND])


class SolverExpression(Readout[None]):
    """The landmark solver's weights, already in the parameters the stage solved."""

    name = "solver"

    def __init__(self, solver: LandmarkSolver) -> None:
        self._solver = solver

    def estimate(self, face: FaceInput, params: FaceParams) -> None:
        return None

    def apply(self, result: None, params: FaceParams) -> None:
        pass

    @property
    def calibrating(self) -> bool:
        return self._solver.calibrating


class TrackerBlendshapes(Readout[np.ndarray | None]):
    """The tracker's own blendshapes (FaceLandmarker), where it gives them."""

    name = "landmarker"

    def estimate(self, face: FaceInput, params: FaceParams) -> np.ndarray | None:
        blendshapes = face.track.blendshapes
        return None if blendshapes is None else blendshapes.copy()

    def apply(self, result: np.ndarray | None, params: FaceParams) -> None:
        if result is not None:
            params.arkit = result

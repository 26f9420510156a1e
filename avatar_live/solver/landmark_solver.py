"""The landmark solver: MediaPipe FaceMesh landmarks -> head pose, ARKit weights, gaze.

Per frame: (1) a least-squares similarity (rotation, scale, translation) from the neutral
face to the observed landmarks on points that barely move with expression
(`topology.STABLE`) gives the head pose;
(2) the inverse similarity brings the observation into the rig's frame, where its
difference from a neutral face is explained by the rig's blendshapes region by region
(`expression`); (3) the irises' places inside the eyes give the gaze (`gaze`).

The neutral face is the user's own in video: the median of the first
`calibration_seconds` (of the frames so far, until then), so that the user's proportions
differing from the rig's are not read as expression. Stills (and video with calibration
off) have only the rig's neutral, and there only what does not depend on where the eyes
and mouth sit in the face, or on their size, is read as expression (see `expression`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.face.drive import FLAME_EXPRESSION_NAMES
from avatar_live.face.rig import Rig, matrix_to_axis_angle
from avatar_live.solver.calibration import CalibrationResult, CalibrationWindow
from avatar_live.solver.expression import (
    AVERAGE_EYE_OPENING,
    EYELID_SHAPES,
    ExpressionModel,
    with_eye_opening,
)
from avatar_live.solver.gaze import estimate_gaze, eye_look_weights, measure_irises
from avatar_live.solver.pose import Similarity, fit_similarity, pixels_to_head_space
from avatar_live.solver.retarget import JAW_OPEN, LandmarkRetarget
from avatar_live.tracking import topology
from avatar_live.types import ARKIT_NAMES, NUM_LANDMARKS, FaceParams, FlameParams, Track

PROVISIONAL_REFRESH = 4
"""Frames between updates of the neutral while the first calibration window is open. Taking
it (a median and a solve) costs twice a frame's solve; a median of the frames so far
barely moves over a few frames."""


BROW_AND_EYELID_SHAPES = ("brow", *EYELID_SHAPES)
"""Name prefixes of the shapes `SolverOptions.brow_and_eyelid_identity_limit` applies to."""

FLAME_SHAPE_SIZE = 100
"""EMOCA's FLAME identity length; a landmark fit keeps the mean identity (zeros)."""


@dataclass(frozen=True)
class SolverOptions:
    """Options for `LandmarkSolver`.

    Attributes:
        calibration_seconds: length of the neutral calibration window, in frame time,
            starting at the first video frame with a face.
        calibrate: take the neutral face from the user during the window (until it
            closes, from the frames so far); False always uses the rig's neutral (the
            window then only fixes the reference face size and position, from the first
            frame).
        prior: weight of the L2 penalty keeping blendshape weights near 0, relative to
            the landmark motion of a typical shape of the same face region; must be
            positive. Larger values suppress shapes that landmarks barely show and
            identity leaking into expression, at the price of shrinking real weights
            (at 0.3 a full blink on the built-in head reads 0.92, a full smile 0.92).
        depth_weight: weight of landmark depth (z) errors relative to x and y errors;
            MediaPipe's depth is the least reliable coordinate.
        identity_limit: the largest weight, per shape, that the calibrated neutral may
            read as against the rig's neutral (features' placements taken out, see
            `expression`) and still be taken for the user's own proportions. More is an
            expression held during calibration (a video that starts with a smile or a
            look down), and that part is left out of the neutral, so the expression
            still reads when it is held again later. Resting faces read against the
            built-in head measured at most 0.15 on any shape of the mouth region
            (single_face.mp4 and its two cuts), where a face that starts with a
            slight smile reads 0.36 (WolfgangLanger_Pexels.mp4).
        brow_and_eyelid_identity_limit: the same for the brows' and eyelids' shapes
            (`BROW_AND_EYELID_SHAPES`). How high brows sit and how open a resting eye
            is differ between people far more than the mouth's shape, whose placement
            is taken out, and the built-in head's eyes are opened wider than most: a
            resting face's eyes read as 0.27-0.35 of a blink against it.
        average_eye_opening: how open the eyes of the neutral used without the user's own
            are (stills and calibration off), as lid gap over eye width
            (`expression.AVERAGE_EYE_OPENING`, a typical person's); None keeps the rig's
            own, for faces with the rig's proportions. `identity_limit` is read against
            the rig's own neutral, as it was measured (against the average, a video that
            starts laughing with squeezed eyes keeps more of the squeeze in its neutral
            and its blinks read weaker: r 0.93 -> 0.79 on WolfgangLanger).
    """

    calibration_seconds: float = 1.0
    calibrate: bool = True
    prior: float = 0.3
    depth_weight: float = 0.1
    identity_limit: float = 0.2
    brow_and_eyelid_identity_limit: float = 0.5
    average_eye_opening: float | None = AVERAGE_EYE_OPENING


@dataclass(frozen=True)
class _Neutral:
    """What a frame is compared against.

    Attributes:
        landmarks: K x 3 neutral landmarks in the rig's frame (covered landmarks only).
        iris_offsets: 2 x 2 iris positions when looking ahead (see `gaze.IrisPositions`).
        scale: face scale (pixels per rig unit) that translation z = 0 stands for.
        centre: 3, head-space pixel position of the rig's origin (the head's centre) that
            translation x, y = 0 stands for when the image size is unknown.
        own: the landmarks are the user's own neutral, not the rig's.
    """

    landmarks: np.ndarray
    iris_offsets: np.ndarray
    scale: float
    centre: np.ndarray
    own: bool


@dataclass(frozen=True)
class _Pose:
    """A frame's head pose.

    Attributes:
        similarity: maps the rig's frame onto head-space pixels.
        aligned: 478 x 3 observed landmarks mapped back into the rig's frame.
    """

    similarity: Similarity
    aligned: np.ndarray


class LandmarkSolver:
    """Fits a rig's head pose, ARKit weights and gaze to MediaPipe FaceMesh landmarks."""

    def __init__(self, rig: Rig, options: SolverOptions, retarget: LandmarkRetarget | None = None) -> None:
        """Use `create_from_options`."""
        self._retarget = retarget
        if options.calibration_seconds < 0.0:
            raise AvatarLiveError(f"calibration_seconds must be >= 0, got {options.calibration_seconds}")
        limits = (options.identity_limit, options.brow_and_eyelid_identity_limit)
        if options.prior <= 0.0 or options.depth_weight < 0.0 or not all(0.0 <= limit <= 1.0 for limit in limits):
            raise AvatarLiveError(
                "need prior > 0, depth_weight >= 0 and identity limits in [0, 1], got "
                f"{options.prior}, {options.depth_weight} and {limits}"
            )
        if options.average_eye_opening is not None and not 0.0 < options.average_eye_opening < 1.0:
            raise AvatarLiveError(f"average_eye_opening must be in (0, 1), got {options.average_eye_opening}")
        self._options = options
        self._identity_limits = np.array([
            options.brow_and_eyelid_identity_limit if name.startswith(BROW_AND_EYELID_SHAPES) else options.identity_limit
            for name in ARKIT_NAMES
        ])
        self._eye_scale = float(rig.eye_scale)
        self._covered = np.asarray(rig.embedding.landmark_indices, dtype=np.int64)
        stable = [i for i in topology.STABLE if i in set(self._covered.tolist())]
        if len(stable) < 4:
            raise AvatarLiveError(
                f"rig {rig.name!r} embeds {len(stable)} of the {len(topology.STABLE)} stable landmarks; "
                "head pose needs at least 4"
            )
        self._stable = np.array(stable, dtype=np.int64)
        row_of = {int(index): row for row, index in enumerate(self._covered)}
        self._stable_rows = np.array([row_of[i] for i in stable], dtype=np.int64)
        self._model = ExpressionModel(rig, prior=options.prior, depth_weight=options.depth_weight)
        if not self._model.solved_shapes:
            raise AvatarLiveError(
                f"rig {rig.name!r} has no ARKit-named blendshapes that move its embedded landmarks"
            )
        # Without the user's own neutral, an average person's: the rig's, with its eyes
        # opened as wide as most people's are (an avatar's may be opened wider on purpose).
        self._average_landmarks = self._model.neutral if options.average_eye_opening is None else (
            with_eye_opening(self._model.neutral, self._covered, options.average_eye_opening))
        # The rig's own iris placement is its "looking ahead"; zero (centred) if not embedded.
        rig_points = np.full((NUM_LANDMARKS, 3), np.nan)
        rig_points[self._covered] = self._model.neutral
        rig_irises = measure_irises(rig_points).offsets
        self._rig_iris_offsets = np.where(np.isfinite(rig_irises), rig_irises, 0.0)
        # With calibration off the window is one frame long: it only fixes the reference size.
        self._window = CalibrationWindow(options.calibration_seconds if options.calibrate else 0.0)
        self._calibrated: _Neutral | None = None
        # The neutral of the frames so far, until the first window closes, and how many
        # frames it was taken from.
        self._provisional: tuple[_Neutral, int] | None = None

    @classmethod
    def create_from_options(cls, rig: Rig, options: SolverOptions = SolverOptions(), *,
                            retarget: LandmarkRetarget | None = None) -> "LandmarkSolver":
        """A solver for one rig and one stream.

        Args:
            rig: the avatar to drive; its ARKit-named blendshapes are solved.
            options: see `SolverOptions`.
            retarget: also fit FLAME's expression and jaw to the same landmark motion
                (a `LandmarkRetarget` from this rig's landmarks to a FLAME rig's basis);
                the results go to `FaceParams.flame`.

        Raises:
            AvatarLiveError: when the options are out of range, or the rig's embedding
                lacks the landmarks head pose needs, or it has no ARKit blendshapes that
                move its landmarks.
        """
        return cls(rig, options, retarget)

    @property
    def calibrating(self) -> bool:
        """True while the calibration window is open (waiting for or collecting frames)."""
        return self._options.calibrate and self._window.open

    def recalibrate(self) -> None:
        """Start a new calibration window at the next video frame with a face.

        The current neutral stays in use until the new window closes, so asking for a
        better calibration never makes the avatar worse in the meantime.
        """
        self._window.restart()

    def neutral_state(self) -> dict[str, np.ndarray | float] | None:
        """The calibrated neutral in use (`CalibrationWindow.neutral_state`), to be saved for
        the next run; None before one exists or when the solver does not calibrate."""
        return self._window.neutral_state() if self._options.calibrate else None

    def restore_neutral(self, state: dict[str, np.ndarray | float]) -> None:
        """Use a neutral saved from an earlier run instead of calibrating on the first frames.

        Raises:
            ValueError: the state is not a calibrated neutral (478 x 3 landmarks, a scale,
                a centre).
        """
        if self._options.calibrate:
            self._calibrated = self._neutral_from(self._window.restore_neutral(state))

    def solve_image(self, track: Track, image_size: tuple[int, int] | None = None) -> FaceParams:
        """Solve an independent still against the rig's neutral; no state is kept.

        Args:
            track: the face's landmarks.
            image_size: (width, height) of the image, for translation x, y relative to
                the image centre; None reports them as 0.

        Returns:
            The face parameters; translation z is 0 (a still has no reference size).
        """
        pose = self._fit_pose(self._head_points(track), self._model.neutral)
        neutral = self._average_neutral(pose.similarity.scale, pose.similarity.translation)
        return self._params(track, pose, neutral, image_size)

    def solve_video_frame(self, track: Track, time: float, image_size: tuple[int, int] | None = None) -> FaceParams:
        """Solve the next frame of a stream, calibrating on the first frames with a face.

        Args:
            track: the face's landmarks.
            time: the frame's time in seconds (drives the calibration window).
            image_size: (width, height) of the frame, for translation x, y relative to
                the image centre; None measures them from the face's calibrated position.

        Returns:
            The face parameters.
        """
        reference = self._model.neutral if self._calibrated is None else self._calibrated.landmarks
        pose = self._fit_pose(self._head_points(track), reference)
        if self._window.open:
            result = self._window.add(time, pose.aligned, pose.similarity.scale, pose.similarity.translation)
            if result is not None:
                self._calibrated = self._neutral_from(result)
        neutral = self._calibrated if self._calibrated is not None else self._provisional_neutral()
        return self._params(track, pose, neutral, image_size)

    def _provisional_neutral(self) -> _Neutral:
        """Until the first window closes, the frames seen so far are the best guess at the
        user's neutral: far closer than the rig's, whose proportions are not the user's."""
        frames = self._window.frames
        if self._provisional is None or frames >= self._provisional[1] + PROVISIONAL_REFRESH:
            self._provisional = (self._neutral_from(self._window.provisional()), frames)
        return self._provisional[0]

    def _head_points(self, track: Track) -> np.ndarray:
        if track.landmarks.shape != (NUM_LANDMARKS, 3):
            raise ValueError(f"track.landmarks must be {NUM_LANDMARKS} x 3, got {track.landmarks.shape}")
        return pixels_to_head_space(track.landmarks)

    def _fit_pose(self, points: np.ndarray, reference: np.ndarray) -> _Pose:
        """Head pose of 478 x 3 head-space points against K x 3 reference landmarks."""
        similarity = fit_similarity(reference[self._stable_rows], points[self._stable])
        return _Pose(similarity=similarity, aligned=similarity.invert(points))

    def _average_neutral(self, scale: float, centre: np.ndarray) -> _Neutral:
        return _Neutral(
            landmarks=self._average_landmarks, iris_offsets=self._rig_iris_offsets, scale=scale, centre=centre,
            own=False
        )

    def _neutral_from(self, result: CalibrationResult) -> _Neutral:
        if not self._options.calibrate:
            return self._average_neutral(result.scale, result.centre)
        landmarks = result.landmarks[self._covered]
        # Against the rig's neutral, so that where the user's eyes and mouth sit is not
        # taken for a held expression.
        held = self._model.solve(landmarks - self._model.neutral, rig_neutral=True)
        excess = np.maximum(held - self._identity_limits, 0.0)
        return _Neutral(
            landmarks=landmarks - self._model.motion(excess),
            iris_offsets=measure_irises(result.landmarks).offsets,
            scale=result.scale,
            centre=result.centre,
            own=True,
        )

    def _params(
        self,
        track: Track,
        pose: _Pose,
        neutral: _Neutral,
        image_size: tuple[int, int] | None,
    ) -> FaceParams:
        motion = pose.aligned[self._covered] - neutral.landmarks
        arkit = self._model.solve(motion, rig_neutral=not neutral.own)
        gaze = estimate_gaze(measure_irises(pose.aligned), neutral.iris_offsets)
        for index, weight in eye_look_weights(gaze).items():
            arkit[index] = weight
        rotation = matrix_to_axis_angle(pose.similarity.rotation).astype(np.float32)
        flame = None
        if self._retarget is not None:
            # Against the rig's neutral the raw motion still holds the user's build; then
            # only the motion the solved weights explain is identity-free.
            flame = self._flame(motion if neutral.own else self._model.motion(arkit), rotation)
        if image_size is None:
            origin = neutral.centre
        else:
            width, height = image_size
            origin = np.array([width / 2.0, -height / 2.0, 0.0])  # head space: y up
        face_size = neutral.scale * self._eye_scale
        scale, centre = pose.similarity.scale, pose.similarity.translation
        translation = np.array([*((centre[:2] - origin[:2]) / face_size), np.log(scale / neutral.scale)])
        return FaceParams(
            face=True,
            rotation=rotation,
            translation=translation.astype(np.float32),
            arkit=arkit.astype(np.float32),
            gaze=gaze.astype(np.float32),
            confidence=float(track.score),
            flame=flame,
        )

    def _flame(self, motion: np.ndarray, rotation: np.ndarray) -> FlameParams:
        """FLAME's expression and jaw opening fitted to landmark motion (K x 3, rig frame)."""
        fitted = dict(zip(self._retarget.names, self._retarget.fit(motion)))
        return FlameParams(
            shape=np.zeros(FLAME_SHAPE_SIZE, np.float32),
            expression=np.array([fitted[name] for name in FLAME_EXPRESSION_NAMES], np.float32),
            jaw=np.array([fitted[JAW_OPEN], 0.0, 0.0], np.float32),
            global_rotation=rotation,
            cam=np.zeros(3, np.float32),
        )

"""The per-frame work of each pipeline stage, free of threading.

Each stage is a callable that fills its part of a `Packet`. The runner (`runner.py`) puts
each one on its own thread; tests and the benchmark can also call them directly.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Callable

import numpy as np

from avatar_live.encoders.base import FaceInput, Readout, read
from avatar_live.outputs.base import Sink
from avatar_live.pipeline.metrics import RateMeter
from avatar_live.render.backdrop import Backdrop, flatten
from avatar_live.render.hud import Hud, HudStats
from avatar_live.smoothing import FaceParamsSmoother
from avatar_live.solver.landmark_solver import LandmarkSolver
from avatar_live.tracking.base import Tracker, track_in_image, tracking_image
from avatar_live.types import FaceParams, Frame, Packet, Track

if TYPE_CHECKING:  # the renderer (moderngl) comes from the caller's factory, in the render thread
    from avatar_live.render.renderer import AvatarRenderer

SOLVER_KIND = "solver"
"""The landmark solver's saved neutral (`EncodeStage.neutral_states`)."""


def _finish(packet: Packet, stage: str, started: float) -> None:
    now = time.perf_counter()
    packet.durations[stage] = now - started
    packet.frame.stamps[stage] = now


class TrackStage:
    """Landmarks for each frame; stills are detected independently, video frames followed.

    A video frame larger than the tracker needs is tracked on its `tracking_image` (made by
    the source, or here when the source left it), and the landmarks put back in the
    frame's own pixels: the later stages see the frame as it was captured.
    """

    name = "track"

    def __init__(self, tracker: Tracker, *, stills: bool) -> None:
        self._tracker = tracker
        self._stills = stills

    def __call__(self, packet: Packet) -> Packet:
        started = time.perf_counter()
        if self._stills:
            packet.track = self._tracker.detect(packet.frame.image)
        else:
            packet.track = self._follow(packet.frame)
        _finish(packet, self.name, started)
        return packet

    def _follow(self, frame: Frame) -> Track | None:
        small = frame.tracking_image if frame.tracking_image is not None else tracking_image(frame.image)
        if small is None:
            return self._tracker.detect_for_video(frame.image, frame.time)
        return track_in_image(self._tracker.detect_for_video(small, frame.time), small.shape, frame.image.shape)

    def close(self) -> None:
        self._tracker.close()


class EncodeStage:
    """Landmarks -> smoothed face parameters -> emotion.

    Per face: the landmark solver gives head pose (and its own weights and gaze), then
    each read-out in turn fills what it reads (`encoders.base`): the expression read-out
    the ARKit weights, EMOCA the FLAME parameters. Stills are read independently, video
    frames go through the smoother, which holds and then eases to neutral when the face is
    lost. The emotion read-out comes last, on the smoothed weights, unless a read-out
    (EMOCA's emotion model) already set the emotion.
    """

    name = "encode"

    def __init__(self, solver: LandmarkSolver, smoother: FaceParamsSmoother, *, stills: bool,
                 readouts: list[Readout], emotion: Readout) -> None:
        self._solver = solver
        self._smoother = smoother
        self._stills = stills
        self._readouts = list(readouts)
        self._emotion = emotion
        self._recalibrate = threading.Event()

    def request_recalibration(self) -> None:
        """Take a new neutral from the next frames with a face (safe from any thread)."""
        self._recalibrate.set()

    @property
    def calibrating(self) -> bool:
        return not self._stills and any(readout.calibrating for readout in self._readouts)

    def neutral_states(self) -> dict[str, dict[str, np.ndarray | float]]:
        """The user's calibrated neutral face by kind ("solver", and the read-outs'), to be
        saved for the next run with the same camera. Call when the stage is not running."""
        states = {}
        solver = self._solver.neutral_state()
        if solver is not None:
            states[SOLVER_KIND] = solver
        for readout in self._readouts:
            states.update(readout.neutral_states())
        return states

    def restore_neutrals(self, states: dict[str, dict[str, np.ndarray | float]]) -> None:
        """Start from a neutral saved by `neutral_states` (the c key still takes a new one).

        Raises:
            ValueError: a saved state is unusable.
        """
        if SOLVER_KIND in states:
            self._solver.restore_neutral(states[SOLVER_KIND])
        for readout in self._readouts:
            readout.restore_neutrals(states)

    def describe_encoder(self) -> str:
        """For the HUD: the read-outs at work, e.g. "learned" or "learned + emoca onnxruntime-int8 7/s"."""
        return " + ".join(readout.describe() for readout in self._readouts)

    def __call__(self, packet: Packet) -> Packet:
        started = time.perf_counter()
        if self._recalibrate.is_set():
            self._recalibrate.clear()
            self._solver.recalibrate()
            for readout in self._readouts:
                readout.recalibrate()
        track, frame = packet.track, packet.frame
        face = None if track is None else FaceInput(frame.image, track, frame.time, self._stills)
        params = None if face is None else self._read(face)
        if self._stills:
            params = params if params is not None else FaceParams.neutral()
        else:
            params = self._smoother.update(params, frame.time)
        if face is not None and params.face and params.emotion is None:
            read(self._emotion, face, params)
        packet.params = params
        _finish(packet, self.name, started)
        return packet

    def _read(self, face: FaceInput) -> FaceParams:
        size = (face.image.shape[1], face.image.shape[0])
        params = (self._solver.solve_image(face.track, size) if face.still
                  else self._solver.solve_video_frame(face.track, face.time, size))
        for readout in self._readouts:
            read(readout, face, params)
        return params

    def close(self) -> None:
        for readout in (*self._readouts, self._emotion):
            readout.close()


class RenderStage:
    """Face parameters -> the avatar image (`packet.rendered`), nothing else.

    The HUD and the window's picture are `ComposeStage`'s, on another thread: the renderer
    is the pipeline's busiest stage, and drawing text and copying frames beside it keeps
    both cores at work. The renderer is made by `make_renderer` on first use, in the
    thread that renders, because an OpenGL context belongs to the thread that made it
    current.
    """

    name = "render"

    def __init__(self, make_renderer: Callable[[], AvatarRenderer]) -> None:
        self._make_renderer = make_renderer
        self._renderer: AvatarRenderer | None = None

    def __call__(self, packet: Packet) -> Packet:
        started = time.perf_counter()
        if self._renderer is None:
            self._renderer = self._make_renderer()
        params = packet.params if packet.params is not None else FaceParams.neutral()
        packet.rendered = self._renderer.render(params)
        _finish(packet, self.name, started)
        return packet

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.release()
            self._renderer = None


class ComposeStage:
    """The rendered avatar -> what the outputs and the window show.

    The outputs (`packet.rendered`) keep the avatar alone, or get the HUD too when
    `hud_out`; the window (`packet.shown`, when `window`) gets the HUD and the self-view
    inset. The camera image never reaches `rendered`: a person who hides behind an avatar
    must not be shown by it.
    """

    name = "compose"

    def __init__(
        self,
        hud: Hud | None,
        *,
        hud_out: bool = False,
        window: bool = False,
        backdrop_color: np.ndarray | None = None,
        describe_encoder: Callable[[], str] = lambda: "learned",
        is_calibrating: Callable[[], bool] = lambda: False,
        self_view: bool = False,
        show_latency: bool = True,
    ) -> None:
        self._hud = hud
        self._hud_out = hud_out
        self._window = window
        self._backdrop_color = backdrop_color if backdrop_color is not None else Backdrop().color_u8
        self._describe_encoder = describe_encoder
        self._is_calibrating = is_calibrating
        self._self_view = self_view
        # Offline, frames wait in ordered queues on purpose: that wait is no latency.
        self._show_latency = show_latency
        self._rate = RateMeter()

    def __call__(self, packet: Packet) -> Packet:
        started = time.perf_counter()
        self._rate.tick(started)
        image = packet.rendered
        params = packet.params if packet.params is not None else FaceParams.neutral()
        with_hud = None
        if self._hud is not None and (self._hud_out or self._window):
            flat = flatten(image, self._backdrop_color)
            with_hud = self._hud.draw(flat.copy(), params, self._stats(packet, started), time=packet.frame.time)
            if self._hud_out:
                packet.rendered = with_hud if image.shape[2] == 3 else _opaque_where_drawn(image, flat, with_hud)
        if self._window:
            shown = with_hud if with_hud is not None else flatten(image, self._backdrop_color)
            if self._hud is not None and self._self_view:
                shown = self._hud.draw_self_view(shown.copy() if shown is packet.rendered else shown,
                                                 packet.frame.image)
            packet.shown = shown
        _finish(packet, self.name, started)
        return packet

    def _stats(self, packet: Packet, started: float) -> HudStats:
        capture = packet.frame.stamps.get("capture")
        return HudStats(
            fps=self._rate.rate,
            latency_ms=(started - capture) * 1000.0 if self._show_latency and capture is not None else None,
            face=packet.track is not None,
            calibrating=self._is_calibrating(),
            encoder=self._describe_encoder(),
        )


def _opaque_where_drawn(rgba: np.ndarray, before: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """An RGBA frame with the HUD's pixels (where `drawn` differs from `before`) made opaque."""
    out = rgba.copy()
    changed = np.any(drawn != before, axis=2)
    out[changed, :3] = drawn[changed]
    out[changed, 3] = 255
    return out


class StageChain:
    """Stages run one after the other on one thread (e.g. compose, then output)."""

    def __init__(self, *stages: Callable[[Packet], Packet]) -> None:
        self._stages = stages
        self.name = "+".join(stage.name for stage in stages)

    def __call__(self, packet: Packet) -> Packet:
        for stage in self._stages:
            packet = stage(packet)
        return packet

    def close(self) -> None:
        for stage in self._stages:
            close = getattr(stage, "close", None)
            if close is not None:
                close()


class OutputStage:
    """Hands each finished packet to every sink, then to `on_packet` (statistics, progress)."""

    name = "output"

    def __init__(self, sinks: list[Sink], *, on_packet: Callable[[Packet], None] | None = None) -> None:
        self.sinks = list(sinks)
        self._on_packet = on_packet

    def __call__(self, packet: Packet) -> Packet:
        started = time.perf_counter()
        for sink in list(self.sinks):
            sink.write(packet)
        _finish(packet, self.name, started)
        if self._on_packet is not None:
            self._on_packet(packet)
        return packet

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()

"""The per-frame work of each pipeline stage, free of threading.

Each stage is a callable that fills its part of a `Packet`. The runner (`runner.py`) puts
each one on its own thread; tests and the benchmark can also call them directly.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from avatar_live.emotion.rules import estimate_emotion
from avatar_live.encoders.emoca_regressor import BackgroundEmoca, EmocaRegressor
from avatar_live.outputs.base import Sink
from avatar_live.pipeline.metrics import RateMeter
from avatar_live.render.hud import Hud, HudStats
from avatar_live.render.renderer import AvatarRenderer
from avatar_live.smoothing import FaceParamsSmoother
from avatar_live.solver.landmark_solver import LandmarkSolver
from avatar_live.tracking.facemesh import FaceMeshTracker
from avatar_live.tracking.landmarker import FaceLandmarkerTracker
from avatar_live.types import FaceParams, Packet, Track


def _finish(packet: Packet, stage: str, started: float) -> None:
    now = time.perf_counter()
    packet.durations[stage] = now - started
    packet.frame.stamps[stage] = now


class TrackStage:
    """Landmarks for each frame; stills are detected independently, video frames followed."""

    name = "track"

    def __init__(self, tracker: "FaceMeshTracker | FaceLandmarkerTracker", *, stills: bool) -> None:
        self._tracker = tracker
        self._stills = stills

    def __call__(self, packet: Packet) -> Packet:
        started = time.perf_counter()
        image = packet.frame.image
        if self._stills:
            packet.track = self._tracker.detect(image)
        else:
            packet.track = self._tracker.detect_for_video(image, packet.frame.time)
        _finish(packet, self.name, started)
        return packet

    def close(self) -> None:
        self._tracker.close()


class EncodeStage:
    """Landmarks -> smoothed face parameters -> emotion.

    Stills are solved independently (average neutral, no smoothing). Video frames go
    through calibration and the smoother, which holds and then eases to neutral when the
    face is lost. EMOCA, when given, runs on every frame (an `EmocaRegressor`, offline) or
    beside the stage on the newest face (a `BackgroundEmoca`, live), so a slow encoder
    never holds frames back; pose, blendshapes and gaze still come from every frame.
    """

    name = "encode"

    def __init__(self, solver: LandmarkSolver, smoother: FaceParamsSmoother, *, stills: bool,
                 emoca: EmocaRegressor | BackgroundEmoca | None = None) -> None:
        self._solver = solver
        self._smoother = smoother
        self._stills = stills
        self._emoca = emoca
        self._recalibrate = threading.Event()

    def request_recalibration(self) -> None:
        """Take a new neutral from the next frames with a face (safe from any thread)."""
        self._recalibrate.set()

    @property
    def calibrating(self) -> bool:
        return not self._stills and self._solver.calibrating

    def describe_encoder(self) -> str:
        """For the HUD: "mesh" (the landmark solver), or EMOCA's backend (and its rate, live)."""
        return "mesh" if self._emoca is None else self._emoca.describe()

    def __call__(self, packet: Packet) -> Packet:
        started = time.perf_counter()
        if self._recalibrate.is_set():
            self._recalibrate.clear()
            self._solver.recalibrate()
        track = packet.track
        height, width = packet.frame.image.shape[:2]
        if self._stills:
            params = (self._learned(self._solver.solve_image(track, (width, height)), packet.frame.image, track)
                      if track is not None else FaceParams.neutral())
        else:
            raw = (self._solver.solve_video_frame(track, packet.frame.time, (width, height))
                   if track is not None else None)
            params = self._smoother.update(
                self._learned(raw, packet.frame.image, track) if raw is not None else None, packet.frame.time)
        if params.face and params.emotion is None:
            params.emotion = estimate_emotion(params.arkit)
        packet.params = params
        _finish(packet, self.name, started)
        return packet

    def _learned(self, params: FaceParams, image: np.ndarray, track: Track) -> FaceParams:
        """Prefer learned estimates to the landmark solver's: a tracker's own blendshapes
        (FaceLandmarker), and EMOCA's FLAME parameters and emotion."""
        if track.blendshapes is not None:
            params.arkit = track.blendshapes.copy()
        if isinstance(self._emoca, BackgroundEmoca):
            self._emoca.submit(image, track.landmarks)
            latest = self._emoca.latest()
            if latest is not None:
                params.flame, params.emotion = latest
        elif self._emoca is not None:
            params.flame, params.emotion = self._emoca.encode(image, track.landmarks)
        return params

    def close(self) -> None:
        if self._emoca is not None:
            self._emoca.close()


class RenderStage:
    """Face parameters -> avatar image with the HUD drawn in.

    The renderer is made by `make_renderer` on first use, in the thread that renders,
    because an OpenGL context belongs to the thread that made it current.
    """

    name = "render"

    def __init__(
        self,
        make_renderer: Callable[[], AvatarRenderer],
        hud: Hud | None,
        *,
        describe_encoder: Callable[[], str] = lambda: "mesh",
        is_calibrating: Callable[[], bool] = lambda: False,
        self_view: bool = False,
        show_latency: bool = True,
    ) -> None:
        self._make_renderer = make_renderer
        self._renderer: AvatarRenderer | None = None
        self._hud = hud
        self._describe_encoder = describe_encoder
        self._is_calibrating = is_calibrating
        self._self_view = self_view
        # Offline, frames wait in ordered queues on purpose: that wait is no latency.
        self._show_latency = show_latency
        self._rate = RateMeter()

    def __call__(self, packet: Packet) -> Packet:
        started = time.perf_counter()
        if self._renderer is None:
            self._renderer = self._make_renderer()
        params = packet.params if packet.params is not None else FaceParams.neutral()
        image = self._renderer.render(params)
        self._rate.tick(started)
        if self._hud is not None:
            stats = HudStats(
                fps=self._rate.rate,
                latency_ms=((started - packet.frame.stamps["capture"]) * 1000.0
                            if self._show_latency and "capture" in packet.frame.stamps else None),
                face=packet.track is not None,
                calibrating=self._is_calibrating(),
                encoder=self._describe_encoder(),
            )
            self._hud.draw(image, params, stats, time=packet.frame.time,
                           self_view=packet.frame.image if self._self_view else None)
        packet.rendered = image
        _finish(packet, self.name, started)
        return packet

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.release()
            self._renderer = None


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

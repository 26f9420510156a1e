"""Assembles sources, stages and sinks into the four jobs the command line offers."""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from avatar_live.capture.base import Source
from avatar_live.encoders.base import Readout
from avatar_live.encoders.emotion import LearnedEmotion, RulesEmotion
from avatar_live.encoders.expression import (
    RESTING_KIND,
    LearnedExpression,
    SolverExpression,
    TrackerBlendshapes,
)
from avatar_live.errors import AvatarLiveError
from avatar_live.face.builtin import LOOKS, build_builtin_head
from avatar_live.face.rig import Rig, embed_landmarks
from avatar_live.learned.emotion import load_emotion_net
from avatar_live.learned.expression import load_expression_net
from avatar_live.learned.neutral import RestingOptions
from avatar_live.outputs.base import Sink
from avatar_live.outputs.sinks import Outputs, finish_sinks, open_sinks
from avatar_live.pipeline.channels import Closed
from avatar_live.pipeline.metrics import StageTimings, Summary
from avatar_live.pipeline.runner import Pipeline
from avatar_live.pipeline.stages import (
    SOLVER_KIND,
    ComposeStage,
    EncodeStage,
    OutputStage,
    RenderStage,
    StageChain,
    TrackStage,
)
from avatar_live.render.backdrop import Backdrop
from avatar_live.render.hud import Hud
from avatar_live.smoothing import FaceParamsSmoother
from avatar_live.solver.landmark_solver import LandmarkSolver, SolverOptions
from avatar_live.solver.retarget import LandmarkRetarget, rig_landmark_basis
from avatar_live.tracking.base import Tracker
from avatar_live.tracking.facemesh import FaceMeshOptions, FaceMeshTracker
from avatar_live.tracking.landmarker import FaceLandmarkerTracker, LandmarkerOptions
from avatar_live.types import Packet

if TYPE_CHECKING:
    from avatar_live.avatars.model import Avatar

log = logging.getLogger("avatar_live")

NO_DISPLAY_SECONDS = 10.0
NEUTRAL_KINDS = (SOLVER_KIND, RESTING_KIND)


@dataclass(frozen=True)
class AppOptions:
    """What the user asked for on the command line.

    Attributes:
        size: (width, height) of the rendered avatar frames.
        fps: requested camera/demo frame rate (None: the source's own).
        hud: draw the emotion/fps HUD in the window.
        hud_out: draw the HUD into the frames the outputs get too (virtual camera,
            recordings); by default they get the avatar alone.
        self_view: show the camera image as an inset in the window (never in outputs).
        backdrop: what is behind the avatar (a colour for chroma keys, a picture, or
            transparency where the output keeps alpha).
        calibrate: take the user's own neutral face out of the weights: the learned
            read-out learns their resting face from their most relaxed moments, the solver
            takes their first seconds. None: each read-out's default (the learned one reads
            faces as they are, as its teacher does, which measured closer to it; the solver
            calibrates). Pressing c in the window starts it either way.
        calibration_seconds: stream time with a face before the neutral is first used
            (the solver: the length of its calibration window).
        tracker: "mesh" (MediaPipe FaceMesh, offline, the default) or "landmarker"
            (MediaPipe FaceLandmarker, whose own learned blendshapes then give the
            weights; needs `landmarker_task`).
        readout: where FaceMesh's weights come from: "learned" (the project's trained
            model, the default) or "solver" (the landmark solver).
        emotion: "learned" (the project's trained classifier, the default) or "rules"
            (FACS rules on the weights); EMOCA's emotion model replaces either when
            imported and `encoder` is "emoca".
        landmarker_task: path of the user's `face_landmarker.task`.
        avatar: "builtin" (the character this project generates), "flame" (the user's own
            FLAME model from the model store, driven through landmarks), a VRM/glTF file,
            or the name of one in the model store.
        look: the built-in character's look (`face.builtin.LOOKS`).
        encoder: "mesh" (the landmarks alone, read by `readout`) or "emoca" (the user's
            imported EMOCA also gives the FLAME parameters and, when imported, the emotion).
        backend: force an inference backend for EMOCA (None: the best available).
    """

    size: tuple[int, int] = (640, 480)
    fps: float | None = None
    hud: bool = True
    hud_out: bool = False
    self_view: bool = False
    backdrop: Backdrop = Backdrop()
    calibrate: bool | None = None
    calibration_seconds: float = 1.0
    tracker: str = "mesh"
    landmarker_task: Path | None = None
    readout: str = "learned"
    emotion: str = "learned"
    avatar: str = "builtin"
    look: str = "default"
    encoder: str = "mesh"
    backend: str | None = None


@dataclass
class RunReport:
    """What a finished run did, for messages, the exit status and the benchmark.

    Attributes:
        outputs: one line per output: what was written where.
        seconds: wall time from the pipeline's start to its end.
        cpu_seconds: CPU time of the whole process (every thread) over the same span.
        interrupted: the run was stopped (Ctrl-C, a signal) before its source ended.
        truncated: the source ended before its announced end: why.
    """

    frames: int
    seconds: float
    cpu_seconds: float = 0.0
    timings: StageTimings = field(default_factory=StageTimings)
    dropped: int = 0
    outputs: list[str] = field(default_factory=list)
    interrupted: bool = False
    truncated: str | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def summaries(self) -> dict[str, Summary]:
        return self.timings.summaries()


def _make_tracker(options: AppOptions) -> Tracker:
    if options.tracker == "mesh":
        return FaceMeshTracker.create_from_options(FaceMeshOptions())
    if options.tracker == "landmarker":
        if options.landmarker_task is None:
            raise AvatarLiveError("--tracker landmarker needs --landmarker-task PATH (MediaPipe's face_landmarker.task)")
        return FaceLandmarkerTracker.create_from_options(LandmarkerOptions(options.landmarker_task))
    raise AvatarLiveError(f"unknown tracker {options.tracker!r}: use mesh or landmarker")


@functools.lru_cache(maxsize=2)
def load_avatar(avatar: str, look: str = "default") -> Rig | Avatar:
    """What `--avatar` names: the built-in head, the user's stored FLAME model (rigs), or a
    VRM / glTF avatar by path or by the name it was stored under (`models add-avatar`).

    Raises:
        AvatarLiveError: an unknown avatar, files that are not installed or do not load.
    """
    if avatar == "builtin":
        return build_builtin_head(LOOKS[look])
    if avatar == "flame":
        from avatar_live.face.embeddings import load_mediapipe_embedding
        from avatar_live.face.flame import load_flame
        from avatar_live.face.flame_rig import flame_rig
        from avatar_live.model_store import flame_avatar_files

        model_path, embedding_path = flame_avatar_files()
        return flame_rig(load_flame(model_path), load_mediapipe_embedding(embedding_path))
    from avatar_live.avatars.gltf import load_avatar_file
    from avatar_live.model_store import AVATAR_SUFFIXES, stored_avatar

    path = Path(avatar).expanduser()
    if path.suffix.lower() in AVATAR_SUFFIXES:
        if not path.is_file():
            raise AvatarLiveError(f"no such avatar file: {path}")
        return load_avatar_file(path)
    stored = stored_avatar(avatar)
    if stored is None:
        raise AvatarLiveError(f"unknown avatar {avatar!r}: use builtin, flame, a .vrm/.glb/.gltf file, or a name "
                              "stored with `avatar-live models add-avatar` (see `avatar-live models list`)")
    return load_avatar_file(stored)


def _make_emoca(options: AppOptions, *, live: bool) -> Readout | None:
    if options.encoder == "mesh":
        return None
    if options.encoder != "emoca":
        raise AvatarLiveError(f"unknown encoder {options.encoder!r}: use mesh or emoca")
    from avatar_live.encoders.emoca_regressor import EmocaOptions, EmocaRegressor
    from avatar_live.model_store import emoca_files
    from avatar_live.pipeline.background import BackgroundReadout

    encoder, emotion = emoca_files()
    # Live on a CPU, the encoder runs beside the display on one thread, leaving the other
    # cores to capture, tracking and rendering; offline it is the bottleneck and gets them all.
    regressor = EmocaRegressor.create_from_options(
        EmocaOptions(encoder, emotion, options.backend, cpu_threads=1 if live else None))
    if emotion is None:
        log.info("EMOCA's emotion model is not imported (`models add-emotion`): emotion from the %s read-out",
                 options.emotion)
    # On a GPU it keeps up with the camera: every face is encoded, in its own frame.
    return BackgroundReadout(regressor) if live and not regressor.keeps_up else regressor


def _expression_readout(options: AppOptions, solver: LandmarkSolver) -> Readout:
    if options.tracker == "landmarker":
        return TrackerBlendshapes()
    if options.readout == "solver":
        return SolverExpression(solver)
    if options.readout == "learned":
        return LearnedExpression(load_expression_net(), RestingOptions(min_seconds=options.calibration_seconds),
                                 calibrate=bool(options.calibrate))
    raise AvatarLiveError(f"unknown read-out {options.readout!r}: use learned or solver")


def _emotion_readout(options: AppOptions) -> Readout:
    if options.emotion == "rules":
        return RulesEmotion()
    if options.emotion == "learned":
        return LearnedEmotion(load_emotion_net())
    raise AvatarLiveError(f"unknown emotion read-out {options.emotion!r}: use learned or rules")


def make_encode_stage(options: AppOptions, *, stills: bool, live: bool = False) -> EncodeStage:
    """The encode stage as the app runs it: the solver, the read-outs the options ask for,
    the smoother.

    Raises:
        AvatarLiveError: a model the options need is missing or broken.
    """
    head = build_builtin_head()
    retarget = None
    if options.encoder == "mesh" and options.avatar == "flame":
        # Without EMOCA, FLAME follows the landmark motion the built-in head is solved from.
        avatar = load_avatar(options.avatar)
        retarget = LandmarkRetarget(head.embedding.landmark_indices,
                                    embed_landmarks(head.vertices, head.faces, head.embedding),
                                    rig_landmark_basis(avatar))
    solver = LandmarkSolver.create_from_options(
        head, SolverOptions(calibrate=options.calibrate is not False, calibration_seconds=options.calibration_seconds),
        retarget=retarget,
    )
    readouts = [_expression_readout(options, solver)]
    emotion = _emotion_readout(options)
    emoca = _make_emoca(options, live=live)
    if emoca is not None:
        readouts.append(emoca)
    return EncodeStage(solver, FaceParamsSmoother(), stills=stills, readouts=readouts, emotion=emotion)


def _front_stages(source: Source, options: AppOptions, *, live: bool = False) -> tuple[TrackStage, EncodeStage]:
    encode = make_encode_stage(options, stills=source.stills, live=live)
    return TrackStage(_make_tracker(options), stills=source.stills), encode


def _render_stage(options: AppOptions, *, ctx_factory: Callable | None = None) -> RenderStage:
    # Imported here: `track` renders nothing and starts faster without moderngl.
    from avatar_live.render.renderer import AvatarRenderer, RenderOptions

    avatar = load_avatar(options.avatar, options.look)  # raises before any thread starts when files are missing
    render_options = RenderOptions(size=options.size, backdrop=options.backdrop)

    def make_renderer():
        ctx = ctx_factory() if ctx_factory is not None else None
        if isinstance(avatar, Rig):
            return AvatarRenderer.create_from_options(avatar, render_options, ctx=ctx)
        from avatar_live.render.gltf_renderer import (
            GltfRenderer,  # VRM/glTF avatars only
        )

        return GltfRenderer.create_from_options(avatar, render_options, ctx=ctx)

    return RenderStage(make_renderer)


def _compose_stage(options: AppOptions, encode: EncodeStage, *, live: bool, window: bool = False) -> ComposeStage:
    hud = Hud(options.size) if options.hud and (window or options.hud_out) else None
    return ComposeStage(hud, hud_out=options.hud_out, window=window, backdrop_color=options.backdrop.color_u8,
                        describe_encoder=encode.describe_encoder, is_calibrating=lambda: encode.calibrating,
                        self_view=options.self_view, show_latency=live)


def _progress(total: int | None, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", dynamic_ncols=True, disable=None, file=sys.stderr)


def _run_offline(source: Source, stages: list, sinks: list[Sink], *, desc: str, max_frames: int | None = None,
                 compose: ComposeStage | None = None) -> RunReport:
    report = RunReport(frames=0, seconds=0.0)
    total = source.frame_count if max_frames is None else min(max_frames, source.frame_count or max_frames)
    with _progress(total, desc) as bar:

        def finished(packet: Packet) -> None:
            _count(report, packet)
            bar.update(1)

        pipeline = Pipeline(source, [*stages, _composed_output(compose, OutputStage(sinks, on_packet=finished))],
                            live=False, max_frames=max_frames)
        return _run_pipeline(pipeline, report, sinks, source, main_loop=None,
                             interrupted="interrupted: finishing the frames in flight and closing the outputs")


def _composed_output(compose: ComposeStage | None, output: OutputStage) -> StageChain | OutputStage:
    """The output stage, with the HUD composed first on the same thread (beside the renderer's)."""
    return output if compose is None else StageChain(compose, output)


def _open_offline(source: Source, options: AppOptions, outputs: Outputs, *, render: bool,
                  max_frames: int | None) -> tuple[TrackStage, EncodeStage, list[Sink]]:
    """The front stages and the sinks of an offline run; closes `source` when they fail."""
    try:
        if source.frame_count is None and max_frames is None:
            command = "render" if render else "track"
            raise AvatarLiveError(f"{source.name} never ends: `{command}` needs a file or images"
                                  + (" (or use `run --record`)" if render else ""))
        track, encode = _front_stages(source, options)
        sinks = open_sinks(outputs, size=options.size, fps=source.fps, clock="source", backdrop=options.backdrop)
    except BaseException:
        source.close()
        raise
    return track, encode, sinks


def render_file(source: Source, outputs: Outputs, options: AppOptions, *, max_frames: int | None = None) -> RunReport:
    """Render every frame of a source, in order, to a video file (or PNG folder) with the
    source's timestamps, and to any other outputs.

    Takes ownership of `source` (closes it).
    """
    if outputs.video is None:
        source.close()
        raise AvatarLiveError("render needs -o OUT (a video file or a folder for PNG images)")
    track, encode, sinks = _open_offline(source, options, outputs, render=True, max_frames=max_frames)
    stages = [track, encode, _render_stage(options)]
    return _run_offline(source, stages, sinks, desc="render", max_frames=max_frames,
                        compose=_compose_stage(options, encode, live=False))


def track_file(source: Source, outputs: Outputs, options: AppOptions, *, max_frames: int | None = None) -> RunReport:
    """Face parameters for every frame of a source (JSON lines, network outputs); no rendering.

    Takes ownership of `source` (closes it).
    """
    if outputs.video is not None or outputs.virtualcam:
        source.close()
        raise AvatarLiveError("track renders nothing: use `render` for video outputs")
    track, encode, sinks = _open_offline(source, options, outputs, render=False, max_frames=max_frames)
    return _run_offline(source, [track, encode], sinks, desc="track", max_frames=max_frames)


def _headless_fallback(outputs: Outputs, duration: float | None, reason: str) -> tuple[Outputs, float]:
    """Without a usable display: record a short clip instead (unless a recording was asked for)."""
    if outputs.video is None:
        path = Path(tempfile.gettempdir()) / f"avatar-live-{time.strftime('%Y%m%d-%H%M%S')}.mp4"
        outputs = dataclasses.replace(outputs, video=path)
    duration = duration if duration is not None else NO_DISPLAY_SECONDS
    log.warning("%s: running headless for %.0f s, recording to %s", reason, duration, outputs.video)
    return outputs, duration


def run_live(source: Source, options: AppOptions, outputs: Outputs, *, headless: bool,
             duration: float | None = None) -> RunReport:
    """The live app: source -> avatar in a window (or headless) -> outputs, in real time.

    Without a usable display (and without `headless`), renders the first
    `NO_DISPLAY_SECONDS` to a video file instead (unless a recording was asked for) and
    says where. Video files are stamped with each frame's capture time. Takes ownership of
    `source` (closes it).
    """
    window = None
    if not headless:
        from avatar_live.render.window import Window, has_display

        if not has_display():
            outputs, duration = _headless_fallback(outputs, duration, "no display")
        else:
            try:
                window = Window(options.size)
            except AvatarLiveError as exc:
                outputs, duration = _headless_fallback(outputs, duration, str(exc))
    try:
        track, encode = _front_stages(source, options, live=True)
        sinks = open_sinks(outputs, size=options.size, fps=source.fps, clock="capture", backdrop=options.backdrop)
    except BaseException:
        source.close()
        if window is not None:
            window.close()
        raise
    log.info("source: %s (%dx%d @ %.1f fps)", source.name, source.size[0], source.size[1], source.fps)
    key = source.calibration_key
    if key is not None:
        _restore_neutral(encode, key)
    try:
        return _run_live(source, options, outputs, window, track, encode, sinks, duration)
    finally:
        if key is not None:
            _save_neutral(encode, key)


def _restore_neutral(encode: EncodeStage, key: str) -> None:
    """Start from the neutral face saved for this camera, when there is one."""
    from avatar_live.calibration_store import load_neutral

    states = {kind: state for kind in NEUTRAL_KINDS if (state := load_neutral(key, kind)) is not None}
    if not states:
        return
    try:
        encode.restore_neutrals(states)
    except ValueError as exc:
        log.warning("the neutral face saved for %s does not fit (%s): calibrating afresh", key, exc)
        return
    log.info("using your neutral face saved for %s (press c to take a new one)", key)


def _save_neutral(encode: EncodeStage, key: str) -> None:
    """Keep the user's calibrated neutral face for the next run with this camera."""
    from avatar_live.calibration_store import save_neutral

    for kind, state in encode.neutral_states().items():
        try:
            save_neutral(key, kind, state)
        except AvatarLiveError as exc:
            log.warning("your neutral face was not saved: %s", exc)


def _run_live(source: Source, options: AppOptions, outputs: Outputs, window, track: TrackStage,
              encode: EncodeStage, sinks: list[Sink], duration: float | None) -> RunReport:
    report = RunReport(frames=0, seconds=0.0)
    output_stage = OutputStage(sinks, on_packet=lambda p: _count(report, p))
    pace = not source.live and not source.stills
    if window is None:
        stages = [track, encode, _render_stage(options),
                  _composed_output(_compose_stage(options, encode, live=True), output_stage)]
        pipeline = Pipeline(source, stages, live=True, pace=pace, duration=duration)
        return _run_pipeline(pipeline, report, sinks, source, main_loop=None)

    # glfw needs the main thread, and the window's GL context is current there: render,
    # show and output on the main thread; capture, tracking and encoding run on theirs.
    render = _render_stage(options, ctx_factory=lambda: window.ctx)
    compose = _compose_stage(options, encode, live=True, window=True)
    pipeline = Pipeline(source, [track, encode], live=True, pace=pace, duration=duration)

    def main_loop() -> None:
        ended = False
        try:
            while not window.should_close:
                for key in window.poll():
                    if key == "c":
                        encode.request_recalibration()
                        log.info("recalibrating: hold a neutral face")
                    elif key in ("q", "escape"):
                        return
                if ended:
                    time.sleep(1.0 / 30)  # stills: the last picture stays up until the window closes
                    continue
                try:
                    packet = pipeline.output.get(timeout=1.0 / 120)
                except Closed:  # the source ended
                    if not source.stills:
                        return
                    ended = True
                    log.info("all images shown: close the window or press q to quit")
                    continue
                if packet is None:
                    continue
                compose(render(packet))
                window.show(packet.shown)
                output_stage(packet)
        finally:
            render.close()
            output_stage.close()
            window.close()

    return _run_pipeline(pipeline, report, sinks, source, main_loop=main_loop)


def _count(report: RunReport, packet: Packet) -> None:
    report.frames += 1
    report.timings.add(packet.durations, packet.frame.stamps.get("capture"), time.perf_counter())


def _run_pipeline(pipeline: Pipeline, report: RunReport, sinks: list[Sink], source: Source, *,
                  main_loop: Callable[[], None] | None, interrupted: str = "stopping") -> RunReport:
    """Run to the end (or Ctrl-C, which stops the source and lets the frames in flight
    finish), with `main_loop` on this thread when the window needs it; then move the
    finished files into place, or keep what a failed run wrote under its partial names."""
    started, cpu_started = time.perf_counter(), time.process_time()
    pipeline.start()
    try:
        if main_loop is not None:
            main_loop()
            pipeline.stop()
        pipeline.drain()
    except KeyboardInterrupt:
        log.info(interrupted)
        report.interrupted = True
        pipeline.stop()
        pipeline.drain()
    except BaseException:
        pipeline.stop()
        try:
            pipeline.join()  # the output thread closes the files before they are kept
        finally:
            report.outputs = finish_sinks(sinks, ok=False)
        raise
    report.seconds = time.perf_counter() - started
    report.cpu_seconds = time.process_time() - cpu_started
    report.dropped = pipeline.dropped
    report.truncated = source.truncated
    report.outputs = finish_sinks(sinks, ok=True)
    return report

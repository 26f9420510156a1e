"""The `avatar-live` command line."""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
from pathlib import Path

from avatar_live import __version__
from avatar_live.errors import AvatarLiveError
from avatar_live.runtime.select import BACKEND_NAMES

log = logging.getLogger("avatar_live")

COMMANDS = ("run", "render", "track", "bench", "avatar-sheet", "models", "train")

DESCRIPTION = """\
Real-time webcam avatar. Finds your face, estimates 52 ARKit blendshapes, head pose and
gaze, smooths them, and renders a 3D head with an emotion HUD to a window, a virtual
camera, a video file, or a JSON-lines parameter stream. Works offline: MediaPipe FaceMesh
finds the face, this project's own trained models read its expression and emotion, and
the head is built in.

commands (default: run):
  run      live: camera/demo/video -> avatar window (+ --virtualcam, --record)
  render   offline: every frame of a video/images -> avatar video (none dropped)
  track    offline: every frame -> face parameters as JSON lines
  bench    per-stage and end-to-end timings
  avatar-sheet  a picture of the avatar: neutral, each blendshape, a few expressions
  models   import your own FLAME/EMOCA downloads (`models add-flame PATH`, `add-emoca DIR`), list them
  train    rebuild the shipped expression/emotion models from the training media (developers)

examples:
  avatar-live --source demo                 # no webcam needed
  avatar-live --virtualcam                  # webcam 0 -> Zoom/Meet/OBS
  avatar-live render clip.mp4 -o avatar.mp4
  avatar-live track clip.mp4 -o params.jsonl
"""


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x480, got {text!r}") from None
    if not (16 <= width <= 4096 and 16 <= height <= 4096):
        raise argparse.ArgumentTypeError(f"size must be between 16x16 and 4096x4096, got {text!r}")
    return width, height


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("avatar and tracking")
    group.add_argument("--size", type=_size, default=(640, 480), metavar="WxH",
                       help="size of the rendered avatar frames (default 640x480)")
    group.add_argument("--no-hud", action="store_true", help="leave the emotion/fps HUD out of the frames")
    group.add_argument("--self-view", action="store_true", help="show the camera image as a small inset")
    group.add_argument("--readout", choices=("learned", "solver"), default="learned",
                       help="learned: this project's trained expression model reads the landmarks (default); "
                            "solver: the geometric landmark solver")
    group.add_argument("--emotion", choices=("learned", "rules"), default="learned",
                       help="learned: this project's trained emotion classifier (default); rules: FACS rules on "
                            "the blendshapes")
    group.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=None,
                       help="take your own neutral face out of the reading. Learned read-out: off by default "
                            "(it reads faces as they are); on, your resting face is learned from your most "
                            "relaxed moments, wherever they come. Solver: on by default, from your first "
                            "seconds. Press c in the window to start it afresh")
    group.add_argument("--calibration-seconds", type=_positive, default=1.0, metavar="S",
                       help="seconds with a face before your neutral is used (default 1)")
    group.add_argument("--tracker", choices=("mesh", "landmarker"), default="mesh",
                       help="mesh: MediaPipe FaceMesh (default, offline); landmarker: MediaPipe "
                            "FaceLandmarker, whose own learned blendshapes give the weights (needs --landmarker-task)")
    group.add_argument("--landmarker-task", type=Path, metavar="PATH",
                       help="your face_landmarker.task model (download it from MediaPipe)")
    group.add_argument("--avatar", choices=("builtin", "flame"),
                       help="builtin: the head this project generates (default); flame: your own FLAME model "
                            "(install it first with `avatar-live models add-flame`; the default with "
                            "--encoder emoca)")
    group.add_argument("--encoder", choices=("mesh", "emoca"), default="mesh",
                       help="mesh: the landmarks alone, read by --readout (default, offline); emoca: your "
                            "imported EMOCA (`models add-emoca`) also regresses FLAME parameters, and emotion "
                            "when its emotion model is imported")
    group.add_argument("--backend", choices=BACKEND_NAMES,
                       help="inference backend for EMOCA (default: the best available, logged; "
                            "onnxruntime-int8 is the CPU's fast choice, onnxruntime its float32 one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log lines; tracebacks on errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avatar-live", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"avatar-live {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="live avatar (default command)",
                              description="Live: source -> avatar in a window, in real time. Keys: "
                                          "c = take your neutral face (hold it relaxed for a second), q/Esc = quit.")
    run.add_argument("--source", default="0",
                     help="camera index (default 0), video file, image file, folder of images, or `demo` "
                          "(an animated photo: no camera needed)")
    run.add_argument("--fps", type=_positive, help="requested camera/demo frame rate")
    run.add_argument("--virtualcam", action="store_true",
                     help="also send the avatar to a virtual camera (OBS Virtual Camera / v4l2loopback)")
    run.add_argument("--record", type=Path, metavar="OUT.mp4", help="also record the avatar to a video file")
    run.add_argument("--params", type=Path, metavar="OUT.jsonl", help="also write per-frame parameters as JSON lines")
    run.add_argument("--headless", action="store_true", help="no window (render offscreen; use with outputs)")
    run.add_argument("--duration", type=_positive, metavar="S", help="stop after S seconds")
    _add_common(run)

    render = commands.add_parser("render", help="render a video/images to an avatar video",
                                 description="Offline: every input frame, in order, none dropped; the output "
                                             "has the input's frame count and frame rate.")
    render.add_argument("source", help="video file, image file or folder of images")
    render.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.mp4")
    render.add_argument("--params", type=Path, metavar="OUT.jsonl", help="also write parameters as JSON lines")
    _add_common(render)

    track = commands.add_parser("track", help="face parameters of every frame as JSON lines",
                                description="Offline: one JSON object per input frame: frame, time, face, head "
                                            "(rotation axis-angle rad, translation), arkit (52 weights), gaze, "
                                            "emotion (valence, arousal, probs).")
    track.add_argument("source", help="video file, image file or folder of images")
    track.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.jsonl")
    _add_common(track)

    bench = commands.add_parser("bench", help="per-stage and end-to-end timings",
                                description="Runs the offline pipeline (render with HUD to a temporary video) "
                                            "and prints per-stage median/p95 ms and end-to-end fps.")
    bench.add_argument("source", nargs="?", default="demo",
                       help="video file, images, or `demo` (default)")
    bench.add_argument("--frames", type=int, help="frames to run (default: all of a file, 300 of the demo)")
    _add_common(bench)

    sheet = commands.add_parser("avatar-sheet", help="render the avatar's blendshapes into one labelled picture",
                                description="Renders the neutral head, each of its blendshapes at full weight "
                                            "and a few combined expressions (joy, surprise, anger, sadness, "
                                            "disgust) in a labelled grid: for checking an avatar at a glance.")
    sheet.add_argument("-o", "--output", type=Path, required=True, metavar="SHEET.png")
    sheet.add_argument("--cell", type=_size, default=(240, 240), metavar="WxH", help="size of each cell")
    sheet.add_argument("-v", "--verbose", action="store_true", help="tracebacks on errors")

    models = commands.add_parser("models", help="import licensed models you downloaded; list them",
                                 description="FLAME and EMOCA are licensed downloads that you fetch "
                                             "yourself. `models add-flame` validates a FLAME file and stores a "
                                             "copy in your user data folder ($AVATAR_LIVE_HOME overrides it); "
                                             "`add-emoca` and `add-emotion` convert EMOCA's checkpoints there. "
                                             "Nothing is downloaded or shared.")
    models.add_argument("-v", "--verbose", action="store_true", help="tracebacks on errors")
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    add_flame = models_commands.add_parser("add-flame", help="validate and store a FLAME model file",
                                           description="Accepts FLAME 2020 generic_model.pkl or FLAME 2023 "
                                                       "flame2023_Open.pkl (no chumpy needed), and optionally "
                                                       "a MediaPipe landmark embedding "
                                                       "(mediapipe_landmark_embedding.npz, from EMOCA v2 or MICA).")
    add_flame.add_argument("path", type=Path, help="the FLAME .pkl file")
    add_flame.add_argument("--embedding", type=Path, metavar="PATH",
                           help="mediapipe_landmark_embedding.npz (needed to drive FLAME from the tracker)")
    for kind, what in (("emoca", "an EMOCA model folder (e.g. EMOCA_v2_lr_mse_20)"),
                       ("emotion", "an EMOCA emotion recognition model folder")):
        add = models_commands.add_parser(
            f"add-{kind}", help=f"convert {what} for inference on this machine",
            description=f"Finds the checkpoint in {what}, loads the weights it needs without running any "
                        "code from the file, and stores in your model folder an ONNX model and the weights "
                        "for the torch backends" + (", plus an INT8 copy for CPUs, calibrated on the "
                        "built-in demo face and checked against float32" if kind == "emoca" else "")
                        + ". The result is derived from licensed weights: it stays on this machine.")
        add.add_argument("folder", type=Path, help="the downloaded model folder")
    models_commands.add_parser("list", help="show the installed models and where they are")

    train = commands.add_parser(
        "train", help="rebuild the shipped expression or emotion model (developers)",
        description="Rebuilds a model that ships with avatar-live from the training media in shared/data "
                    "(needs the `emoca` extra for torch): `expression` distils MediaPipe FaceLandmarker's "
                    "blendshapes (the teacher, training time only) into a network on FaceMesh's landmarks; "
                    "`emotion` trains a classifier on FER2013 and the labelled stills, reading faces through "
                    "the shipped expression model (train `expression` first). Tracking results are cached, so "
                    "a second run starts in seconds. Seeded: the same data gives the same file.")
    train.add_argument("model", choices=("expression", "emotion"))
    train.add_argument("--data", type=Path, metavar="DIR",
                       help="the shared data folder (default: $AVATAR_LIVE_DATA, else ../shared/data beside "
                            "the checkout)")
    train.add_argument("--cache", type=Path, metavar="DIR",
                       help="where tracking results are kept (default: the user cache folder)")
    train.add_argument("-o", "--output", type=Path, metavar="PATH",
                       help="the model file to write (default: the shipped one, whose checksum in "
                            "SHA256SUMS is updated)")
    train.add_argument("--workers", type=int, default=2, metavar="N", help="tracking processes (default 2)")
    train.add_argument("-v", "--verbose", action="store_true", help="tracebacks on errors")
    return parser


def _options(args: argparse.Namespace):
    from avatar_live.app import AppOptions

    if args.tracker == "landmarker" and args.landmarker_task is None:
        raise AvatarLiveError("--tracker landmarker needs --landmarker-task PATH (MediaPipe's face_landmarker.task)")

    return AppOptions(size=args.size, fps=getattr(args, "fps", None), hud=not args.no_hud,
                      self_view=args.self_view, calibrate=args.calibrate,
                      calibration_seconds=args.calibration_seconds, tracker=args.tracker,
                      landmarker_task=args.landmarker_task, readout=args.readout, emotion=args.emotion,
                      avatar=args.avatar or ("flame" if args.encoder == "emoca" else "builtin"),
                      encoder=args.encoder, backend=args.backend)


def _print_report(report, *, what: str) -> None:
    print(f"{what}: {report.frames} frames in {report.seconds:.1f} s ({report.fps:.1f} fps)")
    if what == "live" and report.frames:
        latency = report.summaries()["end-to-end latency"]
        print(f"  capture-to-output latency: median {latency.median_ms:.0f} ms, p95 {latency.p95_ms:.0f} ms; "
              f"{report.dropped} stale frames skipped")
    for output in report.outputs:
        print(f"  wrote {output}")


def _avatar_sheet(output: Path, cell: tuple[int, int]) -> int:
    import cv2

    from avatar_live.face.builtin_head import build_builtin_head
    from avatar_live.render.sheet import render_avatar_sheet

    sheet = render_avatar_sheet(build_builtin_head(), cell_size=cell)
    if not cv2.imwrite(str(output), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise AvatarLiveError(f"cannot write {output}: use a .png or .jpg path in a writable folder")
    print(f"wrote {output} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


def _models(args: argparse.Namespace) -> int:
    from avatar_live import model_store

    adders = {"add-emoca": model_store.add_emoca, "add-emotion": model_store.add_emotion}
    if args.models_command == "add-flame":
        stored = model_store.add_flame(args.path, embedding=args.embedding)
    elif args.models_command in adders:
        print(f"converting {args.folder} (under a minute)...")
        stored = adders[args.models_command](args.folder)
    if args.models_command != "list":
        print(f"stored {stored.kind} model {stored.name} in {stored.path}")
        return 0
    installed = model_store.list_models()
    print(f"models folder: {model_store.store_root()}")
    if not installed:
        print("  (none) - add FLAME with `avatar-live models add-flame PATH`")
    for model in installed:
        details = ", ".join(f"{k} {v}" for k, v in model.details.items())
        print(f"  {model.kind:<20} {model.name:<28} {details}")
        print(f"  {'':<20} {model.path}")
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    from avatar_live import app
    from avatar_live.capture.sources import open_source

    if args.command == "avatar-sheet":
        return _avatar_sheet(args.output, args.cell)
    if args.command == "models":
        return _models(args)
    if args.command == "train":
        from avatar_live.training.command import train

        return train(args.model, data=args.data, cache=args.cache, output=args.output, workers=args.workers)
    options = _options(args)
    if args.command == "bench":
        from avatar_live.bench import format_report, run_bench

        print(format_report(run_bench(args.source, options, frames=args.frames)))
        return 0
    source = open_source(args.source, size=options.size, fps=options.fps)
    if args.command == "render":
        report = app.render_file(source, args.output, options, params_out=args.params)
        _print_report(report, what="rendered")
    elif args.command == "track":
        report = app.track_file(source, args.output, options)
        _print_report(report, what="tracked")
    else:
        outputs = app.LiveOutputs(record=args.record, params=args.params, virtualcam=args.virtualcam)
        report = app.run_live(source, options, outputs, headless=args.headless, duration=args.duration)
        _print_report(report, what="live")
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run() -> None:
    """The `avatar-live` program: process-wide set-up, then `main`.

    Kept out of `main` so that calling `main` in-process (tests, other tools) leaves the
    caller's stderr and signal handlers alone.
    """
    if not {"-v", "--verbose"} & set(sys.argv[1:]):
        from avatar_live.console import filter_native_stderr, quiet_native_libraries

        quiet_native_libraries()
        filter_native_stderr()
    # A service manager or script stopping us (SIGTERM) gets the same clean shutdown as
    # Ctrl-C: recordings and parameter files are finalized.
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "run")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="avatar-live: %(message)s")
    try:
        return _dispatch(args)
    except AvatarLiveError as exc:
        if args.verbose:
            log.exception("error")
        print(f"avatar-live: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("avatar-live: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line by default, the traceback with --verbose
        if args.verbose:
            raise
        print(f"avatar-live: internal error: {type(exc).__name__}: {exc} (run with --verbose for details)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    run()

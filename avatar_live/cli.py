"""The `avatar-live` command line."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import os
import signal
import sys
from pathlib import Path

from avatar_live.arguments import COMMANDS, build_parser
from avatar_live.config import apply_config, load_config
from avatar_live.errors import AvatarLiveError

log = logging.getLogger("avatar_live")

SHEET_SUFFIXES = (".png", ".jpg", ".jpeg")


def _options(args: argparse.Namespace):
    from avatar_live.app import AppOptions

    if args.tracker == "landmarker" and args.landmarker_task is None:
        raise AvatarLiveError("--tracker landmarker needs --landmarker-task PATH (MediaPipe's face_landmarker.task)")

    return AppOptions(size=args.size, fps=getattr(args, "fps", None), hud=not args.no_hud, hud_out=args.hud_out,
                      self_view=args.self_view, backdrop=args.background, calibrate=args.calibrate,
                      calibration_seconds=args.calibration_seconds, tracker=args.tracker,
                      landmarker_task=args.landmarker_task, readout=args.readout, emotion=args.emotion,
                      avatar=args.avatar or ("flame" if args.encoder == "emoca" else "builtin"), look=args.look,
                      encoder=args.encoder, backend=args.backend)


def _print_report(report, *, what: str) -> None:
    """The run's summary, on standard error: standard output may be carrying JSON lines."""
    say = functools.partial(print, file=sys.stderr)
    say(f"{what}: {report.frames} frames in {report.seconds:.1f} s ({report.fps:.1f} fps)"
        + (" - interrupted" if report.interrupted else ""))
    if what == "live" and report.frames:
        latency = report.summaries()["end-to-end latency"]
        say(f"  capture-to-output latency: median {latency.median_ms:.0f} ms, p95 {latency.p95_ms:.0f} ms; "
            f"{report.dropped} stale frames skipped")
    for output in report.outputs:
        say(f"  wrote {output}")


def _exit_status(report) -> int:
    """0, or non-zero for a run that did not reach its source's end: 128 + the signal that
    stopped it (130 for Ctrl-C), 1 for a damaged source."""
    if report.interrupted:
        return 128 + (_received_signal or signal.SIGINT)
    if report.truncated:
        print(f"avatar-live: error: {report.truncated}; what was read is saved", file=sys.stderr)
        return 1
    return 0


def _avatar_sheet(output: Path, cell: tuple[int, int], look: str) -> int:
    import cv2

    from avatar_live.face.builtin import LOOKS, build_builtin_head
    from avatar_live.render.sheet import render_avatar_sheet

    if output.suffix.lower() not in SHEET_SUFFIXES:
        raise AvatarLiveError(f"cannot write {output}: use a {' or '.join(SHEET_SUFFIXES)} file name")
    sheet = render_avatar_sheet(build_builtin_head(LOOKS[look]), cell_size=cell)
    ok, data = cv2.imencode(output.suffix.lower(), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    try:
        output.write_bytes(data.tobytes())
    except OSError as exc:
        raise AvatarLiveError(f"cannot write {output}: {exc.strerror}") from exc
    print(f"wrote {output} ({sheet.shape[1]}x{sheet.shape[0]})", file=sys.stderr)
    return 0


def _export_avatar(output: Path, *, vrm0: bool, look: str) -> int:
    from avatar_live.avatars.export import export_avatar, vrm_version_for
    from avatar_live.face.builtin import LOOKS, build_builtin_head

    written = export_avatar(build_builtin_head(LOOKS[look]), output, vrm=vrm_version_for(output, vrm0=vrm0))
    print(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


def _models(args: argparse.Namespace) -> int:
    from avatar_live import model_store

    adders = {"add-emoca": model_store.add_emoca, "add-emotion": model_store.add_emotion}
    if args.models_command == "add-avatar":
        stored = model_store.add_avatar(args.path, args.name)
    elif args.models_command == "add-flame":
        stored = model_store.add_flame(args.path, embedding=args.embedding)
    elif args.models_command in adders:
        print(f"converting {args.folder} (under a minute)...")
        stored = adders[args.models_command](args.folder)
    if args.models_command == "add-avatar":
        print(f"stored avatar {stored.path.stem} in {stored.path}: use it with --avatar {stored.path.stem}")
        return 0
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

    _import_native_libraries(args)
    _arm_interrupts()

    if args.command == "avatar-sheet":
        return _avatar_sheet(args.output, args.cell, args.look)
    if args.command == "models":
        return _models(args)
    if args.command == "export-avatar":
        return _export_avatar(args.output, vrm0=args.vrm0, look=args.look)
    if args.command == "train":
        from avatar_live.training.command import train

        return train(args.model, data=args.data, cache=args.cache, output=args.output, workers=args.workers)
    if args.command == "cameras":
        from avatar_live.capture.cameras import format_cameras, list_cameras

        print(format_cameras(list_cameras()))
        return 0
    if args.command == "config":
        from avatar_live.config import effective_values, format_effective, load_config

        parser, config = build_parser(), load_config()
        apply_config(parser, args.for_command, config)
        print(format_effective(config, effective_values(parser, args.for_command, None, config)))
        return 0
    options = _options(args)
    if args.command == "bench":
        from avatar_live.bench import format_report, run_bench

        print(format_report(run_bench(args.source, options, frames=args.frames)))
        return 0
    source_spec = args.source
    if args.command == "render":
        outputs = app.Outputs(video=args.output, params=args.params)
    elif args.command == "track":
        outputs = app.Outputs(params=args.output)
    else:
        outputs = app.Outputs(video=args.record, params=args.params, virtualcam=args.virtualcam)
    outputs = dataclasses.replace(outputs, vmc=args.vmc, ifacialmocap=args.ifacialmocap)
    inputs = [Path(source_spec).expanduser()] if Path(source_spec).expanduser().exists() else []
    options_named = {"render": ("-o", "--params"), "track": ("--video", "-o"), "run": ("--record", "--params")}
    video_option, params_option = options_named[args.command]
    outputs.check(inputs, video_option=video_option, params_option=params_option)
    source = open_source(source_spec, size=getattr(args, "camera_size", None), fps=options.fps, mirror=args.mirror)
    if args.command == "render":
        report = app.render_file(source, outputs, options)
        _print_report(report, what="rendered")
    elif args.command == "track":
        report = app.track_file(source, outputs, options)
        _print_report(report, what="tracked")
    else:
        report = app.run_live(source, options, outputs, headless=args.headless, duration=args.duration)
        _print_report(report, what="live")
    return _exit_status(report)


def _import_native_libraries(args: argparse.Namespace) -> None:
    """Import, while signals are still held, the native libraries that the app otherwise
    imports on first use (mediapipe, moderngl, PyAV): a signal raised inside their imports
    would surface as their own ImportError (see `_interrupt`)."""
    if args.command not in ("run", "render", "track", "bench"):
        return
    from avatar_live.tracking.mediapipe_import import import_mediapipe

    mediapipe = import_mediapipe()
    if getattr(args, "tracker", "mesh") == "landmarker":
        mediapipe.tasks.vision  # noqa: B018 - deferred by import_mediapipe; loaded now
    if args.command != "track":
        import av  # noqa: F401

        import avatar_live.render.renderer  # noqa: F401 - moderngl


_received_signal: int | None = None
_armed = False


def _interrupt(signum, frame) -> None:
    """Ctrl-C, SIGTERM and SIGHUP: stop the way Ctrl-C does, once start-up is over.

    During start-up (the imports of native libraries) the signal is only noted: an
    exception raised inside a native module's import surfaces as that module's error and
    makes CPython end the process by SIGINT whatever we catch. A second signal does not wait.
    """
    global _received_signal
    first = _received_signal is None
    _received_signal = signum
    if _armed or not first:
        raise KeyboardInterrupt


def _arm_interrupts() -> None:
    """Start-up is over: signals interrupt from now on, and one that came during it does now."""
    global _armed
    _armed = True
    if _received_signal is not None:
        raise KeyboardInterrupt


def run() -> None:
    """The `avatar-live` program: process-wide set-up, then `main`.

    Kept out of `main` so that calling `main` in-process (tests, other tools) leaves the
    caller's stderr and signal handlers alone.
    """
    # A service manager or script stopping us (SIGTERM), or the terminal closing (SIGHUP),
    # gets the same clean shutdown as Ctrl-C: recordings and parameter files are finalized.
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _interrupt)
    try:
        if not {"-v", "--verbose"} & set(sys.argv[1:]):
            from avatar_live.console import filter_native_stderr, quiet_native_libraries

            quiet_native_libraries()
            filter_native_stderr()
        status = main()
    except KeyboardInterrupt:  # a second signal during start-up, before `main` handles them
        print("avatar-live: interrupted", file=sys.stderr)
        status = 128 + (_received_signal or signal.SIGINT)
    sys.exit(status)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "run")
    parser = build_parser()
    try:
        # The settings file's values become the defaults; the command line still wins.
        if argv[0] in COMMANDS:
            apply_config(parser, argv[0], load_config())
    except AvatarLiveError as exc:
        print(f"avatar-live: error: {exc}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="avatar-live: %(message)s")
    try:
        return _dispatch(args)
    except AvatarLiveError as exc:
        if args.verbose:
            log.exception("error")
        print(f"avatar-live: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # Whoever read our standard output stopped reading (`| head`): end quietly, as
        # Unix tools do, and keep Python from complaining when it flushes at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # SIGPIPE
    except KeyboardInterrupt:
        print("avatar-live: interrupted", file=sys.stderr)
        return 128 + (_received_signal or signal.SIGINT)
    except Exception as exc:  # a bug: one line by default, the traceback with --verbose
        if args.verbose:
            raise
        print(f"avatar-live: internal error: {type(exc).__name__}: {exc} (run with --verbose for details)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    run()

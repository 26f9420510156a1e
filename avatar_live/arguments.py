"""The `avatar-live` command line's grammar: commands, options, their value types and help."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from avatar_live import __version__
from avatar_live.errors import AvatarLiveError
from avatar_live.outputs.network import IFACIALMOCAP_PORT, VMC_PORT
from avatar_live.runtime.select import BACKEND_NAMES

# The built-in character's looks (`face.builtin.LOOKS`), named here so that parsing the
# command line does not build the character's module graph.
LOOK_NAMES = ("default", "ginger", "ebony", "honey", "blonde")

COMMANDS = ("run", "render", "track", "bench", "avatar-sheet", "export-avatar", "models", "train", "cameras",
            "config")

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
  export-avatar the built-in character as .glb or .vrm, for Blender, VSeeFace, Warudo
  models   import your own FLAME/EMOCA downloads and VRM avatars (`add-flame`, `add-emoca`, `add-avatar`), list them
  train    rebuild the shipped expression/emotion models from the training media (developers)
  cameras  list the cameras, with the names and indices --source takes
  config   show the settings file and the value of every option (and where it comes from)

examples:
  avatar-live --source demo                 # no webcam needed
  avatar-live --virtualcam                  # webcam 0 -> Zoom/Meet/OBS
  avatar-live --source C920 --vmc           # a camera by name -> VSeeFace over VMC
  avatar-live --background green --virtualcam   # chroma key in OBS
  avatar-live render clip.mp4 -o avatar.webm --background transparent
  avatar-live track clip.mp4 -o - | jq .arkit.jawOpen

settings: every option's default can be set in a TOML file (`avatar-live config` shows
where, and what is in effect), e.g. `size = "1280x720"`, `background = "green"`, or per
command under `[run]`, `[render]`.
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


def _backdrop(text: str):
    from avatar_live.render.backdrop import parse_backdrop

    try:
        return parse_backdrop(text)
    except AvatarLiveError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--background ")) from None


def _endpoint(default_port: int):
    def parse(text: str) -> tuple[str, int]:
        from avatar_live.outputs.network import parse_endpoint

        try:
            return parse_endpoint(text, default_port)
        except AvatarLiveError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = "endpoint"  # argparse names the type in its errors
    return parse


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="tracebacks on errors")


def _add_common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("avatar and tracking")
    group.add_argument("--size", type=_size, default=(640, 480), metavar="WxH",
                       help="size of the rendered avatar frames (default 640x480)")
    group.add_argument("--no-hud", action="store_true", help="no emotion/fps HUD in the window")
    group.add_argument("--hud-out", action="store_true",
                       help="draw the HUD into the outputs too (virtual camera, video files); by default they "
                            "get the avatar alone")
    group.add_argument("--mirror", action="store_true",
                       help="flip the input left to right, so the avatar moves like your mirror image")
    group.add_argument("--self-view", action="store_true",
                       help="show your camera image as a small inset in the window (never in any output)")
    group.add_argument("--background", type=_backdrop, default="studio", metavar="COLOR|transparent|IMAGE",
                       help="behind the avatar: studio (default), a colour for chroma keying (green, #00ff00, "
                            "0,255,0), an image file, or transparent (alpha in .webm, .mov and PNG folders; "
                            "virtual cameras and the window show the studio colour)")
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
    group.add_argument("--avatar", metavar="builtin|flame|FILE|NAME",
                       help="builtin: the character this project generates (default); flame: your own FLAME "
                            "model (`models add-flame`; the default with --encoder emoca); a .vrm, .glb or "
                            ".gltf file (VRM 0.x/1.0, ARKit \"perfect sync\" blendshapes or VRM expressions); or "
                            "the NAME of one kept with `avatar-live models add-avatar`")
    group.add_argument("--look", choices=LOOK_NAMES, default="default",
                       help="the built-in character's look: skin tone, hair colour and style, top colour "
                            f"({', '.join(LOOK_NAMES)})")
    group.add_argument("--encoder", choices=("mesh", "emoca"), default="mesh",
                       help="mesh: the landmarks alone, read by --readout (default, offline); emoca: your "
                            "imported EMOCA (`models add-emoca`) also regresses FLAME parameters, and emotion "
                            "when its emotion model is imported")
    group.add_argument("--backend", choices=BACKEND_NAMES,
                       help="inference backend for EMOCA (default: the best available, logged; "
                            "onnxruntime-int8 is the CPU's fast choice, onnxruntime its float32 one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log lines; tracebacks on errors")


def _add_network(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("network outputs for VTuber apps")
    group.add_argument("--vmc", nargs="?", const=f"{VMC_PORT}", type=_endpoint(VMC_PORT), metavar="[HOST:]PORT",
                       help=f"send the VMC protocol (OSC over UDP: 52 perfect-sync blendshapes, head and eye "
                            f"bones) to VSeeFace, VNyan, Warudo, Unity, Blender... (default 127.0.0.1:{VMC_PORT})")
    group.add_argument("--ifacialmocap", nargs="?", const=f"{IFACIALMOCAP_PORT}", type=_endpoint(IFACIALMOCAP_PORT),
                       metavar="[HOST:]PORT",
                       help="send iFacialMocap's UDP format, read as a phone tracker by VSeeFace, VNyan and "
                            f"VBridger (default port {IFACIALMOCAP_PORT})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avatar-live", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"avatar-live {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="live avatar (default command)",
                              description="Live: source -> avatar in a window, in real time. Keys: "
                                          "c = take your neutral face (hold it relaxed for a second), q/Esc = quit.")
    run.add_argument("--source", default="0",
                     help="camera index (default 0) or name (see `avatar-live cameras`; part of a name will "
                          "do), video file, image file, folder of images, or `demo` (an animated photo: no "
                          "camera needed)")
    run.add_argument("--fps", type=_positive, help="requested camera/demo frame rate")
    run.add_argument("--camera-size", type=_size, metavar="WxH",
                     help="requested camera/demo image size (default: the camera's own), apart from --size")
    run.add_argument("--virtualcam", action="store_true",
                     help="also send the avatar to a virtual camera (OBS Virtual Camera / v4l2loopback)")
    run.add_argument("--record", type=Path, metavar="OUT.mp4",
                     help="also record the avatar: .mp4 (H.264, default), .mkv, .mov, .webm, or a folder/ of PNG "
                          "images; stamped with real capture times and crash-safe (a killed run keeps all but "
                          "the last second)")
    run.add_argument("--params", type=Path, metavar="OUT.jsonl",
                     help="also write per-frame parameters as JSON lines (- for standard output)")
    run.add_argument("--headless", action="store_true", help="no window (render offscreen; use with outputs)")
    run.add_argument("--duration", type=_positive, metavar="S", help="stop after S seconds")
    _add_common(run)
    _add_network(run)

    render = commands.add_parser("render", help="render a video/images to an avatar video",
                                 description="Offline: every input frame, in order, none dropped; the output "
                                             "has the input's frame count and frame rate.")
    render.add_argument("source", help="video file, image file or folder of images")
    render.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.mp4",
                        help=".mp4 (H.264), .mkv, .mov, .webm, or a folder/ of PNG images; written under a "
                             "partial name and renamed when complete")
    render.add_argument("--params", type=Path, metavar="OUT.jsonl",
                        help="also write parameters as JSON lines (- for standard output)")
    _add_common(render)
    _add_network(render)

    track = commands.add_parser("track", help="face parameters of every frame as JSON lines",
                                description="Offline: one JSON object per input frame: frame, time, face, head "
                                            "(rotation axis-angle rad, translation), arkit (52 weights), gaze, "
                                            "emotion (valence, arousal, probs).")
    track.add_argument("source", help="video file, image file or folder of images")
    track.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.jsonl",
                       help="the JSON-lines file, or - for standard output")
    _add_common(track)
    _add_network(track)

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
    sheet.add_argument("--look", choices=LOOK_NAMES, default="default", help="the built-in character's look")
    _add_verbose(sheet)

    export = commands.add_parser(
        "export-avatar", help="write the built-in character as .glb or .vrm",
        description="Writes the built-in character with its 52 ARKit blendshapes (\"perfect sync\"), a humanoid "
                    "skeleton and materials: .glb for Blender and other glTF tools, .vrm (VRM 1.0, or 0.x with "
                    "--vrm0) for VSeeFace, Warudo and other VRM apps. VRM apps show each part in one colour.")
    export.add_argument("output", type=Path, metavar="OUT.glb|OUT.vrm")
    export.add_argument("--vrm0", action="store_true", help="write VRM 0.x (older apps) instead of VRM 1.0")
    export.add_argument("--look", choices=LOOK_NAMES, default="default", help="the character's look")
    _add_verbose(export)

    models = commands.add_parser("models", help="import licensed models you downloaded; list them",
                                 description="FLAME and EMOCA are licensed downloads that you fetch "
                                             "yourself. `models add-flame` validates a FLAME file and stores a "
                                             "copy in your user data folder ($AVATAR_LIVE_HOME overrides it); "
                                             "`add-emoca` and `add-emotion` convert EMOCA's checkpoints there. "
                                             "Nothing is downloaded or shared.")
    _add_verbose(models)
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
    add_avatar = models_commands.add_parser(
        "add-avatar", help="keep a VRM or glTF avatar by name, for --avatar NAME",
        description="Checks that the avatar loads (meshes, a head bone, its expressions) and keeps a copy in "
                    "your user data folder under NAME (default: the file's name).")
    add_avatar.add_argument("path", type=Path, help="the .vrm or .glb file")
    add_avatar.add_argument("--name", help="what --avatar will call it")
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
    _add_verbose(train)

    cameras = commands.add_parser("cameras", help="list the cameras by index and name",
                                  description="The cameras this system has, with the index and the name that "
                                              "`--source` takes (a part of a name that matches one camera "
                                              "will do).")
    _add_verbose(cameras)

    config = commands.add_parser("config", help="show the settings file and every option's value",
                                 description="Prints where the settings file is ($AVATAR_LIVE_CONFIG overrides "
                                             "it), then each option of COMMAND with its value and where the "
                                             "value comes from (default or config). Keys are the long option "
                                             "names: size = \"1280x720\", no-hud = true, calibrate = false; "
                                             "tables [run], [render]... apply to one command.")
    config.add_argument("for_command", nargs="?", default="run", metavar="COMMAND",
                        choices=("run", "render", "track", "bench"), help="the command to show (default run)")
    _add_verbose(config)
    return parser

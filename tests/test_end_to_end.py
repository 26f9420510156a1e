"""The whole app on real videos, through the command line, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from avatar_live.app import AppOptions, LiveOutputs, run_live
from avatar_live.capture.sources import open_source
from avatar_live.cli import main
from avatar_live.types import ARKIT_NAMES
from conftest import shared_file


def _video_info(path):
    cap = cv2.VideoCapture(str(path))
    info = (int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS),
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    return info


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _cli(*args):
    """Runs the installed command line in a fresh process, like a user would."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-m", "avatar_live", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def test_render_keeps_frame_count_and_rate(tmp_path):
    video = shared_file("video/single_face.mp4")
    out = tmp_path / "avatar.mp4"
    assert main(["render", str(video), "-o", str(out), "--size", "320x240"]) == 0
    frames, fps, width, height = _video_info(video)
    assert _video_info(out) == (frames, pytest.approx(fps), 320, 240)


@pytest.fixture(scope="module")
def laughing(tmp_path_factory):
    """`track` over the crying -> laughing clip, plus the mouth opening FaceMesh measures."""
    video = shared_file("video/WolfgangLanger_Pexels.mp4")
    out = tmp_path_factory.mktemp("track") / "params.jsonl"
    assert main(["track", str(video), "-o", str(out)]) == 0
    from avatar_live.tracking.facemesh import FaceMeshTracker
    from avatar_live.tracking import topology as t

    tracker = FaceMeshTracker.create_from_options()
    source = open_source(str(video))
    opening = []
    for frame in iter(source.read, None):
        track = tracker.detect_for_video(frame.image, frame.time)
        if track is None:
            opening.append(np.nan)
            continue
        lm = track.landmarks[:, :2]
        eye_span = np.linalg.norm(lm[t.RIGHT_EYE_UPPER[0]] - lm[t.LEFT_EYE_UPPER[0]])
        opening.append(np.linalg.norm(lm[13] - lm[14]) / eye_span)
    tracker.close()
    return video, _records(out), np.array(opening)


def test_track_writes_one_record_per_frame(laughing):
    video, records, _ = laughing
    assert len(records) == _video_info(video)[0]
    assert [r["frame"] for r in records] == list(range(len(records)))
    first = next(r for r in records if r["face"])
    assert list(first["arkit"]) == list(ARKIT_NAMES)
    assert all(0.0 <= w <= 1.0 for r in records for w in r["arkit"].values())
    assert all(-1.0 <= r["emotion"]["valence"] <= 1.0 for r in records if r["emotion"])
    assert sum(r["face"] for r in records) > 0.9 * len(records)


def test_the_avatar_mouth_opens_when_she_laughs(laughing):
    _, records, opening = laughing
    jaw = np.array([r["arkit"]["jawOpen"] for r in records])
    seen = ~np.isnan(opening)
    r = np.corrcoef(jaw[seen], opening[seen])[0, 1]
    assert r > 0.7, f"jawOpen vs measured mouth opening: r = {r:.2f}"
    assert jaw[seen].max() > 0.3


def test_live_headless_sends_every_rendered_frame_to_the_virtual_camera(fake_virtualcam):
    source = open_source(str(shared_file("video/single_face.mp4")))
    report = run_live(source, AppOptions(size=(320, 240)), LiveOutputs(virtualcam=True, virtualcam_backend="fake"),
                      headless=True)
    assert report.frames > 0
    assert len(fake_virtualcam.received) == report.frames
    assert all(f.size == 320 * 240 * 3 for f in fake_virtualcam.received)


def test_no_face_video_renders_to_the_end_with_a_neutral_avatar(tmp_path):
    video = shared_file("video/no_face.mp4")
    out, params = tmp_path / "avatar.mp4", tmp_path / "p.jsonl"
    assert main(["render", str(video), "-o", str(out), "--params", str(params), "--size", "320x240"]) == 0
    assert _video_info(out)[0] == _video_info(video)[0]
    records = _records(params)
    assert not any(r["face"] for r in records)
    assert all(max(r["arkit"].values()) == 0.0 for r in records)


@pytest.mark.parametrize(("clip", "face_first"), [("face_noface.mov", True), ("noface_face.mov", False)])
def test_a_face_that_leaves_or_arrives_is_followed(tmp_path, clip, face_first):
    video = shared_file(f"video/{clip}")
    out = tmp_path / "p.jsonl"
    assert main(["track", str(video), "-o", str(out)]) == 0
    faces = [r["face"] for r in _records(out)]
    assert len(faces) == _video_info(video)[0]
    assert faces[0] is face_first and faces[-1] is (not face_first)


def test_image_without_a_face_gives_a_neutral_result(tmp_path):
    image = tmp_path / "wall.png"
    cv2.imwrite(str(image), np.tile(np.linspace(0, 255, 200, dtype=np.uint8), (150, 1))[..., None].repeat(3, 2))
    out = tmp_path / "p.jsonl"
    assert main(["track", str(image), "-o", str(out)]) == 0
    (record,) = _records(out)
    assert record["face"] is False and record["emotion"] is None


def test_folder_of_stills_is_tracked_independently(tmp_path):
    folder = tmp_path / "stills"
    folder.mkdir()
    for name in ("0-f15-hao-ph.jpg", "0-f1-su-ph.jpg"):
        (folder / name).write_bytes(shared_file(f"images/{name}").read_bytes())
    out = tmp_path / "p.jsonl"
    assert main(["track", str(folder), "-o", str(out)]) == 0
    happy, surprised = _records(out)
    assert happy["face"] and surprised["face"]
    # Stills are not calibrated against each other: each reads its own expression.
    assert happy["arkit"]["mouthSmileLeft"] + happy["arkit"]["mouthSmileRight"] > \
        surprised["arkit"]["mouthSmileLeft"] + surprised["arkit"]["mouthSmileRight"]
    assert surprised["arkit"]["jawOpen"] > happy["arkit"]["jawOpen"] - 0.1


def test_demo_runs_live_without_a_display_and_says_where_the_video_is(tmp_path):
    result = _cli("--source", "demo", "--duration", "2", "--size", "320x240")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    written = [line.split("wrote ", 1)[1] for line in result.stdout.splitlines() if "wrote " in line]
    assert written, result.stdout
    assert _video_info(written[0])[0] > 10


@pytest.mark.parametrize(
    "args",
    [
        ["render", "does-not-exist.mp4", "-o", "x.mp4"],
        ["track", "README.md", "-o", "x.jsonl"],
        ["--source", "9", "--headless"],
        ["render", "tests", "-o", "x.mp4"],
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(args, tmp_path):
    result = _cli(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("avatar-live: error:")]
    assert len(errors) == 1, result.stderr


def test_ctrl_c_finalizes_the_recording(tmp_path):
    import signal
    import time

    out = tmp_path / "live.mp4"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    process = subprocess.Popen([sys.executable, "-m", "avatar_live", "--source", "demo", "--headless",
                                "--record", str(out), "--size", "320x240"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert _video_info(out)[0] > 10  # readable: the file was finalized, frames kept


def test_live_app_in_a_window_shows_the_avatar_and_records(tmp_path, xvfb_display):
    out = tmp_path / "live.mp4"
    env = {**os.environ, "DISPLAY": xvfb_display}
    result = subprocess.run([sys.executable, "-m", "avatar_live", "--source", "demo", "--duration", "3",
                             "--record", str(out), "--size", "320x240"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "no display" not in result.stderr  # it really used the window
    frames, _, width, height = _video_info(out)
    assert (width, height) == (320, 240) and frames > 30

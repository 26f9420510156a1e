"""Sinks: video files are complete, JSON lines are well formed, virtual cameras get every frame."""

import json

import cv2
import numpy as np
import pytest

from avatar_live.outputs.params_stream import ParamsStreamSink, params_record
from avatar_live.outputs.video_file import VideoFileSink
from avatar_live.outputs.virtual_camera import open_virtual_camera
from avatar_live.types import ARKIT_NAMES, EMOTION_CLASSES, Emotion, FaceParams, FlameParams, Frame, Packet


def _packet(index, size=(64, 48)):
    params = FaceParams.neutral()
    params.arkit[ARKIT_NAMES.index("jawOpen")] = 0.5
    params.emotion = Emotion(0.2, -0.1, np.eye(8, dtype=np.float32)[1], "rules")
    image = np.full((size[1], size[0], 3), index * 10 % 256, np.uint8)
    return Packet(Frame(index, index / 30, image), params=params, rendered=image)


def test_video_file_sink_writes_a_complete_file(tmp_path):
    path = tmp_path / "sub" / "out.mp4"
    sink = VideoFileSink(path, fps=24.0, size=(64, 48))
    for i in range(10):
        sink.write(_packet(i))
    sink.close()
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(24.0)


def test_params_record_has_every_field():
    record = params_record(3, 0.1, _packet(3).params)
    assert record["frame"] == 3 and record["face"] is False
    assert list(record["arkit"]) == list(ARKIT_NAMES) and record["arkit"]["jawOpen"] == 0.5
    assert set(record["head"]) == {"rotation", "translation"}
    assert list(record["emotion"]["probs"]) == list(EMOTION_CLASSES)
    assert record["emotion"]["label"] == "Happy"


def test_flame_parameters_are_written_when_present():
    params = _packet(0).params
    assert "flame" not in params_record(0, 0.0, params)
    params.flame = FlameParams(np.zeros(100), np.full(50, 0.5), np.array([0.2, 0, 0]), np.zeros(3), np.ones(3))
    flame = params_record(0, 0.0, params)["flame"]
    assert [len(flame[k]) for k in ("shape", "expression", "jaw", "global", "cam")] == [100, 50, 3, 3, 3]
    assert flame["jaw"][0] == 0.2 and flame["expression"][7] == 0.5


def test_params_stream_is_one_json_object_per_line(tmp_path):
    path = tmp_path / "p.jsonl"
    sink = ParamsStreamSink(path)
    for i in range(5):
        sink.write(_packet(i))
    # Flushed per line: readable before close, so a crash loses nothing written.
    assert len(path.read_text().splitlines()) == 5
    sink.close()
    assert [json.loads(line)["frame"] for line in path.read_text().splitlines()] == list(range(5))


def test_virtual_camera_receives_every_frame_at_the_right_size(fake_virtualcam):
    sink = open_virtual_camera(size=(64, 48), fps=30, backend="fake")
    for i in range(7):
        sink.write(_packet(i))
    sink.close()
    # pyvirtualcam hands backends a flat RGB buffer of width * height * 3 bytes.
    received = fake_virtualcam.received
    assert len(received) == 7
    assert all(f.size == 48 * 64 * 3 for f in received)
    assert int(received[3].reshape(48, 64, 3)[0, 0, 0]) == 30


def test_missing_virtual_camera_is_one_warning_not_an_error(fake_virtualcam, caplog):
    assert open_virtual_camera(size=(64, 48), fps=30, backend="nodevice") is None
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "no virtual camera device" in warning and ("v4l2loopback" in warning or "OBS" in warning)

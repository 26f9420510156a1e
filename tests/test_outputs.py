"""Sinks: video files are complete, JSON lines are well formed, virtual cameras get every frame."""

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from avatar_live.errors import AvatarLiveError
from avatar_live.outputs.files import check_distinct
from avatar_live.outputs.params_stream import ParamsStreamSink, params_record
from avatar_live.outputs.video_file import open_video_output
from avatar_live.outputs.virtual_camera import open_virtual_camera
from avatar_live.types import (
    ARKIT_NAMES,
    EMOTION_CLASSES,
    Emotion,
    FaceParams,
    FlameParams,
    Frame,
    Packet,
)


def _packet(index, size=(64, 48), *, time=None, alpha=False):
    """Frame `index`: grey level index * 10; with `alpha`, its left half transparent."""
    params = FaceParams.neutral()
    params.arkit[ARKIT_NAMES.index("jawOpen")] = 0.5
    params.emotion = Emotion(0.2, -0.1, np.eye(8, dtype=np.float32)[1], "rules")
    image = np.full((size[1], size[0], 4 if alpha else 3), index * 10 % 256, np.uint8)
    if alpha:
        image[:, :, 3] = 255
        image[:, : size[0] // 2, 3] = 0
    return Packet(Frame(index, index / 30 if time is None else time, image[:, :, :3].copy()), params=params,
                  rendered=image)


def _decode(path, codec=None):
    """(codec name, pixel format, frame times in seconds, RGBA frames) of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        # FFmpeg's own VP9 decoder drops the alpha plane; libvpx reads it.
        decoder = av.CodecContext.create(codec, "r") if codec else stream.codec_context
        frames = [f for packet in container.demux(stream) for f in decoder.decode(packet)]
        return (stream.codec_context.name, frames[0].format.name, [float(f.pts * f.time_base) for f in frames],
                [f.to_ndarray(format="rgba") for f in frames])


def test_video_file_is_h264_stamped_with_the_source_times(tmp_path):
    path = tmp_path / "sub" / "out.mp4"
    sink = open_video_output(path, fps=30.0, size=(64, 48), clock="source")
    for i in range(10):  # frames 50 ms apart from a source announced at 30 fps
        sink.write(_packet(i, time=i * 0.05))
    assert not path.exists() and sink.name == str(path)  # still under its partial name
    sink.close()
    assert sink.commit().startswith(str(path))
    codec, _, times, frames = _decode(path)
    assert codec == "h264" and len(frames) == 10
    assert times == pytest.approx([i * 0.05 for i in range(10)], abs=1e-3)
    assert abs(int(frames[3][0, 0, 0]) - 30) <= 3
    assert not list(tmp_path.glob("sub/*partial*"))


@pytest.mark.parametrize("name", ["colours.mp4", "colours.webm"])
def test_video_file_keeps_colours(tmp_path, name):
    """Saturated and skin colours come back as written (the RGB -> YUV conversion's matrix and range)."""
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [224, 172, 140], [40, 40, 48], [250, 250, 250]],
                       np.uint8)
    image = np.repeat(np.repeat(colours[None], 48, axis=0), 16, axis=1)  # 48 x 96: six 16-pixel bands
    path = tmp_path / name
    sink = open_video_output(path, fps=30.0, size=(96, 48), clock="source")
    for i in range(3):
        packet = _packet(i, size=(96, 48))
        packet.rendered = image
        sink.write(packet)
    sink.close()
    sink.commit()
    decoded = _decode(path)[3][-1][:, :, :3].astype(int)
    centres = decoded[24, 8::16]  # a pixel well inside each band (chroma is shared by 2 x 2 pixels)
    assert np.abs(centres - colours.astype(int)).max() <= 8


def test_live_video_follows_capture_time_not_the_nominal_rate(tmp_path):
    path = tmp_path / "live.mkv"
    sink = open_video_output(path, fps=1000.0, size=(64, 48), clock="capture")
    capture = [100.0, 100.2, 100.25, 101.0, 102.5]
    for i, stamp in enumerate(capture):
        packet = _packet(i, time=i / 1000)
        packet.frame.stamps["capture"] = stamp
        sink.write(packet)
    sink.close()
    sink.commit()
    _, _, times, _ = _decode(path)
    assert times == pytest.approx([c - capture[0] for c in capture], abs=2e-3)


@pytest.mark.parametrize("name, codec", [("a.webm", "libvpx-vp9"), ("a.mov", None)])
def test_transparent_video_keeps_alpha(tmp_path, name, codec):
    sink = open_video_output(tmp_path / name, fps=30.0, size=(64, 48), clock="source", alpha=True)
    for i in range(5):
        sink.write(_packet(i, alpha=True))
    sink.close()
    sink.commit()
    _, pixel_format, _, frames = _decode(tmp_path / name, codec)
    assert "a" in pixel_format.replace("yuv", "")  # yuva420p, argb
    assert frames[2][:, :32, 3].max() <= 5 and frames[2][:, 32:, 3].min() >= 250


def test_png_folder_keeps_alpha_and_times(tmp_path):
    folder = tmp_path / "frames"
    sink = open_video_output(Path(f"{folder}/"), fps=30.0, size=(64, 48), clock="source", alpha=True)
    for i in range(3):
        sink.write(_packet(i, time=i * 0.1, alpha=True))
    sink.close()
    sink.commit()
    images = sorted(folder.glob("frame_*.png"))
    assert [p.name for p in images] == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    assert cv2.imread(str(images[1]), cv2.IMREAD_UNCHANGED).shape == (48, 64, 4)
    assert [float(t) for t in (folder / "times.txt").read_text().split()] == pytest.approx([0.0, 0.1, 0.2])
    with pytest.raises(AvatarLiveError, match="already holds"):
        open_video_output(folder, fps=30.0, size=(64, 48), clock="source")


@pytest.mark.parametrize("name, alpha, message", [
    ("a.avi", False, "use one of"),
    ("a.mp4", True, "cannot keep a transparent background"),
    ("a.mkv", True, "cannot keep a transparent background"),
])
def test_unusable_video_outputs_are_refused_up_front(tmp_path, name, alpha, message):
    with pytest.raises(AvatarLiveError, match=message):
        open_video_output(tmp_path / name, fps=30.0, size=(64, 48), clock="source", alpha=alpha)
    with pytest.raises(AvatarLiveError, match="even width and height"):
        open_video_output(tmp_path / "odd.mp4", fps=30.0, size=(63, 48), clock="source")
    assert not list(tmp_path.iterdir())


def test_a_failed_run_keeps_its_partial_file_and_drops_an_empty_one(tmp_path):
    sink = open_video_output(tmp_path / "kept.mp4", fps=30.0, size=(64, 48), clock="source")
    for i in range(3):
        sink.write(_packet(i))
    sink.close()
    kept = sink.abandon()
    assert "partial" in kept and "incomplete" in kept and not (tmp_path / "kept.mp4").exists()
    assert len(_decode(next(tmp_path.glob("kept.partial-*.mp4")))[3]) == 3
    empty = open_video_output(tmp_path / "empty.mp4", fps=30.0, size=(64, 48), clock="source")
    empty.close()
    assert empty.abandon() is None and not list(tmp_path.glob("empty*"))


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
    # Flushed per line under the partial name: readable before close, so a crash loses nothing.
    partial = next(tmp_path.glob("p.partial-*.jsonl"))
    assert len(partial.read_text().splitlines()) == 5
    sink.close()
    assert sink.commit() == f"{path} (5 lines)"
    assert [json.loads(line)["frame"] for line in path.read_text().splitlines()] == list(range(5))


def test_params_stream_to_standard_output(capsys):
    sink = ParamsStreamSink(Path("-"))
    for i in range(3):
        sink.write(_packet(i))
    sink.close()
    sink.commit()
    assert [json.loads(line)["frame"] for line in capsys.readouterr().out.splitlines()] == [0, 1, 2]
    assert not Path("-").exists()


def test_values_that_are_not_numbers_are_written_as_null():
    params = _packet(0).params
    params.arkit[0] = np.nan
    params.rotation[1] = np.inf
    line = json.dumps(params_record(0, 0.0, params), allow_nan=False)
    record = json.loads(line)
    assert record["arkit"]["eyeBlinkLeft"] is None and record["head"]["rotation"][1] is None


def test_a_full_device_is_one_clear_error():
    sink = ParamsStreamSink(Path("/dev/full"))
    with pytest.raises(AvatarLiveError, match=r"cannot write /dev/full: No space left on device"):
        sink.write(_packet(0))
    sink.close()


def test_outputs_that_would_overwrite_an_input_or_each_other_are_refused(tmp_path):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    (tmp_path / "link.mp4").symlink_to(video)
    with pytest.raises(AvatarLiveError, match="would overwrite the input"):
        check_distinct([video], [("-o", tmp_path / "link.mp4")])
    with pytest.raises(AvatarLiveError, match="-o and --params are the same file"):
        check_distinct([video], [("-o", tmp_path / "b.mp4"), ("--params", tmp_path / "." / "b.mp4")])
    check_distinct([video], [("-o", tmp_path / "b.mp4"), ("--params", Path("-")), ("--x", Path("-"))])


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


def test_two_runs_writing_one_path_never_share_a_partial_file(tmp_path, monkeypatch):
    from avatar_live.outputs.files import OutputFile

    first = OutputFile(tmp_path / "a.mp4")
    monkeypatch.setattr("os.getpid", lambda: 99999)
    second = OutputFile(tmp_path / "a.mp4")
    assert first.writing != second.writing and first.writing.parent == second.writing.parent

"""Video, image and folder sources, and clear errors for bad input."""

import cv2
import numpy as np
import pytest

from avatar_live.capture.sources import ImageSource, VideoFileSource, open_source
from avatar_live.errors import AvatarLiveError


def test_video_file_gives_every_frame_with_media_time(tiny_video):
    source = open_source(str(tiny_video))
    assert isinstance(source, VideoFileSource)
    assert (source.size, source.fps, source.frame_count, source.live) == ((64, 48), 15.0, 12, False)
    frames = list(iter(source.read, None))
    assert [f.index for f in frames] == list(range(12))
    assert frames[3].time == pytest.approx(3 / 15)
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8


def test_folder_of_images_is_sorted_stills_and_skips_unreadable(tmp_path):
    for name, value in (("b.png", 200), ("a.png", 100)):
        cv2.imwrite(str(tmp_path / name), np.full((20, 30, 3), value, np.uint8))
    (tmp_path / "c.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_source(str(tmp_path))
    assert isinstance(source, ImageSource) and source.stills and source.frame_count == 3
    frames = list(iter(source.read, None))
    assert [int(f.image[0, 0, 0]) for f in frames] == [100, 200]
    assert source.path_of(frames[1].index).name == "b.png"


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.mp4", "no such file"),
        (lambda d: _write(d / "empty.mp4", b""), "cannot read video"),
        (lambda d: _write(d / "junk.mp4", b"\x00junk" * 100), "cannot read video"),
        (lambda d: _write(d / "bad.png", b"nope"), "cannot read"),
        (lambda d: (d / "empty_dir").mkdir() or d / "empty_dir", "no images"),
    ],
)
def test_bad_sources_give_one_line_errors(tmp_path, make, message):
    with pytest.raises(AvatarLiveError, match=message) as info:
        open_source(str(make(tmp_path)))
    assert "\n" not in str(info.value)


def test_missing_camera_suggests_the_demo():
    with pytest.raises(AvatarLiveError, match="--source demo"):
        open_source("7")


def test_truncated_video_ends_cleanly(tiny_video, tmp_path):
    data = tiny_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    try:
        source = open_source(str(cut))
    except AvatarLiveError:
        return  # a cut that loses the header is refused up front; that is fine too
    frames = list(iter(source.read, None))
    assert len(frames) <= 12

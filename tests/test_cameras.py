"""Cameras by name, with the enumeration library replaced by fake camera lists."""

from __future__ import annotations

import sys

import cv2
import cv2_enumerate_cameras
import pytest
from cv2_enumerate_cameras import CameraInfo

from avatar_live.capture.cameras import (
    Camera,
    camera_key,
    format_cameras,
    list_cameras,
    resolve_camera,
)
from avatar_live.errors import AvatarLiveError

LINUX = [
    CameraInfo(2, "HD Pro Webcam C920", "/dev/video2", 0x046D, 0x082D, cv2.CAP_V4L2),
    CameraInfo(0, "Integrated Camera: Integrated C", "/dev/video0", 0x04F2, 0xB6DD, cv2.CAP_V4L2),
    CameraInfo(4, "OBS Virtual Camera", "/dev/video4", None, None, cv2.CAP_V4L2),
]
# The same machine's cameras through another backend, numbered differently.
GSTREAMER = [CameraInfo(7, "HD Pro Webcam C920", "/dev/video2", 0x046D, 0x082D, cv2.CAP_GSTREAMER)]


@pytest.fixture
def fake_cameras(monkeypatch):
    """Serves `listed[backend]` from the enumeration library and records the backends asked for."""
    listed: dict[int, list[CameraInfo]] = {cv2.CAP_V4L2: LINUX, cv2.CAP_GSTREAMER: GSTREAMER}
    asked: list[int] = []

    def enumerate_cameras(api_preference=cv2.CAP_ANY):
        asked.append(api_preference)
        return list(listed.get(api_preference, []))

    monkeypatch.setattr(cv2_enumerate_cameras, "enumerate_cameras", enumerate_cameras)
    monkeypatch.setattr(sys, "platform", "linux")
    return listed, asked


def test_listing_uses_the_backend_opencv_opens_indices_with(fake_cameras, monkeypatch):
    listed, asked = fake_cameras
    cameras = list_cameras()
    assert asked == [cv2.CAP_V4L2]
    assert [camera.index for camera in cameras] == [0, 2, 4]
    assert cameras[1] == Camera(index=2, name="HD Pro Webcam C920", path="/dev/video2", vid=0x046D, pid=0x082D)
    for platform, backend in (("win32", cv2.CAP_MSMF), ("darwin", cv2.CAP_AVFOUNDATION)):
        monkeypatch.setattr(sys, "platform", platform)
        listed[backend] = [CameraInfo(0, f"{platform} camera", None, None, None, backend)]
        assert [camera.name for camera in list_cameras()] == [f"{platform} camera"]
        assert asked[-1] == backend


def test_names_resolve_to_indices(fake_cameras):
    assert resolve_camera("hd pro webcam c920") == 2  # whole name, any case
    assert resolve_camera("  OBS Virtual Camera ") == 4
    assert resolve_camera("c920") == 2  # part of one name
    assert resolve_camera("integrated") == 0


def test_an_index_passes_through_without_listing(fake_cameras):
    _, asked = fake_cameras
    assert resolve_camera("3") == 3 and resolve_camera("0") == 0
    assert asked == []


def test_an_exact_name_wins_over_a_longer_one_containing_it(fake_cameras):
    listed, _ = fake_cameras
    listed[cv2.CAP_V4L2] = [CameraInfo(0, "Webcam", None, None, None, cv2.CAP_V4L2),
                            CameraInfo(1, "Webcam Pro", None, None, None, cv2.CAP_V4L2)]
    assert resolve_camera("webcam") == 0 and resolve_camera("pro") == 1


def test_an_ambiguous_name_lists_the_matches(fake_cameras):
    with pytest.raises(AvatarLiveError) as caught:
        resolve_camera("camera")
    assert str(caught.value) == ("'camera' names 2 cameras, give one's index: 0 'Integrated Camera: Integrated C', "
                                 "4 'OBS Virtual Camera'")


def test_an_unknown_name_lists_the_cameras(fake_cameras):
    with pytest.raises(AvatarLiveError) as caught:
        resolve_camera("logitech")
    assert str(caught.value) == ("no camera named 'logitech'; cameras: 0 'Integrated Camera: Integrated C', "
                                 "2 'HD Pro Webcam C920', 4 'OBS Virtual Camera'")


def test_no_cameras_at_all(fake_cameras):
    listed, _ = fake_cameras
    listed[cv2.CAP_V4L2] = []
    with pytest.raises(AvatarLiveError, match="no cameras were found"):
        resolve_camera("c920")
    assert "no cameras found" in format_cameras([])


def test_a_failing_library_is_one_line(fake_cameras, monkeypatch):
    def broken(api_preference=cv2.CAP_ANY):
        raise OSError("ioctl failed")

    monkeypatch.setattr(cv2_enumerate_cameras, "enumerate_cameras", broken)
    with pytest.raises(AvatarLiveError) as caught:
        resolve_camera("c920")
    assert str(caught.value).startswith("cannot list cameras (OSError: ioctl failed); give a camera index")
    assert camera_key(2) == "camera-2"  # what is remembered per camera falls back to the index


def test_a_missing_library_is_one_line(fake_cameras, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2_enumerate_cameras", None)  # makes its import fail
    with pytest.raises(AvatarLiveError, match=r"cannot list cameras \(ModuleNotFoundError"):
        list_cameras()


def test_an_os_without_a_listing(fake_cameras, monkeypatch):
    monkeypatch.setattr(sys, "platform", "freebsd14")
    with pytest.raises(AvatarLiveError, match="cannot be listed by name on freebsd14"):
        resolve_camera("c920")


def test_camera_keys_follow_the_camera(fake_cameras):
    assert camera_key(2) == "HD Pro Webcam C920 046d:082d"
    assert camera_key(4) == "OBS Virtual Camera"
    assert camera_key(9) == "camera-9"
    moved = [Camera(index=5, name="HD Pro Webcam C920", vid=0x046D, pid=0x082D)]
    assert camera_key(5, moved) == camera_key(2)


def test_format_cameras(fake_cameras):
    lines = format_cameras(list_cameras()).splitlines()
    assert lines[1] == "    2  HD Pro Webcam C920  (/dev/video2)"
    assert lines[2] == "    4  OBS Virtual Camera  (/dev/video4)"

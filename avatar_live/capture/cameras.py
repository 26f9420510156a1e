"""Cameras by name: list them, and turn a name (or part of one) into the index OpenCV opens.

Names come from `cv2_enumerate_cameras`, asked about the one capture backend that
`cv2.VideoCapture(index)` opens cameras with on this OS, so that a listed index is the
camera that index opens:

- Linux: V4L2. Index N is /dev/videoN (OpenCV's GStreamer backend, tried first when
  built in, opens the same device for N); nodes that cannot capture (metadata) are left out.
- Windows: Media Foundation (MSMF), OpenCV 4's first choice for camera indices. DirectShow
  can order the same cameras differently, so its list is not used.
- macOS: AVFoundation; OpenCV and the library both order devices by their unique id.

Other systems have no listing: cameras are given by index there.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from avatar_live.errors import AvatarLiveError

_BACKENDS = {"linux": "CAP_V4L2", "win32": "CAP_MSMF", "darwin": "CAP_AVFOUNDATION"}
"""sys.platform -> the cv2 constant of the backend `cv2.VideoCapture(index)` opens cameras with."""


@dataclass(frozen=True)
class Camera:
    """One camera as the OS names it.

    Attributes:
        index: what `cv2.VideoCapture` (and `--source`) takes.
        name: the name the OS gives it, e.g. "HD Pro Webcam C920".
        path: the device's path (/dev/video0, a Windows device path, a macOS unique id),
            when known.
        vid: the USB vendor id, when known.
        pid: the USB product id, when known.
    """

    index: int
    name: str
    path: str | None = None
    vid: int | None = None
    pid: int | None = None


def list_cameras() -> list[Camera]:
    """The cameras OpenCV can open by index on this machine, by index.

    Raises:
        AvatarLiveError: cameras cannot be listed here (no listing for this OS, the
            `cv2-enumerate-cameras` package missing or failing).
    """
    import cv2

    if sys.platform not in _BACKENDS:
        raise AvatarLiveError(f"cameras cannot be listed by name on {sys.platform}: give a camera index (--source 0)")
    try:
        from cv2_enumerate_cameras import enumerate_cameras

        found = enumerate_cameras(getattr(cv2, _BACKENDS[sys.platform]))
    except Exception as exc:  # a missing package, or a native backend failing: both leave indices usable
        raise AvatarLiveError(f"cannot list cameras ({type(exc).__name__}: {exc}); give a camera index "
                              "(--source 0) or reinstall cv2-enumerate-cameras") from None
    cameras = [Camera(index=int(info.index), name=str(info.name), path=info.path, vid=info.vid, pid=info.pid)
               for info in found]
    return sorted(cameras, key=lambda camera: camera.index)


def resolve_camera(spec: str) -> int:
    """The camera index `spec` names.

    Args:
        spec: a decimal index (returned as it is, the camera is not looked up), or a
            camera's name: first matched whole, then as a part of exactly one camera's
            name, case-insensitively either way.

    Raises:
        AvatarLiveError: no camera or more than one matches (the message lists the cameras
            found), or cameras cannot be listed.
    """
    text = spec.strip()
    if text.isdecimal():
        return int(text)
    cameras = list_cameras()
    if not cameras:
        raise AvatarLiveError(f"no camera named {spec!r}: no cameras were found (is one connected, and free?)")
    wanted = text.casefold()
    matches = [camera for camera in cameras if camera.name.casefold() == wanted]
    if not matches:
        matches = [camera for camera in cameras if wanted in camera.name.casefold()]
    if len(matches) == 1:
        return matches[0].index
    if matches:
        raise AvatarLiveError(f"{spec!r} names {len(matches)} cameras, give one's index: {_describe(matches)}")
    raise AvatarLiveError(f"no camera named {spec!r}; cameras: {_describe(cameras)}")


def camera_key(index: int, cameras: list[Camera] | None = None) -> str:
    """A key for what is remembered per camera: it follows the camera to another index.

    Args:
        index: the camera's index.
        cameras: `list_cameras()`, when already taken; listed here otherwise.

    Returns:
        The camera's name, with " vid:pid" (hexadecimal) when known, e.g.
        "HD Pro Webcam C920 046d:082d"; "camera-<index>" when it cannot be listed.
    """
    if cameras is None:
        try:
            cameras = list_cameras()
        except AvatarLiveError:
            cameras = []
    for camera in cameras:
        if camera.index == index:
            usb = f" {camera.vid:04x}:{camera.pid:04x}" if camera.vid is not None and camera.pid is not None else ""
            return f"{camera.name}{usb}"
    return f"camera-{index}"


def format_cameras(cameras: list[Camera]) -> str:
    """One line per camera: index, name, and path; a hint when there are none."""
    if not cameras:
        return "no cameras found (is one connected, and free?); `--source demo` needs none"
    return "\n".join(f"  {camera.index:>3}  {camera.name}" + (f"  ({camera.path})" if camera.path else "")
                     for camera in cameras)


def _describe(cameras: list[Camera]) -> str:
    return ", ".join(f"{camera.index} {camera.name!r}" for camera in cameras)

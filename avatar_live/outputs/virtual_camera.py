"""Rendered frames to a virtual camera (Zoom, Meet, OBS) through pyvirtualcam."""

from __future__ import annotations

import logging
import platform

import numpy as np

from avatar_live.outputs.base import Sink
from avatar_live.render.backdrop import Backdrop, flatten
from avatar_live.types import Packet

log = logging.getLogger(__name__)


def how_to_get_a_virtual_camera() -> str:
    """One line telling the user how to install a virtual camera device on this OS."""
    if platform.system() == "Linux":
        return ("install v4l2loopback and load it: `sudo apt install v4l2loopback-dkms && "
                "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=avatar-live`")
    return "install OBS Studio (28+), which includes the OBS Virtual Camera, then start it once"


class VirtualCameraSink(Sink):
    """Sends each rendered frame to a virtual camera device.

    Use `open_virtual_camera`, which turns a missing device into a warning.
    """

    def __init__(self, camera, *, background: np.ndarray) -> None:
        self._camera = camera
        self._background = background
        self.name = f"virtual camera {camera.device}"
        self.frames = 0

    def write(self, packet: Packet) -> None:
        image = packet.rendered
        if image is None:
            raise ValueError("VirtualCameraSink needs rendered frames")
        # Camera devices have no alpha: a transparent backdrop is shown over its colour.
        self._camera.send(np.ascontiguousarray(flatten(image, self._background)))
        self.frames += 1

    def close(self) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None


def open_virtual_camera(*, size: tuple[int, int], fps: float, backend: str | None = None,
                        background: np.ndarray | None = None) -> VirtualCameraSink | None:
    """Open the first available virtual camera device.

    Args:
        size: (width, height) of the frames that will be sent.
        fps: the frame rate to announce.
        backend: a pyvirtualcam backend name, or None to try them all.
        background: 3 uint8 RGB that frames with alpha are shown over (default: the
            studio backdrop's colour).

    Returns:
        The sink, or None (after logging one line on how to get a device) when there is
        no virtual camera device, so the app can keep its other outputs running.
    """
    try:
        import pyvirtualcam
    except ImportError:
        log.warning("virtual camera disabled: pyvirtualcam is not installed (pip install pyvirtualcam)")
        return None
    try:
        camera = pyvirtualcam.Camera(width=size[0], height=size[1], fps=fps,
                                     fmt=pyvirtualcam.PixelFormat.RGB, backend=backend)
    except (RuntimeError, KeyError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no backend available"
        log.warning("no virtual camera device (%s); %s. Other outputs keep running.",
                    reason, how_to_get_a_virtual_camera())
        return None
    log.info("virtual camera: %s (%dx%d @ %.0f fps)", camera.device, size[0], size[1], fps)
    return VirtualCameraSink(camera, background=background if background is not None else Backdrop().color_u8)

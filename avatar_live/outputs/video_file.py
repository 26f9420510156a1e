"""Rendered frames to a video file."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2

from avatar_live.errors import AvatarLiveError
from avatar_live.outputs.base import Sink
from avatar_live.types import Packet

log = logging.getLogger(__name__)

# OpenCV's pip wheels encode MPEG-4 Part 2 into .mp4 everywhere; H.264 depends on the build.
_FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}


class VideoFileSink(Sink):
    """Writes `packet.rendered` frames at a fixed rate; the file is complete after `close`."""

    def __init__(self, path: Path, *, fps: float, size: tuple[int, int]) -> None:
        suffix = path.suffix.lower()
        if suffix not in _FOURCC_BY_SUFFIX:
            raise AvatarLiveError(f"cannot write {path}: use one of {', '.join(_FOURCC_BY_SUFFIX)}")
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        self.name = str(path)
        self.path = path
        self.frames = 0
        self._size = size
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*_FOURCC_BY_SUFFIX[suffix]), fps, size)
        if not self._writer.isOpened():
            raise AvatarLiveError(f"cannot write video {path}: check the folder exists and is writable")

    def write(self, packet: Packet) -> None:
        image = packet.rendered
        if image is None:
            raise ValueError("VideoFileSink needs rendered frames")
        if (image.shape[1], image.shape[0]) != self._size:
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, the video is {self._size[0]}x{self._size[1]}")
        self._writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            log.debug("wrote %d frames to %s", self.frames, self.path)

"""Camera, video file and still-image sources, and `open_source`, which picks one."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from avatar_live.capture.base import Source
from avatar_live.errors import AvatarLiveError
from avatar_live.types import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
_DEFAULT_FPS = 30.0


class CameraSource(Source):
    """An OpenCV camera, by index."""

    live = True

    def __init__(self, index: int, *, size: tuple[int, int] | None = None, fps: float | None = None) -> None:
        self.name = f"camera {index}"
        self._cap = cv2.VideoCapture(index)
        if not self._cap.isOpened():
            self._cap.release()
            raise AvatarLiveError(
                f"no camera at index {index}: connect a webcam or try `--source demo` (no camera needed)"
            )
        if size is not None:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        if fps is not None:
            self._cap.set(cv2.CAP_PROP_FPS, fps)
        self.fps = self._cap.get(cv2.CAP_PROP_FPS) or fps or _DEFAULT_FPS
        self.size = (int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.frame_count = None
        self._index = 0
        self._start: float | None = None

    def read(self) -> Frame | None:
        ok, bgr = self._cap.read()
        now = time.perf_counter()
        if not ok:
            if self._index == 0:
                raise AvatarLiveError(f"{self.name} opened but gave no image; is another program using it?")
            log.warning("%s stopped delivering frames", self.name)
            return None
        if self._start is None:
            self._start = now
        frame = Frame(self._index, now - self._start, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), {"capture": now})
        self._index += 1
        return frame

    def close(self) -> None:
        self._cap.release()


class VideoFileSource(Source):
    """Every frame of a video file, in order; frame times from the file's frame rate."""

    live = False

    def __init__(self, path: Path) -> None:
        self.name = path.name
        self._cap = cv2.VideoCapture(str(path))
        first_ok, first = (self._cap.read() if self._cap.isOpened() else (False, None))
        if not first_ok:
            self._cap.release()
            raise AvatarLiveError(f"cannot read video {path}: not a video file OpenCV can decode, or it is empty")
        self._pending: np.ndarray | None = first
        self.fps = self._cap.get(cv2.CAP_PROP_FPS) or _DEFAULT_FPS
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None
        self.size = (first.shape[1], first.shape[0])
        self._index = 0

    def read(self) -> Frame | None:
        if self._pending is not None:
            bgr, self._pending = self._pending, None
        else:
            ok, bgr = self._cap.read()
            if not ok:
                if self.frame_count is not None and self._index < self.frame_count:
                    log.warning("%s: decoding stopped at frame %d of %d (truncated or corrupt file)",
                                self.name, self._index, self.frame_count)
                return None
        frame = Frame(self._index, self._index / self.fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                      {"capture": time.perf_counter()})
        self._index += 1
        return frame

    def close(self) -> None:
        self._cap.release()


class ImageSource(Source):
    """Independent still images: one file, or every image in a folder (sorted by name)."""

    live = False
    stills = True

    def __init__(self, paths: list[Path], *, name: str, fps: float = _DEFAULT_FPS) -> None:
        if not paths:
            raise AvatarLiveError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {name}")
        self.name = name
        self.fps = fps
        self._paths = paths
        self.frame_count = len(paths)
        self._index = 0
        first = next((image for image in map(self._load, paths) if image is not None), None)
        if first is None:
            what = paths[0] if len(paths) == 1 else f"any image in {name}"
            raise AvatarLiveError(f"cannot read {what}: not an image file OpenCV can decode")
        self.size = (first.shape[1], first.shape[0])

    @staticmethod
    def _load(path: Path) -> np.ndarray | None:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def read(self) -> Frame | None:
        while self._index < len(self._paths):
            path = self._paths[self._index]
            image = self._load(path)
            index = self._index
            self._index += 1
            if image is None:
                log.warning("skipping unreadable image %s", path)
                continue
            return Frame(index, index / self.fps, image, {"capture": time.perf_counter()})
        return None

    def path_of(self, index: int) -> Path:
        """The file a frame index came from."""
        return self._paths[index]


def open_source(spec: str, *, size: tuple[int, int] | None = None, fps: float | None = None) -> Source:
    """Open a source from its command-line spelling.

    Args:
        spec: a camera index ("0"), "demo", a video file, an image file or a folder of images.
        size: requested (width, height) for cameras and the demo.
        fps: requested frame rate for cameras and the demo.

    Returns:
        The opened source.

    Raises:
        AvatarLiveError: the spec names nothing usable.
    """
    if spec == "demo":
        from avatar_live.capture.demo import DemoOptions, DemoSource

        options = DemoOptions(**{k: v for k, v in (("size", size), ("fps", fps)) if v is not None})
        return DemoSource.create_from_options(options)
    if spec.isdigit():
        return CameraSource(int(spec), size=size, fps=fps)
    path = Path(spec).expanduser()
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        return ImageSource(images, name=str(path))
    if not path.exists():
        raise AvatarLiveError(f"no such file or folder: {spec} (a camera index, a video, images, or `demo`)")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource([path], name=path.name)
    return VideoFileSource(path)

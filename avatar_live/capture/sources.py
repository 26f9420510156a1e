"""Camera, video file and still-image sources, and `open_source`, which picks one."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from avatar_live.capture.base import Source
from avatar_live.capture.cameras import camera_key, resolve_camera
from avatar_live.errors import AvatarLiveError
from avatar_live.tracking.base import tracking_image
from avatar_live.types import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
_DEFAULT_FPS = 30.0
_TOLERATED_MISSING = 5


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
        self.calibration_key = camera_key(index)
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
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        frame = Frame(self._index, now - self._start, rgb, {"capture": now}, tracking_image(rgb))
        self._index += 1
        return frame

    def close(self) -> None:
        self._cap.release()


class VideoFileSource(Source):
    """Every frame of a video file, in order, with the file's own frame times."""

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
        self._first_stamp = 0.0
        self._last_time = 0.0

    def read(self) -> Frame | None:
        if self._pending is not None:
            bgr, self._pending = self._pending, None
        else:
            ok, bgr = self._cap.read()
            if not ok:
                self._check_complete()
                return None
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        frame = Frame(self._index, self._frame_time(), rgb, {"capture": time.perf_counter()}, tracking_image(rgb))
        self._index += 1
        return frame

    def _frame_time(self) -> float:
        """The decoded frame's own timestamp (variable frame rate videos keep their timing);
        index / fps where the container gives none or it does not increase."""
        stamp = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        nominal = self._index / self.fps
        if self._index == 0:
            self._first_stamp = stamp
        stamp -= self._first_stamp
        if not (stamp > self._last_time or self._index == 0) or abs(stamp - nominal) > 10.0:
            stamp = max(nominal, self._last_time + 1e-3)
        self._last_time = stamp
        return stamp

    def _check_complete(self) -> None:
        """A file that stops decoding well before its announced frame count is damaged."""
        if self.frame_count is None:
            return
        missing = self.frame_count - self._index
        # Containers often announce a few frames more than decode (edit lists, a broken
        # last packet); a handful is normal, more is a cut or corrupt file.
        if missing > max(_TOLERATED_MISSING, 0.02 * self.frame_count):
            self.truncated = f"{self.name} stopped decoding at frame {self._index} of {self.frame_count} " \
                             "(the file is cut or damaged)"
            log.warning("%s", self.truncated)

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


def open_source(spec: str, *, size: tuple[int, int] | None = None, fps: float | None = None,
                mirror: bool = False) -> Source:
    """Open a source from its command-line spelling.

    Args:
        spec: a camera index ("0") or name ("C920", see `avatar-live cameras`), "demo", a
            video file, an image file or a folder of images.
        size: requested (width, height) for cameras and the demo.
        fps: requested frame rate for cameras and the demo.
        mirror: flip every frame left to right (the avatar then moves like a mirror image).

    Returns:
        The opened source.

    Raises:
        AvatarLiveError: the spec names nothing usable.
    """
    source = _open(spec, size=size, fps=fps)
    return MirroredSource(source) if mirror else source


def _open(spec: str, *, size: tuple[int, int] | None, fps: float | None) -> Source:
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
    if path.exists():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return ImageSource([path], name=path.name)
        return VideoFileSource(path)
    if path.suffix or len(path.parts) > 1:  # looks like a path, not a camera's name
        raise AvatarLiveError(f"no such file or folder: {spec} (a camera index or name, a video, images, or `demo`)")
    try:
        index = resolve_camera(spec)
    except AvatarLiveError as exc:
        raise AvatarLiveError(f"{spec!r} is no file, folder or `demo`, nor a camera: {exc}") from None
    return CameraSource(index, size=size, fps=fps)


class MirroredSource(Source):
    """Another source with every frame flipped left to right (`--mirror`)."""

    def __init__(self, source: Source) -> None:
        self._source = source
        for name in ("name", "fps", "frame_count", "live", "stills", "size", "calibration_key"):
            setattr(self, name, getattr(source, name))

    @property
    def truncated(self) -> str | None:
        return self._source.truncated

    def read(self) -> Frame | None:
        frame = self._source.read()
        if frame is not None:
            frame.image = cv2.flip(frame.image, 1)
            if frame.tracking_image is not None:
                frame.tracking_image = cv2.flip(frame.tracking_image, 1)
        return frame

    def close(self) -> None:
        self._source.close()

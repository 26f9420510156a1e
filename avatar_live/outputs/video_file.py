"""Rendered frames to video files (PyAV, FFmpeg) or to a folder of PNG images.

Every frame keeps its real time: live runs stamp it with its capture time, offline runs
with the source's own timestamps, so a 10 s run is a 10 s file at any frame rate (the
frame rate varies with the run; players handle that). Files are crash-safe while they
are written: MP4 and MOV are fragmented (a fragment a second, each flushed to disk),
MKV and WebM are written in one-second clusters, so a killed process leaves a playable
file of all but the last second. Every write error stops the run with one line saying
what is kept.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.outputs.base import Sink
from avatar_live.outputs.files import OutputFile, write_error
from avatar_live.types import Packet

log = logging.getLogger(__name__)

_TIME_BASE = Fraction(1, 90000)  # MPEG's clock: exact for 24, 25, 30 and 29.97 fps
_FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "frag_duration": "1000000"}
# Real-time H.264: no look-ahead and no B-frames, so nothing waits in the encoder when the
# process dies, at a cost per frame that live runs can afford.
_H264 = {"preset": "ultrafast", "tune": "zerolatency", "crf": "21"}


@dataclass(frozen=True)
class VideoFormat:
    """How one file suffix is written.

    Attributes:
        container: FFmpeg's muxer name.
        codec, pix_fmt: the encoder and its pixel format for opaque frames.
        alpha_codec, alpha_pix_fmt: the same for frames with transparency (None: the
            container cannot carry it).
        options: muxer options (crash safety).
        codec_options, alpha_codec_options: encoder options.
    """

    container: str
    codec: str
    pix_fmt: str
    alpha_codec: str | None = None
    alpha_pix_fmt: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    codec_options: dict[str, str] = field(default_factory=dict)
    alpha_codec_options: dict[str, str] = field(default_factory=dict)


_VP9 = {"deadline": "realtime", "cpu-used": "8", "crf": "30", "b": "0", "row-mt": "1"}
FORMATS = {
    ".mp4": VideoFormat("mp4", "libx264", "yuv420p", options=_FRAGMENTED, codec_options=_H264),
    ".m4v": VideoFormat("mp4", "libx264", "yuv420p", options=_FRAGMENTED, codec_options=_H264),
    # Apple Animation: lossless RGBA that editors read (ProRes 4444 measured 90 ms a frame).
    ".mov": VideoFormat("mov", "libx264", "yuv420p", "qtrle", "argb", options=_FRAGMENTED, codec_options=_H264),
    ".mkv": VideoFormat("matroska", "libx264", "yuv420p", options={"cluster_time_limit": "1000"},
                        codec_options=_H264),
    ".webm": VideoFormat("webm", "libvpx-vp9", "yuv420p", "libvpx-vp9", "yuva420p",
                         options={"cluster_time_limit": "1000"}, codec_options=_VP9, alpha_codec_options=_VP9),
}
ALPHA_OUTPUTS = "a .webm or .mov file, or a folder of PNG images (a path ending in /)"


def is_image_folder(path: Path) -> bool:
    """Whether `path` names a folder of PNG frames: it ends in a slash, is a folder, or has no suffix."""
    return str(path).endswith(("/", os.sep)) or path.is_dir() or not path.suffix


def open_video_output(path: Path, *, size: tuple[int, int], fps: float, clock: str, alpha: bool = False) -> Sink:
    """A sink for rendered frames, chosen by the path: a video file by its suffix, or a folder.

    Args:
        path: the file (.mp4, .m4v, .mov, .mkv, .webm) or folder to write.
        size: (width, height) of the frames.
        fps: the nominal frame rate (the encoder's rate control; timestamps are real).
        clock: "capture" stamps each frame with its capture time (live), "source" with
            its time in the source (offline).
        alpha: frames carry transparency (H x W x 4) and the output must keep it.

    Raises:
        AvatarLiveError: an unknown suffix, a format without transparency when `alpha`,
            or a path that cannot be written.
    """
    if is_image_folder(path):
        return PngFolderSink(path, size=size, clock=clock)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise AvatarLiveError(f"cannot write {path}: use one of {', '.join(FORMATS)}, or a folder for PNG images")
    if alpha and FORMATS[suffix].alpha_codec is None:
        raise AvatarLiveError(f"{path.name} cannot keep a transparent background: write {ALPHA_OUTPUTS}, "
                              "or choose a --background colour")
    return VideoFileSink(path, FORMATS[suffix], size=size, fps=fps, clock=clock, alpha=alpha)


class _Clock:
    """Frame times in seconds from the first written frame."""

    def __init__(self, clock: str) -> None:
        if clock not in ("capture", "source"):
            raise ValueError(f"clock must be capture or source, got {clock!r}")
        self._capture = clock == "capture"
        self._first: float | None = None
        self.last = 0.0

    def seconds(self, packet: Packet) -> float:
        frame = packet.frame
        now = frame.stamps.get("capture", frame.time) if self._capture else frame.time
        if self._first is None:
            self._first = now
        self.last = now - self._first
        return self.last


def _check_frame(image: np.ndarray | None, size: tuple[int, int], channels: int) -> np.ndarray:
    if image is None:
        raise ValueError("a video output needs rendered frames")
    if image.shape != (size[1], size[0], channels) or image.dtype != np.uint8:
        raise ValueError(f"frame is {image.shape} {image.dtype}, the output takes {size[1]} x {size[0]} x {channels} uint8")
    return image


class VideoFileSink(Sink):
    """Frames to one video file through PyAV, stamped with their real times.

    Use `open_video_output`, which picks the format from the path.
    """

    def __init__(self, path: Path, video_format: VideoFormat, *, size: tuple[int, int], fps: float,
                 clock: str, alpha: bool = False) -> None:
        import av

        codec = video_format.alpha_codec if alpha else video_format.codec
        if codec == "libx264" and (size[0] % 2 or size[1] % 2):
            raise AvatarLiveError(f"H.264 needs an even width and height, got {size[0]}x{size[1]}: "
                                  "use a --size such as 640x480")
        self.path = path
        self.frames = 0
        self._file = OutputFile(path)
        self.name = str(path)
        self._size = size
        self._channels = 4 if alpha else 3
        self._input_format = "rgba" if alpha else "rgb24"
        # OpenCV converts RGB to YUV 4:2:0 (BT.601, limited range: swscale's default, within
        # 3 levels) in a third of swscale's time: about 0.9 ms a 640 x 480 frame saved.
        self._convert_to_i420 = (not alpha and video_format.pix_fmt == "yuv420p"
                                 and size[0] % 2 == 0 and size[1] % 2 == 0)
        self._clock = _Clock(clock)
        self._last_pts = -1
        self._failed = False
        self._container = None
        try:
            self._container = av.open(str(self._file.writing), "w", format=video_format.container,
                                      options={**video_format.options, "flush_packets": "1"})
            stream = self._container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = size
            stream.pix_fmt = video_format.alpha_pix_fmt if alpha else video_format.pix_fmt
            stream.time_base = _TIME_BASE
            stream.codec_context.time_base = _TIME_BASE
            # A key frame a second starts a fragment a second: what a crash can lose.
            stream.codec_context.gop_size = max(1, round(fps))
            stream.codec_context.options = dict(
                video_format.alpha_codec_options if alpha else video_format.codec_options)
            self._stream = stream
        except (OSError, av.FFmpegError) as exc:
            self._file.abandon(empty=True)
            raise AvatarLiveError(f"cannot write video {path}: {exc}") from exc

    @property
    def seconds(self) -> float:
        """Length of what was written so far (the last frame's time)."""
        return self._clock.last

    def write(self, packet: Packet) -> None:
        import av

        image = _check_frame(packet.rendered, self._size, self._channels)
        pts = round(self._clock.seconds(packet) / _TIME_BASE)
        pts = max(pts, self._last_pts + 1)  # equal capture stamps would break the muxer
        if self._convert_to_i420:
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
        else:
            frame = av.VideoFrame.from_ndarray(image, format=self._input_format)
        frame.pts, frame.time_base = pts, _TIME_BASE
        try:
            self._container.mux(self._stream.encode(frame))
        except (OSError, av.FFmpegError) as exc:
            self._failed = True
            raise write_error(self._file.writing, exc, self._kept()) from exc
        self._last_pts = pts
        self.frames += 1

    def close(self) -> None:
        import av

        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            if not self._failed:
                container.mux(self._stream.encode(None))
            container.close()
        except (OSError, av.FFmpegError) as exc:
            # Nothing more can be saved: the fragments already on disk stay playable.
            log.warning("%s", write_error(self._file.writing, exc, self._kept()))
            self._failed = True
            try:
                container.close()
            except (OSError, av.FFmpegError):
                pass

    def commit(self) -> str:
        if self._failed:
            return f"{self._file.writing} (incomplete: {self.frames} frames, {self.seconds:.1f} s)"
        return f"{self._file.commit()} ({self.frames} frames, {self.seconds:.1f} s)"

    def abandon(self) -> str | None:
        kept = self._file.abandon(empty=self.frames == 0)
        return None if kept is None else f"{kept} (incomplete: {self.frames} frames, {self.seconds:.1f} s)"

    def _kept(self) -> str:
        return f"the {self.seconds:.1f} s written before are kept in {self._file.writing}"


class PngFolderSink(Sink):
    """Each frame as `frame_000000.png` in a folder (RGBA when frames carry alpha).

    Each picture is written under a temporary name and renamed, so the folder never holds
    a half-written image; a `times.txt` beside them gives each frame's time in seconds.
    """

    def __init__(self, folder: Path, *, size: tuple[int, int], clock: str) -> None:
        folder = Path(str(folder).rstrip("/" + os.sep) or "/")
        if folder.is_dir() and any(folder.glob("frame_*.png")):
            raise AvatarLiveError(f"{folder} already holds frame_*.png images: choose an empty or new folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._times = (folder / "times.txt").open("w", encoding="utf-8")
        except OSError as exc:
            raise AvatarLiveError(f"cannot write {folder}: {exc.strerror}") from exc
        self.path = folder
        self.name = f"{folder}{os.sep}"
        self.frames = 0
        self._size = size
        self._clock = _Clock(clock)

    def write(self, packet: Packet) -> None:
        image = packet.rendered
        channels = 4 if image is not None and image.ndim == 3 and image.shape[2] == 4 else 3
        image = _check_frame(image, self._size, channels)
        code = cv2.COLOR_RGBA2BGRA if channels == 4 else cv2.COLOR_RGB2BGR
        ok, data = cv2.imencode(".png", cv2.cvtColor(image, code))
        if not ok:
            raise AvatarLiveError(f"cannot encode frame {self.frames} as PNG")
        final = self.path / f"frame_{self.frames:06d}.png"
        temporary = final.with_suffix(".png.partial")
        try:
            temporary.write_bytes(data.tobytes())
            os.replace(temporary, final)
            self._times.write(f"{self._clock.seconds(packet):.6f}\n")
            self._times.flush()
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise write_error(final, exc, f"the {self.frames} frames before are kept in {self.path}") from exc
        self.frames += 1

    def close(self) -> None:
        try:
            self._times.close()
        except OSError as exc:
            log.warning("cannot finish %s: %s", self.path / "times.txt", exc.strerror)

    def commit(self) -> str:
        return f"{self.name} ({self.frames} PNG frames, {self._clock.last:.1f} s)"

    def abandon(self) -> str | None:
        return f"{self.name} ({self.frames} PNG frames)" if self.frames else None

"""The interface every frame source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from avatar_live.types import Frame


class Source(ABC):
    """A stream of RGB frames.

    Attributes:
        name: what to call it in messages ("camera 0", a file name, "demo").
        fps: nominal frame rate (frames per second).
        frame_count: number of frames, or None when unbounded (camera, demo).
        live: True for sources that run in real time (camera, demo): reading paces
            itself to `fps` and frames are stamped with wall-clock time.
        stills: True when frames are independent images (no smoothing or calibration
            carried from one to the next).
        size: (width, height) of the frames.
        truncated: set when the source ended before its announced end (a damaged or
            cut file): what happened, so the run can end with an error status.
        calibration_key: names the physical camera, under which the user's calibrated
            neutral face is kept between runs; None for sources that are not a camera.
    """

    name: str
    fps: float
    frame_count: int | None
    live: bool
    stills: bool = False
    size: tuple[int, int]
    truncated: str | None = None
    calibration_key: str | None = None

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame, or None at the end of the source.

        Raises:
            AvatarLiveError: when the source fails in a way the user must hear about.
        """

    def close(self) -> None:
        """Release the device or file. Safe to call twice."""

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

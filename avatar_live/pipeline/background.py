"""A slow read-out (EMOCA on a CPU) run beside the pipeline, on the newest face.

Live, the encode stage must keep the camera's pace. Each frame hands its face to the
read-out's own thread and takes the latest finished result; faces the thread had no time
for are dropped, never queued. The thread runs at a lower scheduling priority where the
OS allows it (Linux), so on a small CPU the display keeps its frame rate and the read-out
takes the time left over.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from typing import Any

from avatar_live.encoders.base import FaceInput, Readout
from avatar_live.pipeline.channels import Closed, LatestMailbox
from avatar_live.pipeline.metrics import RateMeter
from avatar_live.types import FaceParams

log = logging.getLogger(__name__)


class BackgroundReadout(Readout[Any]):
    """Runs another `Readout`'s `estimate` on its own thread (see the module docstring).

    `estimate` submits the face and returns the newest finished result (None before the
    first); `apply` applies it with the wrapped read-out. An error on the thread is raised
    by the next `estimate`.
    """

    PRIORITY_DROP = 10
    """Niceness added to the read-out's thread (Linux; elsewhere it keeps normal priority)."""

    def __init__(self, readout: Readout) -> None:
        self._readout = readout
        self.name = readout.name
        self._inbox: LatestMailbox[tuple[FaceInput, FaceParams]] = LatestMailbox()
        self._latest: Any = None
        self._error: BaseException | None = None
        self._started = time.perf_counter()
        self._rate = RateMeter()
        self.done = 0
        """Faces read so far."""
        self._thread = threading.Thread(target=self._work, name=f"{readout.name}-readout", daemon=True)
        self._thread.start()

    def estimate(self, face: FaceInput, params: FaceParams) -> Any:
        if self._error is not None:
            raise self._error
        self._inbox.put((face, dataclasses.replace(params)))
        return self._latest

    def apply(self, result: Any, params: FaceParams) -> None:
        if result is not None:
            self._readout.apply(result, params)

    def describe(self) -> str:
        """For the HUD: the read-out's own label and its results per second."""
        return f"{self._readout.describe()} {self._rate.rate:.0f}/s"

    def close(self) -> None:
        self._inbox.close()
        self._thread.join(timeout=5)
        self._readout.close()
        seconds = time.perf_counter() - self._started
        log.info("%s read %d faces in %.1f s (%.1f per second) beside the display", self._readout.describe(),
                 self.done, seconds, self.done / seconds if seconds > 0 else 0.0)

    def _work(self) -> None:
        try:
            # Only the calling thread's niceness changes: on Linux a thread id names one thread.
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.PRIORITY_DROP)
        except (AttributeError, OSError):
            pass  # Windows has no setpriority; macOS applies it to the process, and refuses thread ids
        try:
            while True:
                try:
                    face, params = self._inbox.get()
                except Closed:
                    return
                self._latest = self._readout.estimate(face, params)
                self.done += 1
                self._rate.tick()
        except BaseException as exc:  # noqa: BLE001 - re-raised by the next estimate()
            self._error = exc

"""Runs stages on threads: one for capture, one per stage, joined by channels.

Live mode joins them with `LatestMailbox`es (a slow stage drops stale frames, never lags);
offline mode with `OrderedChannel`s (every frame, in order, with back-pressure). Stopping
(end of source, `stop()`, Ctrl-C, an error in any thread) closes the chain from the
source down, so each stage finishes what it holds and every sink is finalized.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Callable, Iterator, Protocol

from threadpoolctl import threadpool_limits

from avatar_live.capture.base import Source
from avatar_live.pipeline.channels import Closed, LatestMailbox, OrderedChannel
from avatar_live.types import Packet

log = logging.getLogger(__name__)

_POLL_S = 0.05
_JOIN_S = 1.0


class Stage(Protocol):
    name: str

    def __call__(self, packet: Packet) -> Packet: ...


class Pipeline:
    """A source and a chain of stages, each on its own thread.

    Args:
        source: where frames come from; closed when the pipeline ends.
        stages: applied in order to every packet.
        live: latest-value hand-over (True) or ordered back-pressure (False).
        pace: sleep so frames leave the source no faster than their timestamps (a video
            file played live); sources that pace themselves (camera, demo) need not.
        max_frames: stop after this many frames (None: until the source ends).
        duration: stop once frame time reaches this many seconds (None: no limit).
        capacity: queue length of offline channels.
    """

    def __init__(
        self,
        source: Source,
        stages: list[Stage],
        *,
        live: bool,
        pace: bool = False,
        max_frames: int | None = None,
        duration: float | None = None,
        capacity: int = 4,
    ) -> None:
        make = LatestMailbox if live else (lambda: OrderedChannel(capacity))
        self._source = source
        self._stages = stages
        self._channels = [make() for _ in range(len(stages) + 1)]
        self._pace = pace
        self._max_frames = max_frames
        self._duration = duration
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._blas_limit = None
        self.frames_captured = 0

    @property
    def output(self):
        """The channel that receives finished packets; read it, or call `drain()`."""
        return self._channels[-1]

    @property
    def dropped(self) -> int:
        """Frames overwritten before a stage took them (live mode only)."""
        return sum(getattr(c, "dropped", 0) for c in self._channels)

    def start(self) -> "Pipeline":
        # The stages already keep every core busy; OpenBLAS's own worker threads would
        # spin-wait beside them (measured: 15-19 % more wall time with two BLAS threads).
        self._blas_limit = threadpool_limits(limits=1, user_api="blas")
        self._threads.append(threading.Thread(target=self._capture, name="capture", daemon=True))
        for stage, inp, out in zip(self._stages, self._channels, self._channels[1:]):
            self._threads.append(
                threading.Thread(target=self._work, args=(stage, inp, out), name=stage.name, daemon=True)
            )
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Ask the source to stop; stages finish what they hold."""
        self._stop.set()

    def fail(self, exc: BaseException) -> None:
        """Record an error from outside the pipeline's threads and stop everything."""
        self._errors.append(exc)
        self._abort()

    def drain(self, on_packet: Callable[[Packet], None] | None = None) -> None:
        """Consume the output channel until the pipeline ends, then `join()`."""
        while True:
            try:
                packet = self.output.get(timeout=_POLL_S)
            except Closed:
                break
            if packet is not None and on_packet is not None:
                on_packet(packet)
        self.join()

    def join(self) -> None:
        """Wait for every thread, then re-raise the first error any of them hit."""
        deadline = None
        for thread in self._threads:
            # Poll so Ctrl-C reaches the main thread while it waits.
            while thread.is_alive():
                thread.join(_POLL_S)
                if self._stop.is_set():
                    deadline = deadline or time.monotonic() + 5 * _JOIN_S
                    if time.monotonic() > deadline:
                        log.warning("thread %s did not stop in time", thread.name)
                        break
        if self._blas_limit is not None:
            self._blas_limit.restore_original_limits()
            self._blas_limit = None
        if self._errors:
            raise self._errors[0]

    def _abort(self) -> None:
        self._stop.set()
        for channel in self._channels:
            channel.close()

    @contextlib.contextmanager
    def _errors_stop_the_pipeline(self) -> Iterator[None]:
        """In a pipeline thread: a closed channel ends it quietly; any error stops everything
        and is re-raised in the main thread by `join()`."""
        try:
            yield
        except Closed:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by join()
            self.fail(exc)

    def _capture(self) -> None:
        out = self._channels[0]
        started = time.perf_counter()
        try:
            with self._errors_stop_the_pipeline():
                self._capture_until_done(out, started)
        finally:
            out.close()
            self._source.close()

    def _capture_until_done(self, out, started: float) -> None:
        while not self._stop.is_set():
            if self._max_frames is not None and self.frames_captured >= self._max_frames:
                return
            read_started = time.perf_counter()
            frame = self._source.read()
            read_seconds = time.perf_counter() - read_started
            if frame is None:
                return
            if self._duration is not None and frame.time >= self._duration:
                return
            if self._pace:
                due = started + frame.time
                delay = due - time.perf_counter()
                if delay > 0 and self._stop.wait(delay):
                    return
                # A frame read ahead of time is captured, for its latency, when it is due.
                frame.stamps["capture"] = max(frame.stamps.get("capture", due), due)
            out.put(Packet(frame, durations={"capture": read_seconds}))
            self.frames_captured += 1

    def _work(self, stage: Stage, inp, out) -> None:
        try:
            with self._errors_stop_the_pipeline():
                while True:
                    packet = inp.get(timeout=_POLL_S)
                    if packet is not None:
                        out.put(stage(packet))
        finally:
            out.close()
            close = getattr(stage, "close", None)
            if close is not None:
                close()

"""Threaded pipeline: order and completeness offline, freshness live, clean stops and errors."""

import threading
import time

import numpy as np
import pytest

from avatar_live.capture.base import Source
from avatar_live.pipeline.runner import Pipeline
from avatar_live.types import Frame, Packet


class CountingSource(Source):
    def __init__(self, count, *, live=False, delay=0.0):
        self.name, self.fps, self.size = "counting", 100.0, (4, 4)
        self.frame_count, self.live, self.delay = count, live, delay
        self.index, self.closed = 0, False

    def read(self):
        if self.frame_count is not None and self.index >= self.frame_count:
            return None
        time.sleep(self.delay)
        frame = Frame(self.index, self.index / self.fps, np.zeros((4, 4, 3), np.uint8), {"capture": time.perf_counter()})
        self.index += 1
        return frame

    def close(self):
        self.closed = True


class Slow:
    def __init__(self, name, seconds, fail_at=None):
        self.name, self.seconds, self.fail_at, self.closed = name, seconds, fail_at, False

    def __call__(self, packet: Packet) -> Packet:
        if packet.frame.index == self.fail_at:
            raise RuntimeError("boom")
        time.sleep(self.seconds)
        packet.durations[self.name] = self.seconds
        return packet

    def close(self):
        self.closed = True


def test_offline_delivers_every_frame_in_order():
    source = CountingSource(60)
    seen = []
    Pipeline(source, [Slow("a", 0.001), Slow("b", 0.002)], live=False).start().drain(
        lambda p: seen.append(p.frame.index))
    assert seen == list(range(60))
    assert source.closed


def test_live_drops_stale_frames_instead_of_lagging():
    source = CountingSource(200, live=True, delay=0.001)
    seen = []
    pipeline = Pipeline(source, [Slow("slow", 0.02)], live=True).start()
    pipeline.drain(lambda p: seen.append(p.frame.index))
    assert pipeline.dropped > 0
    assert len(seen) < 200
    assert seen == sorted(seen)


def test_stop_ends_an_endless_source_within_a_second():
    source = CountingSource(None, live=True, delay=0.005)
    stage = Slow("s", 0.001)
    pipeline = Pipeline(source, [stage], live=True).start()
    time.sleep(0.2)
    started = time.perf_counter()
    pipeline.stop()
    pipeline.drain()
    assert time.perf_counter() - started < 1.0
    assert source.closed and stage.closed
    assert threading.active_count() < 10


def test_a_stage_error_stops_everything_and_reaches_the_caller():
    source = CountingSource(1000)
    stages = [Slow("a", 0.0), Slow("b", 0.0, fail_at=10)]
    pipeline = Pipeline(source, stages, live=False).start()
    with pytest.raises(RuntimeError, match="boom"):
        pipeline.drain()
    assert source.closed and all(s.closed for s in stages)
    assert source.index < 1000


def test_max_frames_and_duration_limit_the_run():
    seen = []
    Pipeline(CountingSource(100), [Slow("a", 0)], live=False, max_frames=7).start().drain(lambda p: seen.append(p))
    assert len(seen) == 7
    seen.clear()
    Pipeline(CountingSource(100), [Slow("a", 0)], live=False, duration=0.1).start().drain(lambda p: seen.append(p))
    assert len(seen) == 10  # frames at 0.00 .. 0.09 s at 100 fps


def test_pacing_plays_a_file_in_real_time():
    started = time.perf_counter()
    Pipeline(CountingSource(20), [Slow("a", 0)], live=True, pace=True).start().drain()
    assert time.perf_counter() - started >= 0.18  # 20 frames at 100 fps


def test_a_paced_file_counts_latency_from_when_each_frame_is_due():
    # Frames are read ahead and wait for their time: that wait is no latency, so the
    # capture stamp is when the frame is due (or later, when it was read late).
    stamps = []
    started = time.perf_counter()
    Pipeline(CountingSource(20), [Slow("a", 0)], live=True, pace=True).start().drain(
        lambda p: stamps.append((p.frame.time, p.frame.stamps["capture"])))
    assert stamps
    for frame_time, capture in stamps:
        assert capture >= started + frame_time


def test_blas_runs_on_one_thread_while_the_pipeline_runs_and_is_restored_after():
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    class Probe:
        name = "probe"
        seen: list = []

        def __call__(self, packet):
            Probe.seen.append(blas_threads())
            return packet

    with threadpool_limits(limits=2, user_api="blas"):  # as on a 2-core machine, whatever this one has
        before = blas_threads()
        Pipeline(CountingSource(3), [Probe()], live=False).start().drain()
        assert Probe.seen and all(threads == [1] * len(before) for threads in Probe.seen)
        assert blas_threads() == before

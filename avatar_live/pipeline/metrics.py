"""Rates and latency statistics measured on real runs."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass

import numpy as np


class RateMeter:
    """Events per second over a sliding window of recent events."""

    def __init__(self, window: int = 30) -> None:
        self._times: collections.deque[float] = collections.deque(maxlen=window)

    def tick(self, now: float | None = None) -> None:
        self._times.append(time.perf_counter() if now is None else now)

    @property
    def rate(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


@dataclass(frozen=True)
class Summary:
    """Median and 95th percentile of a set of durations, in milliseconds."""

    count: int
    median_ms: float
    p95_ms: float

    @staticmethod
    def of(seconds: list[float]) -> "Summary":
        if not seconds:
            return Summary(0, float("nan"), float("nan"))
        ms = np.asarray(seconds) * 1000.0
        return Summary(len(ms), float(np.median(ms)), float(np.percentile(ms, 95)))


class StageTimings:
    """Collects per-stage work times and end-to-end latencies of finished packets."""

    def __init__(self) -> None:
        self.stages: dict[str, list[float]] = collections.defaultdict(list)
        self.latency: list[float] = []

    def add(self, durations: dict[str, float], capture_stamp: float | None, done: float) -> None:
        for stage, seconds in durations.items():
            self.stages[stage].append(seconds)
        if capture_stamp is not None:
            self.latency.append(done - capture_stamp)

    def summaries(self) -> dict[str, Summary]:
        out = {stage: Summary.of(values) for stage, values in self.stages.items()}
        out["end-to-end latency"] = Summary.of(self.latency)
        return out

"""Live EMOCA runs beside the pipeline: a slow encoder never holds frames back."""

import logging
import os
import re
import sys
import threading
import time

import numpy as np
import pytest

from avatar_live.encoders.emoca_regressor import BackgroundEmoca
from avatar_live.types import Emotion, FlameParams


class SlowRegressor:
    """Takes `seconds` per face and returns the frame's mean pixel as its expression."""

    def __init__(self, seconds, fail=False):
        self.seconds, self.fail, self.calls, self.closed = seconds, fail, 0, False

    def encode(self, image, landmarks):
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("encoder broke")
        self.calls += 1
        value = float(image.mean())
        flame = FlameParams(np.zeros(100), np.full(50, value), np.zeros(3), np.zeros(3), np.zeros(3))
        return flame, Emotion(0.0, 0.0, np.full(8, 1 / 8), "emoca")

    def close(self):
        self.closed = True

    def describe(self):
        return "emoca slow"


def _frame(value):
    return np.full((8, 8, 3), value, np.uint8), np.zeros((478, 3), np.float32)


def test_submitting_never_waits_and_the_newest_face_wins(caplog):
    regressor = SlowRegressor(0.1)
    background = BackgroundEmoca(regressor)
    started = time.perf_counter()
    for value in range(30):  # 30 frames at "camera speed" while the encoder takes 100 ms each
        background.submit(*_frame(value))
    assert time.perf_counter() - started < 0.1
    assert background.latest() is None  # nothing finished yet
    deadline = time.monotonic() + 5
    while (background.latest() is None or background.latest()[0].expression[0] != 29) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert background.latest()[0].expression[0] == 29  # the newest frame, not a queue of stale ones
    assert regressor.calls <= 3
    assert re.fullmatch(r"emoca slow \d+/s", background.describe())  # the HUD's encoder label, with its rate
    with caplog.at_level(logging.INFO, logger="avatar_live.encoders.emoca_regressor"):
        background.close()
    assert regressor.closed
    assert background.encoded == regressor.calls
    assert f"EMOCA encoded {regressor.calls} faces in " in caplog.text  # the user sees the encoder's own rate


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_the_encoder_thread_yields_to_the_display():
    seen = []

    class Probe(SlowRegressor):
        def encode(self, image, landmarks):
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return super().encode(image, landmarks)

    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    background = BackgroundEmoca(Probe(0.0))
    background.submit(*_frame(1))
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    background.close()
    assert seen == [min(own + BackgroundEmoca.PRIORITY_DROP, 19)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own  # the caller's is untouched


def test_an_encoder_error_reaches_the_pipeline():
    background = BackgroundEmoca(SlowRegressor(0.0, fail=True))
    background.submit(*_frame(1))
    time.sleep(0.2)
    with pytest.raises(RuntimeError, match="encoder broke"):
        background.submit(*_frame(2))
    background.close()

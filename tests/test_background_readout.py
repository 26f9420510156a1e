"""A slow read-out (live EMOCA) runs beside the pipeline: it never holds frames back."""

import logging
import os
import re
import sys
import threading
import time

import numpy as np
import pytest

from avatar_live.encoders.base import FaceInput, Readout
from avatar_live.pipeline.background import BackgroundReadout
from avatar_live.types import FaceParams, Track


class SlowReadout(Readout):
    """Takes `seconds` per face and reads the frame's mean pixel as its jawOpen."""

    name = "slow"

    def __init__(self, seconds, fail=False):
        self.seconds, self.fail, self.calls, self.closed = seconds, fail, 0, False

    def estimate(self, face, params):
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("encoder broke")
        self.calls += 1
        return float(face.image.mean())

    def apply(self, result, params):
        params.arkit[17] = result

    def close(self):
        self.closed = True


def _face(value):
    track = Track(np.zeros((478, 3), np.float32), (0, 0, 1, 1), 1.0)
    return FaceInput(np.full((8, 8, 3), value, np.uint8), track, value / 30, still=False)


def _submit(background, value):
    params = FaceParams.neutral()
    background.apply(background.estimate(_face(value), params), params)
    return params


def test_submitting_never_waits_and_the_newest_face_wins(caplog):
    readout = SlowReadout(0.1)
    background = BackgroundReadout(readout)
    started = time.perf_counter()
    for value in range(30):  # 30 frames at "camera speed" while the read-out takes 100 ms each
        params = _submit(background, value)
    assert time.perf_counter() - started < 0.1
    assert params.arkit[17] == 0.0  # nothing finished yet: the parameters are left as they were
    deadline = time.monotonic() + 5
    while _submit(background, 29).arkit[17] != 29 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _submit(background, 29).arkit[17] == 29  # the newest frame, not a queue of stale ones
    assert readout.calls <= 4
    assert re.fullmatch(r"slow \d+/s", background.describe())  # the HUD's label, with its rate
    with caplog.at_level(logging.INFO, logger="avatar_live.pipeline.background"):
        background.close()
    assert readout.closed
    assert background.done == readout.calls
    assert f"slow read {readout.calls} faces in " in caplog.text  # the user sees the read-out's own rate


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_the_encoder_thread_yields_to_the_display():
    seen = []

    class Probe(SlowReadout):
        def estimate(self, face, params):
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return super().estimate(face, params)

    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    background = BackgroundReadout(Probe(0.0))
    _submit(background, 1)
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    background.close()
    assert seen == [min(own + BackgroundReadout.PRIORITY_DROP, 19)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own  # the caller's is untouched


def test_a_read_out_error_reaches_the_pipeline():
    background = BackgroundReadout(SlowReadout(0.0, fail=True))
    _submit(background, 1)
    time.sleep(0.2)
    with pytest.raises(RuntimeError, match="encoder broke"):
        _submit(background, 2)
    background.close()


class _Backend:
    """Just what EmocaRegressor asks of a backend to describe itself."""

    def __init__(self, name, precision):
        self.name, self.precision = name, precision


@pytest.mark.parametrize("backend, precision, keeps_up", [
    ("tensorrt", "fp16", True), ("torch-cuda", "fp16", True),
    ("onnxruntime-int8", "int8", False), ("torch-cpu", "fp32", False),
])
def test_emoca_on_a_gpu_encodes_every_frame_and_says_how(backend, precision, keeps_up):
    from avatar_live.encoders.emoca_regressor import EmocaRegressor

    regressor = EmocaRegressor(_Backend(backend, precision), None)
    assert regressor.keeps_up is keeps_up  # in line (every face) on a GPU, in the background on a CPU
    assert regressor.describe() == f"emoca {backend} {precision}"  # the HUD's label

"""Calibrated neutrals remembered per camera: the store, and the read-outs' states round trip."""

from __future__ import annotations

import logging

import numpy as np
import platformdirs
import pytest

from avatar_live.calibration_store import (
    calibration_root,
    load_neutral,
    neutral_path,
    save_neutral,
)
from avatar_live.errors import AvatarLiveError
from avatar_live.learned.neutral import RestingFace, RestingOptions
from avatar_live.solver.calibration import CalibrationWindow
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES, NUM_LANDMARKS

KEY = "HD Pro Webcam C920 046d:082d"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AVATAR_LIVE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_state_round_trips(home):
    state = {"landmarks": np.arange(12, dtype=np.float64).reshape(4, 3), "scale": 2.5,
             "resting": np.linspace(0, 0.3, 52).astype(np.float32)}
    path = save_neutral(KEY, "solver", state)
    assert path.parent == home / "calibration" / "solver" and path.name.startswith("hd-pro-webcam-c920-046d-082d-")
    loaded = load_neutral(KEY, "solver")
    assert loaded["scale"] == 2.5 and isinstance(loaded["scale"], float)
    np.testing.assert_array_equal(loaded["landmarks"], state["landmarks"])
    assert loaded["resting"].dtype == np.float32
    assert load_neutral(KEY, "learned") is None and load_neutral("another camera", "solver") is None
    save_neutral(KEY, "solver", {"scale": 3.0})  # replaces
    assert load_neutral(KEY, "solver") == {"scale": 3.0}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_file_names_are_safe_and_distinct(home):
    paths = {neutral_path(key, "learned") for key in ("../../etc/passwd", "a/b", "a:b", "A B", "", "é" * 80)}
    assert len(paths) == 6
    for path in paths:
        assert path.parent == home / "calibration" / "learned"
        assert path.name.endswith(".npz") and len(path.name) <= 64 and "/" not in path.name
        assert path.name[0].isalnum()
    with pytest.raises(ValueError, match="calibration kind"):
        neutral_path(KEY, "../solver")


def test_the_user_data_folder_without_the_override(monkeypatch):
    monkeypatch.delenv("AVATAR_LIVE_HOME")
    assert calibration_root() == platformdirs.user_data_path("avatar-live") / "calibration"


@pytest.mark.parametrize("content", [b"", b"not an archive", b"PK\x03\x04broken zip"])
def test_a_damaged_file_is_a_warning_not_a_crash(content, caplog):
    path = save_neutral(KEY, "learned", {"resting": np.zeros(52, np.float32)})
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert load_neutral(KEY, "learned") is None
    assert "ignoring the unreadable calibration" in caplog.text


def test_pickled_values_are_neither_written_nor_read(home):
    with pytest.raises(ValueError, match="must be numeric"):
        save_neutral(KEY, "learned", {"resting": np.array([object()])})
    path = neutral_path(KEY, "learned")
    path.parent.mkdir(parents=True)
    np.savez(path, resting=np.array([{"a": 1}], dtype=object))
    assert load_neutral(KEY, "learned") is None


def test_a_failed_write_is_one_line_and_leaves_nothing(home, monkeypatch):
    def full_disk(*args, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(AvatarLiveError, match="cannot save the calibration to .*: No space left on device"):
        save_neutral(KEY, "learned", {"resting": np.zeros(52)})
    assert list((home / "calibration" / "learned").iterdir()) == []


def _weights(rng: np.random.Generator, pucker: float) -> np.ndarray:
    weights = rng.uniform(0.0, 0.1, len(ARKIT_NAMES)).astype(np.float32)
    weights[ARKIT_INDEX["mouthPucker"]] = pucker
    return weights


def test_a_restored_resting_face_reads_as_the_calibrated_one():
    rng = np.random.default_rng(0)
    calibrated = RestingFace(RestingOptions(min_seconds=1.0))
    for t in range(90):
        calibrated.update(_weights(rng, 0.2 + 0.1 * rng.random()), t / 30)
    assert RestingFace().neutral_state() is None  # nothing to save while settling
    save_neutral(KEY, "learned", calibrated.neutral_state())

    restored = RestingFace(RestingOptions(min_seconds=1.0))
    restored.restore_neutral(load_neutral(KEY, "learned"))
    assert not restored.settling
    probe = _weights(rng, 0.6)
    # The same time as the last frame: the calibrated estimate is not refreshed by it.
    np.testing.assert_array_equal(restored.update(probe, 0.0), calibrated.update(probe, 89 / 30))
    assert calibrated.resting[ARKIT_INDEX["mouthPucker"]] > 0.15

    # This stream's own estimate takes over once it exists: here a face that rests relaxed.
    for t in range(1, 60):
        restored.update(_weights(rng, 0.0), t / 30)
    assert restored.resting[ARKIT_INDEX["mouthPucker"]] == pytest.approx(0.0)
    restored.restart()
    assert restored.settling and restored.neutral_state() is None


def test_a_restored_resting_face_is_held_to_the_limits():
    resting = RestingFace(RestingOptions(limit=0.3))
    saved = np.full(len(ARKIT_NAMES), 0.9, np.float32)
    resting.restore_neutral({"resting": saved})
    assert resting.resting.max() == pytest.approx(0.3)
    assert resting.resting[ARKIT_INDEX["eyeLookDownLeft"]] == 0.0  # gaze is never adjusted
    for bad in ({}, {"resting": np.zeros(51)}, {"resting": np.full(52, np.nan)}):
        with pytest.raises(ValueError, match="52 finite weights"):
            RestingFace().restore_neutral(bad)


def _close_window(window: CalibrationWindow, rng: np.random.Generator):
    face = rng.normal(size=(NUM_LANDMARKS, 3))
    result = None
    for t in range(31):
        result = window.add(t / 30, face + rng.normal(scale=0.01, size=face.shape), 100.0 + t % 3,
                            np.array([320.0, -240.0, 0.0]) + rng.normal(size=3))
    return result


def test_a_restored_solver_neutral_is_the_calibrated_one():
    rng = np.random.default_rng(1)
    window = CalibrationWindow(1.0)
    assert window.neutral_state() is None
    result = _close_window(window, rng)
    assert result is not None and not window.open
    save_neutral(KEY, "solver", window.neutral_state())

    fresh = CalibrationWindow(1.0)
    restored = fresh.restore_neutral(load_neutral(KEY, "solver"))
    assert not fresh.open
    np.testing.assert_array_equal(restored.landmarks, result.landmarks)
    np.testing.assert_array_equal(restored.centre, result.centre)
    assert restored.scale == result.scale
    # A recalibration starts afresh; until its window closes the restored neutral is kept.
    fresh.restart()
    assert fresh.open and fresh.neutral_state()["scale"] == result.scale


def test_a_solver_neutral_that_does_not_fit_is_refused():
    good = {"landmarks": np.zeros((NUM_LANDMARKS, 3)), "scale": 100.0, "centre": np.zeros(3)}
    for bad in ({**good, "landmarks": np.zeros((468, 3))}, {**good, "scale": 0.0}, {**good, "centre": np.zeros(2)},
                {**good, "centre": np.array([0.0, np.inf, 0.0])}, {"scale": 1.0}):
        window = CalibrationWindow(1.0)
        with pytest.raises(ValueError, match="not a calibrated neutral"):
            window.restore_neutral(bad)
        assert window.open and window.neutral_state() is None


def test_a_camera_run_saves_its_neutral_and_the_next_run_starts_from_it(caplog):
    """Through the live app: the neutral taken on one run with a camera is the next run's."""
    from conftest import shared_file

    from avatar_live.app import AppOptions, run_live
    from avatar_live.capture.sources import open_source
    from avatar_live.outputs.sinks import Outputs

    def camera():
        # A clip standing in for a camera: what the app keys the saved neutral by.
        source = open_source(str(shared_file("video/single_face.mp4")))
        source.calibration_key = KEY
        return source

    options = AppOptions(size=(160, 120), readout="solver")
    run_live(camera(), options, Outputs(), headless=True)
    saved = load_neutral(KEY, "solver")
    assert saved is not None and saved["landmarks"].shape == (NUM_LANDMARKS, 3)
    with caplog.at_level(logging.INFO, logger="avatar_live"):
        run_live(camera(), options, Outputs(), headless=True)
    assert "using your neutral face saved for" in caplog.text

"""Tests needing an optional extra skip when it was not asked for, and fail when it was (or under CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import requested_extras, requires_extra

TESTS = Path(__file__).resolve().parent
MISSING = "avatar_live_test_no_such_module"


@pytest.fixture
def install_record(tmp_path, monkeypatch):
    """Point this Python's environment at a folder where install.sh's record can be written."""
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    return tmp_path / "avatar-live-extras"


def test_an_extra_not_asked_for_skips_with_the_install_command(install_record):
    install_record.write_text("dev\n")
    assert requested_extras() == {"dev"}
    with pytest.raises(pytest.skip.Exception, match=r"^needs the emoca extra \(numpy, avatar_live_test_no_such_module\): "
                                                    r"EXTRAS=dev,emoca ./install.sh$"):
        requires_extra("emoca", "numpy", MISSING)


def test_without_a_record_an_extra_counts_as_not_asked_for(install_record):
    assert requested_extras() == set()
    with pytest.raises(pytest.skip.Exception):
        requires_extra("emoca", MISSING)


def test_an_extra_asked_for_fails_when_its_modules_are_missing(install_record):
    install_record.write_text("dev, emoca\n")
    with pytest.raises(pytest.fail.Exception, match="avatar_live_test_no_such_module cannot be imported, though "
                                                    "install.sh asked for the emoca extra"):
        requires_extra("emoca", MISSING)


def test_ci_asks_for_every_extra(install_record, monkeypatch):
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="though CI asked for the emoca extra"):
        requires_extra("emoca", MISSING)


def test_installed_modules_pass(install_record):
    requires_extra("emoca", "numpy", "pytest")


# Runs pytest as if the emoca extra were not installed: torch, onnx and onnxruntime cannot be imported.
WITHOUT_EMOCA = """
import sys

sys.modules.update(dict.fromkeys(["torch", "onnx", "onnxruntime"]))
sys.prefix = sys.argv[1]  # the environment whose install.sh record is read
import pytest

sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[2:]]))
"""

NEEDING_EMOCA = [
    "test_emoca_model.py",
    "test_runtime.py",
    "test_flame.py::test_forward_rejects_wrong_sizes",
    "test_model_store.py::test_add_emoca_without_checkpoints_stores_nothing",
]


def _pytest_without_emoca(record: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name != "CI"}
    if ci:
        env["CI"] = "1"
    return subprocess.run([sys.executable, "-c", WITHOUT_EMOCA, str(record.parent), *NEEDING_EMOCA], cwd=TESTS,
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_without_the_extra_its_tests_skip_unless_it_was_asked_for(install_record):
    install_record.write_text("dev\n")
    skipped = _pytest_without_emoca(install_record, ci=False)
    assert skipped.returncode == 0, skipped.stdout
    assert "4 skipped" in skipped.stdout and "error" not in skipped.stdout.lower()
    assert "needs the emoca extra" in skipped.stdout

    failed = _pytest_without_emoca(install_record, ci=True)
    assert failed.returncode != 0
    assert "cannot be imported, though CI asked for the emoca extra" in failed.stdout

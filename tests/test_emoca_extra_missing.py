"""`models add-emoca` / `add-emotion` without the emoca extra: a one-line error naming what is missing.

Runs without torch: the missing module is simulated (None in sys.modules makes its import fail).
"""

from __future__ import annotations

import sys

import pytest

from avatar_live import model_store
from avatar_live.errors import AvatarLiveError
from avatar_live.user_folders import HOME_ENV

INSTALL = "install the emoca extra (EXTRAS=dev,emoca ./install.sh, or pip install 'avatar-live[emoca]')"


@pytest.mark.parametrize("missing", ["torch", "onnx"])
@pytest.mark.parametrize("kind", ["emoca", "emotion"])
def test_add_without_torch_or_onnx_names_the_missing_module(tmp_path, monkeypatch, kind, missing):
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setitem(sys.modules, missing, None)
    add = {"emoca": model_store.add_emoca, "emotion": model_store.add_emotion}[kind]
    with pytest.raises(AvatarLiveError) as error:
        add(tmp_path / "EMOCA_v2")
    assert str(error.value) == f"models add-{kind} needs torch and onnx, and {missing} cannot be imported: {INSTALL}"


def test_models_add_emoca_command_without_torch_is_not_an_internal_error(tmp_path, monkeypatch, capsys):
    from avatar_live.cli import main

    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setitem(sys.modules, "torch", None)
    # Imported by an earlier test, the encoders would not import torch again: drop them too.
    for name in [name for name in sys.modules if name.startswith("avatar_live.encoders")]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["models", "add-emoca", str(tmp_path / "EMOCA_v2")]) == 1
    err = capsys.readouterr().err
    assert "internal error" not in err
    expected = f"avatar-live: error: models add-emoca needs torch and onnx, and torch cannot be imported: {INSTALL}"
    assert err.strip().splitlines() == [expected]

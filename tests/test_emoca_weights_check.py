"""EMOCA import refuses weights that hold NaN or infinity, naming the first bad key."""

from __future__ import annotations

import pytest
from conftest import requires_extra

# Before importing the extra's modules: a missing extra then skips this module instead of breaking collection.
requires_extra("emoca", "torch", "onnx")

import emoca_files
import torch

from avatar_live import model_store
from avatar_live.encoders import checkpoint
from avatar_live.encoders.emoca_model import EmotionMLP
from avatar_live.errors import AvatarLiveError
from avatar_live.user_folders import HOME_ENV


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home"


def test_add_emoca_refuses_a_nan_weight_and_stores_nothing(store, tmp_path):
    # E_flame alone: it is loaded (and refused) before E_expression is needed.
    state = {k: v for k, v in emoca_files.emoca_state().items() if k.startswith("deca.E_flame.")}
    state["deca.E_flame.layers.0.weight"][3, 5] = float("nan")
    best = emoca_files.write_emoca(tmp_path / "EMOCA_nan", state)
    with pytest.raises(AvatarLiveError) as error:
        model_store.add_emoca(tmp_path / "EMOCA_nan")
    assert str(error.value) == (f"{best}: non-finite values (NaN or infinity) in deca.E_flame.layers.0.weight: "
                                "not a usable model")
    assert model_store.list_models() == []


def test_add_emotion_refuses_non_finite_batch_norm_statistics(store, tmp_path):
    state = emoca_files.emotion_state()
    state["mlp.model.4.running_var"][7] = float("inf")
    emoca_files.write_emotion(tmp_path / "emorec", state)
    with pytest.raises(AvatarLiveError, match=r"non-finite values \(NaN or infinity\) in mlp\.model\.4\.running_var"):
        model_store.add_emotion(tmp_path / "emorec")
    assert model_store.list_models() == []


def test_a_float64_weight_that_overflows_float32_is_refused():
    state = emoca_files.emotion_state()
    state["mlp.model.12.bias"] = torch.full((10,), 1e300, dtype=torch.float64)  # finite, but inf as float32
    with pytest.raises(AvatarLiveError, match=r"in mlp\.model\.12\.bias: not a usable model"):
        checkpoint.load_into(EmotionMLP(), state, "mlp.", "emotion.ckpt")

"""EMOCA import: checkpoint reading (safely), ONNX export, ONNX Runtime parity, model store."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
from conftest import requires_extra

# Before importing the extra's modules: a missing extra then skips this module instead of breaking collection.
requires_extra("emoca", "torch", "onnx", "onnxruntime")

import emoca_files
import onnxruntime as ort
import torch

from avatar_live import model_store
from avatar_live.encoders import checkpoint, export
from avatar_live.encoders.crop import crop_face
from avatar_live.encoders.emoca_model import EFlame, EmotionMLP
from avatar_live.errors import AvatarLiveError
from avatar_live.user_folders import HOME_ENV

FLAGS: list[str] = []


def _set_flag(*args):
    FLAGS.append("reduce")


class Malicious:
    """Runs code when unpickled by an ordinary unpickler: via __reduce__, and via __setstate__."""

    def __reduce__(self):
        return (_set_flag, ("pwned",))


class MaliciousState:
    def __init__(self):
        FLAGS.append("init")

    def __setstate__(self, state):
        FLAGS.append("setstate")


@pytest.fixture(scope="module")
def emoca_folder(tmp_path_factory):
    # ~200 MB of random ResNet-50 weights: written once for the whole module.
    folder = tmp_path_factory.mktemp("downloads") / "EMOCA_v2_test"
    emoca_files.write_emoca(folder)
    return folder


@pytest.fixture(scope="module")
def emoca_state(emoca_folder):
    return checkpoint.read_state_dict(checkpoint.find_checkpoint(emoca_folder / "detail" / "checkpoints"))


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def converted_home(emoca_folder, tmp_path_factory):
    # Converting (export, weights, INT8 calibration) takes ~20 s: done once for the module.
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME_ENV, str(home))
        model_store.add_emoca(emoca_folder)
    return home


@pytest.fixture
def converted_store(converted_home, monkeypatch):
    """A store holding the converted test EMOCA (shared by the module's tests: do not add to it)."""
    monkeypatch.setenv(HOME_ENV, str(converted_home))
    return converted_home


def _crops(n: int) -> np.ndarray:
    """n x 3 x 224 x 224 float32 crops made with EMOCA's crop from synthetic frames."""
    rng = np.random.default_rng(1)
    crops = []
    for i in range(n):
        image = rng.integers(0, 256, (360, 480, 3), dtype=np.uint8)
        landmarks = np.column_stack([rng.uniform(150 + 10 * i, 330, 478), rng.uniform(60, 280, 478), np.zeros(478)])
        crops.append(crop_face(image, landmarks).image.transpose(2, 0, 1))
    return np.stack(crops)


def _max_relative(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


def test_best_checkpoint_is_chosen_and_last_skipped(tmp_path):
    folder = tmp_path / "checkpoints"
    # EMOCA's metric name "val_loss/dataloader_idx_0" puts the loss in a sub-folder's file name.
    for name in ("last.ckpt", "deca-epoch=01-val_loss=0.90.ckpt", "deca-epoch=09-val_loss/dataloader_idx_0=0.31.ckpt",
                 "deca-epoch=05-val_loss=0.45.ckpt"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")
    assert checkpoint.find_checkpoint(folder).name == "dataloader_idx_0=0.31.ckpt"
    (folder / "deca-epoch=09-val_loss" / "dataloader_idx_0=0.31.ckpt").unlink()
    assert checkpoint.find_checkpoint(folder).name == "deca-epoch=05-val_loss=0.45.ckpt"
    for path in folder.rglob("deca*.ckpt"):
        path.unlink()
    with pytest.raises(AvatarLiveError, match="no .ckpt checkpoint"):
        checkpoint.find_checkpoint(folder)


def test_emoca_codes_match_the_checkpoint_weights(emoca_folder, emoca_state):
    encoder = checkpoint.load_emoca(emoca_folder)
    assert not encoder.training
    # The ignored extra keys (D_detail, emonet, ...) do not matter; the loaded weights are the file's.
    torch.testing.assert_close(encoder.e_flame.layers[2].weight, emoca_state["deca.E_flame.layers.2.weight"])
    torch.testing.assert_close(encoder.e_expression.encoder.layer4[2].bn3.running_var,
                               emoca_state["deca.E_expression.encoder.layer4.2.bn3.running_var"])
    image = torch.from_numpy(_crops(2))
    with torch.no_grad():
        codes = encoder.encode(image)
        flame = encoder.e_flame(image)
        expression = encoder.e_expression(image)
    assert [tuple(c.shape) for c in (codes.shape, codes.tex, codes.exp, codes.pose, codes.cam, codes.light)] == [
        (2, 100), (2, 50), (2, 50), (2, 6), (2, 3), (2, 27)]
    torch.testing.assert_close(codes.shape, flame[:, :100])
    torch.testing.assert_close(codes.pose, flame[:, 200:206])
    torch.testing.assert_close(codes.light, flame[:, 209:])
    torch.testing.assert_close(codes.exp, expression)
    assert not torch.allclose(codes.exp, flame[:, 150:200])


def test_onnx_export_matches_torch(emoca_folder, tmp_path):
    encoder = checkpoint.load_emoca(emoca_folder)
    path = export.export_encoder(encoder, tmp_path / "emoca.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["shape", "tex", "exp", "pose", "cam", "light"]
    for batch in (1, 3):  # the batch axis is dynamic
        crops = _crops(batch)
        with torch.no_grad():
            expected = encoder(torch.from_numpy(crops))
        actual = session.run(None, {"image": crops})
        for got, want in zip(actual, expected):
            assert got.shape == tuple(want.shape)
            assert _max_relative(got, want.numpy()) < 1e-4


def test_truncated_checkpoint_is_one_line_error(emoca_folder, tmp_path):
    truncated = tmp_path / "model" / "detail" / "checkpoints" / "deca-epoch=00-val_loss=0.10.ckpt"
    truncated.parent.mkdir(parents=True)
    best = checkpoint.find_checkpoint(emoca_folder / "detail" / "checkpoints")
    truncated.write_bytes(best.read_bytes()[: 5_000_000])
    with pytest.raises(AvatarLiveError, match="not a readable checkpoint") as error:
        checkpoint.load_emoca(tmp_path / "model")
    assert "\n" not in str(error.value) and str(truncated) in str(error.value)


def test_missing_or_misshaped_key_is_named(emoca_state):
    missing = {k: v for k, v in emoca_state.items() if k != "deca.E_flame.encoder.layer3.4.bn2.running_mean"}
    with pytest.raises(AvatarLiveError, match=r"missing key deca\.E_flame\.encoder\.layer3\.4\.bn2\.running_mean"):
        checkpoint.load_into(EFlame(), missing, "deca.E_flame.", "model.ckpt")
    misshaped = {**emoca_state, "deca.E_flame.layers.2.weight": torch.zeros(235, 1024)}
    with pytest.raises(AvatarLiveError, match=r"deca\.E_flame\.layers\.2\.weight has shape \(235, 1024\)") as error:
        checkpoint.load_into(EFlame(), misshaped, "deca.E_flame.", "model.ckpt")
    assert "\n" not in str(error.value)


def test_checkpoint_globals_are_never_executed(tmp_path):
    state = emoca_files.emotion_state()
    path = emoca_files.write_checkpoint(tmp_path / "evil.ckpt", state, {"callbacks": [Malicious(), MaliciousState()]})
    FLAGS.clear()
    # Real Lightning checkpoints hold OmegaConf objects, which torch's safe mode refuses.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    loaded = checkpoint.read_state_dict(path)
    assert FLAGS == []
    torch.testing.assert_close(loaded["mlp.model.12.weight"], state["mlp.model.12.weight"])
    # The same file through an ordinary loader does run the code: the check above can fail.
    with emoca_files.fake_omegaconf():
        torch.load(path, weights_only=False)
    assert "reduce" in FLAGS


def test_emotion_mlp_exports_and_matches(tmp_path):
    folder = tmp_path / "EMOCA-emorec"
    best = emoca_files.write_emotion(folder)
    mlp = checkpoint.load_emotion(folder)
    assert isinstance(mlp, EmotionMLP) and not mlp.training
    path = export.export_emotion(mlp, tmp_path / "emotion.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    codes = np.random.default_rng(2).normal(size=(4, 153)).astype(np.float32)
    [actual] = session.run(["emotion"], {"codes": codes})
    with torch.no_grad():
        expected = mlp(torch.from_numpy(codes)).numpy()
    assert actual.shape == (4, 10)
    assert _max_relative(actual, expected) < 1e-4
    # Batch-norm in eval mode: each row's output does not depend on the rest of the batch.
    with torch.no_grad():
        np.testing.assert_allclose(mlp(torch.from_numpy(codes[:1])).numpy(), expected[:1], rtol=1e-5, atol=1e-5)
    assert best.exists()


def test_store_converts_emoca_into_every_form_and_lists_it_once(converted_store, emoca_folder):
    from avatar_live.encoders import quantize

    [stored] = model_store.list_models()
    assert stored.path == converted_store / "emoca" / "EMOCA_v2_test.onnx" and stored.kind == "emoca"
    assert stored.details["checkpoint"] == "detail/checkpoints/deca-epoch=03-val_loss=0.45.ckpt"
    assert stored.details["opset"] == 17
    assert stored.details["int8"].startswith("max deviation ")
    encoder, emotion = model_store.emoca_files()
    assert emotion is None
    assert encoder.onnx == stored.path and encoder.int8_onnx == converted_store / "emoca" / "EMOCA_v2_test.int8.onnx"
    crops = _crops(2)
    expected = checkpoint.load_emoca(emoca_folder)(torch.from_numpy(crops))
    with torch.no_grad():
        from_weights = encoder.torch_factory()(torch.from_numpy(crops))  # what the torch backends run
    for got, want in zip(from_weights, expected):
        torch.testing.assert_close(got, want)
    fp32_session = ort.InferenceSession(str(encoder.onnx))
    assert [o.name for o in fp32_session.get_outputs()][2] == "exp"
    fp32 = fp32_session.run(None, {"image": crops})
    int8 = ort.InferenceSession(str(encoder.int8_onnx)).run(None, {"image": crops})
    assert max(_max_relative(q, f) for q, f in zip(int8, fp32)) < quantize.MAX_DEVIATION


def test_store_converts_emotion_into_onnx_and_weights(store, tmp_path):
    emotion_folder = tmp_path / "emorec"
    emoca_files.write_emotion(emotion_folder)
    stored = model_store.add_emotion(emotion_folder, name="emorec")
    assert [(m.kind, m.name) for m in model_store.list_models()] == [("emotion", "emorec.onnx")]
    files = model_store.converted_model(stored.path, "emotion")
    assert files.int8_onnx is None  # the MLP is tiny: float32 everywhere
    codes = np.random.default_rng(2).normal(size=(3, 153)).astype(np.float32)
    with torch.no_grad():
        expected = checkpoint.load_emotion(emotion_folder)(torch.from_numpy(codes)).numpy()
        from_weights = files.torch_factory()(torch.from_numpy(codes)).numpy()
    np.testing.assert_allclose(from_weights, expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(AvatarLiveError, match="not a converted weights file"):
        checkpoint.load_weights(stored.path, "emotion")  # the ONNX file is not a weights file


def test_store_keeps_nothing_when_a_weight_is_missing(emoca_state, store, tmp_path):
    folder = tmp_path / "partial"
    state = {k: v for k, v in emoca_state.items() if not k.startswith("deca.E_expression.layers.")}
    emoca_files.write_checkpoint(folder / "detail" / "checkpoints" / "deca-epoch=01-val_loss=0.5.ckpt", state)
    with pytest.raises(AvatarLiveError, match=r"missing key deca\.E_expression\.layers\.0\.weight"):
        model_store.add_emoca(folder)
    assert model_store.list_models() == []
    shutil.rmtree(folder)


def test_models_add_emoca_command_converts_and_lists(emoca_folder, store, capsys):
    from avatar_live.cli import main

    assert main(["models", "add-emoca", str(emoca_folder)]) == 0
    assert (store / "emoca" / "EMOCA_v2_test.onnx").is_file()
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert "EMOCA_v2_test.onnx" in listing and "emoca" in listing


@pytest.mark.parametrize(("backend", "logged"), [
    (None, "backend for the EMOCA encoder: onnxruntime-int8 on cpu, int8; skipped"),  # the automatic CPU choice
    ("torch-cpu", "backend for the EMOCA encoder: torch-cpu on cpu, fp32 (forced)"),  # runs the stored weights
])
def test_track_with_emoca_writes_flame_parameters_for_every_frame(converted_store, tmp_path, caplog, backend, logged):
    import json
    import logging

    from conftest import shared_file

    from avatar_live.cli import main

    out = tmp_path / "p.jsonl"
    forced = ["--backend", backend] if backend else []
    with caplog.at_level(logging.INFO, logger="avatar_live"):
        assert main(["track", str(shared_file("video/single_face.mp4")), "-o", str(out), "--encoder", "emoca",
                     *forced]) == 0
    assert logged in caplog.text
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 72 and all(r["face"] for r in records)
    flames = [r["flame"] for r in records]
    assert all([len(f[k]) for k in ("shape", "expression", "jaw", "global", "cam")] == [100, 50, 3, 3, 3]
               for f in flames)
    expression = np.array([f["expression"] for f in flames])
    assert np.isfinite(expression).all() and expression.std(axis=0).max() > 0  # a new crop every frame


def test_emoca_without_an_import_is_a_clear_error(store, tmp_path, capsys):
    import cv2

    from avatar_live.cli import main

    image = tmp_path / "grey.png"
    cv2.imwrite(str(image), np.full((32, 32, 3), 128, np.uint8))
    assert main(["track", str(image), "-o", str(tmp_path / "p.jsonl"), "--encoder", "emoca"]) == 1
    assert "models add-emoca" in capsys.readouterr().err


def test_live_emoca_runs_in_the_background_without_holding_frames(converted_store, tmp_path):
    import json

    from conftest import shared_file

    from avatar_live.app import AppOptions, run_live
    from avatar_live.capture.sources import open_source
    from avatar_live.outputs.sinks import Outputs

    params = tmp_path / "live.jsonl"
    report = run_live(open_source(str(shared_file("video/single_face.mp4"))),
                      AppOptions(size=(160, 120), encoder="emoca"), Outputs(params=params), headless=True)
    records = [json.loads(line) for line in params.read_text().splitlines()]
    assert report.frames == len(records) > 0
    with_flame = [r for r in records if "flame" in r]
    assert with_flame and len(with_flame[-1]["flame"]["expression"]) == 50

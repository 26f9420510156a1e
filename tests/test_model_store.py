"""The user's model store: validated copies of the face models they downloaded."""

from __future__ import annotations

import flame_files
import platformdirs
import pytest
from conftest import requires_extra

from avatar_live import model_store
from avatar_live.errors import AvatarLiveError
from avatar_live.user_folders import HOME_ENV


@pytest.fixture
def store(tmp_path, monkeypatch):
    root = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(root))
    return root


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    folder = tmp_path_factory.mktemp("downloads")
    flame_files.write_flame(folder / "generic_model.pkl")
    flame_files.write_mediapipe_embedding(folder / "mediapipe_landmark_embedding.npz")
    return folder


def test_root_is_the_user_data_dir_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv(HOME_ENV, raising=False)
    assert str(model_store.store_root()) == platformdirs.user_data_dir("avatar-live")
    monkeypatch.setenv(HOME_ENV, str(tmp_path))
    assert model_store.store_root() == tmp_path


def test_add_then_list_round_trip(store, downloads):
    source = downloads / "generic_model.pkl"
    embedding = downloads / "mediapipe_landmark_embedding.npz"
    assert model_store.list_models() == []
    stored = model_store.add_flame(source, embedding=embedding)
    assert stored.path == store / "flame" / "generic_model.pkl"
    assert stored.path.read_bytes() == source.read_bytes()
    assert stored.details == {"vertices": 5023, "faces": 9976, "shape": 300, "expression": 100}

    listed = {m.name: m for m in model_store.list_models()}
    assert set(listed) == {"generic_model.pkl", "mediapipe_landmark_embedding.npz"}
    assert listed["generic_model.pkl"] == stored
    assert listed["generic_model.pkl"].size == source.stat().st_size
    assert listed["mediapipe_landmark_embedding.npz"].kind == "embedding-mediapipe"
    assert listed["mediapipe_landmark_embedding.npz"].details == {"landmarks": 105}

    # Adding again replaces the copy; the listing does not grow.
    model_store.add_flame(source)
    assert len(model_store.list_models()) == 2


def test_invalid_files_are_not_stored(store, downloads, tmp_path):
    bad_model = flame_files.write_flame(tmp_path / "generic_model.pkl", weights=None)
    with pytest.raises(AvatarLiveError, match="missing key weights"):
        model_store.add_flame(bad_model)
    bad_embedding = flame_files.write_mediapipe_embedding(tmp_path / "emb.npz", lmk_b_coords=None)
    with pytest.raises(AvatarLiveError, match="missing lmk_b_coords"):
        model_store.add_flame(downloads / "generic_model.pkl", embedding=bad_embedding)
    assert model_store.list_models() == []


def test_hand_placed_files_are_listed_unvalidated(store):
    (store / "flame").mkdir(parents=True)
    (store / "flame" / "flame2023_Open.pkl").write_bytes(b"x" * 10)
    [model] = model_store.list_models()
    assert (model.kind, model.name, model.size, model.details) == ("flame", "flame2023_Open.pkl", 10, {})


def test_models_command_adds_and_lists(tmp_path, monkeypatch, capsys):
    from avatar_live.cli import main

    monkeypatch.setenv("AVATAR_LIVE_HOME", str(tmp_path / "home"))
    assert main(["models", "list"]) == 0
    assert "(none)" in capsys.readouterr().out
    missing = tmp_path / "nowhere.pkl"
    assert main(["models", "add-flame", str(missing)]) == 1
    assert "error" in capsys.readouterr().err


def test_flame_avatar_files_are_found_or_explained(store, downloads):
    with pytest.raises(AvatarLiveError, match="models add-flame"):
        model_store.flame_avatar_files()
    model_store.add_flame(downloads / "generic_model.pkl")
    with pytest.raises(AvatarLiveError, match="embedding"):
        model_store.flame_avatar_files()
    model_store.add_flame(downloads / "generic_model.pkl", embedding=downloads / "mediapipe_landmark_embedding.npz")
    model, embedding = model_store.flame_avatar_files()
    assert model.name == "generic_model.pkl" and embedding.name == "mediapipe_landmark_embedding.npz"


def test_hand_placed_emoca_files_are_listed_by_folder(store):
    for folder, name in (("emoca", "mine.onnx"), ("emotion", "emo.onnx")):
        (store / folder).mkdir(parents=True)
        (store / folder / name).write_bytes(b"x" * 3)
    assert [(m.kind, m.name, m.details) for m in model_store.list_models()] == [
        ("emoca", "mine.onnx", {}), ("emotion", "emo.onnx", {})]


def test_add_emoca_without_checkpoints_stores_nothing(store, tmp_path):
    requires_extra("emoca", "torch")
    with pytest.raises(AvatarLiveError, match="no such folder"):
        model_store.add_emoca(tmp_path / "EMOCA_v2")
    (tmp_path / "EMOCA_v2" / "detail" / "checkpoints").mkdir(parents=True)
    (tmp_path / "EMOCA_v2" / "detail" / "checkpoints" / "last.ckpt").write_bytes(b"")
    with pytest.raises(AvatarLiveError, match="no .ckpt checkpoint"):
        model_store.add_emoca(tmp_path / "EMOCA_v2")
    assert model_store.list_models() == []

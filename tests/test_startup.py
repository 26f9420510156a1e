"""Start-up: what `track` imports, mediapipe's deferred modules, and the built-in head's disk cache.

Imports are checked in fresh processes: this test session has imported most things already.
Timings are `benchmarks/startup.py`'s business; these tests check behaviour.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import logging
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_file

from avatar_live.face.builtin import DEFAULT_LOOK, LOOKS
from avatar_live.face.builtin import cache as head_cache
from avatar_live.face.builtin.build import build_uncached
from avatar_live.face.rig import LandmarkEmbedding, Rig
from avatar_live.tracking.mediapipe_import import DeferredModule
from avatar_live.user_folders import CACHE_ENV


def _run_python(code: str, **env: str) -> str:
    """Standard output of `code` run by a fresh interpreter."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, **env}, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- mediapipe without its drawing utilities ---------------------------------------------


def test_importing_mediapipe_through_the_helper_leaves_matplotlib_and_the_tasks_api_out():
    code = """if True:
        import json, sys
        from avatar_live.tracking.mediapipe_import import import_mediapipe
        mp = import_mediapipe()
        mp.solutions.face_mesh.FaceMesh, mp.solutions.face_detection.FaceDetection
        print(json.dumps({name: name in sys.modules for name in ("matplotlib", "mediapipe.tasks.python.audio")}))
    """
    assert json.loads(_run_python(code)) == {"matplotlib": False, "mediapipe.tasks.python.audio": False}


def test_deferred_mediapipe_modules_work_when_used():
    code = """if True:
        import json, sys
        import numpy as np
        from avatar_live.tracking.mediapipe_import import import_mediapipe
        mp = import_mediapipe()
        image = np.zeros((64, 64, 3), np.uint8)
        style = mp.solutions.drawing_styles.get_default_face_mesh_tesselation_style()
        mp.solutions.drawing_utils.draw_landmarks(image, None, landmark_drawing_spec=style)
        from mediapipe.tasks.python import BaseOptions, vision
        print(json.dumps({"matplotlib": "matplotlib.pyplot" in sys.modules,
                          "landmarker": vision.FaceLandmarker.__name__, "tasks": mp.tasks.BaseOptions is BaseOptions}))
    """
    assert json.loads(_run_python(code)) == {"matplotlib": True, "landmarker": "FaceLandmarker", "tasks": True}


def test_deferred_mediapipe_modules_end_up_as_a_plain_import_leaves_them():
    use_all = textwrap.dedent("""
        solutions = sys.modules["mediapipe.python.solutions"]
        for name in ("drawing_utils", "drawing_styles", "hands", "holistic", "objectron", "pose",
                     "selfie_segmentation"):
            getattr(getattr(solutions, name), "no_such_attribute", None)  # loads a deferred module
        sys.modules["mediapipe.tasks.python"].vision
        print(json.dumps({module: sorted(vars(sys.modules[module])) for module in
                          ("mediapipe", "mediapipe.tasks", "mediapipe.tasks.python", "mediapipe.python.solutions",
                           "mediapipe.python.solutions.drawing_utils", "mediapipe.python.solutions.hands")}))
    """)
    plain = _run_python("import json, sys\nimport mediapipe\n" + use_all)
    deferred = _run_python("import json, sys\nfrom avatar_live.tracking.mediapipe_import import import_mediapipe\n"
                           "import_mediapipe()\n" + use_all)
    assert json.loads(deferred) == json.loads(plain)


def test_a_deferred_module_runs_on_first_use_and_again_after_a_failed_load(tmp_path, monkeypatch):
    source = tmp_path / "example.py"
    source.write_text("import os\nif os.environ.get('FAIL_EXAMPLE'):\n    raise RuntimeError('broken')\nVALUE = 42\n")
    spec = importlib.util.spec_from_file_location("example", source)
    module = importlib.util.module_from_spec(spec)
    module.__class__ = DeferredModule
    assert "VALUE" not in vars(module) and module.__spec__ is spec  # the spec is there without loading

    monkeypatch.setenv("FAIL_EXAMPLE", "1")
    with pytest.raises(RuntimeError, match="broken"):
        _ = module.VALUE
    assert type(module) is DeferredModule
    monkeypatch.delenv("FAIL_EXAMPLE")
    assert module.VALUE == 42
    assert type(module) is types.ModuleType


def test_track_on_a_still_imports_nothing_it_does_not_use(tmp_path):
    """No drawing utilities, Tasks API, scipy.spatial (smoothing), PyAV or glfw."""
    still = shared_file("images/single_face.jpg")
    code = f"""if True:
        import json, sys
        from avatar_live.cli import main
        status = main(["track", {str(still)!r}, "-o", {str(tmp_path / "out.jsonl")!r}])
        unused = ("matplotlib", "mediapipe.tasks.python.vision", "scipy.spatial", "av", "glfw")
        print(json.dumps([status] + [name for name in unused if name in sys.modules]))
    """
    assert json.loads(_run_python(code, **{CACHE_ENV: str(tmp_path / "cache")})) == [0]
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 1


# --- the built-in head's disk cache ------------------------------------------------------


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def _small_rig(look=DEFAULT_LOOK) -> Rig:
    """A stand-in for the built head with every field type a rig has (fast to build)."""
    return Rig(name="builtin", vertices=np.arange(12, dtype=np.float32).reshape(4, 3),
               faces=np.array([[0, 1, 2], [0, 2, 3]], np.int32), materials=np.array([0, 0, 1, 2], np.uint8),
               colors=np.full((4, 3), look.skin[0], np.float32), blendshape_names=("jawOpen", "eyeBlinkLeft"),
               blendshapes=np.ones((2, 4, 3), np.float32), joints=np.zeros((5, 3), np.float32),
               skin_weights=np.eye(4, 5, dtype=np.float32),
               embedding=LandmarkEmbedding(np.array([1, 33], np.int64), np.array([0, 1], np.int64),
                                           np.full((2, 3), 1 / 3, np.float32)),
               eye_scale=0.1 + 0.2)


class CountingBuild:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, look) -> Rig:
        self.calls += 1
        return _small_rig(look)


def _assert_same_rig(loaded: Rig, built: Rig) -> None:
    """Every field equal, with the same types, dtypes and shapes (arrays bit for bit)."""
    for field in dataclasses.fields(Rig):
        a, b = getattr(loaded, field.name), getattr(built, field.name)
        if field.name == "embedding":
            for part in dataclasses.fields(LandmarkEmbedding):
                x, y = getattr(a, part.name), getattr(b, part.name)
                assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), part.name
        elif isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), field.name
        else:
            assert type(a) is type(b) and a == b, field.name


def test_the_cached_head_is_the_built_head_bit_for_bit(cache_dir):
    built = build_uncached(LOOKS["ginger"])
    stored = head_cache.cached_head(LOOKS["ginger"], lambda look: built)
    assert stored is built and head_cache.entry_path(LOOKS["ginger"]).is_file()
    loaded = head_cache.cached_head(LOOKS["ginger"], lambda look: pytest.fail("built again"))
    _assert_same_rig(loaded, built)


def test_an_entry_is_built_once_then_read(cache_dir):
    build = CountingBuild()
    first = head_cache.cached_head(DEFAULT_LOOK, build)
    second = head_cache.cached_head(DEFAULT_LOOK, build)
    assert build.calls == 1
    _assert_same_rig(second, first)
    assert [path.suffix for path in (cache_dir / "builtin-head").iterdir()] == [".npz"]  # no temporary left


@pytest.mark.parametrize("damage", [b"", b"not a zip file", b"PK\x03\x04" + bytes(100), "truncated"])
def test_an_unreadable_entry_is_built_again_and_replaced(cache_dir, caplog, damage):
    build = CountingBuild()
    head_cache.cached_head(DEFAULT_LOOK, build)
    path = head_cache.entry_path(DEFAULT_LOOK)
    path.write_bytes(path.read_bytes()[:200] if damage == "truncated" else damage)
    with caplog.at_level(logging.DEBUG, logger=head_cache.log.name):
        rig = head_cache.cached_head(DEFAULT_LOOK, build)
    assert build.calls == 2
    assert "unreadable" in caplog.text
    _assert_same_rig(rig, _small_rig())
    _assert_same_rig(head_cache.cached_head(DEFAULT_LOOK, build), _small_rig())
    assert build.calls == 2  # the rebuilt entry was written


def test_an_entry_missing_a_field_is_built_again(cache_dir):
    build = CountingBuild()
    arrays = head_cache.rig_to_arrays(_small_rig())
    del arrays["eye_scale"]
    head_cache.entry_path(DEFAULT_LOOK).parent.mkdir(parents=True)
    np.savez_compressed(head_cache.entry_path(DEFAULT_LOOK), **arrays)
    head_cache.cached_head(DEFAULT_LOOK, build)
    assert build.calls == 1


def test_entries_are_keyed_by_the_builders_source_the_look_and_numpy(cache_dir, tmp_path, monkeypatch):
    source = tmp_path / "dependency.py"
    source.write_text("A = 1\n")
    dependency = types.SimpleNamespace(__file__=str(source))
    monkeypatch.setattr(head_cache, "BUILD_DEPENDENCIES", (*head_cache.BUILD_DEPENDENCIES, dependency))
    build = CountingBuild()
    head_cache.cached_head(DEFAULT_LOOK, build)
    original = head_cache.entry_path(DEFAULT_LOOK)

    source.write_text("A = 2\n")
    assert head_cache.entry_path(DEFAULT_LOOK) != original
    head_cache.cached_head(DEFAULT_LOOK, build)
    assert build.calls == 2

    source.write_text("A = 1\n")
    assert head_cache.entry_path(DEFAULT_LOOK) == original
    assert head_cache.entry_path(LOOKS["ebony"]) != original
    monkeypatch.setattr(np, "__version__", "0.0.0")
    assert head_cache.entry_path(DEFAULT_LOOK) != original


def _imported_modules(path: Path) -> set[str]:
    """The modules a source file imports (`from package import module` names the module)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                modules.add(submodule if _is_module(submodule) else node.module)
    return modules


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a name inside a module, not a submodule
        return False


def test_the_key_covers_every_avatar_live_module_the_builder_imports():
    """Editing a module the build depends on must start new entries."""
    package = Path(head_cache.__file__).parent
    covered = {module.__name__ for module in head_cache.BUILD_DEPENDENCIES}
    pending = [path for path in package.glob("*.py") if path.name != "cache.py"]
    seen: set[str] = set()
    while pending:
        for name in _imported_modules(pending.pop()) - seen:
            if name.startswith("avatar_live.") and not name.startswith("avatar_live.face.builtin"):
                assert name in covered, f"the builder imports {name}, which BUILD_DEPENDENCIES lacks"
                seen.add(name)
                pending.append(Path(importlib.util.find_spec(name).origin))


def test_a_cache_folder_that_cannot_be_created_only_costs_the_build(tmp_path, monkeypatch):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))  # a folder inside a file: mkdir fails for anyone, root too
    build = CountingBuild()
    _assert_same_rig(head_cache.cached_head(DEFAULT_LOOK, build), _small_rig())
    head_cache.cached_head(DEFAULT_LOOK, build)
    assert build.calls == 2


def test_a_full_disk_only_costs_the_build_and_leaves_no_temporary_file(cache_dir, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", disk_full)
    build = CountingBuild()
    _assert_same_rig(head_cache.cached_head(DEFAULT_LOOK, build), _small_rig())
    assert list((cache_dir / "builtin-head").iterdir()) == []

"""The restricted unpickler against pickles that are small on disk but huge, cyclic or deep once read."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import time

import flame_files
import numpy as np
import pytest

from avatar_live import model_store
from avatar_live.errors import AvatarLiveError
from avatar_live.face import safe_pickle
from avatar_live.user_folders import HOME_ENV


def _doubling_list(levels: int) -> list:
    """[a, a] where a is [b, b] ...: `levels` + 1 list objects, 2**levels leaves when walked as a tree."""
    nested: list = []
    for _ in range(levels):
        nested = [nested, nested]
    return nested


def _load(value: object, name: str = "test.pkl") -> object:
    return safe_pickle.load(io.BytesIO(pickle.dumps(value, protocol=2)), name)


def test_shared_references_are_converted_once_and_stay_shared():
    rows = [np.arange(3.0), np.arange(2)]
    loaded = _load({"a": rows, "b": rows, "deep": _doubling_list(16)})
    assert loaded["a"] is loaded["b"]
    np.testing.assert_array_equal(loaded["a"][0], rows[0])
    level = loaded["deep"]
    for _ in range(16):
        assert level[0] is level[1]
        level = level[0]
    assert level == []


def test_add_flame_refuses_a_tiny_pickle_of_shared_references_at_once(tmp_path, monkeypatch):
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps(_doubling_list(60), protocol=2))
    assert path.stat().st_size < 600
    home = tmp_path / "home"
    # The command in a fresh process first: walking 2**60 nodes must fail this test, not hang it.
    result = subprocess.run([sys.executable, "-m", "avatar_live", "models", "add-flame", str(path)],
                            check=False, capture_output=True, text=True, timeout=60,
                            env={**os.environ, HOME_ENV: str(home)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "shared references" in result.stderr

    monkeypatch.setenv(HOME_ENV, str(home))
    start = time.perf_counter()
    with pytest.raises(AvatarLiveError, match=r"not a readable pickle: .* shared references") as error:
        model_store.add_flame(path)
    assert time.perf_counter() - start < 1.0
    assert "\n" not in str(error.value) and str(path) in str(error.value)
    assert model_store.list_models() == []


def test_a_chumpy_array_of_shared_rows_is_refused_before_numpy_copies_it():
    # np.asarray would copy the one stored row 100,000 times: 8 GB from a 400 kB file.
    ch = flame_files.Ch(np.zeros(3))
    ch.x = [np.zeros(10_000)] * 100_000
    stream = io.BytesIO()
    flame_files.write_pickle_as_python2(stream, {"v_template": ch})
    with pytest.raises(AvatarLiveError, match="Ch x is a list, expected a numeric array"):
        safe_pickle.load(io.BytesIO(stream.getvalue()), "ch.pkl")


@pytest.mark.parametrize("make", [
    lambda: (cycle := []).append(cycle) or cycle,
    lambda: (cycle := {}).update(me=cycle) or cycle,
    lambda: (inner := []).append((inner,)) or inner,
])
def test_a_container_that_holds_itself_is_a_one_line_error(make):
    with pytest.raises(AvatarLiveError, match=r"cycle.pkl: not a readable pickle: .* contains itself") as error:
        _load(make(), "cycle.pkl")
    assert "\n" not in str(error.value)


def _nested_lists(levels: int) -> bytes:
    """A pickle of `levels` lists, each inside the one before; written by hand, as pickle.dumps
    itself recurses too deep on a deep list."""
    return pickle.PROTO + b"\x02" + pickle.EMPTY_LIST * levels + pickle.APPEND * (levels - 1) + pickle.STOP


def test_deep_nesting_is_a_one_line_error_not_a_recursion_error():
    with pytest.raises(AvatarLiveError, match=f"nested deeper than {safe_pickle.MAX_DEPTH} levels") as error:
        safe_pickle.load(io.BytesIO(_nested_lists(100_000)), "deep.pkl")
    assert "\n" not in str(error.value) and "Recursion" not in str(error.value)
    with pytest.raises(AvatarLiveError, match="nested deeper"):
        safe_pickle.load(io.BytesIO(_nested_lists(safe_pickle.MAX_DEPTH + 1)), "deep.pkl")
    assert safe_pickle.load(io.BytesIO(_nested_lists(safe_pickle.MAX_DEPTH)), "deep.pkl") is not None

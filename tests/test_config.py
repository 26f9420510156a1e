"""The config file: TOML values become the real command line's defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from avatar_live.arguments import build_parser
from avatar_live.config import (
    apply_config,
    effective_values,
    format_effective,
    load_config,
)
from avatar_live.errors import AvatarLiveError

RENDER = ["render", "clip.mp4", "-o", "out.mp4"]


def _parse(tmp_path: Path, toml: str, argv: list[str]):
    path = tmp_path / "config.toml"
    path.write_text(toml)
    parser = build_parser()
    apply_config(parser, argv[0], load_config(path))
    return parser.parse_args(argv)


def _error(tmp_path: Path, toml: str, command: str = "run") -> str:
    with pytest.raises(AvatarLiveError) as caught:
        _parse(tmp_path, toml, [command])
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path / "config.toml") in message
    return message


def test_values_become_the_defaults(tmp_path):
    args = _parse(tmp_path, 'size = "1280x720"\nreadout = "solver"\nvirtualcam = true\nno-hud = true\n'
                            "source = 1\nfps = 30\n", ["run"])
    assert args.size == (1280, 720) and args.readout == "solver"
    assert args.virtualcam is True and args.no_hud is True
    assert args.source == "1" and args.fps == 30.0  # TOML numbers go through the option's type as text


def test_the_command_line_wins(tmp_path):
    args = _parse(tmp_path, 'size = "1280x720"\nreadout = "solver"\n',
                  ["run", "--size", "800x600", "--readout", "learned"])
    assert args.size == (800, 600) and args.readout == "learned"


def test_a_command_table_overrides_the_top_level(tmp_path):
    toml = 'size = "1280x720"\n[render]\nsize = "1920x1080"\n'
    assert _parse(tmp_path, toml, RENDER).size == (1920, 1080)
    assert _parse(tmp_path, toml, ["run"]).size == (1280, 720)


def test_top_level_keys_apply_only_where_the_option_exists(tmp_path):
    toml = 'output = "avatar.mp4"\n'
    assert not hasattr(_parse(tmp_path, toml, ["run"]), "output")
    # render requires -o, unless the file gives it.
    assert _parse(tmp_path, toml, ["render", "clip.mp4"]).output == Path("avatar.mp4")


def test_calibrate_from_the_file_and_the_command_line(tmp_path):
    assert _parse(tmp_path, "calibrate = true\n", ["run"]).calibrate is True
    assert _parse(tmp_path, "calibrate = false\n", ["run"]).calibrate is False
    assert _parse(tmp_path, "calibrate = false\n", ["run", "--calibrate"]).calibrate is True
    assert _parse(tmp_path, "", ["run"]).calibrate is None
    assert 'unknown key "no-calibrate"' in _error(tmp_path, "no-calibrate = true\n")


@pytest.mark.parametrize("toml, expected", [
    ('size = "big"\n', "size: size must look like 640x480, got 'big'"),
    ("size = 640\n", "size: size must look like 640x480, got '640'"),
    ('readout = "neural"\n', "readout: invalid choice 'neural' (choose from learned, solver)"),
    ('virtualcam = "yes"\n', "virtualcam: expected true or false, got 'yes'"),
    ("calibrate = 1\n", "calibrate: expected true or false, got 1"),
    ("fps = -5\n", "fps: expected a positive number, got '-5'"),
    ("source = true\n", "source: expected a string or a number, got true"),
    ("size = [640, 480]\n", "size: expected a string or a number, got an array"),
    ('[render]\nsize = "0x0"\n', "[render] size: size must be between 16x16 and 4096x4096, got '0x0'"),
])
def test_a_bad_value_names_the_key(tmp_path, toml, expected):
    assert _error(tmp_path, toml).endswith(expected)


def test_a_bad_value_for_another_command_is_still_reported(tmp_path):
    assert "[train] workers: invalid int value: 'many'" in _error(tmp_path, '[train]\nworkers = "many"\n')


def test_unknown_keys_and_tables(tmp_path):
    message = _error(tmp_path, 'sise = "1280x720"\n')
    assert 'unknown key "sise" (did you mean "size"? known: ' in message
    assert {"size", "readout", "calibrate", "no-hud", "output"} <= set(message[:-1].split("known: ")[1].split(", "))
    message = _error(tmp_path, '[rnu]\nsource = "1"\n')
    assert "unknown table [rnu] (commands: " in message and "render, " in message
    message = _error(tmp_path, "[render]\nvirtualcam = true\n")
    assert '[render] unknown key "virtualcam" (an option of run only)' in message
    # Positional arguments are not options: render's source is not settable.
    message = _error(tmp_path, '[render]\nsource = "a.mp4"\n')
    assert '[render] unknown key "source" (an option of run only)' in message


def test_invalid_toml_is_one_line_with_its_place(tmp_path):
    message = _error(tmp_path, 'size = "1280x720"\nreadout = \n')
    assert "invalid TOML" in message and "line 2" in message


def test_a_missing_file_is_an_empty_config(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "config.toml"
    monkeypatch.setenv("AVATAR_LIVE_CONFIG", str(missing))
    config = load_config()
    assert config.path == missing and not config.exists and config.values == {}
    parser = build_parser()
    apply_config(parser, "run", config)
    args = parser.parse_args(["run"])
    assert args.size == (640, 480) and args.readout == "learned" and args.source == "0"


def test_the_environment_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text('readout = "solver"\n')
    monkeypatch.setenv("AVATAR_LIVE_CONFIG", str(path))
    config = load_config()
    assert config.exists and config.path == path and config.values == {"readout": "solver"}


def test_effective_values_say_where_each_came_from(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('size = "1280x720"\nreadout = "solver"\n[run]\nvirtualcam = true\n')
    config = load_config(path)
    parser = build_parser()
    apply_config(parser, "run", config)
    args = parser.parse_args(["run", "--readout", "learned", "--headless"])
    rows = {key: (value, source) for key, value, source in effective_values(parser, "run", args, config)}
    assert rows["size"] == ((1280, 720), "config")
    assert rows["virtualcam"] == (True, "config")
    assert rows["readout"] == ("learned", "command line")
    assert rows["headless"] == (True, "command line")
    assert rows["emotion"] == ("learned", "default")
    assert rows["calibrate"] == (None, "default")
    assert "source" in rows and "no-hud" in rows and "no-calibrate" not in rows
    # Without a command line (and on a parser the config was not applied to): the file's values.
    bare = {key: (value, source) for key, value, source in effective_values(build_parser(), "run", None, config)}
    assert bare["size"] == ((1280, 720), "config") and bare["readout"] == ("solver", "config")
    text = format_effective(config, effective_values(parser, "run", args, config))
    assert text.splitlines()[0] == f"config: {path}"
    assert any(line.split() == ["size", "1280x720", "config"] for line in text.splitlines())
    assert "(no file: defaults only)" in format_effective(load_config(tmp_path / "none.toml"), [])


def _generic_parser() -> argparse.ArgumentParser:
    """Option kinds the real command line may grow: an optional value, values holding arrays."""
    parser = argparse.ArgumentParser()
    send = parser.add_subparsers(dest="command").add_parser("send")
    send.add_argument("--port", nargs="?", const="9000", type=int)
    send.add_argument("--image", type=lambda text: np.full(4, float(text)))
    return parser


def test_an_optional_value_given_bare_or_not_at_all(tmp_path):
    path = tmp_path / "config.toml"
    for toml, port in (("port = true\n", 9000), ("port = false\n", None), ("port = 7\n", 7)):
        path.write_text(toml)
        parser = _generic_parser()
        apply_config(parser, "send", load_config(path))
        assert parser.parse_args(["send"]).port == port


def test_values_holding_arrays_are_told_apart(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("image = 2\n")
    config = load_config(path)
    parser = _generic_parser()
    apply_config(parser, "send", config)
    for argv, source in ((["send"], "config"), (["send", "--image", "3"], "command line")):
        rows = effective_values(parser, "send", parser.parse_args(argv), config)
        assert rows[1][0] == "image" and rows[1][2] == source
    unconfigured = _generic_parser()
    rows = effective_values(unconfigured, "send", unconfigured.parse_args(["send"]), load_config(tmp_path / "no"))
    assert [(key, source) for key, _, source in rows] == [("port", "default"), ("image", "default")]
    path.write_text("image = 123456789\n")
    parser = _generic_parser()
    apply_config(parser, "send", load_config(path))
    text = format_effective(config, effective_values(parser, "send", None, load_config(path)))
    assert len(text.splitlines()) == 4 and "[1.23456789e+08 1.23456789e+08" in text  # one line each

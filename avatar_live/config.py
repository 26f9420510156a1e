"""The user's config file: TOML values that become the command line's defaults.

Where: `$AVATAR_LIVE_CONFIG`, else `config.toml` in the platform's user config folder
(`~/.config/avatar-live/config.toml` on Linux).

Keys are the long options as typed, without the leading dashes; values are what the
option takes, as a TOML string or number, or true/false for a flag. Top-level keys apply
to every command that has the option; a table named after a command overrides them there:

    size = "1280x720"
    readout = "learned"
    calibrate = false         # --calibrate / --no-calibrate
    no-hud = true             # a flag's key is its own name: there is no `hud` key
    [run]
    source = "1"
    [render]
    size = "1920x1080"

An option given on the command line wins over the file. Positional arguments (render's
source) are not settable; an option a command requires (render's --output) is no longer
required when the file sets it. The whole file is checked whichever command runs, so a
typo anywhere is reported at once, as one line naming the file and the key.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from avatar_live.errors import AvatarLiveError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

CONFIG_ENV = "AVATAR_LIVE_CONFIG"

_FLAGS = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse.BooleanOptionalAction)


@dataclass(frozen=True)
class Config:
    """A config file as read.

    Attributes:
        path: where it is (or would be).
        exists: False when there is no file there: then `values` is empty.
        values: the parsed TOML: option keys, and tables named after commands.
    """

    path: Path
    exists: bool
    values: dict[str, object] = field(default_factory=dict)


class _Invalid(Exception):
    """A config value the option does not accept; the message says why."""


def config_path() -> Path:
    """`$AVATAR_LIVE_CONFIG` if set, else config.toml in the user config folder."""
    override = os.environ.get(CONFIG_ENV)
    return Path(override).expanduser() if override else platformdirs.user_config_path("avatar-live") / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """Read the config file (`config_path()` by default); a missing file is an empty config.

    Raises:
        AvatarLiveError: the file cannot be read or is not valid TOML (with line and column).
    """
    path = config_path() if path is None else Path(path)
    try:
        with path.open("rb") as file:
            values = tomllib.load(file)
    except FileNotFoundError:
        return Config(path=path, exists=False)
    except tomllib.TOMLDecodeError as exc:
        raise AvatarLiveError(f"config {path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise AvatarLiveError(f"config {path}: not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise AvatarLiveError(f"config {path}: cannot read it: {exc.strerror or exc}") from None
    return Config(path=path, exists=True, values=values)


def apply_config(parser: argparse.ArgumentParser, command: str, config: Config) -> None:
    """Make the config's values the defaults of `command`'s options in `parser`.

    Call before `parser.parse_args`; options on the command line still win.

    Raises:
        AvatarLiveError: an unknown key or table, or a value the option does not accept
            (checked for every command, not only `command`).
    """
    sub = _commands(parser)[command]
    for action, value in _settings(parser, config)[command].values():
        action.required = False
        sub.set_defaults(**{action.dest: value})


def effective_values(parser: argparse.ArgumentParser, command: str, args: argparse.Namespace | None,
                     config: Config) -> list[tuple[str, object, str]]:
    """Each option of `command` with its value and where the value came from.

    Args:
        parser: the program's parser, with or without `apply_config` applied.
        command: a sub-command of `parser`.
        args: the parsed command line; None shows the values without one.
        config: the config file in use.

    Returns:
        (key, value, source) in the parser's order; source is "default", "config" or
        "command line". An option given on the command line with the value the config
        gives it reads as "config": the value is the same either way.
    """
    from_config = {action.dest: value for action, value in _settings(parser, config)[command].values()}
    rows = []
    for key, action in _options(_commands(parser)[command]).items():
        configured = action.dest in from_config
        if args is None:
            value = from_config[action.dest] if configured else _parsed_default(action)
            given = False
        else:
            # `args` comes from a parser the config was applied to: a configured option's
            # default is then the config's value.
            value = getattr(args, action.dest)
            given = not _same(value, action.default if configured else _parsed_default(action))
        rows.append((key, value, "command line" if given else "config" if configured else "default"))
    return rows


def format_effective(config: Config, rows: list[tuple[str, object, str]]) -> str:
    """The config file's path and state, then `effective_values`' rows as a table."""
    state = "" if config.exists else " (no file: defaults only)"
    lines = [f"config: {config.path}{state}", f"  {'option':<22} {'value':<24} from"]
    lines += [f"  {key:<22} {_format_value(value):<24} {source}" for key, value, source in rows]
    return "\n".join(lines)


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's sub-commands by name (the first level only)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The options the config can set, by key: a single-valued option or a flag, named by its
    first long option string without the dashes (`--no-calibrate` is `calibrate = false`)."""
    options = {}
    for action in parser._actions:
        names = [name for name in action.option_strings if name.startswith("--")]
        single = isinstance(action, argparse._StoreAction) and action.nargs in (None, "?")
        if names and (single or isinstance(action, _FLAGS)):
            options[names[0][2:]] = action
    return options


def _settings(parser: argparse.ArgumentParser, config: Config) -> dict[str, dict[str, tuple[argparse.Action, object]]]:
    """Every command's settings from the config: key -> (action, converted value)."""
    commands = {name: _options(sub) for name, sub in _commands(parser).items()}
    known = sorted(set().union(*commands.values()))
    tables = {key: value for key, value in config.values.items() if key in commands and isinstance(value, dict)}
    top = {key: value for key, value in config.values.items() if key not in tables}
    for key, value in top.items():
        if key not in known:
            what = f"table [{key}] (commands: {', '.join(commands)})" if isinstance(value, dict) else (
                f'key "{key}" ({_suggest(key, known)}known: {", ".join(known)})')
            raise AvatarLiveError(f"config {config.path}: unknown {what}")
    settings = {}
    for command, options in commands.items():
        table = tables.get(command, {})
        for key in table:
            if key not in options:
                others = [name for name, opts in commands.items() if key in opts]
                why = f"an option of {', '.join(others)} only" if others else (
                    f"{_suggest(key, options)}{command}'s keys: {', '.join(sorted(options))}")
                raise AvatarLiveError(f'config {config.path}: [{command}] unknown key "{key}" ({why})')
        merged = {key: (value, "") for key, value in top.items() if key in options}
        merged |= {key: (value, f"[{command}] ") for key, value in table.items()}
        settings[command] = {}
        for key, (value, where) in merged.items():
            try:
                settings[command][key] = (options[key], _convert(options[key], value))
            except _Invalid as exc:
                raise AvatarLiveError(f"config {config.path}: {where}{key}: {exc}") from None
    return settings


def _convert(action: argparse.Action, value: object) -> object:
    """What the command line would set `action`'s dest to for this TOML value.

    Raises:
        _Invalid: the option does not take the value.
    """
    if isinstance(action, _FLAGS):
        if not isinstance(value, bool):
            raise _Invalid(f"expected true or false, got {_describe(value)}")
        if isinstance(action, argparse.BooleanOptionalAction):
            return value
        # A store_true/store_false key says whether the flag is given.
        return action.const if value else not action.const
    if isinstance(value, bool) and action.nargs == "?":
        # An option whose value may be left out: true is the option given bare, false not given.
        if not value:
            return _parsed_default(action)
        return _call_type(action, action.const) if isinstance(action.const, str) and action.type else action.const
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _Invalid(f"expected a string or a number, got {_describe(value)}")
    text = value if isinstance(value, str) else str(value)
    converted = text if action.type is None else _call_type(action, text)
    if action.choices is not None and converted not in action.choices:
        raise _Invalid(f"invalid choice {text!r} (choose from {', '.join(map(str, action.choices))})")
    return converted


def _call_type(action: argparse.Action, text: str) -> object:
    """`action.type(text)`, failing with argparse's own messages."""
    try:
        return action.type(text)
    except argparse.ArgumentTypeError as exc:
        raise _Invalid(str(exc)) from None
    except (TypeError, ValueError):
        raise _Invalid(f"invalid {getattr(action.type, '__name__', repr(action.type))} value: {text!r}") from None


def _parsed_default(action: argparse.Action) -> object:
    """The option's default as parsing leaves it: argparse passes string defaults through `type`."""
    if isinstance(action.default, str) and action.type is not None:
        return action.type(action.default)
    return action.default


def _same(a: object, b: object) -> bool:
    """a == b, also for values holding arrays (an image background), which compare equal only
    when they are the same object."""
    if a is b:
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _suggest(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f'did you mean "{close[0]}"? ' if close else ""


def _describe(value: object) -> str:
    """A TOML value as the user wrote it, roughly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _format_value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    # The command line's only tuples are WxH sizes (`--size`, `--cell`).
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return f"{value[0]}x{value[1]}"
    text = " ".join(str(value).split())  # one line, whatever the value prints as
    return text if len(text) <= 60 else text[:57] + "..."

"""Output files that are never lost and never clobber the run's own inputs.

A file output is written under a temporary name beside its final one
(`avatar.partial-1234.mp4` for `avatar.mp4`): a run that ends normally or by Ctrl-C renames
it into place; a run that fails, or a process that is killed, leaves the partial file, and
its name says what it is. The process id in the name keeps two runs that write the same
path from splicing their files (the last one to finish wins). Special files (`/dev/null`,
a FIFO, a terminal) are written in place: they cannot be renamed onto.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from avatar_live.errors import AvatarLiveError

log = logging.getLogger(__name__)

STDOUT = "-"


def is_special(path: Path) -> bool:
    """True for an existing path that is not a regular file or folder (a device, a FIFO)."""
    return path.exists() and not path.is_file() and not path.is_dir()


def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.expanduser().resolve() == b.expanduser().resolve()


def check_distinct(inputs: list[Path], outputs: list[tuple[str, Path]]) -> None:
    """Refuse a run whose output would overwrite its input or another output.

    Args:
        inputs: files the run reads (a video, an image, a folder of images).
        outputs: (option, path) for each file the run writes, e.g. ("-o", Path("a.mp4"));
            "-" (standard output) and special files may repeat.

    Raises:
        AvatarLiveError: naming the two options that point at one file.
    """
    real = [(option, path) for option, path in outputs if str(path) != STDOUT and not is_special(path)]
    for option, path in real:
        for source in inputs:
            if _same(path, source):
                raise AvatarLiveError(f"{option} {path} would overwrite the input {source}: choose another path")
    for i, (option, path) in enumerate(real):
        for other_option, other in real[i + 1:]:
            if _same(path, other):
                raise AvatarLiveError(f"{option} and {other_option} are the same file ({path}): give each its own path")


class OutputFile:
    """The temporary and the final name of one output file.

    Args:
        path: where the finished file belongs; its folder is created.

    Raises:
        AvatarLiveError: the folder cannot be created.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.special = is_special(path)
        if self.special:
            self.writing = path
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AvatarLiveError(f"cannot write {path}: {exc.strerror}") from exc
        self.writing = path.with_name(f"{path.stem}.partial-{os.getpid()}{path.suffix}")

    def commit(self) -> Path:
        """Move the finished file to its final name; returns that name.

        Raises:
            AvatarLiveError: the rename failed (the partial file is kept and named).
        """
        if self.special or not self.writing.exists():
            return self.path
        try:
            os.replace(self.writing, self.path)
        except OSError as exc:
            raise AvatarLiveError(f"cannot move {self.writing} to {self.path}: {exc.strerror}; "
                                  f"your output is in {self.writing}") from exc
        return self.path

    def abandon(self, *, empty: bool) -> Path | None:
        """After a failed run: delete a file with nothing in it, keep anything else.

        Returns:
            The kept partial file, or None.
        """
        if self.special or not self.writing.exists():
            return None
        if empty:
            self.writing.unlink(missing_ok=True)
            return None
        return self.writing


def write_error(path: Path, exc: OSError, kept: str) -> AvatarLiveError:
    """The one-line error for a failed write (full disk, removed drive), saying what is kept."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return AvatarLiveError(f"cannot write {path}: {reason}; {kept}")

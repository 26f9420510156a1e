"""The interface every output implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from avatar_live.types import Packet


class Sink(ABC):
    """Receives every finished packet, in order, from one thread.

    Life cycle: `write` per packet, `close` once (also after errors), then, from the main
    thread once the run has ended, `commit` (the run ended normally or was interrupted:
    files move to their final names) or `abandon` (it failed: files keep their partial
    names, empty ones are removed).
    """

    name: str

    @abstractmethod
    def write(self, packet: Packet) -> None:
        """Consume one packet (its `rendered` image and/or `params`)."""

    def close(self) -> None:
        """Finalize (flush files, release devices). Called once, also after errors."""

    def commit(self) -> str:
        """After a run that ended normally or by Ctrl-C: what was written, for the report."""
        return self.name

    def abandon(self) -> str | None:
        """After a failed run: what was kept and where, or None when nothing was."""
        return None

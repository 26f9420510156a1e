"""The interface every output implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from avatar_live.types import Packet


class Sink(ABC):
    """Receives every finished packet, in order, from one thread."""

    name: str

    @abstractmethod
    def write(self, packet: Packet) -> None:
        """Consume one packet (its `rendered` image and/or `params`)."""

    def close(self) -> None:
        """Finalize (flush files, release devices). Called once, also after errors."""

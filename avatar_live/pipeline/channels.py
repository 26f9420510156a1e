"""Hand-over between pipeline threads.

Two kinds, one interface (`put`, `get`, `close`):
- `LatestMailbox` (live mode): one slot; a new item overwrites an unread one, so a slow
  consumer always gets the freshest frame and never lags behind.
- `OrderedChannel` (offline mode): a bounded FIFO; `put` blocks when it is full
  (back-pressure), so every item arrives, in order, and memory stays bounded.
"""

from __future__ import annotations

import collections
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Closed(Exception):
    """Raised by `get` once a channel is closed and drained, and by `put` after close."""


class _Channel(Generic[T]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._items: collections.deque[T] = collections.deque()
        self._capacity = capacity
        self._closed = False
        self._cond = threading.Condition()

    def get(self, timeout: float | None = None) -> T | None:
        """The next item; None if `timeout` passed first.

        Raises:
            Closed: the channel is closed and holds nothing more.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if not self._items:
                raise Closed
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more items will come; readers drain what is left, then get `Closed`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class LatestMailbox(_Channel[T]):
    """One-slot, newest-wins hand-over for live mode."""

    def __init__(self) -> None:
        super().__init__(capacity=1)
        self.dropped = 0

    def put(self, item: T) -> None:
        """Store `item`, replacing an unread one. Never blocks.

        Raises:
            Closed: the channel was closed.
        """
        with self._cond:
            if self._closed:
                raise Closed
            if self._items:
                self._items.clear()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()


class OrderedChannel(_Channel[T]):
    """Bounded FIFO with back-pressure for offline mode."""

    def put(self, item: T) -> None:
        """Append `item`, waiting while the channel is full.

        Raises:
            Closed: the channel was closed (also while waiting).
        """
        with self._cond:
            self._cond.wait_for(lambda: len(self._items) < self._capacity or self._closed)
            if self._closed:
                raise Closed
            self._items.append(item)
            self._cond.notify_all()

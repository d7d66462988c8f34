"""Answers still to come: futures from the network clients, settled once per frame.

The twin and hub clients answer requests with ``concurrent.futures.Future`` objects that
their network thread resolves. A front end never waits on them: it keeps them in a
:class:`Pending` with a tag saying what was asked, and once per frame ``settled`` hands back
those that are done (the result or the exception), in the order they were asked.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Settled(Generic[T]):
    tag: T
    result: Any = None
    error: BaseException | None = None  # refused by the server or the hub, or disconnected


class Pending(Generic[T]):
    def __init__(self) -> None:
        self._waiting: list[tuple[concurrent.futures.Future[Any], T]] = []

    def add(self, future: concurrent.futures.Future[Any], tag: T) -> None:
        self._waiting.append((future, tag))

    def __len__(self) -> int:
        return len(self._waiting)

    def settled(self) -> list[Settled[T]]:
        """The answers that arrived since the last call (never waits)."""
        done: list[Settled[T]] = []
        still: list[tuple[concurrent.futures.Future[Any], T]] = []
        for future, tag in self._waiting:
            if not future.done():
                still.append((future, tag))
            elif (error := future.exception()) is not None:
                done.append(Settled(tag, None, error))
            else:
                done.append(Settled(tag, future.result()))
        self._waiting = still
        return done

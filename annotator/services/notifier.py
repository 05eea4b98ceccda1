"""Change notifications for the services' models, without Qt: widgets connect a callable and
disconnect it when they stop showing the model (a Qt adapter may forward them to signals)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Notifier(Generic[T]):
    """Listeners of one kind of change, called in the order they were connected."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[T], None]] = []

    def connect(self, listener: Callable[[T], None]) -> None:
        self._listeners.append(listener)

    def disconnect(self, listener: Callable[[T], None]) -> None:
        """Stop calling ``listener`` (a listener never connected is ignored)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def emit(self, value: T) -> None:
        for listener in list(self._listeners):  # a listener may disconnect itself
            listener(value)

    def __len__(self) -> int:
        return len(self._listeners)

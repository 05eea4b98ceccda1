"""The installed Qt binding keeps reference counts right where the app leans on it: every
worker result, progress report and edit reaches the window through ``signal.emit`` from Python.
(PySide6 6.12.0 dropped a reference to ``True`` on each emit, so a long session aborted.)"""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, Signal


class _Sender(QObject):
    progress = Signal(int, int, object, str)
    done = Signal(object)


def test_emitting_signals_keeps_reference_counts(qtbot: object) -> None:
    sender = _Sender()
    received: list[object] = []
    sender.progress.connect(lambda *args: received.append(args))
    sender.done.connect(received.append)
    gc.collect()  # leftovers of earlier tests must not be freed while counting
    gc.disable()
    try:
        counts = (sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None))
        for i in range(2000):
            sender.progress.emit(i, 10, None, "step")
            sender.done.emit(None)
        assert len(received) == 4000
        received.clear()
        after = (sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None))
    finally:
        gc.enable()
    # A few references come and go with caches; a reference lost per emit would be 4000.
    drift = [a - b for a, b in zip(after, counts, strict=True)]
    assert all(abs(d) < 400 for d in drift), drift

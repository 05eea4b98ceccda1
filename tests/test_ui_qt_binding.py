"""The installed Qt binding keeps reference counts right where the app leans on it: every
worker result, progress report and edit reaches the window through ``signal.emit`` from Python.
(PySide6 6.12.0 dropped a reference to ``True`` on each emit, so a long session aborted.)"""

from __future__ import annotations

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
    counts = (sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None))
    for i in range(2000):
        sender.progress.emit(i, 10, None, "step")
        sender.done.emit(None)
    assert len(received) == 4000
    received.clear()
    after = (sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None))
    # A few references come and go with caches; a leak per emit would be thousands.
    drift = [a - b for a, b in zip(after, counts, strict=True)]
    assert all(abs(d) < 50 for d in drift), drift

"""Drives the real desktop app offscreen until it is killed: opens records, paints and erases
with the brush, types answers, takes draft masks, undoes and redoes, each action autosaved.

    python tests/crash/gui_driver.py DB ACKS SEED
    python tests/crash/gui_driver.py --reopen DB ID [ID ...]
    python tests/crash/gui_driver.py --disk-full DB RESCUE LIMIT

After every save the app acknowledged (the session's save listener saw ``ok``), appends
``CONV_ID REVISION CHECKSUM`` of the stored record to ACKS and fsyncs it. Prints ``r`` once the
window is up and ``.`` after every action, for the killer to time its kill. ``--reopen`` starts
the app on DB, opens each record from the list and prints what the editor shows (revision and
checksum per id) as JSON. ``--disk-full`` paints a stroke after limiting file sizes to LIMIT
bytes, then closes the window, answering its offer to export the unsaved records with RESCUE,
and prints what the window showed as JSON.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Run as a script: the checkout's development tools (annotator_devtools) are not installed.
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))


def _out(data: str) -> None:
    sys.stdout.write(data)
    sys.stdout.flush()


def drive(db: Path, ack_path: Path, seed: int) -> None:
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtTest import QTest

    from annotator.app import build_app
    from annotator_devtools.kill_harness import content
    from annotator_devtools.kill_harness.ack_log import AckLog

    rng = random.Random(seed)
    parts = build_app(db, offer_sample=False, segmenter=None)
    window, session, qapp = parts.window, parts.session, parts.qapp
    window.resize(1400, 900)
    window.show()
    qapp.processEvents()
    acks = AckLog(ack_path)

    def acknowledge(result: Any) -> None:
        doc = session.document
        if result.ok and result.revision is not None and doc is not None:
            acks.write(doc.id, result.revision, content.checksum(doc.conversation))

    session.save_listeners.append(acknowledge)

    def point(x: float, y: float) -> QPoint:
        return window.canvas.mapFromScene(QPointF(x, y))

    def drag(pts: list[tuple[float, float]]) -> None:
        vp = window.canvas.viewport()
        buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        QTest.mousePress(vp, buttons, mods, point(*pts[0]))
        for x, y in pts[1:]:
            QTest.mouseMove(vp, point(x, y))
        QTest.mouseRelease(vp, buttons, mods, point(*pts[-1]))

    rows = window.model.rowCount()
    _out("r")
    step = 0
    while True:
        step += 1
        if session.document is None or rng.random() < 0.2:
            window.select_row(rng.randrange(rows))
        doc = session.document
        turn = rng.randrange(doc.turn_count)
        window.record.select_turn(turn)
        h, w = doc.conversation.image.height, doc.conversation.image.width
        action = rng.choice(("brush", "brush", "eraser", "text", "draft", "undo", "redo"))
        if action in ("brush", "eraser"):
            window.set_tool(action)
            window.editor.set_brush_radius(rng.uniform(3, 15))
            x, y = rng.uniform(10, w - 10), rng.uniform(10, h - 10)
            drag(
                [(x, y), (min(w - 1, x + rng.uniform(5, 60)), min(h - 1, y + rng.uniform(-20, 20)))]
            )
        elif action == "text":
            window.record.commit_text(turn, "final_answer", f"edit {seed}.{step} on turn {turn}")
        elif action == "draft":
            window.record.select_turn(doc.target_turn)
            window.record.take_draft_mask()
        elif action == "undo":
            window.undo()
        else:
            window.redo()
        qapp.processEvents()
        _out(".")


def reopen(db: Path, ids: list[int]) -> None:
    from annotator.app import build_app
    from annotator_devtools.kill_harness import content

    parts = build_app(db, offer_sample=False, segmenter=None)
    parts.window.show()
    shown: dict[int, list[object]] = {}
    for cid in ids:
        parts.window.select_row(parts.window.model.row_of(cid))
        parts.qapp.processEvents()
        doc = parts.session.document
        shown[cid] = [doc.id, doc.conversation.revision, content.checksum(doc.to_conversation())]
    parts.window.close()
    parts.store.close()
    _out(json.dumps(shown))


def disk_full(db: Path, rescue: Path, limit: int) -> None:
    import resource
    import signal

    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from annotator.app import build_app
    from annotator.core.model import MaskLayer

    parts = build_app(db, offer_sample=False, segmenter=None)
    window, session = parts.window, parts.session
    window.resize(1400, 900)
    window.show()
    window.select_row(0)
    parts.qapp.processEvents()
    doc = session.document
    turn = doc.target_turn
    window.record.select_turn(turn)
    painted_before = int(doc.layer_array((turn, MaskLayer.FINAL)).sum())
    asked: list[str] = []

    def question(_parent: object, _title: str, text: str, *_a: object) -> object:
        asked.append(text)
        return QMessageBox.StandardButton.Save

    QMessageBox.question = staticmethod(question)  # type: ignore[method-assign,assignment]
    QFileDialog.getSaveFileName = staticmethod(lambda *_a, **_k: (str(rescue), ""))  # type: ignore[method-assign,assignment]

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    window.set_tool("brush")
    window.editor.set_brush_radius(12)

    def point(x: float, y: float) -> QPoint:
        return window.canvas.mapFromScene(QPointF(x, y))

    vp = window.canvas.viewport()
    left, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QTest.mousePress(vp, left, mods, point(40, 40))
    QTest.mouseMove(vp, point(120, 60))
    QTest.mouseRelease(vp, left, mods, point(120, 60))
    parts.qapp.processEvents()
    state = {
        "id": doc.id,
        "turn": turn,
        "revision": doc.conversation.revision,
        "painted_before": painted_before,
        "painted_after": int(doc.layer_array((turn, MaskLayer.FINAL)).sum()),
        "label": window.save_label.text(),
        "modified": window.isWindowModified(),
        "dirty": session.is_dirty,
    }
    window.close()
    state["asked"] = asked
    parts.store.close()
    _out(json.dumps(state))


if __name__ == "__main__":
    if sys.argv[1] == "--disk-full":
        disk_full(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "--reopen":
        reopen(Path(sys.argv[2]), [int(a) for a in sys.argv[3:]])
    else:
        drive(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))

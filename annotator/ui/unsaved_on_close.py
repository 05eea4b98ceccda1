"""Closing the window with records the database refused: offer to export them to a JSONL file
(``annotator import jsonl FILE --replace`` brings them back), or to stay open."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from annotator.services.record_document import RecordDocument


def offer_unsaved_export(parent: QWidget, title: str, dirty: list[RecordDocument]) -> bool:
    """True when the window may close: nothing is unsaved, the user exported the records or
    chose to discard them."""
    if not dirty:
        return True
    answer = QMessageBox.question(
        parent,
        title,
        f"{len(dirty)} record(s) could not be saved to the database.\n"
        "Export them to a file before quitting?",
        QMessageBox.StandardButton.Save
        | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel,
    )
    if answer == QMessageBox.StandardButton.Cancel:
        return False
    if answer == QMessageBox.StandardButton.Save:
        path, _ = QFileDialog.getSaveFileName(
            parent, "Export unsaved records", "unsaved-records.jsonl", "JSON lines (*.jsonl)"
        )
        if not path:
            return False
        from annotator.services.unsaved_export import write_unsaved

        write_unsaved(Path(path), [d.to_conversation() for d in dirty])
    return True

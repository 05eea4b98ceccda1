"""Modal dialogs that do not outlive their use."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog


def run_modal(dialog: QDialog) -> bool:
    """Show ``dialog`` modally; True when it was accepted. Its fields stay readable until
    control returns to the event loop, which then deletes it: a dialog parented to the window
    would otherwise live, with everything it holds, as long as the window."""
    try:
        return dialog.exec() == QDialog.DialogCode.Accepted
    finally:
        dialog.deleteLater()

"""The foot of the app's import and export dialogs: a line saying what still stops the action,
then the action and Cancel buttons."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QPushButton


def add_form_footer(dialog: QDialog, form: QFormLayout, action: str) -> tuple[QLabel, QPushButton]:
    """Append the problem line and the buttons (``action`` names the OK button) to ``form``;
    returns the problem line and the action button."""
    problem = QLabel()
    problem.setWordWrap(True)
    form.addRow(problem)
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
    ok.setText(action)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    form.addRow(buttons)
    return problem, ok

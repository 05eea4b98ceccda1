"""The ``vlm`` proposer's settings: the model, how it writes boxes, the name of the environment
variable holding the API key (never the key), and a Test connection button that sends one small
request and shows the reply and its time."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from annotator.services.record_propose import test_vlm_connection
from annotator.services.settings import Settings

BOX_FORMATS = (
    ("pixels", "x1,y1,x2,y2 in pixels (Qwen2.5-VL)"),
    ("norm1000", "x1,y1,x2,y2 on 0–1000"),
    ("norm1000-yx", "ymin,xmin,ymax,xmax on 0–1000 (Gemini)"),
)


class VlmFields(QObject):
    """The fields, added as rows of the dialog's own form (so their labels line up)."""

    def __init__(self, settings: Settings, url: Callable[[], str], form: QFormLayout) -> None:
        super().__init__(form)
        self._settings = settings
        self._url = url
        self.model = QLineEdit(settings.proposer_model)
        self.model.setPlaceholderText(
            "the model the server serves, e.g. Qwen/Qwen2.5-VL-7B-Instruct"
        )
        form.addRow("Model", self.model)
        self.box_format = QComboBox()
        for value, tip in BOX_FORMATS:
            self.box_format.addItem(value)
            self.box_format.setItemData(
                self.box_format.count() - 1, tip, Qt.ItemDataRole.ToolTipRole
            )
        self.box_format.setCurrentText(settings.proposer_box_format)
        self.box_format.setToolTip("How the model writes the target's box")
        form.addRow("Box format", self.box_format)
        self.key_env = QLineEdit(settings.proposer_key_env)
        self.key_env.setToolTip(
            "The environment variable that holds the server's API key. The key itself is "
            "never written to the settings, the database or any export."
        )
        form.addRow("API key variable", self.key_env)
        self.test = QPushButton("Test connection")
        self.test.clicked.connect(self.run_test)
        form.addRow("", self.test)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.PlainText)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("", self.result)
        self.widgets: tuple[QWidget, ...] = (
            self.model,
            self.box_format,
            self.key_env,
            self.test,
            self.result,
        )

    def run_test(self) -> None:
        """One small request with what the fields say now (not yet saved)."""
        trial = dataclasses.replace(
            self._settings,
            proposer_url=self._url(),
            proposer_model=self.model.text().strip(),
            proposer_key_env=self.key_env.text().strip(),
        )
        self.result.setText("Asking the server…")
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            QApplication.processEvents()
            check = test_vlm_connection(trial)
        finally:
            QApplication.restoreOverrideCursor()
        if check.ok:
            self.result.setText(
                f"✔ {check.model} answered in {check.seconds * 1000:.0f} ms: “{check.text}”"
            )
        else:
            self.result.setText(f"✘ {check.text}")

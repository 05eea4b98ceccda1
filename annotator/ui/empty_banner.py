"""The banner shown over the canvas while the database holds no conversation: it offers the
bundled sample project and File > Import."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from annotator.ui.icons import Icons


class EmptyDatabaseBanner(QFrame):
    sampleRequested = Signal()
    importRequested = Signal()

    def __init__(self, database: str, icons: Icons, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyBanner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(14, 10, 14, 10)
        lay.setSpacing(10)
        icon = QLabel()
        icon.setPixmap(icons.pixmap("mdi6.database-outline", "#5b8def", 26))
        lay.addWidget(icon)
        text = QLabel(
            f"<b>This database is empty.</b> "
            f"<span style='color:#9aa4b2'>{database}</span><br>"
            "Open the sample project (ten conversations on four photographs) to try the tool, "
            "or import PRIST data."
        )
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(text, 1)
        self.sample_button = QPushButton(
            icons.get("mdi6.flask-outline", "#ffffff"), "Open the sample"
        )
        self.sample_button.setObjectName("primaryButton")
        self.sample_button.clicked.connect(self.sampleRequested)
        lay.addWidget(self.sample_button)
        self.import_button = QPushButton(icons.get("mdi6.import"), "Import…")
        self.import_button.clicked.connect(self.importRequested)
        lay.addWidget(self.import_button)

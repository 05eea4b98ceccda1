"""The strip above the canvas that names the open record's import flags and, when its image is
not shown (the canvas then holds a placeholder), why: the reviewer sees at once whether the file
is absent (fix the path, copy the data) or there but broken (re-download, re-export)."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from annotator.core.model import Conversation
from annotator.ui.flag_labels import FLAG_HINTS, IMAGE_FLAGS, flag_label


def flags_html(conv: Conversation, image_problem: str) -> str:
    """One line per import flag (label, message, what to do) and one for the image when it is
    not shown for a reason no image flag already gives (the file may have changed since the
    import); "" when there is nothing to say."""
    lines = []
    for f in conv.flags:
        hint = FLAG_HINTS.get(f.code, "")
        if f.code in IMAGE_FLAGS and not image_problem:
            hint = "the file reads now"
        lines.append(
            f"<b>⚑ {escape(flag_label(f.code))}</b> — {escape(f.message)}"
            + (f" <i>({escape(hint)})</i>" if hint else "")
        )
    told = any(f.code in IMAGE_FLAGS and image_problem in f.message for f in conv.flags)
    if image_problem and not told:
        lines.append(f"<b>Image not shown</b> — {escape(image_problem)}")
    return "<br>".join(lines)


class RecordFlagsBar(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recordFlags")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # copy a path
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)
        self.setVisible(False)

    def show_record(self, conv: Conversation, image_problem: str) -> None:
        text = flags_html(conv, image_problem)
        self.setText(text)
        self.setVisible(bool(text))

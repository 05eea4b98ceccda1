"""SAM's candidate masks for the object being segmented, each with its score, as a row of small
buttons floating in the canvas corner: the shown one is checked, a click chooses another (it is
then the one the next click refines); Tab cycles them from the keyboard. A speckled candidate
(low stability) is greyed and says why in its tooltip."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from annotator.proposers.segmenter import UNSTABLE_BELOW

# The theme's tool-bar colours, a little translucent so the image stays visible beneath.
STYLE = """
QFrame#candidateChips { background: rgba(44, 47, 52, 225); border: 1px solid #3a3e45;
                        border-radius: 6px; }
QFrame#candidateChips QLabel { background: transparent; color: #9aa4b2; padding: 0 4px; }
QFrame#candidateChips QToolButton { background: transparent; color: #d7dae0; padding: 2px 6px;
                                    border-radius: 4px; }
QFrame#candidateChips QToolButton:hover { background: #3a3e45; }
QFrame#candidateChips QToolButton:checked { background: #3d5a80; color: #ffffff; }
QFrame#candidateChips QToolButton[unstable="true"] { color: #7d8590; font-style: italic; }
"""

MARGIN = 8


class CandidateChips(QFrame):
    chosen = Signal(int)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("candidateChips")
        self.setStyleSheet(STYLE)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the canvas
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.setSpacing(2)
        self.caption = QLabel("SAM")
        lay.addWidget(self.caption)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self._group.idClicked.connect(self.chosen)
        self.buttons: list[QToolButton] = []
        self.hide()

    def show_candidates(
        self,
        scores: Sequence[float],
        index: int,
        steps: int,
        stabilities: Sequence[float],
    ) -> None:
        while len(self.buttons) < len(scores):
            button = QToolButton(self)
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            self._group.addButton(button, len(self.buttons))
            self.layout().addWidget(button)
            self.buttons.append(button)
        for i, button in enumerate(self.buttons):
            button.setVisible(i < len(scores))
            if i < len(scores):
                stability = stabilities[i]
                unstable = stability < UNSTABLE_BELOW
                button.setText(f"{i + 1} · {scores[i]:.2f}")
                button.setToolTip(
                    f"Candidate {i + 1}: predicted IoU {scores[i]:.3f}, stability {stability:.2f}"
                    + (
                        " — speckled: its area changes by more than a tenth when the threshold"
                        " moves by one logit, so it ranks below cleaner candidates"
                        if unstable
                        else ""
                    )
                    + " (Tab: next; the next click refines the chosen one)"
                )
                if button.property("unstable") != unstable:
                    button.setProperty("unstable", unstable)
                    button.style().unpolish(button)  # the style sheet reads the property
                    button.style().polish(button)
                button.setChecked(i == index)
        self.caption.setText("SAM" if steps <= 1 else f"SAM · refined ×{steps - 1}")
        self.caption.setToolTip(f"{steps} prompt(s) on this object; Backspace takes one back")
        self.adjustSize()
        self.move(MARGIN, MARGIN)
        self.show()
        self.raise_()

    def clear(self) -> None:
        self.hide()

    def texts(self) -> list[str]:
        """The visible chips' labels (what the user reads)."""
        return [b.text() for b in self.buttons if not b.isHidden()]

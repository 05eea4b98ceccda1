"""The save-conflict dialog: someone else saved the record while it was being edited. Each row
(the record's own fields, then every turn) shows mine beside theirs, the words that differ
highlighted and the masks as thumbnails (mine, theirs, the difference, with the IoU); the user
keeps mine or theirs per row, or all of one side, and applies. Cancel leaves the record unsaved
as it was (the status bar offers the dialog again).

It renders a :class:`~annotator.services.save_conflict.SaveConflict` and returns a
:class:`~annotator.services.save_conflict.MergeChoice`; the session saves the merge.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from annotator.core.model import MaskLayer
from annotator.services.record_bundle import RgbArray
from annotator.services.save_conflict import (
    LayerPair,
    MergeChoice,
    RecordConflict,
    SaveConflict,
    Side,
    TextPair,
    TurnConflict,
)
from annotator.services.word_diff import Segments, word_diff
from annotator.ui.mask_thumbnails import conflict_thumbnails

THUMB_SIDE = 128
RECORD = -1  # the row key of the record's own fields (turns are keyed by their index)
FIELD_LABELS = {
    "question": "Question",
    "draft_answer": "Draft answer",
    "final_answer": "Verified answer",
    "focus": "Focus",
}
LAYER_LABELS = {MaskLayer.FINAL: "Verified mask", MaskLayer.DRAFT: "Draft mask"}
# Highlights of the words that differ, in the colours of the mask thumbnails.
MINE_MARK = "#1f4e79"
THEIRS_MARK = "#6e4214"
STYLE = """
QFrame#conflictSide { background: #202225; border: 1px solid #3a3e45; border-radius: 5px; }
QFrame#conflictSide[kept="true"] { border: 2px solid #2a9d5e; }
QFrame#conflictSide[kept="false"] { border: 1px dashed #4a4f57; }
QFrame#conflictSide[kept="false"] QLabel { color: #868c95; }
QFrame#conflictSide QLabel, QWidget#maskCell QLabel { background: transparent; }
QLabel#sideCaption { font-weight: 600; }
QLabel#rowTitle { font-weight: 700; font-size: 11pt; }
QLabel#rowBadge { color: #ffb86c; }
QLabel#rowSame { color: #7d838c; }
QLabel#columnHead { font-weight: 700; color: #9aa4b2; }
QLabel#refused { color: #ff6b6b; font-weight: 600; }
QPushButton#keepButton { padding: 3px 10px; }
QPushButton#keepButton:checked { background: #23834f; border-color: #2a9d5e; color: white; }
"""


def highlighted(segments: Segments, colour: str) -> str:
    """Rich text of ``segments``, the changed ones on ``colour``."""
    out: list[str] = []
    for seg in segments:
        text = escape(seg.text).replace("\n", "<br>")
        out.append(
            f'<span style="background-color:{colour}">{text}</span>' if seg.changed else text
        )
    return "".join(out)


def _texts_html(pairs: tuple[TextPair, ...], side: Side, absent: bool, index: int) -> str:
    if absent:
        return f"<i>No turn {index + 1} in this version: keeping it removes the turn.</i>"
    lines: list[str] = []
    for pair in pairs:
        mine, theirs = pair.mine, pair.theirs
        value = mine if side == Side.MINE else theirs
        label = FIELD_LABELS.get(pair.field, pair.field)
        if value is None:
            missing = "<i>not verified</i>"
            if pair.changed:
                mark = MINE_MARK if side == Side.MINE else THEIRS_MARK
                missing = f'<span style="background-color:{mark}">{missing}</span>'
            lines.append(f"<b>{label}:</b> {missing}")
            continue
        if pair.changed:
            left, right = word_diff(mine or "", theirs or "")
            body = (
                highlighted(left, MINE_MARK)
                if side == Side.MINE
                else highlighted(right, THEIRS_MARK)
            )
        else:
            body = escape(value).replace("\n", "<br>")
        lines.append(f"<b>{label}:</b> {body or '<i>empty</i>'}")
    return "<br>".join(lines)


def _masks_html(turn: TurnConflict, side: Side) -> str:
    """Each mask layer's size on ``side``, marked where the two sides differ (so a row whose
    texts agree says why it is in conflict)."""
    lines: list[str] = []
    for pair in turn.layers:
        mask = pair.mine if side == Side.MINE else pair.theirs
        area = "none" if mask is None or mask.is_empty else f"{mask.area:,} px"
        if pair.changed:
            mark = MINE_MARK if side == Side.MINE else THEIRS_MARK
            area = f'<span style="background-color:{mark}">{area}, differs</span>'
        lines.append(f"<b>{LAYER_LABELS.get(pair.layer, pair.layer)}:</b> {area}")
    return "<br>".join(lines)


def _record_html(record: RecordConflict, side: Side) -> str:
    i = 0 if side == Side.MINE else 1
    status, deleted = record.status, record.deleted
    text = _texts_html((record.focus,), side, False, 0)
    status_text = escape(str(status[i]).replace("_", " "))
    if status[0] != status[1]:
        mark = MINE_MARK if side == Side.MINE else THEIRS_MARK
        status_text = f'<span style="background-color:{mark}">{status_text}</span>'
    text += f"<br><b>Status:</b> {status_text}"
    if deleted[0] != deleted[1]:
        text += f"<br><b>Deleted:</b> {'yes' if deleted[i] else 'no'}"
    return text


def _badge(mine_edited: bool, theirs_edited: bool) -> str:
    if mine_edited and theirs_edited:
        return "changed on both sides"
    if mine_edited:
        return "changed by you"
    return "changed by them" if theirs_edited else "differs"


class _Row:
    """One row's side frames and its Mine/Theirs choice."""

    def __init__(self, mine: QFrame, theirs: QFrame, captions: tuple[QLabel, QLabel]) -> None:
        self.frames = (mine, theirs)
        self.captions = captions
        self.group = QButtonGroup(mine)
        self.group.setExclusive(True)
        self.mine = QPushButton("Keep mine")
        self.theirs = QPushButton("Keep theirs")
        for button in (self.mine, self.theirs):
            button.setObjectName("keepButton")
            button.setCheckable(True)
            self.group.addButton(button)

    @property
    def side(self) -> Side:
        return Side.MINE if self.mine.isChecked() else Side.THEIRS

    def set_side(self, side: Side) -> None:
        (self.mine if side == Side.MINE else self.theirs).setChecked(True)

    def show_kept(self) -> None:
        kept = self.side
        for frame, caption, side in zip(
            self.frames, self.captions, (Side.MINE, Side.THEIRS), strict=True
        ):
            frame.setProperty("kept", side == kept)
            frame.style().unpolish(frame)
            frame.style().polish(frame)
            who = "Mine" if side == Side.MINE else "Theirs"
            caption.setText(
                f"{who} — kept" if side == kept else f"{who} — set aside (recorded in history)"
            )


class ConflictDialog(QDialog):
    def __init__(
        self,
        view: SaveConflict,
        rgb: RgbArray | None = None,
        parent: QWidget | None = None,
        *,
        problem: str = "",
    ) -> None:
        super().__init__(parent)
        self.view = view
        self.rgb = rgb
        self.rows: dict[int, _Row] = {}  # RECORD or a turn index -> its choice
        self.setWindowTitle(f"Save conflict — record #{view.conv_id}")
        self.setStyleSheet(STYLE)
        lay = QVBoxLayout(self)
        lay.addWidget(self._explanation())
        if problem:  # the last Apply was refused: say why above the choices
            refused = QLabel(problem)
            refused.setObjectName("refused")
            refused.setWordWrap(True)
            lay.addWidget(refused)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self._build_rows())
        lay.addWidget(scroll, 1)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        lay.addWidget(self._build_buttons())
        for key, row in self.rows.items():
            pair = view.record if key == RECORD else view.turns[key]
            row.set_side(pair.default)
            row.group.buttonToggled.connect(lambda _b, _on: self._choice_changed())
        self._choice_changed()
        self._fit_screen()

    # -- building --------------------------------------------------------------------------
    def _explanation(self) -> QLabel:
        v = self.view
        who = f" by {escape(v.theirs_by)}" if v.theirs_by else ""
        text = (
            f"<b>Record #{v.conv_id} was saved{who} (revision {v.theirs_revision}) while you "
            f"were editing revision {v.mine_revision}.</b> Your changes are not saved yet.<br>"
            "Mine is on the left, theirs on the right; words that differ are highlighted, and "
            "in the mask pictures <span style='color:#4da3ff'>■</span> is only in mine, "
            "<span style='color:#ff9f43'>■</span> only in theirs, "
            "<span style='color:#d7dae0'>■</span> in both. Choose which to keep for each row: "
            "the side you do not keep is written into the record's history, so nothing is lost."
        )
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        return label

    def _build_rows(self) -> QWidget:
        host = QWidget()
        grid = QGridLayout(host)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(6)
        by = f", {self.view.theirs_by}" if self.view.theirs_by else ""
        heads = (
            f"Mine (not saved, from revision {self.view.mine_revision})",
            f"Theirs (saved, revision {self.view.theirs_revision}{by})",
            "Masks: mine · theirs · difference",
        )
        for column, text in enumerate(heads):
            head = QLabel(text)
            head.setObjectName("columnHead")
            grid.addWidget(head, 0, column)
        line = 1
        record = self.view.record
        if record.changed:
            line = self._add_row(grid, line, RECORD, "Record: focus and status", record)
        for turn in self.view.turns:
            line = self._add_row(grid, line, turn.index, f"Turn {turn.index + 1}", turn)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 0)
        grid.setRowStretch(line, 1)
        return host

    def _add_row(
        self,
        grid: QGridLayout,
        line: int,
        key: int,
        title: str,
        pair: RecordConflict | TurnConflict,
    ) -> int:
        header = QHBoxLayout()
        name = QLabel(title)
        name.setObjectName("rowTitle")
        header.addWidget(name)
        if not pair.changed:
            same = QLabel("  ·  the same on both sides")
            same.setObjectName("rowSame")
            header.addWidget(same)
            header.addStretch(1)
            grid.addLayout(header, line, 0, 1, 3)
            if isinstance(pair, TurnConflict):
                body = QLabel(_texts_html(pair.texts, Side.THEIRS, False, pair.index))
                body.setWordWrap(True)
                body.setObjectName("rowSame")
                grid.addWidget(body, line + 1, 0, 1, 2)
            return line + 2
        badge = QLabel(f"  ·  {_badge(pair.mine_edited, pair.theirs_edited)}")
        badge.setObjectName("rowBadge")
        header.addWidget(badge)
        header.addStretch(1)
        mine, mine_caption = self._side(pair, Side.MINE)
        theirs, theirs_caption = self._side(pair, Side.THEIRS)
        row = _Row(mine, theirs, (mine_caption, theirs_caption))
        header.addWidget(row.mine)
        header.addWidget(row.theirs)
        self.rows[key] = row
        grid.addLayout(header, line, 0, 1, 3)
        grid.addWidget(mine, line + 1, 0)
        grid.addWidget(theirs, line + 1, 1)
        if isinstance(pair, TurnConflict):
            grid.addWidget(self._masks(pair), line + 1, 2)
        return line + 2

    def _side(self, pair: RecordConflict | TurnConflict, side: Side) -> tuple[QFrame, QLabel]:
        frame = QFrame()
        frame.setObjectName("conflictSide")
        lay = QVBoxLayout(frame)
        lay.setContentsMargins(8, 6, 8, 8)
        caption = QLabel()
        caption.setObjectName("sideCaption")
        lay.addWidget(caption)
        if isinstance(pair, TurnConflict):
            absent = (pair.mine if side == Side.MINE else pair.theirs) is None
            html = _texts_html(pair.texts, side, absent, pair.index)
            if not absent and pair.layers:
                html += "<br>" + _masks_html(pair, side)
        else:
            html = _record_html(pair, side)
        text = QLabel(html)
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.setMinimumWidth(260)
        lay.addWidget(text)
        lay.addStretch(1)
        return frame, caption

    def _masks(self, turn: TurnConflict) -> QWidget:
        cell = QWidget()
        cell.setObjectName("maskCell")
        lay = QVBoxLayout(cell)
        lay.setContentsMargins(0, 0, 0, 0)
        if not turn.layers:
            lay.addWidget(QLabel("no masks on either side"))
            return cell
        size = (self.view.theirs.image.height, self.view.theirs.image.width)
        for pair in turn.layers:
            lay.addWidget(QLabel(f"{LAYER_LABELS.get(pair.layer, pair.layer)}: {_measure(pair)}"))
            if not pair.changed:
                continue  # the same pixels: pictures would only repeat each other
            pictures = QHBoxLayout()
            for image, tip in zip(
                conflict_thumbnails(pair.mine, pair.theirs, size, self.rgb, THUMB_SIDE),
                ("mine", "theirs", "difference"),
                strict=True,
            ):
                thumb = QLabel()
                thumb.setPixmap(QPixmap.fromImage(image))
                thumb.setToolTip(f"{LAYER_LABELS.get(pair.layer, pair.layer)}: {tip}")
                pictures.addWidget(thumb)
            pictures.addStretch(1)
            lay.addLayout(pictures)
        lay.addStretch(1)
        return cell

    def _build_buttons(self) -> QWidget:
        """Keep all mine / Keep all theirs on the left (they choose, Apply saves), Cancel and
        Apply on the right."""
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        self.all_mine = QPushButton("Keep all mine")
        self.all_theirs = QPushButton("Keep all theirs")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(
            "Leave the record unsaved; Resolve conflict… in the status bar opens this again"
        )
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("approveButton")  # the theme's green action
        self.apply_button.setDefault(True)
        for button in (self.all_mine, self.all_theirs):
            button.setAutoDefault(False)
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.apply_button)
        self.all_mine.clicked.connect(lambda: self.keep_all(Side.MINE))
        self.all_theirs.clicked.connect(lambda: self.keep_all(Side.THEIRS))
        self.cancel_button.clicked.connect(self.reject)
        self.apply_button.clicked.connect(self.accept)
        return bar

    def _fit_screen(self) -> None:
        screen = QGuiApplication.primaryScreen()
        width, height = 1320, 820
        if screen is not None:
            area = screen.availableGeometry()
            width, height = min(width, area.width() - 40), min(height, area.height() - 60)
        self.resize(width, height)

    # -- choosing --------------------------------------------------------------------------
    def set_choice(self, key: int, side: Side) -> None:
        """Keep ``side`` for turn ``key`` (RECORD: the record's fields)."""
        self.rows[key].set_side(side)

    def keep_all(self, side: Side) -> None:
        for row in self.rows.values():
            row.set_side(side)

    def choices(self) -> MergeChoice:
        """What Apply saves; rows that are the same on both sides keep theirs (no difference)."""
        record = self.rows[RECORD].side if RECORD in self.rows else Side.THEIRS
        turns = tuple(
            self.rows[t.index].side if t.index in self.rows else Side.THEIRS
            for t in self.view.turns
        )
        return MergeChoice(record, turns)

    def _choice_changed(self) -> None:
        for row in self.rows.values():
            row.show_kept()
        kept = self.view.summary(self.choices())
        self.summary.setText(
            f"Apply keeps {kept}; the other side goes into the history."
            if kept
            else "Both sides are the same: Apply saves the record."
        )


def _measure(pair: LayerPair) -> str:
    if not pair.changed:
        return "the same on both sides"
    iou = "—" if pair.iou is None else f"{pair.iou:.2f}"
    return (
        f"IoU {iou} · {pair.only_mine:,} px only in mine · {pair.only_theirs:,} px only in theirs"
    )

"""The application's dark theme (a style sheet over Fusion)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

STYLE = """
QMainWindow, QWidget { background: #25272b; color: #d7dae0; font-size: 10pt; }
QToolBar { background: #2c2f34; border: none; spacing: 2px; padding: 3px 4px; }
QToolBar::separator { background: #3a3e45; width: 1px; margin: 4px 6px; }
QMainWindow::separator { background: #1d1f22; width: 3px; height: 3px; }
QToolButton { border-radius: 4px; padding: 4px; }
QToolButton:hover { background: #3a3e45; }
QToolButton:checked { background: #3d5a80; }
QDockWidget::title { background: #2c2f34; padding: 6px; font-weight: 600; }
QTableView { background: #202225; alternate-background-color: #24262a; gridline-color: #2f3237;
             selection-background-color: #3d5a80; border: none; }
QHeaderView::section { background: #2c2f34; color: #9aa4b2; border: none; padding: 4px 6px; }
QLineEdit, QPlainTextEdit, QComboBox, QSpinBox { background: #1d1f22; border: 1px solid #3a3e45;
             border-radius: 4px; padding: 3px 5px; selection-background-color: #3d5a80; }
QPlainTextEdit:focus, QLineEdit:focus { border: 1px solid #5b8def; }
QPushButton {
    background: #363a41;
    border: 1px solid #434851;
    border-radius: 4px;
    padding: 5px 12px;
}
QPushButton:hover { background: #41464e; }
QPushButton:disabled { color: #666b73; background: #2c2f34; }
QPushButton#approveButton {
    background: #23834f;
    border-color: #2a9d5e;
    color: white;
    font-weight: 600;
}
QPushButton#approveButton:disabled { background: #2c3a32; color: #6b7a70; }
QPushButton#rejectButton {
    background: #a3352c;
    border-color: #c0392b;
    color: white;
    font-weight: 600;
}
QPushButton#rejectButton:disabled { background: #3a2c2b; color: #7a6b6a; }
QFrame#turnCard { background: #2c2f34; border: 1px solid #363a41; border-radius: 6px; }
QFrame#turnCard[selected="true"] { border: 2px solid #5b8def; background: #2e333b; }
QFrame#turnCard QLabel, QWidget#captionRow, QFrame#reviewPanel QLabel, QWidget#idsChip QLabel,
QFrame#emptyBanner QLabel { background: transparent; }
QLabel#turnTitle { font-weight: 700; color: #e6e9ee; }
QLabel#caption { color: #9aa4b2; font-size: 9pt; }
QPlainTextEdit#draftEdit { color: #e8d3ad; }
QLabel#ruleText { color: #ffb86c; }
QLabel#proposalText { color: #b5d0f5; }
QLabel#focusLabel { padding: 0 2px 4px 2px; }
QLineEdit#focusEdit { font-size: 11pt; font-weight: 700; padding: 4px; }
QFrame#reviewPanel { background: #2a2d31; border-top: 1px solid #363a41; }
QLabel#statusBadge { font-weight: 700; font-size: 11pt; }
QLabel#noiseBanner {
    background: #4a2a12;
    border: 1px solid #c27a2c;
    border-radius: 6px;
    color: #ffd9a8;
    padding: 8px 10px;
    font-weight: 600;
}
QLabel#recordFlags {
    background: #3a2628;
    border-bottom: 1px solid #8c3b3f;
    color: #f2c4c6;
    padding: 6px 10px;
}
QFrame#emptyBanner { background: #243447; border-bottom: 1px solid #3d5a80; }
QPushButton#primaryButton {
    background: #3d6fd1;
    border-color: #5b8def;
    color: white;
    font-weight: 600;
}
QPushButton#primaryButton:hover { background: #4a7ce0; }
QWidget#idsChip { background: #2e3b52; border: 1px solid #3d5a80; border-radius: 10px; }
QToolButton#cardButton { padding: 2px 6px; color: #c8ccd4; }
QLabel#diffLine { color: #c8ccd4; font-size: 9pt; }
QLabel#verdict { font-size: 9pt; }
QLabel#badges { font-size: 9pt; }
QLabel#toolHint { color: #9aa4b2; padding: 0 4px; }
QLabel#saveLabel[failed="true"] { color: #e74c3c; font-weight: 600; }
QLabel#readOnlyBanner { background: #5a3d0c; color: #ffe3a3; padding: 6px 10px; font-weight: 600; }
QStatusBar QLabel[noise="true"] { color: #ffb454; font-weight: 600; }
QTabWidget::pane { border: 1px solid #3a3e45; top: -1px; }
QTabBar::tab { background: #2c2f34; padding: 6px 14px; border: 1px solid #3a3e45; }
QTabBar::tab:selected { background: #363a41; }
QStatusBar { background: #1d1f22; color: #9aa4b2; }
QStatusBar QLabel { padding: 0 8px; }
QSplitter::handle { background: #1d1f22; }
QAbstractScrollArea::corner { background: transparent; border: none; }
QScrollBar::add-line, QScrollBar::sub-line { width: 0; height: 0; border: none; background: none; }
QScrollBar::add-page, QScrollBar::sub-page { background: none; }
QScrollBar:vertical { background: #202225; width: 10px; }
QScrollBar::handle:vertical { background: #41464e; border-radius: 4px; min-height: 24px; }
QScrollBar:horizontal { background: #202225; height: 10px; }
QScrollBar::handle:horizontal { background: #41464e; border-radius: 4px; min-width: 24px; }
QMenuBar { background: #2c2f34; }
QMenuBar::item:selected, QMenu::item:selected { background: #3d5a80; }
QMenu { background: #2c2f34; border: 1px solid #3a3e45; }
QProgressBar {
    background: #1d1f22;
    border: 1px solid #3a3e45;
    border-radius: 3px;
    text-align: center;
    max-height: 14px;
}
QProgressBar::chunk { background: #5b8def; }
"""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, QColor("#25272b"))
    pal.setColor(QPalette.ColorRole.WindowText, QColor("#d7dae0"))
    pal.setColor(QPalette.ColorRole.Base, QColor("#1d1f22"))
    pal.setColor(QPalette.ColorRole.Text, QColor("#d7dae0"))
    pal.setColor(QPalette.ColorRole.Button, QColor("#363a41"))
    pal.setColor(QPalette.ColorRole.ButtonText, QColor("#d7dae0"))
    pal.setColor(QPalette.ColorRole.Highlight, QColor("#3d5a80"))
    app.setPalette(pal)
    app.setStyleSheet(STYLE)

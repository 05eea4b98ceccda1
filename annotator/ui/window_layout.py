"""Where the main window goes and how its docks are sized: most of the screen on the first run,
and whatever the reviewer arranged on every later one (geometry and dock state in the config
directory, versioned so that a layout saved by an older build is not applied)."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QMainWindow

LAYOUT_VERSION = 3  # bump when docks or tool bars change


def _tiny(window: QMainWindow) -> bool:
    """A geometry saved from a tiny or headless run is not worth restoring."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return window.width() < 900 or window.height() < 600
    area = screen.availableGeometry()
    return window.width() < area.width() * 0.5 or window.height() < area.height() * 0.5


def default_geometry(window: QMainWindow) -> None:
    """Most of the screen, centred: a tool one works in all day."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        window.resize(1600, 960)
        return
    area = screen.availableGeometry()
    w = max(min(area.width(), 1000), int(area.width() * 0.92))
    h = max(min(area.height(), 700), int(area.height() * 0.92))
    window.setGeometry(
        area.x() + (area.width() - w) // 2, area.y() + (area.height() - h) // 2, w, h
    )


def restore_layout(
    window: QMainWindow, settings: QSettings, left: QDockWidget, right: QDockWidget
) -> None:
    geometry = settings.value("geometry")
    state = settings.value("state")
    restored = isinstance(geometry, QByteArray) and window.restoreGeometry(geometry)
    if not restored or _tiny(window):
        default_geometry(window)
    if not (isinstance(state, QByteArray) and window.restoreState(state, LAYOUT_VERSION)):
        w = window.width()
        window.resizeDocks(
            [left, right],
            [max(250, int(w * 0.23)), max(330, int(w * 0.28))],
            Qt.Orientation.Horizontal,
        )


def save_layout(window: QMainWindow, settings: QSettings) -> None:
    settings.setValue("geometry", window.saveGeometry())
    settings.setValue("state", window.saveState(LAYOUT_VERSION))
    settings.sync()


def make_dock(
    window: QMainWindow, title: str, name: str, widget: object, area: Qt.DockWidgetArea
) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(name)  # the key under which its place is saved
    dock.setWidget(widget)  # type: ignore[arg-type]
    dock.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetMovable
        | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        | QDockWidget.DockWidgetFeature.DockWidgetClosable
    )
    window.addDockWidget(area, dock)
    return dock

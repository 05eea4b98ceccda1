"""The application icon (resources/icons): the same picture for the window, the About box and
the desktop entry (packaging/linux)."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

from annotator.core.appdirs import resources_dir

DESKTOP_ID = "org.pristannotator.PristAnnotator"  # the .desktop file's name, without suffix


def app_icon() -> QIcon:
    """The SVG for any size, with the rendered PNGs for the small ones (an SVG scaled to 16 px
    loses its shapes)."""
    icons = resources_dir() / "icons"
    icon = QIcon(str(icons / "prist-annotator.svg"))
    for png in (icons / "png").glob("prist-annotator-*.png"):
        size = int(png.stem.rsplit("-", 1)[1])
        icon.addFile(str(png), QSize(size, size))
    return icon

"""Icons from qtawesome's icon fonts, rendered once and kept as small PNG strips in the cache
directory. Importing qtawesome costs most of a second (its Qt shim star-imports every Qt
module), so a start with a warm cache never imports it; a missing or stale strip is rendered
again with qtawesome on demand."""

from __future__ import annotations

import hashlib
from importlib.util import find_spec
from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

# Rendered sizes (logical pixels at 1x and 2x device pixel ratios): menus 16, tool bars 20, ...
SIZES = (13, 16, 20, 24, 26, 32, 40, 48)


def _qtawesome_stamp() -> str:
    """Identifies the installed qtawesome (its version file) without importing it or
    ``importlib.metadata``, both slow to import."""
    spec = find_spec("qtawesome")
    if spec is None or spec.origin is None:
        return "absent"
    version_file = Path(spec.origin).with_name("_version.py")
    try:
        return hashlib.sha1(version_file.read_bytes()).hexdigest()[:12]
    except OSError:
        return spec.origin


class Icons:
    """``icons.get("mdi6.brush", "#c8ccd4", active="#ffffff")`` -> QIcon. One per app (the
    composition root makes it and passes it to the widgets); ``directory=None`` keeps renders
    in memory only."""

    def __init__(self, directory: Path | None) -> None:
        self._dir = directory
        self._memory: dict[tuple[str, str, str], QIcon] = {}
        self._stamp = f"{_qtawesome_stamp()}|{','.join(map(str, SIZES))}"

    def get(self, name: str, color: str = "#c8ccd4", *, active: str = "") -> QIcon:
        key = (name, color, active)
        icon = self._memory.get(key)
        if icon is None:
            icon = QIcon()
            for mode, colour in ((QIcon.Mode.Normal, color), (QIcon.Mode.Active, active)):
                if not colour:
                    continue
                for pixmap in self._pixmaps(name, colour):
                    icon.addPixmap(pixmap, mode)
            self._memory[key] = icon
        return icon

    def pixmap(self, name: str, color: str, size: int) -> QPixmap:
        return self.get(name, color).pixmap(QSize(size, size))

    # -- strips ---------------------------------------------------------------------------
    def _path(self, name: str, colour: str) -> Path | None:
        if self._dir is None:
            return None
        digest = hashlib.sha1(f"{self._stamp}|{name}|{colour}".encode()).hexdigest()[:20]
        return self._dir / f"{digest}.png"

    def _pixmaps(self, name: str, colour: str) -> list[QPixmap]:
        path = self._path(name, colour)
        strip = QPixmap()
        if path is None or not strip.load(str(path)) or strip.width() != sum(SIZES):
            strip = self._render(name, colour)
            if path is not None:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    strip.save(str(path), "PNG")
                except OSError:
                    pass  # a read-only cache costs the next start time, never the icon
        out = []
        x = 0
        for size in SIZES:
            out.append(strip.copy(QRect(x, 0, size, size)))
            x += size
        return out

    def _render(self, name: str, colour: str) -> QPixmap:
        import qtawesome as qta  # slow import: only when the cache misses

        source = qta.icon(name, color=colour)
        strip = QPixmap(sum(SIZES), max(SIZES))
        strip.fill(QColor(0, 0, 0, 0))
        painter = QPainter(strip)
        x = 0
        for size in SIZES:
            source.paint(painter, QRect(x, 0, size, size), Qt.AlignmentFlag.AlignCenter)
            x += size
        painter.end()
        return strip

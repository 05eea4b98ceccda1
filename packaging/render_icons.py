"""Render the application icon's PNG sizes from its SVG (resources/icons/prist-annotator.svg).

    python packaging/render_icons.py            # writes resources/icons/png/prist-annotator-N.png

Run after changing the SVG; tests/test_packaging.py checks the PNGs still match it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "resources" / "icons" / "prist-annotator.svg"
PNG_DIR = ROOT / "resources" / "icons" / "png"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def png_path(size: int) -> Path:
    return PNG_DIR / f"prist-annotator-{size}.png"


def render(size: int) -> object:
    """The icon as a ``QImage`` of ``size`` × ``size`` (a QGuiApplication must exist)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"{SVG}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    PNG_DIR.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        if not render(size).save(str(png_path(size)), "PNG"):  # type: ignore[attr-defined]
            raise SystemExit(f"could not write {png_path(size)}")
        print(png_path(size).relative_to(ROOT))
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Runs first in the desktop bundle: MobileSAM's checked ONNX graphs sit inside it, so
the models directory is the bundle's own unless the user names another; and Qt finds its
plugins inside the bundle (what PyInstaller's PySide6 hook, left out by the spec, would do)."""

import os
import sys
from pathlib import Path

inside = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
os.environ.setdefault("ANNOTATOR_MODELS_DIR", str(inside / "models"))
# The PySide6 wheel's layout: plugins under PySide6/ on Windows, PySide6/Qt/ elsewhere.
qt = inside / "PySide6" if sys.platform.startswith("win") else inside / "PySide6" / "Qt"
os.environ["QT_PLUGIN_PATH"] = str(qt / "plugins")

"""Runs first in the desktop bundle: MobileSAM's checked ONNX graphs sit inside it, so
the models directory is the bundle's own unless the user names another."""

import os
import sys
from pathlib import Path

inside = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
os.environ.setdefault("ANNOTATOR_MODELS_DIR", str(inside / "models"))

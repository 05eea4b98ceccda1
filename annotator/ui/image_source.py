"""Finds and loads the image of a record for the canvas (RGB array) on a worker thread."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from annotator.core.model import Image
from annotator.storage import ConversationSummary


class ImageResolver:
    """Maps stored (root, relative path) to a file; remembers roots seen so that list rows,
    which carry only the relative path, can be resolved too."""

    def __init__(self, extra_roots: list[str] | None = None) -> None:
        self._roots: list[str] = [r for r in (extra_roots or []) if r]
        self._cache: dict[str, str] = {}

    def add_root(self, root: str) -> None:
        if root and root not in self._roots:
            self._roots.insert(0, root)
            self._cache.clear()

    def image_path(self, image: Image) -> str:
        self.add_root(image.root)
        return self._find(image.path, image.root)

    def summary_path(self, summary: ConversationSummary) -> str:
        return self._find(summary.image_path, "")

    def _find(self, rel: str, root: str) -> str:
        key = f"{root}\0{rel}"
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        found = ""
        candidates = [root, *self._roots] if root else list(self._roots)
        if Path(rel).is_absolute():
            candidates = [""]
        for r in candidates:
            p = Path(r) / rel if r else Path(rel)
            if p.is_file():
                found = str(p)
                break
        self._cache[key] = found
        return found


def load_rgb(path: str) -> NDArray[np.uint8] | None:
    """The image as RGB, or ``None`` when it is missing or unreadable (the canvas then shows a
    placeholder so the masks can still be reviewed)."""
    if not path:
        return None
    try:
        from annotator.io.images import load_image  # the vetted loader, when present
    except ImportError:
        load_image = None
    if load_image is not None:
        try:
            loaded = load_image(path)
            arr = getattr(loaded, "pixels", loaded)
            if isinstance(arr, np.ndarray) and arr.ndim == 3:
                return np.ascontiguousarray(arr[:, :, :3])
        except Exception:  # fall back to OpenCV below; a bad file shows the placeholder
            pass
    data = np.fromfile(path, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

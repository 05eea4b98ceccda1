"""Finds and loads the image of a record for the canvas (RGB array)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotator.core.errors import AnnotatorError
from annotator.core.model import Image
from annotator.storage import ConversationSummary


class ImageResolver:
    """Maps stored (root, relative path) to a file; remembers roots seen so that list rows,
    which carry only the relative path, can be resolved too. Lookups (``locate``) may run on
    worker threads; roots are added on the UI thread."""

    def __init__(self, extra_roots: list[str] | None = None) -> None:
        self._roots: tuple[str, ...] = tuple(r for r in (extra_roots or []) if r)
        self._cache: dict[str, str] = {}

    def add_root(self, root: str) -> None:
        if root and root not in self._roots:
            self._roots = (root, *self._roots)  # replaced whole: readers see old or new
            self._cache = {}

    def image_path(self, image: Image) -> str:
        """The file of ``image``; its root becomes known for list rows."""
        self.add_root(image.root)
        return self.locate(image)

    def locate(self, image: Image) -> str:
        return self._find(image.path, image.root)

    def summary_path(self, summary: ConversationSummary) -> str:
        return self._find(summary.image_path, "")

    def _find(self, rel: str, root: str) -> str:
        key = f"{root}\0{rel}"
        cache = self._cache
        hit = cache.get(key)
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
        cache[key] = found
        return found


def read_rgb(path: str) -> tuple[NDArray[np.uint8] | None, str]:
    """The image as RGB through the vetted loader and ``""``; or ``None`` and why it cannot be
    shown, in one line (the canvas then shows a placeholder so the masks can still be
    reviewed, and the strip above it says why)."""
    if not path:
        return None, "image not found"
    from annotator.io.images import load_image  # Pillow: imported when the first image opens

    try:
        return np.ascontiguousarray(load_image(path)), ""
    except AnnotatorError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"{path}: {exc}"

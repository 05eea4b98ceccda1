"""Where a record's image file is: stored (root, relative path) mapped to a file, with the
roots seen so far, so that list rows, which carry only the relative path, resolve too."""

from __future__ import annotations

from pathlib import Path

from annotator.core.listing import ConversationSummary
from annotator.core.model import Image


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
        return self.find(image.path, image.root)

    def summary_path(self, summary: ConversationSummary) -> str:
        return self.find(summary.image_path, "")

    def find(self, rel: str, root: str) -> str:
        """The file at ``rel`` under ``root`` or a known root ("" when there is none)."""
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

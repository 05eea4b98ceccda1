"""Where a record's image file is: stored (root, relative path) mapped to a file, with the
roots seen so far, so that list rows, which carry only the relative path, resolve too.

The stored name is untrusted (it came from an imported file or another person's database): a
name that leads out of its folder (``..``, an absolute path, a symlink pointing elsewhere) is
refused, as import refuses it. A file found for an image whose sha256 is stored must have that
hash, or the record would show another picture than the one its masks were drawn on; a file is
hashed once per session while its size and modification time stay the same.
"""

from __future__ import annotations

import os
from pathlib import Path

from annotator.core.errors import InputError
from annotator.core.listing import ConversationSummary
from annotator.core.model import Image
from annotator.io.images import file_sha256
from annotator.io.paths import confine

# (path, st_mtime_ns, st_size): a file changed in place gets a new key, so it is hashed again.
_FileKey = tuple[str, int, int]


class ImageRefused(InputError):
    """A file is there for the image but may not be shown: outside its folder, or another
    picture than the stored one."""


class ImageResolver:
    """Maps stored (root, relative path) to a file; remembers roots seen so that list rows,
    which carry only the relative path, can be resolved too. Lookups (``locate``, ``find``) may
    run on worker threads; roots are added on the UI thread. The caches are replaced or set one
    key at a time, which a concurrent reader sees whole or not at all."""

    def __init__(self, extra_roots: list[str] | None = None) -> None:
        self._roots: tuple[str, ...] = tuple(r for r in (extra_roots or []) if r)
        self._cache: dict[str, tuple[str, str]] = {}  # root\0rel -> (file, why refused)
        self._hashes: dict[_FileKey, str] = {}

    def add_root(self, root: str) -> None:
        if root and root not in self._roots:
            self._roots = (root, *self._roots)  # replaced whole: readers see old or new
            self._cache = {}

    def image_path(self, image: Image) -> str:
        """The file of ``image``; its root becomes known for list rows."""
        self.add_root(image.root)
        return self.locate(image)

    def locate(self, image: Image) -> str:
        """The file to show for ``image``: ``""`` when there is none; raises
        :class:`ImageRefused` (one line naming the file) when the one there may not be shown."""
        found, refused = self._lookup(image.path, image.root)
        if refused:
            raise ImageRefused(refused, file=str(Path(image.root) / image.path))
        if found and image.sha256:
            self._check_hash(found, image.sha256)
        return found

    def summary_path(self, summary: ConversationSummary) -> str:
        return self.find(summary.image_path, "")

    def find(self, rel: str, root: str) -> str:
        """The file at ``rel`` under ``root`` or a known root (``""`` when there is none, or
        when the one there leads out of its folder)."""
        return self._lookup(rel, root)[0]

    def _lookup(self, rel: str, root: str) -> tuple[str, str]:
        key = f"{root}\0{rel}"
        cache = self._cache
        hit = cache.get(key)
        if hit is not None:
            return hit
        found, refused = "", ""
        for r in [root, *self._roots] if root else self._roots:
            try:
                p = confine(r, rel)
            except InputError as exc:
                refused = refused or exc.reason
                continue
            if p.is_file():
                found, refused = str(p), ""
                break
        cache[key] = (found, refused)
        return found, refused

    def _check_hash(self, path: str, expected: str) -> None:
        try:
            st = os.stat(path)
        except OSError:
            return  # gone since the lookup: the loader says so
        key = (path, st.st_mtime_ns, st.st_size)
        actual = self._hashes.get(key)
        if actual is None:
            try:
                actual = file_sha256(path)
            except InputError:
                return  # unreadable: the loader says why
            self._hashes[key] = actual
        if actual != expected:
            raise ImageRefused(
                f"the file's sha256 is {actual[:12]}..., the record's image "
                f"{expected[:12]}... (another picture under the same name)",
                file=path,
            )

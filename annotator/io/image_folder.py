"""The image files of a folder someone points the tool at: names relative to it (as PRIST names
images), only the formats the image reader allows, nothing reached through a link that leaves
the folder. Files are only listed here; ``annotator.io.images.check_image`` reads them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from annotator.core.errors import InputError
from annotator.core.image_formats import ALLOWED_EXTENSIONS
from annotator.io.paths import confine


@dataclass(frozen=True)
class FolderFile:
    name: str  # relative to the folder, forward slashes: the image's img_id
    path: Path  # resolved, inside the folder


@dataclass(frozen=True)
class FolderListing:
    files: list[FolderFile]  # image files, by name
    refused: list[tuple[str, str]]  # (name, why) for image files that may not be read
    ignored: int  # files that are not images by their name (LabelMe JSON beside them, ...)


def list_images(
    folder: str | Path, *, recursive: bool, only: Sequence[str | Path] | None = None
) -> FolderListing:
    """The image files of ``folder`` (and the folders inside it when ``recursive``), or of
    ``only`` these files of it (chosen one by one, in any of its folders)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError("not a folder", file=str(folder))
    files: list[FolderFile] = []
    refused: list[tuple[str, str]] = []
    ignored = 0
    for rel in _names(root, recursive, only, refused):
        if Path(rel).suffix.lower() not in ALLOWED_EXTENSIONS:
            ignored += 1
            continue
        try:
            files.append(FolderFile(rel, confine(root, rel)))
        except InputError as exc:
            refused.append((rel, exc.reason))
    return FolderListing(files, refused, ignored)


def _names(
    root: Path,
    recursive: bool,
    only: Sequence[str | Path] | None,
    refused: list[tuple[str, str]],
) -> Iterator[str]:
    if only is not None:
        base = root.resolve()
        for path in only:
            where = Path(path).resolve().parent
            if not where.is_relative_to(base):
                refused.append((str(path), f"not in the folder {base}"))
                continue
            yield (where / Path(path).name).relative_to(base).as_posix()
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        if not recursive:
            dirnames.clear()
        for name in sorted(filenames):
            yield Path(dirpath, name).relative_to(root).as_posix()

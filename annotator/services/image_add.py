"""Add images without conversations (``annotator images add``, File > Add images): every file
of a folder goes through the image reader (format, pixel cap, truncation), is known by its
content, and is named by its path in the folder (its ``img_id``). A bad file is listed with the
reason and the rest go on; images are stored one transaction per batch, so a cancel keeps the
batches done and a second run adds only what is missing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.core.compute_budget import wanted_torch_threads
from annotator.core.errors import InputError
from annotator.core.model import Image
from annotator.core.progress import Task
from annotator.io.image_folder import FolderFile, list_images
from annotator.io.images import check_image
from annotator.services.catalog import Catalog

BATCH = 500  # images per transaction


@dataclass(frozen=True)
class Refused:
    path: str
    reason: str


@dataclass
class ImagesReport:
    folder: str
    added: list[Image] = field(default_factory=list)
    present: list[tuple[str, Image]] = field(default_factory=list)  # (name, the stored twin)
    refused: list[Refused] = field(default_factory=list)
    ignored: int = 0  # files that are not images by their name

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "added": len(self.added),
            "already_present": len(self.present),
            "refused": [{"path": r.path, "reason": r.reason} for r in self.refused],
            # The same picture under another name is one image: say which one it is.
            "same_picture": [
                {"path": name, "same_as": twin.path}
                for name, twin in self.present
                if name != twin.path
            ],
            "ignored": self.ignored,
        }

    def summary(self) -> str:
        same = sum(1 for name, twin in self.present if name != twin.path)
        return (
            f"{len(self.added)} image(s) added, {len(self.present)} already present"
            + (f" ({same} under another name)" if same else "")
            + f", {len(self.refused)} refused"
        )


def add_images(
    store: Catalog,
    folder: str | Path,
    *,
    recursive: bool = False,
    only: Sequence[str | Path] | None = None,
    task: Task | None = None,
    batch: int = BATCH,
) -> ImagesReport:
    """The images of ``folder`` (see ``io.image_folder.list_images``; ``only``: just these
    files of it), named by their path in it."""
    task = task or Task()
    root = Path(folder).resolve()
    listing = list_images(root, recursive=recursive, only=only)
    report = ImagesReport(str(root), ignored=listing.ignored)
    report.refused.extend(Refused(name, why) for name, why in listing.refused)
    task.start(len(listing.files), f"adding images from {root}")
    for chunk in _chunks(listing.files, batch):
        checked: list[Image] = []
        for file, info in zip(chunk, _checked(chunk), strict=True):
            if isinstance(info, InputError):
                report.refused.append(Refused(file.name, info.reason))
            else:
                checked.append(Image(file.name, info.width, info.height, info.sha256, str(root)))
        stored = store.add_images(checked)
        report.added.extend(stored.added)
        report.present.extend((offered.path, twin) for offered, twin in stored.present)
        task.step(len(chunk), f"{len(report.added)} added")
    return report


def _chunks(items: Sequence[FolderFile], size: int) -> Iterator[Sequence[FolderFile]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _checked(files: Sequence[FolderFile]) -> list[Any]:
    """Each file's size and sha256, or the InputError that refuses it. Decoding (Pillow) lets
    go of the GIL: the compute budget's threads check files side by side."""

    def one(file: FolderFile) -> Any:
        try:
            return check_image(file.path)
        except InputError as exc:
            return exc

    workers = wanted_torch_threads()
    if workers == 1:
        return [one(f) for f in files]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, files))

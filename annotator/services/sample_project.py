"""The bundled sample project: what a new user sees on first run."""

from __future__ import annotations

from pathlib import Path

from annotator.core.appdirs import resources_dir
from annotator.core.progress import Task
from annotator.services.import_job import ImportSummary, import_prist
from annotator.storage import Store


def sample_dir() -> Path:
    return resources_dir() / "sample"


def import_sample(store: Store, *, task: Task | None = None) -> ImportSummary:
    """Import the sample conversations (idempotent: a second call adds nothing)."""
    root = sample_dir()
    return import_prist(
        store,
        root / "dialogues.json",
        images_dir=root / "images",
        masks_dir=root / "masks",
        task=task,
    )


def ensure_sample(store: Store, *, task: Task | None = None) -> ImportSummary | None:
    """Import the sample into an empty database; leave any other database alone."""
    if not store.is_empty():
        return None
    return import_sample(store, task=task)

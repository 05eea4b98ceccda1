"""The data side of ``annotator self-test`` (the window side is ``annotator.ui.self_test``): a
fresh database holding the sample project, and an export read back into another one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from annotator.core.export_mask import DRAFT
from annotator.services.catalog import Catalog
from annotator.services.export_job import export_jsonl
from annotator.services.import_job import import_jsonl
from annotator.services.sample_project import import_sample
from annotator.storage import open_store


def sample_database(workdir: Path) -> Path:
    """A new database in ``workdir`` with the sample project imported (an old one is replaced)."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "self-test.sqlite3"
    for stale in workdir.glob("self-test*.sqlite3*"):
        stale.unlink()
    store = open_store(db)
    try:
        import_sample(store)
    finally:
        store.close()
    return db


def export_and_read_back(store: Catalog, path: Path) -> dict[str, Any]:
    """Every record to JSON lines, then the file imported into a new database: what a
    colleague receiving the export does."""
    # The sample's records are imported drafts (the self-test's clicks verify one per image):
    # their imported masks and answers are what every record has.
    report = export_jsonl(store, path, status=None, mask=DRAFT)  # type: ignore[arg-type]
    again = path.with_suffix(".reimported.sqlite3")
    fresh = open_store(again)
    try:
        summary = import_jsonl(fresh, path)
    finally:
        fresh.close()
    return {
        "path": str(path),
        "records": report.records,
        "masks": report.annotations,
        "read_back": summary.added,
    }

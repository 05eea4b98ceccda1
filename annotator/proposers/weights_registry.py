"""Which checkpoints are installed and where: ``models.json`` in the models directory.

MobileSAM is installed into the models directory itself; other checkpoints (SAM ViT-B/L/H, often
gigabytes) stay where the user keeps them and are recorded by path and sha256. Every entry is
hash-checked again before it is loaded, so a file that changed after it was added is refused.

A known model may also be present as its ONNX graphs alone, checked against torch from the
published checkpoint elsewhere and adopted here (the desktop bundle, which has no torch to load a
checkpoint with): it resolves with ``pinned_by == "graphs"``, its path the graphs' check marker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from annotator.core.appdirs import models_dir
from annotator.core.atomic_file import atomic_open
from annotator.core.errors import NotFoundError, WeightsError
from annotator.core.progress import Task
from annotator.proposers.weights import (
    KNOWN_WEIGHTS,
    KnownWeights,
    known_by_file_name,
    known_weights,
    sha256_file,
    verify_sha256,
)

MANIFEST_NAME = "models.json"
GRAPHS_ONLY = "graphs"
_MANIFEST_VERSION = 1


@dataclass(frozen=True)
class InstalledWeights:
    model_id: str
    arch: str
    path: Path
    sha256: str
    # "published": the hash of the known release; "recorded": hashed when added; "graphs": no
    # checkpoint, only ONNX graphs checked against the published one (``path`` is their marker)
    pinned_by: str
    size_bytes: int
    added_at: str  # ISO time in UTC

    @property
    def graphs_only(self) -> bool:
        return self.pinned_by == GRAPHS_ONLY

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        return out

    @classmethod
    def from_json(cls, model_id: str, raw: Any, manifest: Path) -> InstalledWeights:
        try:
            return cls(
                model_id=model_id,
                arch=str(raw["arch"]),
                path=Path(raw["path"]),
                sha256=str(raw["sha256"]).lower(),
                pinned_by=str(raw["pinned_by"]),
                size_bytes=int(raw["size_bytes"]),
                added_at=str(raw["added_at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(
                f"{manifest}: entry {model_id!r} is malformed ({exc}); remove it with a text "
                "editor or add the model again"
            ) from None


@dataclass(frozen=True)
class ModelStatus:
    """One row of ``annotator models list``."""

    model_id: str
    arch: str
    installed: bool
    path: Path | None
    pinned_by: str | None
    size_bytes: int | None
    problem: str | None  # why an entry cannot be used (file gone), else None
    description: str


class WeightsRegistry:
    """The installed checkpoints under one models directory (default: ``models_dir()``)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else models_dir()

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    def default_path(self, model_id: str) -> Path:
        """Where a checkpoint installed by the tool itself lives."""
        return self.root / known_weights(model_id).file_name

    # -- reading -------------------------------------------------------------------------
    def entries(self) -> dict[str, InstalledWeights]:
        path = self.manifest_path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise WeightsError(f"{path}: cannot read the model list ({exc.strerror})") from None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WeightsError(
                f"{path}:{exc.lineno}: the model list is not valid JSON ({exc.msg})"
            ) from None
        models = raw.get("models") if isinstance(raw, dict) else None
        if not isinstance(models, dict):
            raise WeightsError(f"{path}: the model list has no 'models' object")
        return {mid: InstalledWeights.from_json(mid, entry, path) for mid, entry in models.items()}

    def resolve(self, model_id: str) -> InstalledWeights:
        """The checkpoint to load for ``model_id`` (not yet hash-checked: loaders do that)."""
        entry = self.entries().get(model_id)
        if entry is None:
            known = KNOWN_WEIGHTS.get(model_id)
            if known is not None and self.default_path(model_id).is_file():
                return self._installed_from_known(known, self.default_path(model_id))
            if known is not None and (graphs := self._checked_graphs(known)) is not None:
                return graphs
            hint = (
                "run `annotator models install mobile-sam`"
                if model_id == "mobile-sam"
                else f"run `annotator models add {model_id} PATH`"
            )
            raise NotFoundError(f"model {model_id!r} is not installed in {self.root}; {hint}")
        if not entry.path.is_file():
            raise WeightsError(
                f"model {model_id!r}: checkpoint {entry.path} no longer exists; add it again"
            )
        return entry

    def has(self, model_id: str) -> bool:
        """Whether ``model_id`` resolves here (a checkpoint, or checked graphs alone)."""
        try:
            self.resolve(model_id)
        except (NotFoundError, WeightsError):
            return False
        return True

    def statuses(self) -> list[ModelStatus]:
        entries = self.entries()
        rows: list[ModelStatus] = []
        for model_id in [*KNOWN_WEIGHTS, *sorted(set(entries) - set(KNOWN_WEIGHTS))]:
            known = KNOWN_WEIGHTS.get(model_id)
            description = known.description if known else ""
            try:
                entry = self.resolve(model_id)
            except NotFoundError:
                arch = known.arch if known else "?"
                rows.append(ModelStatus(model_id, arch, False, None, None, None, None, description))
                continue
            except WeightsError as exc:
                stale = entries.get(model_id)
                rows.append(
                    ModelStatus(
                        model_id,
                        stale.arch if stale else "?",
                        False,
                        stale.path if stale else None,
                        stale.pinned_by if stale else None,
                        None,
                        str(exc),
                        description,
                    )
                )
                continue
            rows.append(
                ModelStatus(
                    model_id,
                    entry.arch,
                    True,
                    entry.path,
                    entry.pinned_by,
                    entry.size_bytes,
                    None,
                    description,
                )
            )
        return rows

    def is_installed_and_valid(self, model_id: str, task: Task | None = None) -> bool:
        """Whether the checkpoint itself is here with its hash (graphs alone are not)."""
        try:
            entry = self.resolve(model_id)
            if entry.graphs_only:
                return False
            verify_sha256(entry.path, entry.sha256, task)
        except (NotFoundError, WeightsError):
            return False
        return True

    # -- writing -------------------------------------------------------------------------
    def add(
        self,
        model_id: str,
        path: Path,
        task: Task | None = None,
        *,
        check: Callable[[InstalledWeights], None] | None = None,
    ) -> InstalledWeights:
        """Record a checkpoint the user has. A file whose name is a known release must have that
        release's hash; any other file name is accepted and pinned to the hash it has now.
        ``check`` (e.g. a trial load) runs before anything is recorded; if it raises, the model
        list is unchanged."""
        known = known_weights(model_id)
        path = Path(path).expanduser().absolute()
        by_name = known_by_file_name(path.name)
        if task is not None:
            task.start(None, f"hashing {path.name}")
        if by_name is not None and by_name.model_id != model_id:
            raise WeightsError(
                f"{path}: this file name is the published {by_name.model_id!r} checkpoint, "
                f"not {model_id!r}"
            )
        if by_name is not None:
            verify_sha256(path, by_name.sha256, task)
            sha, pinned_by = by_name.sha256, "published"
        else:
            sha = sha256_file(path, task)
            pinned_by = "published" if sha == known.sha256 else "recorded"
        entry = InstalledWeights(
            model_id=model_id,
            arch=known.arch,
            path=path,
            sha256=sha,
            pinned_by=pinned_by,
            size_bytes=path.stat().st_size,
            added_at=_now(),
        )
        if check is not None:
            check(entry)
        self.record(entry)
        return entry

    def record(self, entry: InstalledWeights) -> None:
        """Write or replace one entry of the model list (atomically)."""
        entries = self.entries()
        entries[entry.model_id] = entry
        self._write(entries)

    def remove(self, model_id: str) -> None:
        entries = self.entries()
        if entries.pop(model_id, None) is not None:
            self._write(entries)

    def _write(self, entries: dict[str, InstalledWeights]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        doc = {
            "version": _MANIFEST_VERSION,
            "models": {mid: e.to_json() for mid, e in sorted(entries.items())},
        }
        with atomic_open(self.manifest_path) as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")

    def _installed_from_known(self, known: KnownWeights, path: Path) -> InstalledWeights:
        stat = path.stat()
        return InstalledWeights(
            model_id=known.model_id,
            arch=known.arch,
            path=path,
            sha256=known.sha256,
            pinned_by="published",
            size_bytes=stat.st_size,
            added_at=datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds"),
        )

    def _checked_graphs(self, known: KnownWeights) -> InstalledWeights | None:
        """The published checkpoint's adopted ONNX graphs, when their check marker is here (the
        loader hashes the graphs against it)."""
        from annotator.proposers.sam.onnx_backend import GraphFiles

        files = GraphFiles.for_model(self.root / "onnx", known.model_id, known.sha256)
        if not files.marker.is_file():
            return None
        return InstalledWeights(
            model_id=known.model_id,
            arch=known.arch,
            path=files.marker,
            sha256=known.sha256,
            pinned_by=GRAPHS_ONLY,
            size_bytes=sum(p.stat().st_size for p in files.files().values() if p.is_file()),
            added_at=datetime.fromtimestamp(files.marker.stat().st_mtime, UTC).isoformat(
                timespec="seconds"
            ),
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

"""Read back the project's JSONL records (see :mod:`annotator.io.record_codec`).

Every line goes through the safe JSON parser with its own line number, so an error names
``file:line``; the record number is the line's position among records (0-based). What records
say about their images is checked too (:mod:`annotator.io.image_claims`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from annotator.core.errors import InputError
from annotator.core.model import Conversation, Proposal, Review
from annotator.core.progress import Task
from annotator.io import safe_json
from annotator.io.image_claims import ImageClaims
from annotator.io.record_codec import decode_record


@dataclass(frozen=True)
class JsonlEntry:
    conversation: Conversation  # id None: new to whatever store it goes into
    reviews: tuple[Review, ...]
    proposals: tuple[Proposal, ...]
    exported_id: int | None  # the id it had where it was exported from
    line: int


@dataclass
class JsonlImport:
    file: str
    entries: list[JsonlEntry] = field(default_factory=list)

    @property
    def conversations(self) -> list[Conversation]:
        return [e.conversation for e in self.entries]


def read_jsonl(
    path: str | Path,
    *,
    images_dir: str | Path | None = None,
    task: Task | None = None,
    limits: safe_json.JsonLimits = safe_json.DEFAULT_LIMITS,
) -> JsonlImport:
    """Read every record or raise :class:`InputError` (nothing is returned from a bad file).

    ``images_dir`` becomes each image's ``root`` (exports do not carry local directories), and
    each image's size and sha256 are checked against its file there.
    """
    task = task or Task()
    p = Path(path)
    data = safe_json.read_bytes_capped(p, limits.max_bytes)
    name = str(p)
    claims = ImageClaims(name, images_dir)
    root = str(claims.folder) if claims.folder is not None else ""
    lines = data.split(b"\n")
    result = JsonlImport(file=name)
    task.start(len(lines), f"reading {p.name}")
    keys: dict[str, int] = {}
    for n, raw in enumerate(lines, 1):
        if raw.strip():
            doc = safe_json.loads(raw, file=name, limits=limits, first_line=n)
            record = len(result.entries)
            conv, reviews, proposals, exported_id = decode_record(doc, record, root)
            if conv.key and conv.key in keys:
                raise InputError(
                    f"the same conversation (key {conv.key[:12]}...) is already on line "
                    f"{keys[conv.key]}",
                    file=name,
                    line=n,
                    record=record,
                )
            keys[conv.key] = n
            claims.check(conv.image, n, record)
            result.entries.append(
                JsonlEntry(conv, tuple(reviews), tuple(proposals), exported_id, n)
            )
        task.step()
    return result

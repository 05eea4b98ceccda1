"""The writer's acknowledgement log: one line per call the store returned from, appended and
fsynced only after the call returned, so every line names a commit.

Lines (space-separated):
    intent save KEY GEN            about to save KEY as generation GEN (not fsynced: a hint only)
    intent add BATCH               about to add a batch
    intent review|proposal KEY TOKEN
    save KEY GEN CHECKSUM          the save of generation GEN returned
    add BATCH KEY,KEY,...          the batch of new conversations returned
    review KEY TOKEN               a review whose comment is TOKEN returned
    proposal KEY TOKEN             a proposal whose answer is TOKEN returned

A line cut short by the kill has no newline and is ignored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class AckLog:
    """Appends lines to the log file; ``durable`` lines are on disk when the call returns."""

    def __init__(self, path: str | Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, *fields: object, durable: bool = True) -> None:
        line = " ".join(str(f) for f in fields) + "\n"
        os.write(self._fd, line.encode())
        if durable:
            os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


@dataclass
class Acknowledged:
    """Everything the log says was committed, and the last unfinished intent."""

    generation: dict[str, int] = field(default_factory=dict)  # key -> latest acked generation
    checksums: dict[tuple[str, int], str] = field(default_factory=dict)
    batches: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reviews: dict[str, set[str]] = field(default_factory=dict)
    proposals: dict[str, set[str]] = field(default_factory=dict)
    intended: set[tuple[str, int]] = field(default_factory=set)  # (key, gen) a save began
    saves: int = 0
    last_intent: tuple[str, ...] | None = None  # set when the last entry is an intent

    @property
    def total(self) -> int:
        return (
            self.saves
            + len(self.batches)
            + sum(map(len, self.reviews.values()))
            + sum(map(len, self.proposals.values()))
        )


def read_acks(path: str | Path) -> Acknowledged:
    acks = Acknowledged()
    p = Path(path)
    if not p.exists():
        return acks
    text = p.read_text(encoding="utf-8")
    complete = text.split("\n")[:-1]  # the part after the last newline was cut by a kill
    for line in complete:
        parts = tuple(line.split(" "))
        kind = parts[0]
        if kind == "intent":
            acks.last_intent = parts[1:]
            if parts[1] == "save":
                acks.intended.add((parts[2], int(parts[3])))
            continue
        acks.last_intent = None
        if kind == "save":
            key, gen, digest = parts[1], int(parts[2]), parts[3]
            acks.generation[key] = max(gen, acks.generation.get(key, 0))
            acks.checksums[(key, gen)] = digest
            acks.saves += 1
        elif kind == "add":
            keys = tuple(parts[2].split(","))
            acks.batches[parts[1]] = keys
            for key in keys:
                acks.generation.setdefault(key, 0)
        elif kind == "review":
            acks.reviews.setdefault(parts[1], set()).add(parts[2])
        elif kind == "proposal":
            acks.proposals.setdefault(parts[1], set()).add(parts[2])
        else:
            raise ValueError(f"{path}: unknown acknowledgement line {line!r}")
    return acks

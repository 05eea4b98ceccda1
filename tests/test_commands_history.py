"""Undo commands and history: exact restore, small deltas, exact dirty state."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.core import mask_edit as me
from annotator.core.commands import MaskDelta, SetStatus, SetText, UndoHistory
from annotator.core.model import MaskLayer, MaskSource, Provenance
from annotator.core.status import Status


class Target:
    """A minimal edit target holding one big layer."""

    def __init__(self, h: int = 3000, w: int = 4000) -> None:
        self.arrays = {(0, MaskLayer.FINAL): np.zeros((h, w), dtype=bool)}
        self.texts: dict[tuple[int, str], str | None] = {}
        self.prov: dict[object, Provenance | None] = {}
        self._status = Status.IN_REVIEW
        self.changed: list[me.Rect] = []

    def layer_array(self, key):  # type: ignore[no-untyped-def]
        return self.arrays[key]

    def layer_changed(self, key, rect):  # type: ignore[no-untyped-def]
        self.changed.append(rect)

    def provenance(self, key):  # type: ignore[no-untyped-def]
        return self.prov.get(key)

    def set_provenance(self, key, prov):  # type: ignore[no-untyped-def]
        self.prov[key] = prov

    def text(self, i, f):  # type: ignore[no-untyped-def]
        return self.texts.get((i, f))

    def set_text(self, i, f, v):  # type: ignore[no-untyped-def]
        self.texts[(i, f)] = v

    @property
    def status(self) -> Status:
        return self._status

    def set_status(self, s: Status) -> None:
        self._status = s


KEY = (0, MaskLayer.FINAL)


def stroke(t: Target, rng: np.random.Generator) -> MaskDelta:
    arr = t.layer_array(KEY)
    before = arr.copy()
    rect = me.EMPTY
    x, y = rng.uniform(100, 3900), rng.uniform(100, 2900)
    for _ in range(5):
        nx, ny = x + rng.uniform(-40, 40), y + rng.uniform(-40, 40)
        rect = rect.union(me.paint_segment(arr, (x, y), (nx, ny), 15, bool(rng.integers(0, 4))))
        x, y = nx, ny
    prov = Provenance(MaskSource.HUMAN, "ann")
    return MaskDelta.capture(KEY, before, arr, rect, "Brush", prov_after=prov)


def test_hundred_strokes_undo_redo_exact_and_small() -> None:
    rng = np.random.default_rng(1)
    t = Target()
    hist = UndoHistory(limit=150)
    snapshots = [t.layer_array(KEY).copy()]
    for _ in range(120):
        hist.push(stroke(t, rng), t, applied=True)
        snapshots.append(t.layer_array(KEY).copy())
    assert hist.count == 120
    assert hist.nbytes < 120 * 4000 * 3000 / 8 / 100  # far below one packed full mask per step
    for i in range(120, 0, -1):
        hist.undo(t)
        assert np.array_equal(t.layer_array(KEY), snapshots[i - 1])
    assert not t.layer_array(KEY).any() and not hist.can_undo
    for i in range(1, 121):
        hist.redo(t)
        assert np.array_equal(t.layer_array(KEY), snapshots[i])


def test_clean_index_is_exact() -> None:
    t = Target(50, 50)
    hist = UndoHistory()
    assert hist.is_clean
    hist.push(SetText(0, "final_answer", None, "a"), t)
    assert not hist.is_clean
    hist.set_clean()
    hist.push(SetText(0, "final_answer", "a", "b"), t)
    assert not hist.is_clean and t.texts[(0, "final_answer")] == "b"
    hist.undo(t)
    assert hist.is_clean and t.texts[(0, "final_answer")] == "a"
    hist.undo(t)
    assert not hist.is_clean
    hist.redo(t)
    assert hist.is_clean
    # a new branch from before the saved point makes the saved point unreachable
    hist.undo(t)
    hist.push(SetStatus(Status.IN_REVIEW, Status.APPROVED), t)
    assert not hist.is_clean and t.status == Status.APPROVED
    hist.undo(t)
    assert not hist.is_clean and t.status == Status.IN_REVIEW


def test_limit_drops_oldest_and_clean_point() -> None:
    t = Target(10, 10)
    hist = UndoHistory(limit=3)
    hist.push(SetText(0, "question", "", "1"), t)
    hist.set_clean()
    for v in "234":
        hist.push(SetText(0, "question", "", v), t)
    assert hist.count == 3 and hist.index == 3
    # the saved state (after "1") is still reachable at the bottom of the history
    hist.undo(t), hist.undo(t), hist.undo(t)
    assert hist.is_clean and not hist.can_undo
    hist.redo(t), hist.redo(t), hist.redo(t)
    hist.push(SetText(0, "question", "", "5"), t)  # the limit drops the saved bottom
    while hist.can_undo:
        hist.undo(t)
        assert not hist.is_clean
    assert hist.undo(t) is None
    with pytest.raises(ValueError):
        UndoHistory(limit=0)


def test_text_field_validated_and_labels() -> None:
    with pytest.raises(ValueError):
        SetText(0, "focus", "", "x")  # the conversation's, not a turn's: SetFocus
    SetText(0, "draft_answer", "", "x")  # an author writes the answers too
    t = Target(5, 5)
    hist = UndoHistory()
    hist.push(SetText(0, "question", "q", "Q", label="Edit question"), t)
    assert hist.undo_label == "Edit question" and hist.redo_label == ""
    hist.undo(t)
    assert hist.redo_label == "Edit question" and t.texts[(0, "question")] == "q"

"""Save conflicts resolved, not dead-ended: two editing sessions on ONE real SQLite file open
the same record, both edit it (different turns and the same turn), the second save meets the
newer revision. The user sees mine beside theirs and keeps mine, theirs, or turn by turn; the
stored record is what was chosen and exactly one merge event keeps the side not chosen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fixtures_storage import make_conversation

from annotator.core import mask_edit
from annotator.core.commands import SetText
from annotator.core.errors import InputError
from annotator.core.model import Conversation, HistoryEvent, MaskLayer, Turn
from annotator.core.turn_commands import AddTurn, SetFocus
from annotator.services.history_timeline import entry_of
from annotator.services.mask_tools import operation_delta
from annotator.services.save_conflict import (
    MERGE_ACTION,
    MergeChoice,
    Side,
    discarded_turns,
)
from annotator.services.session import EditSession
from annotator.services.word_diff import Segment, word_diff
from annotator.storage import Store, open_store

H, W = 48, 64
TARGET = 2  # the last of three turns: the one with masks


@dataclass
class Two:
    """Ada's and Bob's sessions on one database file, each with its own connection."""

    ada: EditSession
    bob: EditSession
    cid: int
    stores: tuple[Store, Store]

    def stored(self) -> Conversation:
        return self.stores[1].get_conversation(self.cid)

    def merges(self) -> list[HistoryEvent]:
        return [e for e in self.stores[1].history(self.cid) if e.action == MERGE_ACTION]


@pytest.fixture
def two(tmp_path: Path) -> Iterator[Two]:
    db = tmp_path / "shared.sqlite3"
    first = open_store(db)
    conv = make_conversation(1, turns=3, height=H, width=W, final_mask=True)
    [cid] = first.add_conversations([conv], actor="importer").added_ids
    second = open_store(db)
    ada, bob = EditSession(first, lambda: "ada"), EditSession(second, lambda: "bob")
    ada.open(cid)
    bob.open(cid)
    try:
        yield Two(ada, bob, cid, (first, second))
    finally:
        first.close()
        second.close()


def _set_text(session: EditSession, turn: int, field: str, text: str) -> None:
    doc = session.document
    assert doc is not None
    session.execute(SetText(turn, field, doc.text(turn, field), text))


def _paint(session: EditSession, box: tuple[int, int, int, int]) -> np.ndarray:
    """Replace the target's final mask with the box ``(y0, y1, x0, x1)``; returns it."""
    doc = session.document
    assert doc is not None
    y0, y1, x0, x1 = box
    new = np.zeros((H, W), dtype=bool)
    new[y0:y1, x0:x1] = True
    command = operation_delta(
        doc,
        (TARGET, MaskLayer.FINAL),
        lambda a: mask_edit.replace(a, new),
        "Paint",
        "someone",
    )
    assert command is not None
    session.execute(command)
    return new


def _final(conv: Conversation | Turn, turn: int = TARGET) -> np.ndarray:
    t = conv.turns[turn] if isinstance(conv, Conversation) else conv
    [ann] = t.layer(MaskLayer.FINAL)
    return ann.mask.to_array()


def _conflicting_edits(two: Two) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bob changes turn 1's question, turn 2's answer and saves; Ada changes turn 1's question
    and turn 3's mask, and her save conflicts. Returns the base, Bob's and Ada's masks."""
    base = two.stored()
    base_mask = _final(base)
    _set_text(two.bob, 0, "question", "Bob asks about the dog?")
    _set_text(two.bob, 1, "final_answer", "Bob's verified answer.")
    assert two.bob.save().ok and not two.bob.is_dirty
    _set_text(two.ada, 0, "question", "Ada asks about the cat?")
    ada_mask = _paint(two.ada, (5, 30, 10, 40))
    return base_mask, _final(two.stored()), ada_mask


def test_the_second_save_conflicts_and_keeps_the_working_copy(two: Two) -> None:
    seen = []
    two.ada.save_listeners.append(seen.append)
    before = two.stored().revision
    _conflicting_edits(two)
    result = seen[-1]
    assert not result.ok and result.conflict
    assert result.revision == two.stored().revision and "saved elsewhere" in result.message
    doc = two.ada.document
    assert doc is not None and two.ada.is_dirty and two.ada.has_conflict
    assert doc.text(0, "question") == "Ada asks about the cat?"  # nothing of hers dropped
    assert two.stored().revision == before + 2  # only Bob's two saves got in
    assert two.stored().turns[0].question == "Bob asks about the dog?"


def test_the_view_pairs_turns_texts_and_masks(two: Two) -> None:
    base_mask, bob_mask, ada_mask = _conflicting_edits(two)
    view = two.ada.save_conflict()
    assert view is not None
    assert (view.mine_revision, view.theirs_revision) == (0, 2)
    assert view.theirs_by == "bob"
    assert view.changed_turns == [0, 1, 2]
    q = view.turns[0].texts[0]
    assert (q.field, q.mine, q.theirs, q.changed) == (
        "question",
        "Ada asks about the cat?",
        "Bob asks about the dog?",
        True,
    )
    assert view.turns[0].mine_edited and view.turns[0].theirs_edited
    assert not view.turns[1].mine_edited and view.turns[1].theirs_edited
    assert view.turns[2].mine_edited and not view.turns[2].theirs_edited
    assert not any(p.changed for p in view.turns[2].texts)
    layers = {p.layer: p for p in view.turns[2].layers}
    final = layers[MaskLayer.FINAL]
    inter = int((ada_mask & bob_mask).sum())
    union = int((ada_mask | bob_mask).sum())
    assert final.only_mine == int((ada_mask & ~bob_mask).sum())
    assert final.only_theirs == int((bob_mask & ~ada_mask).sum())
    assert final.iou == pytest.approx(inter / union)
    assert final.changed and not layers[MaskLayer.DRAFT].changed
    assert np.array_equal(bob_mask, base_mask)  # Bob left the mask alone
    # Each side's edits are kept by default; where both edited, mine.
    assert view.default_choices() == MergeChoice(Side.THEIRS, (Side.MINE, Side.THEIRS, Side.MINE))


def _resolve(two: Two, choice: MergeChoice) -> HistoryEvent:
    before = two.stored().revision
    base = two.ada.document.conversation.revision  # type: ignore[union-attr]
    result = two.ada.resolve_conflict(choice)
    assert result.ok, result.message
    stored = two.stored()
    assert result.revision == stored.revision == before + 1
    [merge] = two.merges()
    assert merge.actor == "ada"
    json.dumps(merge.detail)  # JSON-safe
    assert (merge.detail["mine_revision"], merge.detail["theirs_revision"]) == (base, before)
    assert merge.detail["turns"] == [str(s) for s in choice.turns]
    doc = two.ada.document
    assert doc is not None and not two.ada.is_dirty and not two.ada.has_conflict
    assert two.ada.history is not None and not two.ada.history.can_undo
    assert doc.conversation.revision == stored.revision
    assert doc.turn_count == len(stored.turns)
    for t, turn in enumerate(stored.turns):  # the open record now shows what was stored
        for field in ("question", "draft_answer", "final_answer"):
            assert doc.text(t, field) == getattr(turn, field)
        for layer in MaskLayer:
            expected = np.zeros((H, W), dtype=bool)
            for ann in turn.layer(layer):
                expected |= ann.mask.to_array()
            assert np.array_equal(doc.layer_array((t, layer)), expected)
    return merge


def test_keep_all_mine(two: Two) -> None:
    _, bob_mask, ada_mask = _conflicting_edits(two)
    view = two.ada.save_conflict()
    assert view is not None
    base_answer = two.ada.document.conversation.turns[1].final_answer  # type: ignore[union-attr]
    merge = _resolve(two, view.choose_all(Side.MINE))
    stored = two.stored()
    assert stored.turns[0].question == "Ada asks about the cat?"
    assert stored.turns[1].final_answer == base_answer  # Bob's answer is not in the record...
    assert np.array_equal(_final(stored), ada_mask)
    lost = discarded_turns(merge, H, W)  # ...but in its history, with his question
    assert set(lost) == {0, 1, 2}
    assert lost[0] is not None and lost[0].question == "Bob asks about the dog?"
    assert lost[1] is not None and lost[1].final_answer == "Bob's verified answer."
    assert lost[2] is not None and np.array_equal(_final(lost[2]), bob_mask)
    assert {d["side"] for d in merge.detail["discarded_turns"]} == {"theirs"}
    # Ada's own edit events were written with the merge: her history is whole.
    actions = [(e.actor, e.action) for e in two.stores[0].history(two.cid)]
    assert actions[-3:] == [("ada", "question"), ("ada", "mask"), ("ada", MERGE_ACTION)]


def test_keep_all_theirs(two: Two) -> None:
    _, bob_mask, ada_mask = _conflicting_edits(two)
    view = two.ada.save_conflict()
    assert view is not None
    bob_version = two.stored()
    merge = _resolve(two, view.choose_all(Side.THEIRS))
    stored = two.stored()
    assert [t.question for t in stored.turns] == [t.question for t in bob_version.turns]
    assert [t.final_answer for t in stored.turns] == [t.final_answer for t in bob_version.turns]
    assert np.array_equal(_final(stored), bob_mask)
    lost = discarded_turns(merge, H, W)
    assert lost[0] is not None and lost[0].question == "Ada asks about the cat?"
    assert lost[2] is not None and np.array_equal(_final(lost[2]), ada_mask)
    [final] = lost[2].layer(MaskLayer.FINAL)
    assert final.provenance.author == "someone"  # who made it survives too


def test_turn_by_turn(two: Two) -> None:
    _, bob_mask, ada_mask = _conflicting_edits(two)
    view = two.ada.save_conflict()
    assert view is not None
    choice = MergeChoice(Side.THEIRS, (Side.THEIRS, Side.THEIRS, Side.MINE))
    assert view.summary(choice) == "mine on turn 3; theirs on turns 1, 2"
    merge = _resolve(two, choice)
    stored = two.stored()
    assert stored.turns[0].question == "Bob asks about the dog?"
    assert stored.turns[1].final_answer == "Bob's verified answer."
    assert np.array_equal(_final(stored), ada_mask)
    lost = discarded_turns(merge, H, W)
    assert lost[0] is not None and lost[0].question == "Ada asks about the cat?"
    assert lost[2] is not None and np.array_equal(_final(lost[2]), bob_mask)
    sides = {d["turn"]: d["side"] for d in merge.detail["discarded_turns"]}
    assert sides == {0: "mine", 1: "mine", 2: "theirs"}
    # The record's history says it in words, the set-aside question included.
    entry = entry_of(merge)
    assert entry.summary.startswith("Save conflict resolved")
    assert "kept: mine on turn 3; theirs on turns 1 and 2" in entry.detail
    assert "set aside (mine), turn 1: question “Ada asks about the cat?”" in entry.detail
    # The record goes on normally: the next edit saves on the merged revision.
    _set_text(two.ada, 1, "question", "After the merge?")
    assert two.stored().turns[1].question == "After the merge?"


def test_a_save_during_the_dialog_is_a_new_conflict(two: Two) -> None:
    _conflicting_edits(two)
    view = two.ada.save_conflict()
    assert view is not None
    _set_text(two.bob, 2, "question", "Bob again?")  # saved while Ada chooses
    before = two.stored()
    result = two.ada.resolve_conflict(view.choose_all(Side.MINE))
    assert not result.ok and result.conflict and result.revision == before.revision
    assert two.stored() == before and not two.merges()  # nothing half-written
    assert two.ada.is_dirty
    again = two.ada.save_conflict()
    assert again is not None and again.theirs_revision == before.revision
    assert again.turns[2].texts[0].theirs == "Bob again?"
    _resolve(two, again.choose_all(Side.MINE))
    assert two.stored().turns[0].question == "Ada asks about the cat?"


def test_turns_on_one_side_only_and_the_focus(two: Two) -> None:
    doc = two.bob.document
    assert doc is not None
    two.bob.execute(AddTurn(1, Turn(1, "Bob's new turn?")))
    two.bob.execute(SetFocus(doc.focus, "Bob's focus"))
    _set_text(two.ada, 0, "question", "Ada's question?")
    view = two.ada.save_conflict()
    assert view is not None and len(view.turns) == 4
    assert view.turns[3].mine is None and view.turns[3].theirs is not None
    assert view.record.focus.theirs == "Bob's focus" and view.record.default == Side.THEIRS
    # Ada keeps her version of every turn: the turn only Bob has goes, and is kept in history.
    choice = MergeChoice(Side.THEIRS, (Side.MINE,) * 4)
    merge = _resolve(two, choice)
    stored = two.stored()
    assert len(stored.turns) == 3 and stored.focus == "Bob's focus"
    assert stored.turns[0].question == "Ada's question?"
    lost = discarded_turns(merge, H, W)
    assert lost[1] is not None and lost[1].question == "Bob's new turn?"
    assert lost[3] is not None and lost[3].question == view.turns[2].mine.question  # type: ignore[union-attr]
    assert np.array_equal(_final(lost[3]), _final(stored))
    assert merge.detail["discarded_record"]["side"] == "mine"
    assert merge.detail["discarded_record"]["focus"] == view.base.focus


def test_keeping_mine_where_theirs_has_no_turn_adds_it(two: Two) -> None:
    doc = two.ada.document
    assert doc is not None
    two.bob.execute(SetFocus(doc.focus, "Bob's focus"))
    two.ada.execute(AddTurn(0, Turn(0, "Ada's first turn?")))
    view = two.ada.save_conflict()
    assert view is not None and view.turns[3].theirs is None
    merge = _resolve(two, view.choose_all(Side.MINE))
    stored = two.stored()
    assert stored.turns[0].question == "Ada's first turn?"
    assert len(stored.turns) == 4 and stored.focus == view.base.focus != "Bob's focus"
    assert merge.detail["discarded_record"]["focus"] == "Bob's focus"
    assert discarded_turns(merge, H, W)[3] is None  # absent on Bob's side


def test_a_broken_merge_event_is_refused_naming_it() -> None:
    event = HistoryEvent("ada", MERGE_ACTION, {"discarded_turns": [{"turn": 0, "masks": []}]})
    with pytest.raises(InputError, match="discarded turn 0"):
        discarded_turns(event, H, W)
    bad_rle = {
        "turn": 0,
        "absent": False,
        "question": "q",
        "draft_answer": "a",
        "final_answer": None,
        "masks": [{"layer": "final", "source": "human", "rle": {"size": [2, 2], "counts": "0"}}],
    }
    event = HistoryEvent("ada", MERGE_ACTION, {"discarded_turns": [bad_rle]})
    with pytest.raises(InputError, match="not readable"):
        discarded_turns(event, H, W)


def test_the_same_pixels_by_different_hands_are_no_conflict(two: Two) -> None:
    _paint(two.bob, (2, 20, 3, 33))
    _paint(two.ada, (2, 20, 3, 33))  # her provenance differs, her pixels do not
    view = two.ada.save_conflict()
    assert view is not None and view.changed_turns == []
    [final] = [p for p in view.turns[TARGET].layers if p.layer == MaskLayer.FINAL]
    assert (final.only_mine, final.only_theirs, final.iou) == (0, 0, 1.0)
    merge = _resolve(two, view.default_choices())
    assert merge.detail["discarded_turns"] == []
    assert view.summary(view.default_choices()) == ""


def test_word_diff_marks_only_the_changed_words() -> None:
    mine, theirs = word_diff("the red cat sat.", "the black cat sat!")
    assert mine == (
        Segment("the ", False),
        Segment("red", True),
        Segment(" cat sat", False),
        Segment(".", True),
    )
    assert "".join(s.text for s in theirs) == "the black cat sat!"
    assert [s.text for s in theirs if s.changed] == ["black", "!"]
    assert word_diff("same", "same") == ((Segment("same", False),), (Segment("same", False),))

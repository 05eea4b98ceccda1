"""Writing conversations rather than importing them: a new conversation on an image, from a
PRIST dialogue file or as rounds to fill in with the final segmentation turn from a template; a
variant of one on the same image with another focus; soft delete and restore. Each is one
transaction with its history event. Editing a conversation's turns (add, remove, move, texts)
is the editing session's, one undoable command at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.core.errors import InputError
from annotator.core.model import Conversation, Flag, Image, Turn
from annotator.core.status import Status
from annotator.services.catalog import Catalog

CREATE = "create"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Created:
    conversation_id: int | None  # None: the same conversation was stored already
    image: Image
    turns: int


def turns_of(pairs: Sequence[tuple[str, str]]) -> tuple[Turn, ...]:
    return tuple(Turn(i, q, a) for i, (q, a) in enumerate(pairs))


def rounds_with_final(rounds: int, request: str, answer: str) -> tuple[Turn, ...]:
    """``rounds`` reasoning turns to write, then the segmentation turn (a template)."""
    if rounds < 0:
        raise InputError(f"a conversation has 0 or more reasoning rounds, not {rounds}")
    return turns_of([*[("", "")] * rounds, (request, answer)])


def create(
    store: Catalog,
    image: Image,
    focus: str,
    turns: Sequence[Turn],
    *,
    actor: str,
    key: str = "",
    source: str = "authored",
    status: Status = Status.DRAFT,
    flags: Sequence[Flag] = (),
    action: str = CREATE,
    detail: Mapping[str, Any] | None = None,
) -> int | None:
    """Store a new conversation on ``image`` (a draft unless ``status`` says otherwise); None
    when ``key`` is stored already. ``action`` and ``detail`` make its first history event."""
    conv = Conversation(
        image=image,
        focus=focus.strip(),
        turns=tuple(turns),
        status=status,
        source=source,
        key=key,
        flags=tuple(flags),
    )
    added = store.add_conversations([conv], actor=actor, action=action, detail=detail)
    return added.added_ids[0] if added.added_ids else None


def create_from_dialogue(
    store: Catalog, img_id: str, focus: str, dialogue_file: str | Path, *, actor: str
) -> Created:
    """``annotator conversations new``: the file is one PRIST ``dialogue`` array, checked whole
    (alternation, no empty message, ``[SEG]`` once at the end) before anything is stored. The
    same image, focus and dialogue make the same conversation: stored once."""
    from annotator.io.prist_reader import read_dialogue, record_key  # Pillow: not at start-up

    if not focus.strip():
        raise InputError("the focus is empty")
    pairs = read_dialogue(dialogue_file)
    image = store.image_named(img_id)
    dialogue = [
        {"from": who, "value": text} for q, a in pairs for who, text in (("human", q), ("gpt", a))
    ]
    key = record_key(image.path, focus.strip(), dialogue)
    cid = create(
        store, image, focus, turns_of(pairs), actor=actor, key=key, source=str(dialogue_file)
    )
    return Created(cid, image, len(pairs))


def duplicate(store: Catalog, conv_id: int, focus: str, *, actor: str) -> int:
    """A variant on the same image with another focus: the questions and draft answers are
    copied to start from; masks, verified answers and reviews are not (another target)."""
    if not focus.strip():
        raise InputError("the new focus is empty")
    old = store.get_conversation(conv_id)
    if focus.strip() == old.focus:
        raise InputError(f"#{conv_id} has that focus already; a variant needs another")
    turns = tuple(Turn(t.index, t.question, t.draft_answer) for t in old.turns)
    conv = Conversation(
        image=old.image,
        focus=focus.strip(),
        turns=turns,
        status=Status.DRAFT,
        source=f"duplicate of #{conv_id}",
    )
    return store.add_conversations([conv], actor=actor, action=DUPLICATE).added_ids[0]


def delete(store: Catalog, conv_id: int, *, actor: str) -> Conversation:
    return store.set_deleted(conv_id, True, actor=actor)


def restore(store: Catalog, conv_id: int, *, actor: str) -> Conversation:
    return store.set_deleted(conv_id, False, actor=actor)

"""Model-drafted conversations (``annotator draft``, the app's Draft conversations…): the
paper's automatic annotation pipeline, with people checking afterwards.

For every image with fewer than ``per_image`` conversations the model gets the image and our
prompt (``core.draft_prompt``) asking for the missing number of dialogues, each with a focus the
image does not have yet, 2-4 reasoning rounds (as asked) and the segmentation turn; the reply is
read strictly (``io.draft_reply``). Each dialogue is repaired only where that is mechanical and
checked (``core.draft_check``); one that breaks a rule is kept out and listed with the rule.
Each stored one is a normal conversation in one transaction, written by the model: its source
``draft:<model>``, a ``model_drafted`` flag, and a first history event ``draft`` that holds the
prompt version, the model the server named and its raw reply (cut at 16 KiB).

Resuming needs no state of its own: what an image needs is counted from the conversations it
has when its turn comes, and the foci it has (deleted ones too) are never drafted again. A
SIGKILL loses at most the replies in flight; a cancel stores nothing more after it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from annotator.core.draft_check import focus_key, vet_dialogue
from annotator.core.draft_prompt import PROMPT_VERSION, DialogueSlot, DraftRequest
from annotator.core.errors import AnnotatorError, Cancelled, InputError
from annotator.core.listing import ImageSummary, ListQuery
from annotator.core.model import Flag, FlagCode, Image
from annotator.core.progress import Task
from annotator.core.seg_templates import SEG_ANSWERS, SEG_REQUESTS, is_answer, is_request
from annotator.core.status import Status
from annotator.services import authoring
from annotator.services.catalog import Catalog
from annotator.services.settings import VLM_KEY_ENV
from annotator.services.work_lanes import work_lanes

if TYPE_CHECKING:  # the client (and OpenCV) load when a drafter is built
    from annotator.proposers.openai_client import ChatReply

DRAFT = "draft"  # the history action of a drafted conversation's creation
MAX_REPLY_KEPT = 16 * 1024  # characters of the raw reply kept with each conversation
MAX_MODEL_NAME = 120  # characters of the model name the server gives
NEW_STATUSES = (Status.DRAFT, Status.IN_REVIEW)  # what a draft may start as (no review yet)
_PAGE = 10_000  # conversations read per image: far above any real image's

RgbImage = NDArray[np.uint8]
ImageLoader = Callable[[Image], RgbImage]


class Drafter(Protocol):
    @property
    def model(self) -> str: ...

    concurrency: int

    def draft(
        self, image: RgbImage, request: DraftRequest, task: Task | None = None
    ) -> ChatReply: ...


@dataclass(frozen=True)
class DraftOptions:
    per_image: int = 3  # conversations an image should have, its own and drafted ones together
    rounds: tuple[int, int] = (2, 4)  # reasoning rounds before the segmentation turn (PRIST)
    status: Status = Status.DRAFT  # of the new conversations
    limit: int | None = None  # at most this many images get a request in a run
    requests: tuple[str, ...] = SEG_REQUESTS  # the final turn's wordings (the settings' list)
    answers: tuple[str, ...] = SEG_ANSWERS

    def __post_init__(self) -> None:
        lo, hi = self.rounds
        if self.per_image < 1:
            raise InputError(f"--per-image must be at least 1, not {self.per_image}")
        if not 1 <= lo <= hi:
            raise InputError(f"--rounds must be N or LO-HI with 1 <= LO <= HI, not {lo}-{hi}")
        if self.status not in NEW_STATUSES:
            allowed = " or ".join(s.value for s in NEW_STATUSES)
            raise InputError(f"a drafted conversation starts as {allowed}, not {self.status}")
        if self.limit is not None and self.limit < 1:
            raise InputError("--limit must be at least 1")
        if not [t for t in self.requests if is_request(t)]:
            raise InputError("no usable segmentation request wording")
        if not [t for t in self.answers if is_answer(t)]:
            raise InputError("no usable segmentation answer wording (one [SEG] each)")


@dataclass(frozen=True)
class KeptOut:
    """A drafted dialogue that was not stored, and why."""

    image: str  # the image's name
    dialogue: int  # 1-based, in the model's reply
    focus: str
    rule: str  # the first rule it broke (core.prist_rules.RULES or core.draft_check.DRAFT_RULES)
    message: str  # every breach, one line

    def as_dict(self) -> dict[str, object]:
        return {
            "image": self.image,
            "dialogue": self.dialogue,
            "focus": self.focus,
            "rule": self.rule,
            "message": self.message,
        }


@dataclass
class DraftSummary:
    model: str
    prompt_version: str = PROMPT_VERSION
    images: int = 0  # images that got a request
    complete: int = 0  # images that had enough conversations already
    drafted: list[int] = field(default_factory=list)  # ids of the stored conversations
    kept_out: list[KeptOut] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (image, one-line reason)
    unused: int = 0  # valid dialogues beyond what their image needed
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "prompt_version": self.prompt_version,
            "images": self.images,
            "complete": self.complete,
            "drafted": len(self.drafted),
            "conversation_ids": list(self.drafted),
            "kept_out": [k.as_dict() for k in self.kept_out],
            "failed": [{"image": i, "error": e} for i, e in self.failed],
            "unused": self.unused,
            "elapsed_s": round(self.elapsed_s, 3),
        }

    def line(self) -> str:
        return (
            f"{self.model}: {len(self.drafted)} conversations drafted on {self.images} images "
            f"in {self.elapsed_s:.1f} s; {len(self.kept_out)} kept out, {len(self.failed)} "
            f"images failed, {self.complete} had enough already"
        )


@dataclass(frozen=True)
class _Outcome:
    image: str
    slots: int  # conversations the image was counted for in the progress
    asked: bool = False  # a request was made
    drafted: tuple[int, ...] = ()
    kept_out: tuple[KeptOut, ...] = ()
    unused: int = 0
    error: str | None = None
    model: str = ""  # the model the server named


def run_draft_batch(
    store: Catalog,
    drafter: Drafter,
    options: DraftOptions | None = None,
    *,
    image_ids: Sequence[int] | None = None,
    load: ImageLoader | None = None,
    task: Task | None = None,
) -> DraftSummary:
    """Draft for every image (or ``image_ids``) that has fewer conversations than asked; see the
    module docstring. An image whose pixels, request or reply fail is listed and left for a
    later run; the batch goes on. Images are drafted ``drafter.concurrency`` at a time."""
    from annotator.services.propose_job import conversation_image  # image readers: when used

    options = options or DraftOptions()
    task = task or Task()
    load = load or conversation_image
    summary = DraftSummary(drafter.model)
    chosen = store.images()
    if image_ids is not None:
        wanted = set(image_ids)
        chosen = [im for im in chosen if im.id in wanted]
    pending = [im for im in chosen if im.conversations < options.per_image]
    summary.complete = len(chosen) - len(pending)
    if options.limit is not None:
        pending = pending[: options.limit]
    task.start(sum(options.per_image - im.conversations for im in pending), "drafting")
    start = time.perf_counter()

    def finish(outcome: _Outcome) -> None:
        summary.images += outcome.asked
        summary.complete += not outcome.asked and outcome.error is None
        summary.drafted.extend(outcome.drafted)
        summary.kept_out.extend(outcome.kept_out)
        summary.unused += outcome.unused
        if outcome.model:
            summary.model = outcome.model
        if outcome.error is not None:
            summary.failed.append((outcome.image, outcome.error))
        message = f"{outcome.image}: {len(outcome.drafted)} drafted"
        task.step(outcome.slots, message=message)  # raises Cancelled when asked to stop

    lanes = max(1, drafter.concurrency)
    try:
        with work_lanes(lanes, task, "draft") as pool:
            if pool is None:
                for im in pending:
                    finish(_draft_image(store, drafter, im, options, load, task))
            else:
                futures: list[Future[_Outcome]] = [
                    pool.submit(_draft_image, store, drafter, im, options, load, task)
                    for im in pending
                ]
                for future in as_completed(futures):
                    finish(future.result())
    finally:
        summary.elapsed_s = time.perf_counter() - start
    return summary


def _draft_image(
    store: Catalog,
    drafter: Drafter,
    listed: ImageSummary,
    options: DraftOptions,
    load: ImageLoader,
    task: Task,
) -> _Outcome:
    """Ask for and store the conversations one image still needs; safe to run on several
    threads at once (each image is one thread's)."""
    slots_counted = max(0, options.per_image - listed.conversations)
    try:
        task.check()
        image = store.image(listed.id)
        # Counted now, not when the run was listed: another run may have drafted meanwhile.
        live = store.page(ListQuery(image_id=listed.id), 0, _PAGE)
        deleted = store.page(ListQuery(image_id=listed.id, deleted=True), 0, _PAGE)
        need = options.per_image - len(live)
        if need <= 0:
            return _Outcome(listed.path, slots_counted)
        foci = [s.focus for s in (*live, *deleted)]
        slots = _slots(image, len(live), need, options)
        pixels = load(image)
        reply = drafter.draft(pixels, DraftRequest(slots, tuple(foci)), task)
        # The server names the model: untrusted, it becomes the author, so one bounded line.
        named = " ".join(reply.model.split())[:MAX_MODEL_NAME] or drafter.model
        reply = replace(reply, model=named)
    except Cancelled:
        raise
    except (AnnotatorError, OSError) as exc:
        return _Outcome(listed.path, slots_counted, error=str(exc))
    try:
        from annotator.io.draft_reply import parse_draft_reply

        parsed = parse_draft_reply(reply.text)
    except InputError as exc:
        return _Outcome(listed.path, slots_counted, asked=True, error=str(exc), model=reply.model)
    kept_out = [
        KeptOut(image.path, u.position + 1, u.focus, "shape", u.message) for u in parsed.unreadable
    ]
    taken = {focus_key(f) for f in foci}
    drafted: list[int] = []
    unused = 0
    error: str | None = None
    for d in parsed.dialogues:
        slot = slots[min(d.position, len(slots) - 1)]
        vetted = vet_dialogue(
            d.focus,
            d.turns,
            rounds=options.rounds,
            final=(slot.request, slot.answer),
            taken=taken,
        )
        if not vetted.ok:
            first = vetted.breaches[0]
            message = "; ".join(str(b) for b in vetted.breaches)
            kept_out.append(KeptOut(image.path, d.position + 1, vetted.focus, first.rule, message))
            continue
        if len(drafted) >= need:
            unused += 1
            continue
        task.check()  # a cancel stores nothing more
        try:
            cid = _store(
                store,
                image,
                vetted.focus,
                vetted.turns,
                reply,
                d.position,
                vetted.repairs,
                slot,
                options,
            )
        except AnnotatorError as exc:  # e.g. a full disk: nothing of this one was written
            error = f"dialogue {d.position + 1} was not stored: {exc}"
            break
        if cid is None:  # the same image, focus and dialogue are stored already
            message = "rule focus_new: the same dialogue is stored already"
            kept_out.append(KeptOut(image.path, d.position + 1, vetted.focus, "focus_new", message))
            continue
        drafted.append(cid)
        taken.add(focus_key(vetted.focus))
    return _Outcome(
        listed.path,
        slots_counted,
        asked=True,
        drafted=tuple(drafted),
        kept_out=tuple(kept_out),
        unused=unused,
        error=error,
        model=reply.model,
    )


def _slots(image: Image, have: int, need: int, options: DraftOptions) -> tuple[DialogueSlot, ...]:
    """The rounds and final wordings asked for, drawn from the image's content and what it has,
    so a run that is repeated asks the same (replies can be compared)."""
    rng = random.Random(f"{image.sha256}:{have}")
    requests = [t.strip() for t in options.requests if is_request(t)]
    answers = [t.strip() for t in options.answers if is_answer(t)]
    lo, hi = options.rounds
    return tuple(
        DialogueSlot(rng.randint(lo, hi), rng.choice(requests), rng.choice(answers))
        for _ in range(need)
    )


def _store(
    store: Catalog,
    image: Image,
    focus: str,
    turns: tuple[tuple[str, str], ...],
    reply: ChatReply,
    position: int,
    repairs: tuple[str, ...],
    slot: DialogueSlot,
    options: DraftOptions,
) -> int | None:
    """One conversation with its flag and audit event: one transaction."""
    from annotator.io.prist_reader import record_key

    dialogue = [
        {"from": who, "value": text} for q, a in turns for who, text in (("human", q), ("gpt", a))
    ]
    audit = {
        "prompt_version": PROMPT_VERSION,
        "model": reply.model,
        "reply": reply.text[:MAX_REPLY_KEPT],
        "reply_chars": len(reply.text),
        "dialogue": position + 1,
        "rounds_asked": slot.rounds,
        "repairs": list(repairs),
        "attempts": reply.attempts,
    }
    flag = Flag(
        FlagCode.MODEL_DRAFTED,
        f"drafted by {reply.model} (prompt {PROMPT_VERSION}): check every turn against the image",
    )
    return authoring.create(
        store,
        image,
        focus,
        authoring.turns_of(turns),
        actor=reply.model,
        key=record_key(image.path, focus, dialogue),
        source=f"draft:{reply.model}",
        status=options.status,
        flags=(flag,),
        action=DRAFT,
        detail=audit,
    )


# -- the app's entry ------------------------------------------------------------------------
@dataclass(frozen=True)
class DraftChoice:
    """What the app's dialog asks: the server, the model, and how many of what."""

    url: str
    model: str
    per_image: int = 3
    rounds: tuple[int, int] = (2, 4)
    key_env: str = VLM_KEY_ENV
    requests: tuple[str, ...] = SEG_REQUESTS
    answers: tuple[str, ...] = SEG_ANSWERS


def draft_images(
    store: Catalog,
    choice: DraftChoice,
    image_ids: Sequence[int],
    task: Task,
    images_dir: str | Path | None = None,
) -> DraftSummary:
    """Draft on ``image_ids`` as ``annotator draft`` does (resumable, cancellable)."""
    from annotator.proposers.vlm_drafter import VlmDrafter
    from annotator.services.propose_job import conversation_image

    options = DraftOptions(
        per_image=choice.per_image,
        rounds=choice.rounds,
        requests=choice.requests,
        answers=choice.answers,
    )
    drafter = VlmDrafter(choice.url, choice.model, key_env=choice.key_env or VLM_KEY_ENV)

    def load(image: Image) -> RgbImage:
        return conversation_image(image, images_dir)

    return run_draft_batch(store, drafter, options, image_ids=image_ids, load=load, task=task)

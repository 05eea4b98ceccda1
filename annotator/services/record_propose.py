"""Propose for one open record (the desktop app's Propose action): the configured proposer,
what is known about it before it loads, and proposals for the whole conversation or chosen turns.

Imports are deferred to keep the app's start light: the proposer protocol's module (entry
points) when it is used, torch when :func:`load_configured_proposer` builds a proposer (on a
worker thread in the app), the batch job's module (image readers) when proposing.
:func:`describe_configured_proposer` reads a MIRAS checkpoint's config file only, so the app can
say up front that a random test checkpoint proposes noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from annotator.core.errors import AnnotatorError, ProposerError
from annotator.core.model import Conversation, Proposal
from annotator.core.progress import Task
from annotator.services.settings import VLM_KEY_ENV, Settings

if TYPE_CHECKING:
    from annotator.core.listing import ListQuery
    from annotator.proposers.base import Proposer, RgbImage
    from annotator.storage import Store

MIRAS = "miras"
VLM = "vlm"


@dataclass(frozen=True)
class ProposerChoice:
    """Which proposer the settings ask for, with the options its factory takes."""

    name: str
    options: tuple[tuple[str, str], ...]

    @property
    def label(self) -> str:
        shown = dict(self.options)
        where = shown.get("checkpoint") or shown.get("url") or ""
        return f"{self.name} ({Path(where).name or where})" if where else self.name


@dataclass(frozen=True)
class ProposerPreview:
    """What is known before loading: ``proposes_noise`` is None when it cannot be told."""

    choice: ProposerChoice
    proposes_noise: bool | None
    description: str


def configured_proposer(settings: Settings) -> ProposerChoice | None:
    """The proposer the settings name (a checkpoint alone means MIRAS), or None."""
    name = settings.proposer.strip() or (MIRAS if settings.proposer_checkpoint.strip() else "")
    if not name:
        return None
    if name == VLM:
        options = {
            "url": settings.proposer_url.strip(),
            "model": settings.proposer_model.strip(),
            "box_format": settings.proposer_box_format.strip(),
            "key_env": settings.proposer_key_env.strip(),
        }
    else:
        options = {
            "checkpoint": settings.proposer_checkpoint.strip(),
            "device": settings.proposer_device.strip(),
            "url": settings.proposer_url.strip(),
        }
        if name == MIRAS:
            options.pop("url")
    return ProposerChoice(name, tuple((k, v) for k, v in options.items() if v))


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    text: str  # the model's reply, or why there is none
    seconds: float
    model: str = ""  # the model the server named


def test_vlm_connection(settings: Settings, timeout: float = 20.0) -> ConnectionCheck:
    """One small request to the configured vision-language server (no image): what it
    answered and how long it took, or the one-line reason it did not."""
    from annotator.proposers.openai_client import ChatClient

    start = time.perf_counter()
    try:
        client = ChatClient(
            settings.proposer_url,
            settings.proposer_model,
            key_env=settings.proposer_key_env.strip() or VLM_KEY_ENV,
            timeout=timeout,
            retries=0,
        )
        reply = client.complete(
            [{"role": "user", "content": "Reply with the word: ready"}], max_tokens=16
        )
    except AnnotatorError as exc:
        return ConnectionCheck(False, str(exc), time.perf_counter() - start)
    return ConnectionCheck(True, reply.text.strip()[:200], reply.elapsed_s, reply.model)


def available_proposers() -> list[str]:
    """Names of the installed proposers (entry points; nothing is imported)."""
    from annotator.proposers.base import proposer_names

    return proposer_names()


def describe_configured_proposer(choice: ProposerChoice) -> ProposerPreview:
    """Read what the proposer's files say about it without loading it."""
    checkpoint = dict(choice.options).get("checkpoint")
    if choice.name != MIRAS or not checkpoint:
        return ProposerPreview(choice, None, choice.label)
    from annotator.proposers.miras.config import read_config  # torch-free

    try:
        config = read_config(Path(checkpoint))
    except Exception as exc:  # a broken checkpoint is reported when it is loaded
        return ProposerPreview(choice, None, f"{choice.label}: {exc}")
    noise = bool(config.random_init)
    return ProposerPreview(
        choice,
        noise,
        f"MIRAS {config.name}" + (": RANDOM WEIGHTS, its proposals are noise" if noise else ""),
    )


def load_configured_proposer(choice: ProposerChoice) -> Proposer:
    """Build the proposer (imports torch for MIRAS: call it on a worker thread)."""
    from annotator.proposers.base import load_proposer

    return load_proposer(choice.name, **dict(choice.options))


def propose_record(
    proposer: Proposer,
    conv: Conversation,
    image: RgbImage,
    *,
    turns: Sequence[int] | None = None,
    task: Task | None = None,
    on_turn: Callable[[Proposal], None] | None = None,
) -> list[Proposal]:
    """Proposals for ``turns`` of ``conv`` (all turns when None), each with the conversation's
    own answers (verified, else draft) as history, as the batch job does. Unsaved."""
    from annotator.services.propose_job import propose_conversation

    task = task or Task()
    wanted = list(range(len(conv.turns))) if turns is None else sorted(set(turns))
    for t in wanted:
        if not 0 <= t < len(conv.turns):
            raise ProposerError(f"conversation {conv.id} has no turn {t + 1}")
    task.start(len(wanted), f"proposing {len(wanted)} turn(s)")

    def step(proposal: Proposal) -> None:
        task.step(message=f"turn {proposal.turn_index + 1} proposed")
        if on_turn is not None:
            on_turn(proposal)

    return propose_conversation(proposer, conv, image, turns=wanted, task=task, on_turn=step)


def propose_listed(
    store: Store, choice: ProposerChoice, query: ListQuery, task: Task
) -> dict[str, object]:
    """Proposals for every record ``query`` lists that this proposer version has not answered
    yet, as ``annotator propose`` makes them (one transaction per conversation, resumable,
    cancellable); its summary."""
    from annotator.services.propose_job import run_propose_batch

    proposer = load_configured_proposer(choice)
    try:
        return run_propose_batch(store, proposer, query=query, task=task).as_dict()
    finally:
        proposer.close()

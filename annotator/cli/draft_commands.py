"""``annotator draft``: conversations drafted by a vision-language model for the images that have
none or too few (see ``services.draft_job``). Heavy imports happen inside the handler."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from annotator.cli.common import add_chat_server_options, print_json
from annotator.cli.progress_bar import progress_task

DRAFTERS = ("vlm",)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "draft",
        help="draft conversations with a vision-language model for images that have too few",
        description="Asks an OpenAI-compatible vision-language server to describe each image "
        "that has fewer than --per-image conversations, pick targets it does not have yet and "
        "write a coarse-to-fine dialogue for each, ending in the segmentation request. Each "
        "valid dialogue is stored as a draft conversation by the model (flagged model_drafted, "
        "its prompt version and raw reply in the history), one transaction each; an invalid "
        "one is listed with the rule it broke. Safe to interrupt and run again.",
    )
    p.add_argument("--proposer", choices=DRAFTERS, default="vlm", help="the drafter (vlm)")
    add_chat_server_options(p, temperature=0.7, max_tokens=4096, timeout=180.0, in_flight="images")
    p.add_argument(
        "--per-image",
        type=int,
        default=3,
        help="conversations each image should have, its own included (default 3)",
    )
    p.add_argument(
        "--rounds",
        type=rounds_range,
        default=(2, 4),
        metavar="LO-HI",
        help="reasoning rounds before the segmentation turn, N or LO-HI (default 2-4, as PRIST)",
    )
    p.add_argument(
        "--status-of-new",
        choices=("draft", "in_review"),
        default="draft",
        help="status of the new conversations (default draft)",
    )
    p.add_argument("--limit", type=int, default=None, help="at most N images this run")
    p.add_argument(
        "--image",
        action="append",
        default=None,
        metavar="IMG_ID",
        help="only this image (by name; repeat for more)",
    )
    p.add_argument("--images", type=Path, default=None, help="image directory (if images moved)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run_draft)


def rounds_range(value: str) -> tuple[int, int]:
    """``3`` or ``2-4``."""
    lo, sep, hi = value.partition("-")
    try:
        bounds = (int(lo), int(hi) if sep else int(lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or LO-HI, got {value!r}") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"need 1 <= LO <= HI, got {value!r}")
    return bounds


def run_draft(args: argparse.Namespace) -> int:
    from annotator.core.status import Status
    from annotator.proposers.openai_client import DEFAULT_KEY_ENV
    from annotator.proposers.vlm_drafter import VlmDrafter
    from annotator.services.draft_job import DraftOptions, run_draft_batch
    from annotator.services.propose_job import conversation_image
    from annotator.services.settings import load_settings
    from annotator.storage import open_store

    settings = load_settings()  # the project's segmentation-turn wordings
    options = DraftOptions(
        per_image=args.per_image,
        rounds=args.rounds,
        status=Status(args.status_of_new),
        limit=args.limit,
        requests=tuple(settings.seg_requests),
        answers=tuple(settings.seg_answers),
    )
    drafter = VlmDrafter(
        args.url,
        args.model,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        timeout=args.timeout,
        concurrency=args.concurrency,
        key_env=args.key_env or DEFAULT_KEY_ENV,
    )
    images = args.images

    def load(image: Any) -> Any:
        return conversation_image(image, images)

    print(f"drafting with {drafter.model} at {drafter.endpoint} ...", file=sys.stderr)
    with open_store(args.db) as store, progress_task(f"drafting ({drafter.model})") as task:
        ids = None
        if args.image:
            ids = [store.image_named(name).id or 0 for name in args.image]
        summary = run_draft_batch(store, drafter, options, image_ids=ids, load=load, task=task)
    if args.json:
        print_json(summary.as_dict())
    else:
        print(summary.line())
        for k in summary.kept_out:
            print(f"  kept out: {k.image} dialogue {k.dialogue} ({k.focus!r}): {k.message}")
        for image, error in summary.failed:
            print(f"  {image} failed: {error}")
    return 1 if summary.failed else 0

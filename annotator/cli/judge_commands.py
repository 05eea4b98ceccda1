"""``annotator judge``: an OpenAI-compatible model grades the proposals' answers on the
reasoning criteria, or compares two proposers' answers turn by turn (docs/adr/0019). Heavy
imports happen inside the handler."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from annotator.cli.common import acting_user, add_chat_server_options, open_db, print_json
from annotator.cli.progress_bar import progress_task


def register(sub: Any) -> None:
    p = sub.add_parser(
        "judge",
        help="score the proposals' answers with an LLM judge on reasoning-quality criteria",
        description="Sends each model answer, with its question, the conversation before it and "
        "the reference answer, to an OpenAI-compatible server and stores the judge's scores (1-3 "
        "on accuracy, informativeness, fluency, logicality, harmlessness) with the model the "
        "server named and the prompt version. With --pairwise A B it compares two proposers' "
        "answers to the same turns instead (shown in random order) and reports A's win, tie and "
        "loss rates. A reply that does not parse is stored as a failed judgement. One "
        "transaction per conversation; safe to interrupt and run again (answers already judged "
        "by the same model, prompt version and reference are skipped). The API key is read from "
        "the environment variable named by --key-env.",
    )
    add_chat_server_options(
        p, temperature=0.0, max_tokens=512, timeout=60.0, in_flight="conversations"
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--proposer", default=None, metavar="NAME", help="only this proposer's answers (NAME[@V])"
    )
    which.add_argument(
        "--pairwise",
        nargs=2,
        default=None,
        metavar=("A", "B"),
        help="compare proposer A's answers with B's on the turns both answered (NAME[@VERSION])",
    )
    p.add_argument(
        "--against",
        choices=("verified", "draft"),
        default="verified",
        help="the reference answer the judge is given: the verified answer (default) or the "
        "imported/drafted one",
    )
    p.add_argument("--limit", type=int, default=None, help="at most N conversations this run")
    p.add_argument(
        "--with-target",
        action="store_true",
        help="also judge the final segmentation request (default: the explanation turns only)",
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="judge again the answers whose earlier verdicts all failed to parse",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="pairwise: seed of the shown order (default: random)"
    )
    p.add_argument("--as", dest="actor", metavar="NAME", help="who runs it (default: Settings)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run_judge_command)


def run_judge_command(args: argparse.Namespace) -> int:
    from annotator.cli.metrics_commands import print_reasoning
    from annotator.core.judge_criteria import Reference
    from annotator.proposers.openai_client import DEFAULT_KEY_ENV, ChatClient
    from annotator.services.judge_job import JudgeOptions, run_judge
    from annotator.services.reasoning_report import summarise

    client = ChatClient(
        args.url, args.model, key_env=args.key_env or DEFAULT_KEY_ENV, timeout=args.timeout
    )
    store = open_db(args)
    options = JudgeOptions(
        reference=Reference(args.against),
        proposer=args.proposer,
        pairwise=(args.pairwise[0], args.pairwise[1]) if args.pairwise else None,
        with_target=args.with_target,
        retry_failed=args.retry_failed,
        limit=args.limit,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        concurrency=args.concurrency,
        seed=args.seed,
        actor=acting_user(args.actor, store),
    )
    with store, progress_task(f"judging ({client.model})") as task:
        summary = run_judge(store, client, options, task=task)
        # This judge's verdicts so far (earlier runs included), as the metrics report shows them.
        mine = {"requested": client.model, "prompt_version": options.prompt_version}
        section = summarise(
            store.judgements(**mine) if options.pairwise is None else [],
            store.pairwise_judgements(**mine) if options.pairwise is not None else [],
        )
    if args.json:
        print_json({**summary.as_dict(), "results": section})
    else:
        d = summary.as_dict()
        print(
            f"{d['judge_requested']} ({', '.join(d['judge_models']) or 'no reply'}), "
            f"{d['prompt_version']}, against {d['reference']} answers: {d['conversations']} "
            f"conversations, {d['judged']} verdicts, {len(summary.failed_replies)} replies that "
            f"did not parse, {d['skipped']} already judged, {d['without_reference']} without a "
            f"reference answer in {d['elapsed_s']} s"
        )
        for conv_id, turn, reason in summary.failed_replies:
            print(f"  conversation {conv_id} turn {turn}: judge reply not used: {reason}")
        for conv_id, error in summary.failed:
            print(f"  conversation {conv_id} failed: {error}")
        print_reasoning(section, sys.stdout)
    return 1 if summary.failed else 0

"""``annotator review``, ``annotator reasons`` and ``annotator project``: the reviewer's
decisions, the project's reason codes and its review settings, from scripts. A refusal exits
non-zero with the rule that refused it."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from annotator.cli.common import acting_user, open_db, print_json

if TYPE_CHECKING:
    from annotator.storage import Store


def register(sub: Any) -> None:
    p = sub.add_parser("review", help="approve, reject, reopen or comment on a record or turn")
    p.add_argument("id", type=int, help="the conversation")
    what = p.add_mutually_exclusive_group()  # none of them: --comment TEXT alone
    what.add_argument("--approve", action="store_true", help="approve the record (or --turn)")
    what.add_argument("--reject", metavar="REASON", help="reject with a reason code")
    what.add_argument(
        "--reopen", metavar="WHY", help="reopen the record (or withdraw a turn's verdict)"
    )
    what.add_argument(
        "--request-second", action="store_true", help="queue for a second, blind review"
    )
    what.add_argument("--resolve", type=int, metavar="COMMENT_ID", help="mark a comment resolved")
    what.add_argument("--thread", action="store_true", help="print the comment threads")
    p.add_argument("--comment", default="", help="a comment (alone: add it to the thread)")
    p.add_argument("--turn", type=int, metavar="N", help="the turn, counted from 1")
    p.add_argument("--as", dest="actor", metavar="NAME", help="who decides (default: Settings)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=_review)

    reasons = sub.add_parser("reasons", help="the project's reason codes for rejecting")
    rsub = reasons.add_subparsers(dest="reasons_command", metavar="ACTION", required=True)
    r = rsub.add_parser("list", help="the codes offered (with --all the retired ones too)")
    r.add_argument("--all", action="store_true")
    r.add_argument("--json", action="store_true")
    r.set_defaults(run=_reasons_list)
    r = rsub.add_parser("add", help="a new code")
    r.add_argument("code", help="1-32 of a-z, 0-9 and _")
    r.add_argument("label", nargs="?", default="", help="what people read")
    r.set_defaults(run=_reasons_edit, action="add")
    r = rsub.add_parser("rename", help="a new label for a code (reviews keep the code)")
    r.add_argument("code")
    r.add_argument("label")
    r.set_defaults(run=_reasons_edit, action="rename")
    for name, what_it_does in (("retire", "no longer offered"), ("restore", "offered again")):
        r = rsub.add_parser(name, help=what_it_does)
        r.add_argument("code")
        r.set_defaults(run=_reasons_edit, action=name)

    project = sub.add_parser("project", help="settings every reviewer of the database obeys")
    psub = project.add_subparsers(dest="project_command", metavar="SETTING", required=True)
    b = psub.add_parser("blind-first", help="require blind-first review for everyone")
    b.add_argument("value", nargs="?", choices=("on", "off"), help="without: show it")
    b.set_defaults(run=_blind_first)


def _review(args: argparse.Namespace) -> int:
    from annotator.core.errors import WorkflowError
    from annotator.core.model import Decision, Review

    turn = None if args.turn is None else args.turn - 1
    if args.turn is not None and args.turn < 1:
        raise WorkflowError(f"--turn counts from 1, got {args.turn}")
    with open_db(args) as store:
        if args.thread:
            return _print_thread(store, args.id, turn, args.json)
        if args.resolve is not None:
            store.resolve_comment(args.id, args.resolve, actor=acting_user(args.actor, store))
            print(f"#{args.id}: comment {args.resolve} resolved")
            return 0
        decision, reason, comment = Decision.COMMENT, None, args.comment
        if args.approve:
            decision = Decision.APPROVE
        elif args.reject is not None:
            decision, reason = Decision.REJECT, args.reject
        elif args.reopen is not None:
            decision = Decision.REOPEN
            comment = "\n".join(x for x in (args.reopen, args.comment) if x)
        elif args.request_second:
            decision = Decision.REQUEST_SECOND
        elif not args.comment.strip():
            raise WorkflowError(
                "say what to do: --approve, --reject REASON, --reopen WHY, --comment TEXT, "
                "--request-second, --resolve ID or --thread"
            )
        review = Review(
            acting_user(args.actor, store), decision, comment, turn_index=turn, reason=reason
        )
        conv = store.add_review(args.id, review)
    what = f"turn {args.turn}" if args.turn is not None else "record"
    if args.json:
        print(
            json.dumps(
                {
                    "id": args.id,
                    "decision": decision.value,
                    "turn": args.turn,
                    "status": conv.status.value,
                    "revision": conv.revision,
                }
            )
        )
    else:
        print(f"#{args.id} {what}: {decision.value}; the record is {conv.status.value}")
    return 0


def _print_thread(store: Store, conv_id: int, turn: int | None, as_json: bool) -> int:
    entries = [
        r
        for r in store.reviews(conv_id)
        if r.comment.strip() and (turn is None or r.turn_index == turn)
    ]
    rows = [
        {
            "id": r.id,
            "turn": None if r.turn_index is None else r.turn_index + 1,
            "author": r.reviewer,
            "at": r.created_at.isoformat(),
            "decision": r.decision.value,
            "reason": r.reason,
            "comment": r.comment,
            "resolved_by": r.resolved_by,
        }
        for r in entries
    ]
    if as_json:
        print_json(rows)
        return 0
    for row in rows:
        where = "record" if row["turn"] is None else f"turn {row['turn']}"
        done = f"  [resolved by {row['resolved_by']}]" if row["resolved_by"] else ""
        print(f"{row['id']:>5}  {row['at'][:19]}  {row['author']}  {where}: {row['comment']}{done}")
    return 0


def _reasons_list(args: argparse.Namespace) -> int:
    with open_db(args) as store:
        entries = store.reason_codes(include_retired=args.all)
    if args.json:
        rows = [{"code": e.code, "label": e.label, "retired": e.retired} for e in entries]
        print_json(rows)
        return 0
    for e in entries:
        print(f"{e.code:<24} {e.label}" + ("  (retired)" if e.retired else ""))
    return 0


def _reasons_edit(args: argparse.Namespace) -> int:
    with open_db(args) as store:
        if args.action == "add":
            entry = store.add_reason_code(args.code, args.label)
        elif args.action == "rename":
            entry = store.rename_reason_code(args.code, args.label)
        else:
            entry = store.retire_reason_code(args.code, retired=args.action == "retire")
    state = "retired" if entry.retired else "offered"
    print(f"{entry.code}: {entry.label} ({state})")
    return 0


def _blind_first(args: argparse.Namespace) -> int:
    from annotator.core.review_rules import BLIND_FIRST_REQUIRED

    with open_db(args) as store:
        if args.value is not None:
            store.set_project_setting(BLIND_FIRST_REQUIRED, args.value == "on")
        required = bool(store.project_setting(BLIND_FIRST_REQUIRED, False))
    print(f"blind-first review: {'required for everyone' if required else 'each reviewer chooses'}")
    return 0

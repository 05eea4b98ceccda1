"""``annotator team ...`` (members, roles, assignments, progress) and ``annotator next``.

Team mode lives in a PostgreSQL database that enforces the rules itself (docs/adr/0023): these
commands only ask it. Credentials come from libpq (``~/.pgpass``, ``PGSERVICE``, client
certificates in the URL); a password for a new member is read from standard input, never from
the command line, and goes to the server only.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

from annotator.cli.common import acting_user, open_db, print_json

ROLE_CHOICES = ("annotator", "reviewer", "admin")


def register(sub: Any) -> None:
    team = sub.add_parser(
        "team",
        help="team mode on PostgreSQL: members, roles, assignments, progress",
        description="Run `team init` once as the database owner (it needs CREATEROLE); the "
        "database then enforces roles, four eyes and claims for every client.",
    )
    team_sub = team.add_subparsers(dest="team_command", metavar="ACTION", required=True)
    i = team_sub.add_parser("init", help="create the roles, privileges and rules (idempotent)")
    i.set_defaults(run=_init)

    a = team_sub.add_parser("add", help="add a login role with a team role (or change its role)")
    a.add_argument("name", help="login name")
    a.add_argument("--role", choices=ROLE_CHOICES, required=True)
    a.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the login's password from standard input (else: log in by certificate, "
        "peer or a password set by the server's administrator)",
    )
    a.set_defaults(run=_add)

    r = team_sub.add_parser("remove", help="take the team roles away (the history stays)")
    r.add_argument("name")
    r.set_defaults(run=_remove)

    ls = team_sub.add_parser("list", help="members and their roles")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=_list)

    s = team_sub.add_parser("assign", help="hand records to a person (admins)")
    s.add_argument("ids", nargs="+", type=int)
    who = s.add_mutually_exclusive_group(required=True)
    who.add_argument("--to", dest="person", help="login name")
    who.add_argument("--nobody", action="store_true", help="to anyone again")
    s.set_defaults(run=_assign)

    rel = team_sub.add_parser("release", help="release claims (yours; anyone's for admins)")
    rel.add_argument("ids", nargs="*", type=int, help="records (default: all you hold)")
    rel.add_argument("--all-people", action="store_true", help="anyone's claims (admins)")
    rel.set_defaults(run=_release)

    p = team_sub.add_parser("progress", help="per person: claimed, done today, reviewed, fate")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_progress)

    n = sub.add_parser(
        "next",
        help="claim the next record to work on (annotators: drafts, proposals, rejections; "
        "reviewers: records in review, never their own last edit)",
    )
    n.add_argument("--role", choices=("annotator", "reviewer"), default=None)
    n.add_argument("--json", action="store_true")
    n.set_defaults(run=_next)


def _init(args: argparse.Namespace) -> int:
    with open_db(args) as store:
        store.team.init()
        print(f"team mode ready on {store.url}: roles annotator < reviewer < admin")
    return 0


def _add(args: argparse.Namespace) -> int:
    from annotator.core.errors import InputError

    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InputError("--password-stdin: standard input held no password")
    with open_db(args) as store:
        store.team.add_member(args.name, args.role, password)
    print(f"{args.name} is now {args.role}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    with open_db(args) as store:
        store.team.remove_member(args.name)
    print(f"{args.name} has no team role any more")
    return 0


def _list(args: argparse.Namespace) -> int:
    with open_db(args) as store:
        members = store.team.members()
    if args.json:
        print_json([asdict(m) for m in members])
    else:
        for m in members:
            print(f"{m.name:<24} {m.role}{'' if m.can_login else ' (cannot log in)'}")
    return 0


def _assign(args: argparse.Namespace) -> int:
    with open_db(args) as store:
        n = store.team.assign(args.ids, None if args.nobody else args.person)
    print(f"{n} record(s) assigned to {'anyone' if args.nobody else args.person}")
    return 0


def _release(args: argparse.Namespace) -> int:
    with open_db(args) as store:
        me = None if args.all_people else acting_user(store=store)
        n = store.team.release(args.ids or None, me)
    print(f"{n} claim(s) released")
    return 0


def _progress(args: argparse.Namespace) -> int:
    with open_db(args) as store:
        rows = store.team.progress()
    if args.json:
        print_json([asdict(r) for r in rows])
        return 0
    print(
        f"{'person':<20} {'claimed':>7} {'done today':>10} {'reviewed':>8} {'approved':>8} "
        f"{'rejected':>8}"
    )
    for r in rows:
        print(
            f"{r.person:<20} {r.claimed:>7} {r.done_today:>10} {r.reviewed_today:>8} "
            f"{r.approved:>8} {r.rejected:>8}"
        )
    return 0


def _next(args: argparse.Namespace) -> int:
    with open_db(args) as store:
        me = acting_user(store=store)
        role = args.role or (
            "reviewer" if store.team.role() in ("reviewer", "admin") else "annotator"
        )
        found = store.team.next_record(me, role)
    if args.json:
        print_json({"record": found, "role": role, "holder": me})
    elif found is None:
        print(f"nothing to do as {role}")
    else:
        print(f"#{found} is yours ({role})")
    return 0

"""``annotator bench team --url URL``: simulated team members claim, edit and save against a real
PostgreSQL database, each logged in as its own role; saves/s, p95 save latency, double claims,
lost updates and refusals, with the records handed out by ``FOR UPDATE SKIP LOCKED`` and, in the
same run, the naive way (plain ``FOR UPDATE``: askers queue on one row).

``URL`` names an empty database and a role that may create roles (the database owner): the bench
sets up team mode, adds its members (``bench_NN``, removed again at the end) and its records.
Each client loops: take the next record, append a token to the target turn's verified answer,
save, and now and then try to edit a record someone else holds (the database must refuse it).
Afterwards every acknowledged save's token must be in the stored text (else: a lost update),
and no two clients may have held one record at the same time (else: a double claim).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import threading
import time
from typing import Any

PASSWORD_BYTES = 18


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", required=True, help="an empty PostgreSQL database (owner's login)")
    p.add_argument("--clients", type=int, default=20, help="simulated members (default 20)")
    p.add_argument("--seconds", type=float, default=60.0, help="per way of handing out (60)")
    p.add_argument("--records", type=int, default=200, help="draft records to work on (200)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import secrets

    import sqlalchemy as sa

    from annotator.core.errors import InputError
    from annotator.storage import open_store

    owner = open_store(args.url)
    names = [f"bench_{i:02d}" for i in range(args.clients)]
    try:
        if not owner.is_empty():
            raise InputError(f"{owner.url}: bench team needs an empty database (it adds records)")
        owner.team.init()
        passwords = {n: secrets.token_urlsafe(PASSWORD_BYTES) for n in names}
        for name in names:
            owner.team.add_member(name, "annotator", passwords[name])
        out: dict[str, Any] = {
            "server": owner.engine.dialect.server_version_info,
            "clients": args.clients,
            "seconds_per_way": args.seconds,
            "records": args.records,
        }
        for way, skip in (("skip_locked", True), ("naive_for_update", False)):
            _reset_records(owner, args.records)
            out[way] = _one_way(args, names, passwords, skip)
        return out
    finally:
        with owner.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM work_claims"))  # the bench's own database
            for name in names:
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{name}"')
        owner.close()


def _reset_records(owner: Any, count: int) -> None:
    import sqlalchemy as sa

    from annotator.core.model import Conversation, Image, Turn

    with owner.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM work_claims"))
        conn.execute(sa.text("DELETE FROM conversations"))
    image = Image(path="bench/scene.jpg", width=640, height=480, sha256="b" * 64, root="/bench")
    owner.add_conversations(
        [
            Conversation(
                image=image,
                focus=f"thing number {n}",
                turns=(
                    Turn(0, f"What is on the left of picture {n}?", "A shelf with cups."),
                    Turn(1, "Please segment the blue cup.", "Sure, [SEG].", final_answer="Sure"),
                ),
                source=f"bench#{n}",
            )
            for n in range(count)
        ],
        actor="bench",
    )


@dataclasses.dataclass
class _Tally:
    saves: int = 0
    latencies: list[float] = dataclasses.field(default_factory=list)
    refused_as_expected: int = 0  # an edit of a record someone else held
    intruded_after_release: int = 0  # that record was released before the edit arrived
    conflicts: int = 0  # own save met a newer revision (after such an intrusion)
    errors: int = 0
    empty_queue: int = 0
    tokens: dict[int, list[str]] = dataclasses.field(default_factory=dict)
    error_kinds: dict[str, str] = dataclasses.field(default_factory=dict)  # kind -> first message


class _Board:
    """Who holds which record right now, as the clients themselves report it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holding: dict[int, str] = {}
        self.double_claims = 0

    def give_back(self, name: str, cid: int | None) -> None:
        """Before asking for the next record (the database releases the previous one then)."""
        with self.lock:
            if cid is not None and self.holding.get(cid) == name:
                del self.holding[cid]

    def took(self, name: str, cid: int) -> list[int]:
        """Record a claim; returns the records others hold now."""
        with self.lock:
            if self.holding.get(cid, name) != name:
                self.double_claims += 1
            self.holding[cid] = name
            return [c for c, who in self.holding.items() if who != name]


class _Client:
    def __init__(self, url: str, name: str, skip: bool, board: _Board) -> None:
        from annotator.storage import open_store

        self.store = open_store(url)
        self.name, self.skip, self.board = name, skip, board
        self.tally = _Tally()
        self.rng = random.Random(name)
        self.mine: int | None = None

    def cycle(self) -> None:
        """Take the next record, append a token to its answer, save; sometimes intrude."""
        from annotator.core.errors import AnnotatorError
        from annotator.core.model import HistoryEvent

        self.board.give_back(self.name, self.mine)
        self.mine = None
        found = self.store.team.next_record(self.name, "annotator", skip_locked=self.skip)
        if found is None:
            self.tally.empty_queue += 1
            return
        others = self.board.took(self.name, found)
        self.mine = found
        conv = self.store.get_conversation(found)
        token = f"{self.name}:{self.tally.saves}"
        last = conv.turns[-1]
        edited = dataclasses.replace(last, final_answer=f"{last.final_answer or ''}|{token}")
        t0 = time.perf_counter()
        self.store.save_conversation(
            dataclasses.replace(conv, turns=(*conv.turns[:-1], edited)),
            actor=self.name,
            events=[HistoryEvent(actor=self.name, action="answer", detail={"turn": last.index})],
        )
        self.tally.latencies.append(time.perf_counter() - t0)
        self.tally.saves += 1
        self.tally.tokens.setdefault(found, []).append(token)
        if others and self.rng.random() < 0.1:  # someone else's: the database must refuse
            target = self.rng.choice(others)
            try:
                other = self.store.get_conversation(target)
                self.store.save_conversation(
                    dataclasses.replace(other, focus=other.focus + "!"), actor=self.name
                )
            except AnnotatorError:
                self.tally.refused_as_expected += 1
            else:
                self.tally.intruded_after_release += 1


def _one_way(
    args: argparse.Namespace, names: list[str], passwords: dict[str, str], skip: bool
) -> dict[str, Any]:
    import sqlalchemy as sa

    from annotator.storage import ConflictError

    board = _Board()
    clients = [
        _Client(
            sa.engine.make_url(args.url)
            .set(username=n, password=passwords[n])
            .render_as_string(hide_password=False),
            n,
            skip,
            board,
        )
        for n in names
    ]
    start = threading.Barrier(len(clients))
    stop = [0.0]

    def loop(client: _Client) -> None:
        start.wait()
        while time.perf_counter() < stop[0]:
            try:
                client.cycle()
            except ConflictError:
                client.tally.conflicts += 1
            except Exception as exc:  # counted and reported; the run goes on
                client.tally.errors += 1
                client.tally.error_kinds.setdefault(type(exc).__name__, str(exc)[:200])

    threads = [threading.Thread(target=loop, args=(c,)) for c in clients]
    t0 = time.perf_counter()
    stop[0] = t0 + args.seconds
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    for c in clients:
        c.store.close()
    tallies = [c.tally for c in clients]
    latencies = sorted(x for t in tallies for x in t.latencies)
    saves = sum(t.saves for t in tallies)
    return {
        "saves": saves,
        "saves_per_s": round(saves / elapsed, 1),
        "save_ms_median": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "save_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 2)
        if latencies
        else None,
        "double_claims": board.double_claims,
        "error_kinds": {k: v for t in tallies for k, v in t.error_kinds.items()},
        "lost_updates": _lost_updates(args.url, tallies),
        **{
            key: sum(getattr(t, key) for t in tallies)
            for key in (
                "refused_as_expected",
                "intruded_after_release",
                "conflicts",
                "errors",
                "empty_queue",
            )
        },
    }


def _lost_updates(url: str, tallies: list[_Tally]) -> int:
    from annotator.storage import open_store

    store = open_store(url)
    try:
        lost = 0
        for tally in tallies:
            for cid, tokens in tally.tokens.items():
                text = store.get_conversation(cid).turns[-1].final_answer or ""
                stored = set(text.split("|"))
                lost += sum(1 for tok in tokens if tok not in stored)
        return lost
    finally:
        store.close()

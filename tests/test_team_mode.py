"""Team mode on a real PostgreSQL server: identity from the login role, roles enforced by the
database (through this tool's storage *and* from a raw session logged in as that role), claims
handed out without doubles, lapsed claims taken over, admin-only actions, the upgrade of a team
database that already holds work."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fixtures_storage import make_conversation

from annotator.core.errors import RefusedError
from annotator.core.model import Decision, HistoryEvent, Review, Status
from annotator.storage import Store, open_store

pytestmark = pytest.mark.postgres

PEOPLE = {"alice": "annotator", "bob": "annotator", "rita": "reviewer", "rex": "reviewer"}
PEOPLE_ADMIN = "ada"


def url_as(url: str, user: str) -> str:
    """The same database, logged in as ``user`` (the test server trusts loopback logins)."""
    return sa.engine.make_url(url).set(username=user).render_as_string(hide_password=False)


@pytest.fixture
def team_db(postgres_url: str) -> Iterator[str]:
    owner = open_store(postgres_url)
    owner.add_conversations(
        [make_conversation(n, final_mask=True) for n in range(6)], actor="importer"
    )
    owner.team.init()
    for name, role in PEOPLE.items():
        owner.team.add_member(name, role)
    owner.team.add_member(PEOPLE_ADMIN, "admin")
    owner.close()
    yield postgres_url


@pytest.fixture
def people(team_db: str) -> Iterator[dict[str, Store]]:
    stores = {name: open_store(url_as(team_db, name)) for name in [*PEOPLE, PEOPLE_ADMIN]}
    yield stores
    for s in stores.values():
        s.close()


def raw(url: str, user: str) -> sa.Engine:
    return sa.create_engine(url_as(url, user))


def edited(store: Store, conv_id: int, text: str) -> None:
    conv = store.get_conversation(conv_id)
    turn = dataclasses.replace(conv.turns[0], final_answer=text)
    store.save_conversation(
        dataclasses.replace(conv, turns=(turn, *conv.turns[1:])),
        actor="someone-else",
        events=[HistoryEvent(actor="someone-else", action="answer", detail={"turn": 0})],
    )


# -- identity ---------------------------------------------------------------------------------
def test_the_database_names_the_actor_whatever_the_client_says(
    people: dict[str, Store], team_db: str
) -> None:
    alice = people["alice"]
    assert alice.team.identity() == "alice" and alice.team.role() == "annotator"
    assert people["rita"].team.role() == "reviewer" and people[PEOPLE_ADMIN].team.role() == "admin"
    edited(alice, 1, "alice wrote this")  # a draft: annotators edit drafts
    events = alice.history(1)
    assert events[-1].actor == "alice"  # the client said "someone-else"
    with raw(team_db, "alice").begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO history (conversation_id, actor, action, detail, created_at) "
                "VALUES (1, 'rita', 'note', '{}', now())"
            )
        )
        forged = conn.execute(
            sa.text("SELECT actor FROM history WHERE action = 'note'")
        ).scalar_one()
    assert forged == "alice"
    with raw(team_db, "alice").connect() as conn:
        last_editor = conn.execute(
            sa.text("SELECT last_editor FROM conversations WHERE id = 1")
        ).scalar_one()
    assert last_editor == "alice"


# -- roles ------------------------------------------------------------------------------------
def submit(store: Store, conv_id: int) -> None:
    conv = store.get_conversation(conv_id)
    store.save_conversation(dataclasses.replace(conv, status=Status.IN_REVIEW), actor="x")


def test_only_reviewers_judge_and_never_their_own_last_edit(
    people: dict[str, Store], team_db: str
) -> None:
    alice, rita, rex = people["alice"], people["rita"], people["rex"]
    edited(alice, 2, "checked by alice")
    submit(alice, 2)
    with pytest.raises(RefusedError, match="reviewer"):
        alice.add_review(2, Review("alice", Decision.APPROVE))
    with raw(team_db, "alice").begin() as conn, pytest.raises(sa.exc.ProgrammingError):
        conn.execute(sa.text("UPDATE conversations SET status = 'approved' WHERE id = 2"))
    with raw(team_db, "alice").begin() as conn, pytest.raises(sa.exc.ProgrammingError):
        conn.execute(
            sa.text(
                "INSERT INTO reviews (conversation_id, reviewer, decision, comment, created_at, "
                "fingerprint, turn_fingerprints) VALUES (2, 'rita', 'approve', '', now(), '', "
                "'[]')"
            )
        )
    rita.team.claim(2, "rita", "reviewer")
    edited(rita, 2, "corrected by rita")  # the reviewer's own correction
    rita.team.release([2], "rita")
    with pytest.raises(RefusedError, match="four eyes"):
        rita.add_review(2, Review("rita", Decision.APPROVE))
    with raw(team_db, "rita").begin() as conn, pytest.raises(sa.exc.ProgrammingError):
        conn.execute(sa.text("UPDATE conversations SET status = 'approved' WHERE id = 2"))
    assert rita.get_conversation(2).status == Status.IN_REVIEW  # nothing written
    approved = rex.add_review(2, Review("somebody", Decision.APPROVE))
    assert approved.status == Status.APPROVED
    assert rex.reviews(2)[-1].reviewer == "rex"


def test_admin_only_actions(people: dict[str, Store], team_db: str) -> None:
    alice, rita, ada = people["alice"], people["rita"], people[PEOPLE_ADMIN]
    for store in (alice, rita):
        with pytest.raises(RefusedError, match="only admins change reason codes"):
            store.add_reason_code("blurry", "Blurry image")
        with pytest.raises(RefusedError, match="only admins delete"):
            store.set_deleted(3, True, actor="x")
        with pytest.raises(RefusedError, match="only admins assign"):
            store.team.assign([3], "bob")
    with raw(team_db, "rita").begin() as conn, pytest.raises(sa.exc.ProgrammingError):
        conn.execute(sa.text("DELETE FROM conversations WHERE id = 3"))
    ada.add_reason_code("blurry", "Blurry image")
    assert ada.team.assign([3], "bob") == 1
    ada.set_deleted(3, True, actor="x")
    assert alice.get_conversation(3).deleted_at is not None


# -- claims -----------------------------------------------------------------------------------
def test_next_hands_out_different_records_and_others_cannot_edit_them(
    people: dict[str, Store], team_db: str
) -> None:
    alice, bob = people["alice"], people["bob"]
    first = alice.team.next_record("alice", "annotator")
    second = bob.team.next_record("bob", "annotator")
    assert first is not None and second is not None and first != second
    with pytest.raises(RefusedError, match=f"record {first} is being edited by alice since"):
        edited(bob, first, "bob was here")
    with raw(team_db, "bob").begin() as conn, pytest.raises(sa.exc.ProgrammingError):
        conn.execute(
            sa.text("UPDATE turns SET final_answer = 'x' WHERE conversation_id = :c"),
            {"c": first},
        )
    with raw(team_db, "bob").begin() as conn:  # row-level security: not bob's row to touch
        taken = conn.execute(
            sa.text("UPDATE work_claims SET heartbeat_at = now() WHERE conversation_id = :c"),
            {"c": first},
        )
        assert taken.rowcount == 0
    with pytest.raises(RefusedError, match="being edited by alice"):
        bob.team.claim(first, "bob", "annotator")
    edited(alice, first, "alice's edit")  # the holder edits
    moved_on = alice.team.next_record("alice", "annotator")
    assert moved_on not in (None, first, second)  # next moves on from the record held
    assert alice.team.holder(first) is None  # and gives that one back


def test_annotators_edit_only_drafts_and_what_they_claimed(people: dict[str, Store]) -> None:
    alice, bob = people["alice"], people["bob"]
    edited(alice, 4, "ready")
    submit(alice, 4)  # in review now, and alice holds no claim on it
    with pytest.raises(RefusedError, match="annotators edit drafts"):
        edited(bob, 4, "sneaky")


def test_concurrent_next_never_gives_one_record_twice(people: dict[str, Store]) -> None:
    got: dict[str, int | None] = {}
    barrier = threading.Barrier(2)

    def ask(name: str) -> None:
        barrier.wait()
        got[name] = people[name].team.next_record(name, "annotator")

    threads = [threading.Thread(target=ask, args=(n,)) for n in ("alice", "bob")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert None not in got.values() and len(set(got.values())) == 2


HOLDER = """
import sys, time
from annotator.services.team_work import TeamWork
from annotator.storage import open_store
store = open_store(sys.argv[1])
work = TeamWork(store.team, lambda: "unused")
print(work.next_record(), flush=True)
while True:  # the app's heartbeat, faster
    work.heartbeat()
    time.sleep(0.2)
"""


def test_a_killed_clients_claim_lapses(people: dict[str, Store], team_db: str) -> None:
    """A client that holds a record and keeps it alive is killed (SIGKILL: nothing released);
    its claim lapses after the time to live and the record can be taken again."""
    ada, bob = people[PEOPLE_ADMIN], people["bob"]
    ada.set_project_setting("claim_ttl_s", 2)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url_as(team_db, "alice")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        taken = int(proc.stdout.readline())
        time.sleep(2.5)  # longer than the time to live: the heartbeat keeps it
        with pytest.raises(RefusedError, match="being edited by alice"):
            bob.team.claim(taken, "bob", "annotator")
    finally:
        proc.kill()
        proc.wait(timeout=30)
    with pytest.raises(RefusedError, match="being edited by alice"):
        bob.team.claim(taken, "bob", "annotator")  # not yet lapsed
    time.sleep(2.5)
    assert bob.team.claim(taken, "bob", "annotator").holder == "bob"


# -- the command line ---------------------------------------------------------------------------
def cli(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> tuple[int, str, str]:
    from annotator.cli import main

    code = main(["--db", url, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_team_commands_and_refusals_from_the_cli(
    team_db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import json

    code, out, _ = cli(capsys, team_db, "team", "list", "--json")
    assert code == 0
    listed = {m["name"]: m["role"] for m in json.loads(out)}
    assert listed == {**PEOPLE, PEOPLE_ADMIN: "admin"}

    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-pass\n"))
    assert (
        cli(capsys, team_db, "team", "add", "carol", "--role", "reviewer", "--password-stdin")[0]
        == 0
    )
    with sa.create_engine(team_db).connect() as conn:  # the owner (superuser) may look
        stored = conn.execute(
            sa.text("SELECT rolpassword FROM pg_authid WHERE rolname = 'carol'")
        ).scalar_one()
    assert stored and "s3cret-pass" not in stored  # the server keeps its hash only
    carol = url_as(team_db, "carol")
    assert json.loads(cli(capsys, carol, "next", "--json")[1]) == {
        "record": None,  # nothing is in review yet
        "role": "reviewer",
        "holder": "carol",
    }

    alice = url_as(team_db, "alice")
    code, _, err = cli(capsys, alice, "review", "1", "--comment", "looks fine", "--as", "bob")
    assert code == 2 and "you act as your login role (alice)" in err and "--as bob" in err
    code, _, err = cli(capsys, alice, "team", "assign", "1", "--to", "bob")
    assert code == 2 and err.strip() == "error: refused by the database: only admins assign records"
    code, _, err = cli(capsys, alice, "reasons", "add", "blurry", "Blurry image")
    assert code == 2 and "only admins change reason codes" in err and len(err.splitlines()) == 1

    code, out, _ = cli(capsys, alice, "next", "--json")
    assert code == 0 and json.loads(out)["holder"] == "alice"
    code, out, _ = cli(capsys, url_as(team_db, PEOPLE_ADMIN), "team", "progress", "--json")
    rows = {r["person"]: r for r in json.loads(out)}
    assert rows["alice"]["claimed"] == 1

    assert cli(capsys, team_db, "team", "remove", "carol")[0] == 0
    code, _, err = cli(capsys, carol, "next")
    assert code == 2 and "team role does not allow this" in err and len(err.splitlines()) == 1


# -- schema upgrade ---------------------------------------------------------------------------
def test_a_team_database_with_work_upgrades_and_takes_the_rules(postgres_url: str) -> None:
    """A database the team used before team mode (schema 0004, people named by the client):
    upgrading keeps every row, fills in who last edited each record from its history, and the
    rules hold once `team init` has run."""
    from alembic import command

    from annotator.storage.engine import make_engine, write_transaction
    from annotator.storage.migrate import alembic_config, current_revision, head_revision

    engine = make_engine(postgres_url)
    with write_transaction(engine) as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    with write_transaction(engine) as conn:
        conn.execute(
            sa.text(
                "INSERT INTO images (id, root, path, sha256, width, height) "
                "VALUES (1, '/data', 'a.jpg', 'ab', 64, 48)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO conversations (id, image_id, focus, status, source, revision, "
                "created_at, updated_at, turn_count, flag_count, stale_verdicts) VALUES "
                "(1, 1, 'the cup', 'in_review', 'old', 3, now(), now(), 1, 0, 0)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO turns (conversation_id, idx, question, draft_answer, final_answer) "
                "VALUES (1, 0, 'Please segment the cup.', 'Sure, [SEG].', 'Sure, [SEG].')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO history (conversation_id, actor, action, detail, created_at) VALUES "
                "(1, 'bob', 'answer', '{}', now() - interval '2 hours'), "
                "(1, 'rita', 'review', '{}', now() - interval '1 hour')"
            )
        )
    engine.dispose()

    store = open_store(postgres_url)
    try:
        assert current_revision(store.engine) == head_revision()
        with store.engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT focus, revision, last_editor FROM conversations WHERE id = 1")
            ).one()
        assert tuple(row) == ("the cup", 3, "bob")  # the review is not an edit
        store.team.init()
        store.team.add_member("bob", "reviewer")
        store.team.add_member("rita", "reviewer")
    finally:
        store.close()
    bob = open_store(url_as(postgres_url, "bob"))
    rita = open_store(url_as(postgres_url, "rita"))
    try:
        with pytest.raises(RefusedError, match="four eyes"):
            bob.add_review(1, Review("bob", Decision.REJECT, reason="text_wrong"))
        rejected = rita.add_review(1, Review("rita", Decision.REJECT, reason="text_wrong"))
        assert rejected.status == Status.REJECTED
    finally:
        bob.close()
        rita.close()


def test_admins_hand_out_roles_and_others_cannot(people: dict[str, Store]) -> None:
    ada, alice = people[PEOPLE_ADMIN], people["alice"]
    ada.team.add_member("bob", "reviewer")  # an admin promotes an existing login
    assert {m.name: m.role for m in ada.team.members()}["bob"] == "reviewer"
    with pytest.raises(RefusedError, match="only admins change roles"):
        alice.team.add_member("bob", "annotator")
    with pytest.raises(RefusedError, match="only the database owner creates logins"):
        ada.team.add_member("newcomer", "annotator")
    with pytest.raises(RefusedError, match="only the database owner"):
        ada.team.add_member("rex", "admin")
    assert {m.name: m.role for m in alice.team.members()}["bob"] == "reviewer"  # unchanged


# -- every rule from a raw session, logged in as the role it binds ------------------------------
RAW_REFUSALS = [
    ("alice", "INSERT INTO reason_codes (code, label, position) VALUES ('x', 'X', 9)"),
    ("rita", "UPDATE project_settings SET value = '1'"),
    ("alice", "UPDATE conversations SET deleted_at = now() WHERE id = 5"),
    ("rita", "UPDATE conversations SET assignee = 'rita' WHERE id = 5"),
    ("alice", "UPDATE conversations SET status = 'approved' WHERE id = 5"),
    ("alice", "UPDATE conversations SET revision = revision + 1 WHERE id = 6"),  # in review
    ("alice", "UPDATE turns SET question = 'x' WHERE conversation_id = 6"),
    (
        "alice",
        "INSERT INTO work_claims (conversation_id, holder, role, claimed_at, "
        "heartbeat_at) VALUES (6, 'alice', 'annotator', now(), now())",
    ),
    ("rita", "DELETE FROM history"),
    ("rita", "TRUNCATE reviews"),
]


@pytest.mark.parametrize(
    ("who", "sql"), RAW_REFUSALS, ids=[f"{w}:{s[:40]}" for w, s in RAW_REFUSALS]
)
def test_the_database_refuses_a_raw_session(
    people: dict[str, Store], team_db: str, who: str, sql: str
) -> None:
    submit(people["bob"], 6)  # record 6 in review, nobody holding it
    with raw(team_db, who).begin() as conn, pytest.raises(sa.exc.ProgrammingError) as caught:
        conn.execute(sa.text(sql))
    assert getattr(caught.value.orig, "sqlstate", None) == "42501"


def test_four_eyes_and_deletes_from_the_cli(
    people: dict[str, Store], team_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rita = people["rita"]
    rita.team.claim(5, "rita", "reviewer")
    edited(rita, 5, "rita's own correction")
    submit(rita, 5)
    rita.team.release([5], "rita")
    code, _, err = cli(capsys, url_as(team_db, "rita"), "review", "5", "--approve")
    assert code == 2 and "four eyes" in err and len(err.splitlines()) == 1
    code, _, err = cli(capsys, url_as(team_db, "rex"), "conversations", "delete", "5")
    assert code == 2 and "only admins delete or restore records" in err
    assert rita.get_conversation(5).deleted_at is None and rita.get_conversation(5).status == (
        Status.IN_REVIEW
    )

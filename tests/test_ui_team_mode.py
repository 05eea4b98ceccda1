"""Team mode in the app, on a real PostgreSQL server: the window acts as its login role, a record
someone else holds opens read-only with who and since when (and an edit is turned away, nothing
stored), Take next record (Ctrl+N) claims and opens one, and the team's progress shows."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures_storage import make_conversation
from test_team_mode import PEOPLE, url_as

from annotator.storage import open_store

pytestmark = pytest.mark.postgres
pytest_plugins = ["tests.fixtures_ui"]


@pytest.fixture
def team_url(postgres_url: str) -> str:
    owner = open_store(postgres_url)
    owner.add_conversations([make_conversation(n) for n in range(3)], actor="importer")
    owner.team.init()
    for name, role in PEOPLE.items():
        owner.team.add_member(name, role)
    owner.close()
    return postgres_url


def test_a_record_held_by_someone_else_is_read_only_and_next_claims_one(
    team_url: str, make_app: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = open_store(url_as(team_url, "alice"))
    try:
        alice.team.claim(1, "alice", "annotator")
        parts = make_app(url_as(team_url, "bob"))
        window = parts.window
        assert window.team.who.text() == "bob (annotator)" and window.team.who.isVisible()
        window.open_id(1)
        qtbot.waitUntil(lambda: parts.session.document is not None, timeout=10_000)
        qtbot.waitUntil(lambda: window.read_only_banner.isVisible(), timeout=10_000)
        assert "being edited by alice since" in window.read_only_banner.text()
        before = alice.get_conversation(1).revision
        result = parts.record.commit_text(0, "final_answer", "bob tries")
        assert result is not None and "being edited by alice" in result.message
        assert alice.get_conversation(1).revision == before  # nothing stored

        window.actions["take_next"].trigger()
        qtbot.waitUntil(
            lambda: parts.session.document is not None and parts.session.document.id != 1,
            timeout=10_000,
        )
        taken = parts.session.document.id
        assert not window.read_only_banner.isVisible()
        assert alice.team.holder(taken).holder == "bob"
        assert parts.record.commit_text(0, "final_answer", "bob's answer").ok
        assert alice.history(taken)[-1].actor == "bob"

        shown: list[Any] = []
        monkeypatch.setattr("annotator.ui.team_actions.run_modal", shown.append)
        window.actions["team_progress"].trigger()
        table = shown[0].table
        people = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
        assert people["alice"] == "1" and people["bob"] == "1"
    finally:
        alice.close()


def test_an_admin_assigns_the_open_record_and_an_annotator_cannot(
    team_url: str, make_app: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = open_store(team_url)
    owner.team.add_member("ada", "admin")
    owner.close()
    picks = iter([("bob", True), ("(anyone)", True)])
    monkeypatch.setattr(
        "annotator.ui.team_actions.QInputDialog.getItem", lambda *_a, **_k: next(picks)
    )
    for login, expected in (("ada", "bob"), ("alice", None)):
        parts = make_app(url_as(team_url, login))
        notes: list[str] = []
        parts.window.team._notify = notes.append
        parts.window.open_id(2)
        qtbot.waitUntil(lambda p=parts: p.session.document is not None, timeout=10_000)
        parts.window.actions["assign"].trigger()
        with parts.store.engine.connect() as conn:
            assignee = conn.exec_driver_sql("SELECT assignee FROM conversations WHERE id = 2")
            assert assignee.scalar_one() == "bob"  # ada's choice stands; alice's was refused
        if expected is None:
            assert "only admins assign records" in notes[-1]
        else:
            assert notes[-1] == "record 2 is now for bob"
            parts.window.close()  # gives record 2 back for the next login

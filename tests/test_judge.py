"""The reasoning judge against a small OpenAI-compatible server on 127.0.0.1 that answers from a
script: scores stored with the judge's model and prompt version, malformed replies kept as
failures with their reasons, resuming, cancelling, a failing server, pairwise order drawn per
item and win rates on planted examples, the report's ``reasoning`` section, the CLI, storage
on every backend, and the migration from a 0003 database (the parser and the statistics alone:
test_judge_reply_and_stats.py)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fixtures_storage import make_conversation

from annotator.bench.vlm_test_server import Reply, VlmTestServer, completion
from annotator.cli import main
from annotator.core.errors import Cancelled, NotFoundError
from annotator.core.judge_criteria import PAIRWISE_KEYS, SCORE_KEYS, Reference
from annotator.core.judgement import JudgeIdentity, Judgement
from annotator.core.mean_interval import mean_interval
from annotator.core.model import Proposal
from annotator.core.progress import Task
from annotator.proposers.openai_client import ChatClient
from annotator.services.judge_job import JudgeOptions, run_judge
from annotator.services.judge_prompts import PAIRWISE_PROMPT_VERSION, SCORE_PROMPT_VERSION
from annotator.services.quality_report import ReportOptions, build_report
from annotator.storage import ListQuery, Store, open_store

REPORTED = "judge-x-2025-01-01"  # the server names a dated model for the one asked for
SECRET = "sk-judge-0123456789-never-stored"
DATA = Path(__file__).parent / "data"


def scores_reply(**scores: int) -> str:
    full = {k: scores.get(k, 3) for k in SCORE_KEYS}
    return f"Here is my grading.\n```json\n{json.dumps({'scores': full, 'rationale': 'ok'})}\n```"


def candidate(request: dict[str, Any]) -> str:
    return str(request["messages"][-1]["content"]).split("Candidate answer:", 1)[1].strip()


def shown(request: dict[str, Any]) -> tuple[str, str]:
    text = str(request["messages"][-1]["content"])
    first, second = text.split("Response 1:", 1)[1].split("Response 2:", 1)
    return first.strip(), second.strip()


def grading(request: dict[str, Any]) -> Reply:
    """Accuracy 3 for an answer saying "right", 1 otherwise; every other criterion 2."""
    accuracy = 3 if "right" in candidate(request) else 1
    return completion(scores_reply(accuracy=accuracy, **dict.fromkeys(SCORE_KEYS[1:], 2)), REPORTED)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "judge.sqlite3"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    s = open_store(db)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The storage behaviour on every backend."""
    if request.param == "postgres":
        s = open_store(request.getfixturevalue("postgres_url"))
    else:
        s = open_store(tmp_path / "any.sqlite3")
    try:
        yield s
    finally:
        s.close()


def seed_project(store: Store, n: int = 3) -> list[int]:
    """``n`` verified three-turn conversations; proposer vlm answered every turn, the first
    one "right", the others "wrong"."""
    ids = store.add_conversations(
        [make_conversation(i, verified=True) for i in range(n)], actor="importer"
    ).added_ids
    for cid in ids:
        answers = [f"the {'right' if t == 0 else 'wrong'} answer {t}" for t in range(3)]
        store.add_proposals(cid, [Proposal(t, "vlm", "v1", a) for t, a in enumerate(answers)])
    return ids


def judge(url: str, model: str = "judge-x", **kwargs: Any) -> ChatClient:
    return ChatClient(url, model, retries=0, **kwargs)


# -- scoring --------------------------------------------------------------------------------
def test_judging_stores_scores_with_the_judge_and_the_prompt(store: Store) -> None:
    ids = seed_project(store)
    with VlmTestServer(grading) as server:
        summary = run_judge(store, judge(server.url), JudgeOptions(actor="rita"))
    assert summary.judged == 6 and summary.conversations == 3 and not summary.failed
    assert summary.models == {REPORTED}
    stored = store.judgements()
    assert len(stored) == 6  # the two explanation turns of each; not the [SEG] request
    assert {(j.conversation_id, j.turn_index) for j in stored} == {
        (cid, t) for cid in ids for t in (0, 1)
    }
    for j in stored:
        assert j.judge == JudgeIdentity(REPORTED, "judge-x", SCORE_PROMPT_VERSION, "verified")
        assert j.failure is None and j.actor == "rita" and j.proposer_label == "vlm@v1"
        assert j.scores is not None and j.scores["fluency"] == 2
        assert j.scores["accuracy"] == (3 if j.turn_index == 0 else 1)
        assert j.answer == store.proposals(j.conversation_id, turn_index=j.turn_index)[0].answer
        assert "```json" in j.reply
    # The second turn's request: the question, the verified answer as the reference, the turn
    # before with its verified answer, the candidate; temperature 0.
    request = server.requests[1]
    user = request["messages"][-1]["content"]
    assert "Target of the conversation: focus number 0" in user
    assert "Q1: question 0 of 0" in user and "A1: answer 0 of 0" in user
    assert "Question: question 1 of 0" in user and "Reference answer: answer 1 of 0" in user
    assert user.endswith("Candidate answer: the wrong answer 1")
    assert "1 to 3" in request["messages"][0]["content"] and request["temperature"] == 0.0

    section = build_report(store, ReportOptions(text=False))["reasoning"]
    (group,) = section["scores"]
    assert group["judge"] == REPORTED and group["proposer"] == "vlm@v1" and group["n"] == 6
    accuracy = group["overall"]["accuracy"]
    expected = mean_interval([3, 1, 3, 1, 3, 1])  # 2 ± 1.15: past the scale at both ends
    assert accuracy["mean"] == pytest.approx(2.0) and accuracy["sd"] == pytest.approx(expected.sd)
    assert expected.low is not None and expected.low < 1.0 and accuracy["low"] == 1.0
    assert accuracy["high"] == 3.0 and accuracy["n"] == 6
    fluency = group["overall"]["fluency"]
    assert (fluency["mean"], fluency["low"], fluency["high"]) == (2.0, 2.0, 2.0)
    assert group["by_turn"]["0"]["accuracy"]["mean"] == 3.0
    assert group["by_turn"]["1"]["accuracy"]["mean"] == 1.0
    assert group["by_turn"]["0"]["accuracy"]["low"] == 3.0  # no spread, no width
    assert group["ids_by_turn"]["1"] == sorted(ids)


def test_a_run_resumes_by_judge_prompt_and_reference(any_store: Store) -> None:
    store = any_store
    seed_project(store)
    with VlmTestServer(grading) as server:
        run_judge(store, judge(server.url), JudgeOptions(limit=1))  # interrupted early
        assert len(server.requests) == 2
        again = run_judge(store, judge(server.url), JudgeOptions())
        assert again.skipped == 2 and again.judged == 4 and len(server.requests) == 6
        assert run_judge(store, judge(server.url), JudgeOptions()).judged == 0
        assert len(server.requests) == 6  # nothing left for this judge
        other = run_judge(store, judge(server.url, "judge-y"), JudgeOptions())
        draft = run_judge(store, judge(server.url), JudgeOptions(reference=Reference.DRAFT))
        target = run_judge(store, judge(server.url, "judge-z"), JudgeOptions(with_target=True))
    assert other.judged == 6 and draft.judged == 6 and target.judged == 9
    assert len(store.judgements(requested="judge-x")) == 12


MALFORMED = {
    "no JSON": ("I would give it full marks.", "no JSON object in the reply"),
    "out of scale": (scores_reply(fluency=5), "score for 'fluency' is 5, outside the scale 1-3"),
    "zero": (scores_reply(accuracy=0), "score for 'accuracy' is 0, outside the scale 1-3"),
    "missing criterion": (
        '{"scores": {"accuracy": 3, "informativeness": 2, "fluency": 3, "logicality": 2}}',
        "missing criterion 'harmlessness'",
    ),
    "half a point": (
        scores_reply().replace('"logicality": 3', '"logicality": 2.5'),
        "score for 'logicality' is 2.5, not a whole number",
    ),
    "a string": (
        scores_reply().replace('"fluency": 3', '"fluency": "3"'),
        "score for 'fluency' is \"3\", not a number",
    ),
    "unknown criterion": (
        scores_reply().replace('"harmlessness": 3', '"harmlessness": 3, "overall": 3'),
        "unknown criterion 'overall'",
    ),
    "duplicate key": (
        scores_reply().replace('"fluency": 3', '"fluency": 3, "fluency": 1'),
        "the reply's JSON is malformed: duplicate key 'fluency'",
    ),
    "NaN": (
        scores_reply().replace('"fluency": 3', '"fluency": NaN'),
        "the reply's JSON is malformed",
    ),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_reply_is_a_failure_with_its_reason(store: Store, kind: str) -> None:
    text, reason = MALFORMED[kind]
    (cid,) = seed_project(store, 1)

    def script(request: dict[str, Any]) -> Reply:
        ok = "right" in candidate(request)  # turn 0 parses, turn 1 gets the bad reply
        return completion(scores_reply(accuracy=2) if ok else text, REPORTED)

    with VlmTestServer(script) as server:
        summary = run_judge(store, judge(server.url), JudgeOptions())
    assert summary.judged == 1 and [(c, t) for c, t, _ in summary.failed_replies] == [(cid, 1)]
    good, bad = store.judgements()
    assert good.scores is not None and bad.scores is None
    assert bad.failure is not None and bad.failure.startswith(reason) and "\n" not in bad.failure
    assert bad.reply == text
    section = build_report(store, ReportOptions(text=False))["reasoning"]
    (group,) = section["scores"]
    assert group["n"] == 1 and group["failed"] == 1 and section["failed"] == 1
    assert group["overall"]["accuracy"]["mean"] == 2.0  # the failure is in no mean
    assert list(group["failure_reasons"]) == [bad.failure]


def test_failed_verdicts_are_judged_again_only_when_asked(store: Store) -> None:
    seed_project(store, 1)
    replies = iter(["no verdict", "still none", scores_reply(), scores_reply()])
    with VlmTestServer(lambda _r: completion(next(replies), REPORTED)) as server:
        first = run_judge(store, judge(server.url), JudgeOptions())
        assert first.judged == 0 and len(first.failed_replies) == 2
        assert run_judge(store, judge(server.url), JudgeOptions()).skipped == 2
        retried = run_judge(store, judge(server.url), JudgeOptions(retry_failed=True))
    assert retried.judged == 2 and len(server.requests) == 4
    verdicts = store.judgements()
    assert [j.failure is None for j in verdicts] == [False, False, True, True]


# -- pairwise --------------------------------------------------------------------------------
def seed_two_proposers(store: Store, plants: list[tuple[str, str]]) -> list[int]:
    """One verified conversation per two explanation turns of ``plants`` (A's, B's answers)."""
    pairs = [plants[i : i + 2] for i in range(0, len(plants), 2)]
    ids = store.add_conversations(
        [make_conversation(i, verified=True) for i in range(len(pairs))], actor="importer"
    ).added_ids
    for cid, turns in zip(ids, pairs, strict=True):
        store.add_proposals(cid, [Proposal(t, "miras", "m1", a) for t, (a, _) in enumerate(turns)])
        store.add_proposals(cid, [Proposal(t, "vlm", "v1", b) for t, (_, b) in enumerate(turns)])
    return ids


def preferring(marker: str) -> Callable[[dict[str, Any]], Reply]:
    """A fair judge: the response holding ``marker`` wins every criterion; both or neither tie;
    two responses marked "split" share the criteria two to two."""

    def script(request: dict[str, Any]) -> Reply:
        first, second = shown(request)
        if "split" in first and "split" in second:
            choices = dict(zip(PAIRWISE_KEYS, ["1", "1", "2", "2"], strict=True))
        else:
            one, two = marker in first, marker in second
            pick = "1" if one and not two else "2" if two and not one else "tie"
            choices = dict.fromkeys(PAIRWISE_KEYS, pick)
        return completion(json.dumps({"preferences": choices, "rationale": "fair"}), REPORTED)

    return script


def test_win_rate_on_a_planted_example(store: Store, db: Path, capsys: Any) -> None:
    plants = [("good a", "plain b")] * 5 + [("plain a", "good b")] * 2 + [("good", "good")]
    plants += [("split a", "split b")]
    plants += [("plain", "plain")]
    seed_two_proposers(store, plants)
    with VlmTestServer(preferring("good")) as server:
        summary = run_judge(store, judge(server.url), JudgeOptions(pairwise=("miras", "vlm")))
        assert summary.judged == 10 and not summary.failed_replies
        assert (
            main(
                [
                    "--db",
                    str(db),
                    "judge",
                    "--url",
                    server.url,
                    "--model",
                    "judge-x",
                    "--pairwise",
                    "miras",
                    "vlm",
                    "--json",
                ]
            )
            == 0
        )
    printed = json.loads(capsys.readouterr().out)
    assert printed["skipped"] == 10 and printed["judged"] == 0  # judged above already
    (pair,) = build_report(store, ReportOptions(text=False))["reasoning"]["pairwise"]
    assert printed["results"]["pairwise"] == [pair]
    assert (pair["a"], pair["b"], pair["judge"]) == ("miras", "vlm", REPORTED)
    assert (pair["wins"], pair["ties"], pair["losses"], pair["n"]) == (5, 3, 2, 10)
    assert pair["win_rate"] == 0.5 and pair["tie_rate"] == 0.3 and pair["loss_rate"] == 0.2
    # the split item: A wins two criteria, B two, whichever was shown first
    split = [p for p in store.pairwise_judgements() if p.outcome == "tie" and p.per_criterion]
    assert any(sorted(p.per_criterion.values()) == ["a", "a", "b", "b"] for p in split)
    assert pair["by_criterion"]["naturalness"]["n"] == 10
    assert pair["prompt_version"] == PAIRWISE_PROMPT_VERSION


def test_pairwise_verdicts_are_stored_and_read_back(any_store: Store) -> None:
    plants = [("good a", "plain b"), ("plain a", "good b"), ("good", "good"), ("plain", "plain")]
    ids = seed_two_proposers(any_store, plants)
    with VlmTestServer(preferring("good")) as server:
        run_judge(any_store, judge(server.url), JudgeOptions(pairwise=("miras", "vlm@v1"), seed=3))
    verdicts = any_store.pairwise_judgements()
    assert [(v.conversation_id, v.turn_index, v.outcome) for v in verdicts] == [
        (ids[0], 0, "a"),
        (ids[0], 1, "b"),
        (ids[1], 0, "tie"),
        (ids[1], 1, "tie"),
    ]
    for v in verdicts:
        assert (v.proposer_a, v.proposer_b) == ("miras", "vlm@v1") and v.first in ("a", "b")
        assert v.per_criterion == dict.fromkeys(PAIRWISE_KEYS, v.outcome)
        assert v.judge == JudgeIdentity(REPORTED, "judge-x", PAIRWISE_PROMPT_VERSION, "verified")
    assert any_store.judged_pairs(ids[0], verdicts[0].judge) == {
        (v.proposal_a, v.proposal_b) for v in verdicts[:2]
    }


def first_wins(_request: dict[str, Any]) -> Reply:
    """A judge with the worst position bias: the response shown first always wins."""
    return completion(json.dumps({"preferences": dict.fromkeys(PAIRWISE_KEYS, "1")}), REPORTED)


def test_pairwise_order_is_drawn_per_item_and_recorded(store: Store, tmp_path: Path) -> None:
    plants = [(f"miras says {i}", f"vlm says {i}") for i in range(24)]
    seed_two_proposers(store, plants)
    with VlmTestServer(first_wins) as server:
        run_judge(store, judge(server.url), JudgeOptions(pairwise=("miras", "vlm"), seed=7))
    verdicts = store.pairwise_judgements()
    assert len(verdicts) == 24
    a_first = [v for v in verdicts if v.first == "a"]
    assert 0 < len(a_first) < 24  # both orders were shown
    answers = {
        p.id: p.answer
        for cid in {v.conversation_id for v in verdicts}
        for p in store.proposals(cid)
    }
    by_pair = {(answers[v.proposal_a], answers[v.proposal_b]): v for v in verdicts}
    for request in server.requests:
        one, two = shown(request)
        v = by_pair.get((one, two)) or by_pair[(two, one)]
        assert (one == answers[v.proposal_a]) == (v.first == "a")  # what was sent is recorded
        assert v.outcome == v.first  # the biased judge's pick, mapped back to A or B
    (pair,) = build_report(store, ReportOptions(text=False))["reasoning"]["pairwise"]
    assert pair["shown_a_first"] == len(a_first) and pair["wins"] == len(a_first)
    assert pair["first_shown_won"] == 1.0  # the report shows the position bias

    # another seed draws another order; the same seed the same one
    def orders(seed: int, name: str) -> list[str]:
        with VlmTestServer(first_wins) as server, open_store(tmp_path / name) as other:
            seed_two_proposers(other, plants)  # the same ids as in ``store``
            run_judge(other, judge(server.url), JudgeOptions(pairwise=("miras", "vlm"), seed=seed))
            return [v.first for v in other.pairwise_judgements()]

    assert orders(7, "again.sqlite3") == [v.first for v in verdicts]
    assert orders(8, "other.sqlite3") != [v.first for v in verdicts]


# -- running: cancel, a failing server, the CLI ----------------------------------------------
def test_cancelling_keeps_finished_conversations_and_nothing_in_flight(store: Store) -> None:
    first, second, _ = seed_project(store)
    task = Task()
    seen: list[tuple[int, int | None]] = []
    task.on_progress = lambda done, total, _m: seen.append((done, total))

    def script(request: dict[str, Any]) -> Reply:
        if len(server.requests) == 3:  # the second conversation's first answer
            task.token.cancel()
        return completion(scores_reply(), REPORTED)

    with VlmTestServer(script) as server, pytest.raises(Cancelled):
        run_judge(store, judge(server.url), JudgeOptions(), task=task)
    assert {j.conversation_id for j in store.judgements()} == {first}
    assert store.judgements(conversation_id=second) == []
    assert seen[0] == (0, 3) and (1, 3) in seen


def test_a_failing_server_fails_the_conversation_and_keeps_nothing_of_it(store: Store) -> None:
    ids = seed_project(store)

    def script(request: dict[str, Any]) -> Reply:
        if "Question: question 1 of 1 " in request["messages"][-1]["content"]:
            return Reply(500, b'{"error": "overloaded"}')  # the second record's second turn
        return completion(scores_reply(), REPORTED)

    with VlmTestServer(script) as server:
        summary = run_judge(store, judge(server.url), JudgeOptions(concurrency=2))
    ((failed_id, error),) = summary.failed
    assert failed_id == ids[1] and "HTTP 500" in error and server.url in error
    assert store.judgements(conversation_id=ids[1]) == []
    assert {j.conversation_id for j in store.judgements()} == {ids[0], ids[2]}


def test_cli_judges_reports_and_keeps_the_key_out_of_the_database(
    store: Store, db: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_project(store)
    monkeypatch.setenv("JUDGE_KEY", SECRET)
    with VlmTestServer(grading) as server:
        code = main(
            [
                "--db",
                str(db),
                "judge",
                "--url",
                server.url,
                "--model",
                "judge-x",
                "--proposer",
                "vlm@v1",
                "--key-env",
                "JUDGE_KEY",
                "--as",
                "rita",
                "--json",
            ]
        )
        assert code == 0
        printed = json.loads(capsys.readouterr().out)
        assert main(["--db", str(db), "judge", "--url", server.url, "--model", "judge-x"]) == 0
        table = capsys.readouterr().out
    assert server.authorizations[0] == f"Bearer {SECRET}"
    assert printed["judged"] == 6 and printed["judge_models"] == [REPORTED]
    assert printed["results"]["scores"][0]["overall"]["accuracy"]["mean"] == 2.0
    assert "6 already judged" in table and "Accuracy" in table and "2.00 [" in table
    assert {j.actor for j in store.judgements()} == {"rita"}
    assert main(["--db", str(db), "metrics", "--json", "--no-records", "--no-text"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["reasoning"] == build_report(store, ReportOptions(text=False))["reasoning"]
    assert main(["--db", str(db), "metrics", "--no-text"]) == 0
    assert "reasoning (LLM judge, scale 1-3" in capsys.readouterr().out
    for path in db.parent.glob("judge.sqlite3*"):
        assert SECRET.encode() not in path.read_bytes()


def test_cli_refuses_comparing_a_proposer_with_itself(db: Path, capsys: Any) -> None:
    code = main(
        [
            "--db",
            str(db),
            "judge",
            "--url",
            "http://127.0.0.1:9",
            "--model",
            "m",
            "--pairwise",
            "vlm",
            "vlm",
        ]
    )
    assert code == 2 and "two different proposers" in capsys.readouterr().err


# -- storage ---------------------------------------------------------------------------------
def test_verdicts_follow_their_proposal(any_store: Store) -> None:
    store = any_store
    (cid,) = seed_project(store, 1)
    with VlmTestServer(grading) as server:
        run_judge(store, judge(server.url), JudgeOptions())
    conv = store.get_conversation(cid)
    t0, t1, t2 = conv.turns
    moved = (replace(t1, index=0), replace(t0, index=1), t2)
    store.save_conversation(replace(conv, turns=moved), actor="ada")
    by_answer = {j.answer: j.turn_index for j in store.judgements()}
    assert by_answer == {"the right answer 0": 1, "the wrong answer 1": 0}
    conv = store.get_conversation(cid)  # remove the first turn: its verdict goes with it
    kept = (replace(conv.turns[1], index=0), replace(conv.turns[2], index=1))
    store.save_conversation(replace(conv, turns=kept), actor="ada")
    assert [(j.answer, j.turn_index) for j in store.judgements()] == [("the right answer 0", 0)]


def test_storage_refuses_a_verdict_about_another_answer(any_store: Store) -> None:
    store = any_store
    a, b = seed_project(store, 2)
    (proposal,) = store.proposals(b, turn_index=0)
    assert proposal.id is not None
    identity = JudgeIdentity("m", "m", SCORE_PROMPT_VERSION, "verified")
    good = Judgement(
        a,
        0,
        store.proposals(a, turn_index=0)[0].id or 0,
        "vlm",
        "v1",
        "x",
        identity,
        dict.fromkeys(SCORE_KEYS, 2),
    )
    wrong = replace(good, proposal_id=proposal.id)
    with pytest.raises(NotFoundError, match=f"proposal {proposal.id} is not"):
        store.add_judgements([good, wrong])
    assert store.judgements() == []  # all or none
    with pytest.raises(ValueError):
        replace(good, failure="both")


def test_the_migration_upgrades_a_0003_database(tmp_path: Path) -> None:
    from alembic import command

    from annotator.storage.engine import make_engine, write_transaction
    from annotator.storage.migrate import alembic_config, head_revision

    db = tmp_path / "v3.sqlite3"
    shutil.copy(DATA / "golden_v2.sqlite3", db)
    engine = make_engine(f"sqlite:///{db}")
    try:
        cfg = alembic_config()
        with write_transaction(engine) as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
    finally:
        engine.dispose()

    def rows(table: str) -> list[dict[str, Any]]:
        con = sqlite3.connect(db)
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute(f'SELECT * FROM "{table}" ORDER BY 1')]
        finally:
            con.close()

    def as_before(table: str) -> list[dict[str, Any]]:  # later migrations may add columns
        return [{c: r[c] for c in before[table][0]} for r in rows(table)]

    before = {t: rows(t) for t in ("conversations", "turns", "proposals", "reviews")}
    assert rows("alembic_version") == [{"version_num": "0003"}]
    store = open_store(db)
    try:
        assert rows("alembic_version") == [{"version_num": head_revision()}]  # 0004 and after
        assert rows("judgements") == [] and rows("pairwise_judgements") == []
        assert all(before[t] and as_before(t) == before[t] for t in before)
        assert list(tmp_path.glob("v3.sqlite3.before-0003-*.bak"))
        cid, proposal = next((c, p) for c in store.ids(ListQuery()) for p in store.proposals(c))
        assert proposal.id is not None
        failed = Judgement(
            cid,
            proposal.turn_index,
            proposal.id,
            proposal.proposer,
            proposal.proposer_version,
            proposal.answer,
            JudgeIdentity("m", "m", SCORE_PROMPT_VERSION, "draft"),
            scores=None,
            failure="no JSON object in the reply",
        )
        store.add_judgements([failed])
        assert [replace(j, id=None, created_at=failed.created_at) for j in store.judgements()] == [
            failed
        ]
    finally:
        store.close()

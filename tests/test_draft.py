"""Model-drafted conversations (``annotator draft``) on real SQLite files against a small
OpenAI-compatible server on 127.0.0.1 that answers from a script: our prompt, the strict reader
of the model's dialogues, the checks and mechanical repairs, the stored conversations with their
flag and audit event, the drafts kept out with the rule they broke, resuming, cancelling, and a
`annotator draft` process SIGKILLed mid-run whose rerun adds no duplicates."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures_draft import (
    DraftScript,
    asked_count,
    avoided,
    dialogue,
    reasoning,
    reply_text,
    same_foci,
)
from fixtures_io import write_image

from annotator.bench.vlm_test_server import Reply, VlmTestServer, completion
from annotator.cli import main
from annotator.core.draft_check import APPENDED_SEG_TURN, Vetted, focus_key, vet_dialogue
from annotator.core.draft_prompt import PROMPT_VERSION, DialogueSlot, DraftRequest, user_prompt
from annotator.core.errors import Cancelled, InputError
from annotator.core.listing import ListQuery
from annotator.core.model import FlagCode
from annotator.core.prist_rules import check_conversation
from annotator.core.progress import Task
from annotator.core.seg_templates import SEG_ANSWERS, SEG_REQUESTS
from annotator.core.status import Status
from annotator.io.draft_reply import MAX_TEXT, parse_draft_reply
from annotator.proposers.vlm_drafter import VlmDrafter
from annotator.services import authoring
from annotator.services.draft_job import (
    DRAFT,
    MAX_MODEL_NAME,
    MAX_REPLY_KEPT,
    DraftOptions,
    run_draft_batch,
)
from annotator.services.image_add import add_images
from annotator.storage import Store, open_store

MODEL = "fake-vl-7b"
SECRET = "sk-draft-test-0123456789-never-stored"
FINAL = (SEG_REQUESTS[0], SEG_ANSWERS[0])


# -- the prompt ------------------------------------------------------------------------------
def test_the_prompt_asks_for_each_dialogue_its_rounds_and_final_turn() -> None:
    slots = (DialogueSlot(2, SEG_REQUESTS[3], SEG_ANSWERS[1]), DialogueSlot(4, *FINAL))
    text = user_prompt(DraftRequest(slots, avoid=("red mug", 'the "EXIT" sign')))
    assert "Choose 2 different targets" in text
    for stage in ("Stage 1 - look", "Stage 2 - write", "Stage 3 - ask for the mask"):
        assert stage in text
    assert "1. 2 reasoning rounds, then the question " + json.dumps(SEG_REQUESTS[3]) in text
    assert "2. 4 reasoning rounds" in text and json.dumps(SEG_ANSWERS[0]) in text
    # Stored foci are quoted as JSON strings: a quote inside one cannot end the list.
    assert 'choose others: ["red mug", "the \\"EXIT\\" sign"].' in text
    assert "```json" in text
    assert "choose others" not in user_prompt(DraftRequest(slots[:1]))
    assert "Choose 1 different target " in user_prompt(DraftRequest(slots[:1]))


# -- reading the reply -----------------------------------------------------------------------
def test_the_reader_takes_fenced_json_among_chatter_and_lists_unreadable_dialogues() -> None:
    broken_turn = dialogue("cup")
    broken_turn["turns"][1]["answer"] = 42
    long_answer = dialogue("plate")
    long_answer["turns"][0]["answer"] = "x" * (MAX_TEXT + 1)
    text = reply_text(
        [dialogue("red mug"), broken_turn, "not an object", long_answer, {"turns": []}]
    )
    read = parse_draft_reply(text)
    assert read.description == "A test scene." and read.candidates == ("a", "b")
    (good,) = read.dialogues
    assert good.position == 0 and good.focus == "red mug"
    assert good.turns == (*reasoning("red mug", 2), FINAL)
    problems = {u.position: u.message for u in read.unreadable}
    assert sorted(problems) == [1, 2, 3, 4]
    # Each names the reply's line (the fence starts on line 3) and the dialogue.
    line = text.splitlines().index('          "answer": 42') + 1
    assert problems[1] == f'model reply:{line}: dialogue 2: turn 2 has no "answer" string'
    assert problems[2].endswith("dialogue 3: not an object")
    assert f"turn 1's answer is over {MAX_TEXT} characters" in problems[3]
    assert problems[4].endswith('dialogue 5: "focus" is not a string')
    assert [u.focus for u in read.unreadable][:1] == ["cup"]


def test_the_reader_takes_a_bare_list_of_dialogues() -> None:
    read = parse_draft_reply("Here: " + json.dumps([dialogue("door")]) + " done")
    assert [d.focus for d in read.dialogues] == ["door"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("I cannot help with that image.", "model reply: no JSON object in it"),
        ('```json\n{"dialogues": [], "dialogues": []}\n```', "model reply:2"),
        ('```json\n{"dialogues": [{"focus": NaN}]}\n```', "model reply:2"),
        ('```json\n{"description": "only"}\n```', 'no "dialogues" list'),
        ("```json\n" + json.dumps({"dialogues": [dialogue("a")] * 17}) + "\n```", "17 dialogues"),
        ("x" * (64 * 1024 + 1), "longer than 64 KiB"),
        ("[" * 60_000, "no JSON object in it"),  # too deep for any decoder
        ('{"dialogues": ' * 3000, "no JSON object in it"),
        ("```json\n" + "[" * 5000 + "]" * 5000 + "\n```", "deeper than"),
    ],
)
def test_the_reader_refuses_what_is_not_a_dialogue_list(reply: str, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_draft_reply(reply)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_damaged_reply_is_read_or_refused_in_one_line_never_crashes() -> None:
    """Cut short and with characters swapped at seeded random places, a reply gives dialogues
    (each a focus and string turns) or one InputError; nothing else escapes the reader."""
    rng = random.Random(21)
    text = reply_text([dialogue("red mug", 3), dialogue("sign", 2, final=None)])
    outcomes = {"read": 0, "refused": 0}
    for _ in range(300):
        chars = list(text[: rng.randrange(len(text) + 1)] if rng.random() < 0.3 else text)
        for _ in range(rng.randrange(1, 4)):
            if chars:
                chars[rng.randrange(len(chars))] = rng.choice('{}[]",:\\ \nxN0')
        try:
            read = parse_draft_reply("".join(chars))
        except InputError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("model reply")
            outcomes["refused"] += 1
            continue
        outcomes["read"] += 1
        for d in read.dialogues:
            assert isinstance(d.focus, str) and all(
                isinstance(q, str) and isinstance(a, str) for q, a in d.turns
            )
    assert outcomes["read"] > 0 and outcomes["refused"] > 0


# -- checks and repairs ----------------------------------------------------------------------
def _vet(
    turns: list[tuple[str, str]], focus: str = "red mug", taken: set[str] | None = None
) -> Vetted:
    return vet_dialogue(focus, turns, rounds=(2, 4), final=FINAL, taken=taken or set())


def test_only_mechanical_repairs_are_made_and_every_other_breach_keeps_a_draft_out() -> None:
    plain = reasoning("red mug", 2)
    appended = _vet(plain)
    assert appended.ok and appended.turns == (*plain, FINAL)
    assert appended.repairs == (APPENDED_SEG_TURN,)
    spaced = _vet([("  What   is\nthere? ", "A mug."), *plain[1:], FINAL])
    assert spaced.ok and spaced.turns[0] == ("What is there?", "A mug.")
    assert spaced.repairs == ("collapsed white space",)

    def rules(turns: list[tuple[str, str]], **kw: Any) -> list[str]:
        return [b.rule for b in _vet(turns, **kw).breaches]

    assert rules([("Where is it?", "Here [SEG]."), plain[1], FINAL]) == ["seg_early"]
    assert rules([*plain, (FINAL[0], "It is [SEG] and [SEG].")]) == ["seg_final"]
    assert rules([plain[0], ("Which one?", "  "), FINAL]) == ["answer"]
    assert rules([plain[0], FINAL]) == ["rounds"]  # one reasoning round, 2-4 asked
    assert rules([*reasoning("x", 4), plain[0], FINAL]) == ["rounds"]
    assert rules([*plain, FINAL], focus=" ") == ["focus"]
    assert rules([*plain, FINAL], focus="The Red  Mug.", taken={focus_key("red mug")}) == [
        "focus_new"
    ]
    assert focus_key("mug") != focus_key("red mug")  # PRIST has both on one image


# -- the job against a server ----------------------------------------------------------------
@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Two images without conversations and one with a conversation on "red mug"."""
    folder = tmp_path / "photos"
    write_image(folder / "desk.jpg", 96, 64, seed=1)
    write_image(folder / "shelf.jpg", 80, 60, seed=2)
    write_image(folder / "street.png", 72, 48, "PNG", seed=3)
    path = tmp_path / "draft.sqlite3"
    with open_store(path) as store:
        add_images(store, folder)
        desk = store.image_named("desk.jpg")
        turns = authoring.turns_of([*reasoning("red mug", 2), FINAL])
        authoring.create(store, desk, "red mug", turns, actor="ada")
    return path


def _on(store: Store, name: str) -> list[Any]:
    image = store.image_named(name)
    return list(store.iter_conversations(ListQuery(image_id=image.id)))


def _drafter(server: VlmTestServer, **kw: Any) -> VlmDrafter:
    return VlmDrafter(server.url, MODEL, **kw)


def test_drafting_writes_valid_conversations_and_lists_the_invalid_ones(db: Path) -> None:
    seg_early = dialogue("window")
    seg_early["turns"][0]["answer"] = "The window [SEG]."
    by_request = [  # the images in name order: desk, shelf, street
        # desk has "red mug": asked for 2; the model repeats it and adds two good ones.
        [dialogue("Red mug"), dialogue("stapler", 3), dialogue("lamp", final=None)],
        # shelf: asked for 3; one breaks [SEG], one has too few rounds, one is unreadable.
        [
            seg_early,
            dialogue("blue book", 1),
            {"focus": "vase", "turns": "none"},
            dialogue("green book", 4),
        ],
        [dialogue("sign"), dialogue("car")],
    ]

    def replies(n: int, request: dict[str, Any]) -> Reply:
        assert avoided(request) == (["red mug"] if n == 0 else [])
        assert asked_count(request) == (2 if n == 0 else 3)
        return completion(reply_text(by_request[n]))

    with VlmTestServer(DraftScript(replies)) as server, open_store(db) as store:
        summary = run_draft_batch(store, _drafter(server), DraftOptions(per_image=3))
        requests = list(server.requests)
    assert summary.images == 3 and summary.complete == 0 and summary.failed == []
    assert len(summary.drafted) == 2 + 1 + 2
    kept = {(k.image, k.focus): k for k in summary.kept_out}
    assert {key: k.rule for key, k in kept.items()} == {
        ("desk.jpg", "Red mug"): "focus_new",
        ("shelf.jpg", "window"): "seg_early",
        ("shelf.jpg", "blue book"): "rounds",
        ("shelf.jpg", "vase"): "shape",
    }
    assert kept[("shelf.jpg", "blue book")].message == "rule rounds: 1 reasoning rounds, not 2-4"
    assert kept[("shelf.jpg", "window")].dialogue == 1

    with open_store(db) as store:
        desk = _on(store, "desk.jpg")
        assert [c.focus for c in desk] == ["red mug", "stapler", "lamp"]
        assert [c.focus for c in _on(store, "shelf.jpg")] == ["green book"]
        assert [c.focus for c in _on(store, "street.png")] == ["sign", "car"]
        for conv in store.iter_conversations(ListQuery(ids=tuple(summary.drafted))):
            assert check_conversation(conv) == []  # every stored draft keeps the PRIST rules
            assert conv.status == Status.DRAFT and conv.source == f"draft:{MODEL}"
            assert [f.code for f in conv.flags] == [FlagCode.MODEL_DRAFTED]
            assert conv.key  # the same dialogue is never stored twice
        stapler, lamp = desk[1], desk[2]
        assert [(t.question, t.draft_answer) for t in stapler.turns] == [
            *reasoning("stapler", 3),
            FINAL,
        ]
        assert lamp.turns[-1].question in SEG_REQUESTS  # appended from the templates
        assert lamp.turns[-1].draft_answer.count("[SEG]") == 1
        (event,) = store.history(lamp.id)
        assert (event.action, event.actor) == (DRAFT, MODEL)
        audit = event.detail
        assert audit["prompt_version"] == PROMPT_VERSION and audit["model"] == MODEL
        assert audit["repairs"] == [APPENDED_SEG_TURN] and audit["dialogue"] == 3
        assert '"focus": "lamp"' in audit["reply"] and audit["source"] == f"draft:{MODEL}"
    # The image went once per request, with the system prompt and our instructions.
    assert len(requests) == 3
    messages = requests[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    image_part, text_part = messages[1]["content"]
    assert image_part["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert "Stage 2 - write" in text_part["text"] and requests[0]["model"] == MODEL


def test_a_rerun_asks_only_for_what_is_missing_and_never_repeats_a_focus(db: Path) -> None:
    def replies(n: int, _request: dict[str, Any]) -> Reply:
        if n < 3:  # short replies: one dialogue where more were asked
            return completion(reply_text([dialogue("bicycle")]))
        return completion(reply_text([dialogue("bicycle"), dialogue("bench"), dialogue("tree")]))

    options = DraftOptions(per_image=3, rounds=(2, 2))
    with VlmTestServer(DraftScript(replies)) as server, open_store(db) as store:
        one = run_draft_batch(store, _drafter(server), options)
        assert len(one.drafted) == 3 and one.kept_out == []
        two = run_draft_batch(store, _drafter(server), options)
        second_requests = server.requests[3:]
        three = run_draft_batch(store, _drafter(server), options)
        for name in ("desk.jpg", "shelf.jpg", "street.png"):
            foci = [c.focus for c in _on(store, name)]
            assert len(foci) == 3 and len({focus_key(f) for f in foci}) == 3, foci
    assert [asked_count(r) for r in second_requests] == [1, 2, 2]
    assert all("bicycle" in avoided(r) for r in second_requests)
    assert {(k.focus, k.rule) for k in two.kept_out} == {("bicycle", "focus_new")}
    assert two.unused == 1  # desk needed one: "tree" was one too many there
    # Nothing is missing any more: no request at all.
    assert three.images == 0 and three.complete == 3 and len(server.requests) == 6


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (completion("I'd rather not."), "model reply: no JSON object in it"),
        (completion('```json\n{"dialogues": [1, 2], "dialogues": []}\n```'), "duplicate key"),
        (Reply(400, b'{"error": "bad model"}'), "answered HTTP 400"),
    ],
)
def test_a_failed_image_is_listed_stores_nothing_and_the_batch_goes_on(
    db: Path, reply: Reply, expected: str
) -> None:
    def replies(n: int, _request: dict[str, Any]) -> Reply:
        return reply if n == 0 else completion(reply_text([dialogue("sign"), dialogue("car")]))

    with VlmTestServer(DraftScript(replies)) as server, open_store(db) as store:
        before = store.count(ListQuery())
        summary = run_draft_batch(store, _drafter(server), DraftOptions(per_image=2))
        (failed,) = summary.failed
        assert failed[0] == "desk.jpg" and expected in failed[1]
        assert [c.focus for c in _on(store, "desk.jpg")] == ["red mug"]
        assert store.count(ListQuery()) == before + 4


def test_cancelling_stores_nothing_after_the_image_in_flight(db: Path) -> None:
    task = Task()

    def on_progress(done: int, _total: int | None, _message: str) -> None:
        if done:  # the first image is stored: cancel
            task.token.cancel()

    task.on_progress = on_progress
    with (
        VlmTestServer(DraftScript(same_foci(["sign", "car", "tree"]))) as server,
        open_store(db) as store,
    ):
        with pytest.raises(Cancelled):
            run_draft_batch(store, _drafter(server), DraftOptions(per_image=2), task=task)
        assert len(server.requests) == 1
        assert [c.focus for c in _on(store, "desk.jpg")] == ["red mug", "sign"]
        assert _on(store, "shelf.jpg") == [] and _on(store, "street.png") == []


def test_images_are_drafted_concurrently(db: Path) -> None:
    with (
        VlmTestServer(DraftScript(same_foci(["sign", "car"])), delay_s=0.3) as server,
        open_store(db) as store,
    ):
        summary = run_draft_batch(store, _drafter(server, concurrency=3), DraftOptions(per_image=2))
        assert server.max_in_flight >= 2
    assert len(summary.drafted) == 1 + 2 + 2 and summary.failed == []


def test_limit_and_status_of_new_and_bad_options(db: Path) -> None:
    with (
        VlmTestServer(DraftScript(same_foci(["sign", "car"]))) as server,
        open_store(db) as store,
    ):
        options = DraftOptions(per_image=2, limit=1, status=Status.IN_REVIEW)
        summary = run_draft_batch(store, _drafter(server), options)
        assert summary.images == 1 and len(server.requests) == 1
        (new,) = store.iter_conversations(ListQuery(ids=tuple(summary.drafted)))
        assert new.status == Status.IN_REVIEW
    for bad, words in (
        ({"per_image": 0}, "--per-image"),
        ({"rounds": (3, 2)}, "--rounds"),
        ({"status": Status.APPROVED}, "starts as draft or in_review"),
        ({"answers": ("no token",)}, "segmentation answer"),
    ):
        with pytest.raises(InputError, match=words):
            DraftOptions(**bad)


# -- the command line ------------------------------------------------------------------------
def test_the_command_drafts_prints_json_and_keeps_the_key_out_of_the_database(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRAFT_TEST_KEY", SECRET)
    broken = dialogue("bench")
    broken["turns"][1]["answer"] = ""
    script = DraftScript(lambda _n, _r: completion(reply_text([dialogue("sign"), broken])))
    with VlmTestServer(script) as server:
        args = ["--db", str(db), "draft", "--url", server.url, "--model", MODEL]
        args += ["--per-image", "2", "--rounds", "2", "--image", "shelf.jpg"]
        args += ["--image", "street.png", "--key-env", "DRAFT_TEST_KEY", "--json"]
        code = main(args)
        assert set(server.authorizations) == {f"Bearer {SECRET}"}
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["drafted"] == 2 and out["images"] == 2 and out["prompt_version"] == PROMPT_VERSION
    assert [(k["image"], k["rule"]) for k in out["kept_out"]] == [
        ("shelf.jpg", "answer"),
        ("street.png", "answer"),
    ]
    with open_store(db) as store:
        assert [c.focus for c in _on(store, "desk.jpg")] == ["red mug"]  # not asked for
    assert SECRET.encode() not in db.read_bytes()
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or SECRET.encode() not in wal.read_bytes()


def test_the_command_refuses_bad_options(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--db", str(db), "draft", "--url", "http://x", "--model", "m", "--rounds", "4-2"])
    assert "need 1 <= LO <= HI" in capsys.readouterr().err
    code = main(["--db", str(db), "draft", "--url", "http://x", "--model", "m", "--limit", "0"])
    assert code == 2 and "--limit must be at least 1" in capsys.readouterr().err


def test_the_reply_and_model_name_kept_for_audit_are_bounded(db: Path) -> None:
    padding = "Let me think about this image. " * 1000  # over 16 KiB of chatter first
    named = "huge\nmodel name " * 50  # the server names the model: it becomes the author
    text = padding + reply_text([dialogue("sign")])
    script = DraftScript(lambda _n, _r: completion(text, model=named))
    with VlmTestServer(script) as server, open_store(db) as store:
        summary = run_draft_batch(store, _drafter(server), DraftOptions(per_image=1), image_ids=[2])
        (cid,) = summary.drafted
        (event,) = store.history(cid)
    assert len(event.detail["reply"]) == MAX_REPLY_KEPT
    assert event.detail["reply_chars"] > MAX_REPLY_KEPT
    assert event.actor == event.detail["model"] == " ".join(named.split())[:MAX_MODEL_NAME]
    assert "\n" not in event.actor


# -- SIGKILL mid-run -------------------------------------------------------------------------
def _draft_process(db: Path, url: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "annotator", "--db", str(db), "draft", "--url", url]
    cmd += ["--model", MODEL, "--per-image", "2", "--rounds", "2", "--json"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _check_consistent(db: Path, expected: int | None = None) -> dict[str, list[str]]:
    """Every conversation whole, drafted ones each with their one audit event; no image with
    two conversations on one focus."""
    with open_store(db) as store:
        foci: dict[str, list[str]] = {}
        for conv in store.iter_conversations(ListQuery()):
            foci.setdefault(conv.image.path, []).append(conv.focus)
            assert check_conversation(conv) == [] and len(conv.turns) == 3
            actions = [e.action for e in store.history(conv.id)]
            assert actions == ([DRAFT] if conv.source.startswith("draft:") else ["create"])
    for name, on_image in foci.items():
        assert len(on_image) <= 2 and len(set(map(focus_key, on_image))) == len(on_image), name
    if expected is not None:
        assert sum(map(len, foci.values())) == expected
    return foci


@pytest.mark.crash
def test_a_draft_run_killed_mid_run_resumes_without_duplicates(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    for i in range(6):
        write_image(folder / f"img{i}.jpg", 64 + 8 * i, 48, seed=10 + i)
    db = tmp_path / "killed.sqlite3"
    with open_store(db) as store:
        add_images(store, folder)
    foci = ["red mug", "blue sign", "green door"]

    # Kill 1: while the 4th request is in flight (three images are stored by then).
    script = DraftScript(same_foci(foci), hold_at=3)
    with VlmTestServer(script) as server:
        proc = _draft_process(db, server.url)
        try:
            assert script.arrived.wait(120), proc.stderr.read().decode() if proc.poll() else ""
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        finally:
            script.release.set()
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == -signal.SIGKILL
    stored = _check_consistent(db, expected=6)
    assert sorted(stored) == ["img0.jpg", "img1.jpg", "img2.jpg"]

    # Kill 2: just as the 2nd reply of the rerun is sent, so it lands while that image's
    # conversations are being stored (before, between or after their two transactions); the
    # 3rd request is held, so nothing later is stored.
    script = DraftScript(same_foci(foci), hold_at=2, answer_signal_at=1)
    with VlmTestServer(script) as server:
        proc = _draft_process(db, server.url)
        try:
            assert script.answered.wait(120)
            time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        finally:
            script.release.set()
            if proc.poll() is None:
                proc.kill()
    between = _check_consistent(db)
    assert 6 + 2 <= sum(map(len, between.values())) <= 6 + 4
    landed = len(between.get("img4.jpg", []))  # 0, 1 or 2 of its conversations were stored
    print(f"\ndraft kill 2 landed with {landed} of img4's 2 conversations stored")

    # The rerun completes: two conversations per image, no focus twice, nothing asked twice.
    script = DraftScript(same_foci(foci))
    with VlmTestServer(script) as server:
        proc = _draft_process(db, server.url)
        out, err = proc.communicate(timeout=120)
        asked = [avoided(r) for r in server.requests]
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    final = _check_consistent(db, expected=12)
    assert all(len(on_image) == 2 for on_image in final.values()) and len(final) == 6
    missing = 12 - sum(map(len, between.values()))
    assert len(summary["conversation_ids"]) == missing
    # Only images short of two were asked, each with the foci it had.
    assert len(asked) == len([f for f in between.values() if len(f) < 2]) + (6 - len(between))
    # A half-drafted image was asked for one more with its focus named as taken; the model's
    # repeat of that focus was kept out.
    for taken in asked:
        assert len(taken) <= 1
    assert all(k["rule"] == "focus_new" for k in summary["kept_out"])

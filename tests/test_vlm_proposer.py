"""The ``vlm`` proposer against a small OpenAI-compatible server on 127.0.0.1 (it isolates the
protocol; the masks come from real MobileSAM): answers and masks per turn with the history in
the messages, every box format, malformed replies, retries, time-outs, an unreachable server,
the API key kept out of every file, concurrency in a batch."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fixtures_sam import iou

from annotator.bench.vlm_test_server import BoxScript, Reply, VlmTestServer, completion
from annotator.cli import main
from annotator.core.errors import ProposerError
from annotator.core.model import Conversation, Image, Turn
from annotator.proposers.base import load_proposer
from annotator.proposers.openai_client import ChatClient, chat_endpoint
from annotator.proposers.vlm import VlmProposer, prist_form
from annotator.proposers.vlm_reply import parse_reply
from annotator.services.propose_job import propose_conversation, run_propose_batch
from annotator.storage import ListQuery, open_store

SECRET = "sk-test-0123456789-do-not-store"


def _box(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def _conversation(image: np.ndarray, focus: str = "the square") -> Conversation:
    h, w = image.shape[:2]
    turns = (
        Turn(0, "What shapes are there?", "Several shapes on a plain background."),
        Turn(1, "Which one has straight sides?", "The square has straight sides."),
        Turn(2, "Please segment it.", "Sure, [SEG]."),
    )
    return Conversation(Image("scene.png", w, h, ""), focus, turns, id=1)


@pytest.fixture
def scene_target(scene: tuple[np.ndarray, dict[str, np.ndarray]]) -> tuple[str, np.ndarray]:
    name = sorted(scene[1])[0]
    return name, scene[1][name]


def test_answers_and_a_mask_per_turn_with_the_history_in_the_messages(
    scene: Any, scene_target: Any, sam_engine: Any
) -> None:
    image = scene[0]
    name, target = scene_target
    h, w = image.shape[:2]
    with VlmTestServer(BoxScript(_box(target), w, h, label=name)) as server:
        proposer = VlmProposer(server.url, "fake-vl-7b", segmenter=sam_engine)
        made = propose_conversation(proposer, _conversation(image, name), image)
    assert [p.turn_index for p in made] == [0, 1, 2]
    assert all("[SEG]" not in p.answer for p in made[:2]) and made[0].masks == ()
    assert made[2].answer == f"It is the {name} [SEG]."
    (mask,) = made[2].masks
    assert iou(mask.to_array(), target) > 0.9
    detail = made[2].detail
    assert detail["box"] == list(_box(target)) and detail["model"] == "fake-vl-7b"
    assert len(detail["candidates"]) == 3 and detail["candidates"][0]["score"] >= 0
    assert "bbox_2d" in detail["reply"]
    # The third request carries the two earlier exchanges (the conversation's own answers),
    # the image once, in the first user message, and the system prompt's box format.
    msgs = server.requests[2]["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[2]["content"] == "Several shapes on a plain background."
    assert msgs[4]["content"] == "The square has straight sides."
    first = msgs[1]["content"]
    assert first[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert sum(isinstance(m["content"], list) for m in msgs) == 1
    assert "bbox_2d" in msgs[0]["content"] and "pixels" in msgs[0]["content"]
    assert server.requests[2]["temperature"] == 0.0


@pytest.mark.parametrize("box_format", ["pixels", "norm1000", "norm1000-yx"])
def test_each_box_format_gives_the_pixel_box(box_format: str) -> None:
    w, h = 800, 600
    box = (120.0, 90.0, 480.0, 330.0)
    reply = BoxScript(box, w, h, box_format)(
        {"messages": [{"role": "user", "content": "(This is the segmentation request)"}]}
    )
    text = json.loads(reply.body)["choices"][0]["message"]["content"]
    parsed = parse_reply(text, box_format=box_format, width=w, height=h)
    assert parsed.box is not None
    assert np.allclose(parsed.box, box, atol=1.0)  # the 0-1000 grid rounds to under a pixel


MALFORMED = {
    "no box at all": "It is the red one on the left.",
    "JSON without a box": '```json\n{"label": "cup"}\n```',
    "NaN": '{"bbox_2d": [NaN, 1, 20, 20]}',
    "infinite": '{"bbox_2d": [1e999, 1, 20, 20]}',
    "out of range": '{"bbox_2d": [10, 10, 5000, 20]}',
    "negative": '{"bbox_2d": [-5, 10, 50, 20]}',
    "inverted": '{"bbox_2d": [50, 10, 10, 40]}',
    "degenerate": '{"bbox_2d": [10, 10, 10.5, 40]}',
    "three numbers": '{"bbox_2d": [10, 10, 40]}',
    "strings": '{"bbox_2d": ["10", "10", "40", "40"]}',
    "booleans": '{"bbox_2d": [true, 10, 40, 40]}',
    "duplicate keys": '{"bbox_2d": [1, 1, 9, 9], "bbox_2d": [2, 2, 9, 9]}',
    "unclosed fence": '```json\n{"bbox_2d": [1, 1, 9, 9]',
    "deep nesting": "[" * 200 + "]" * 200,
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_reply_gives_an_answer_without_a_mask(
    kind: str, scene: Any, sam_engine: Any
) -> None:
    image = scene[0]
    with VlmTestServer(lambda _r: completion("The cup. " + MALFORMED[kind])) as server:
        proposer = VlmProposer(server.url, "m", segmenter=sam_engine)
        (made,) = propose_conversation(proposer, _conversation(image), image, turns=[2])
    assert made.masks == () and made.answer.endswith("[SEG].")
    assert made.answer.count("[SEG]") == 1
    assert made.detail["note"]  # one line saying why there is no mask
    assert "\n" not in made.detail["note"]


def test_final_answers_keep_the_prist_form() -> None:
    assert prist_form("It is the mug.", final=True) == "It is the mug [SEG]."
    assert prist_form("[SEG] it is [SEG] the mug [SEG].", final=True) == "it is the mug [SEG]."
    assert prist_form("", final=True) == "Sure, it is [SEG]."
    assert prist_form("The mug [SEG] is red.", final=False) == "The mug is red."


def test_several_objects_take_the_one_labelled_as_the_focus() -> None:
    text = (
        'Here: [{"bbox_2d": [1,1,10,10], "label": "plate"}, '
        '{"bbox_2d": [20,20,40,40], "label": "Red Mug"}]'
    )
    parsed = parse_reply(text, box_format="pixels", width=100, height=100, focus="red mug")
    assert parsed.box == (20.0, 20.0, 40.0, 40.0) and parsed.answer == "Here:"
    first = parse_reply(text, box_format="pixels", width=100, height=100, focus="spoon")
    assert first.box == (1.0, 1.0, 10.0, 10.0)
    answer = parse_reply(
        '{"answer": "The mug [SEG].", "box": [1, 1, 9, 9]}',
        box_format="pixels",
        width=10,
        height=10,
    )
    assert answer.answer == "The mug [SEG]."


def test_busy_servers_are_retried_with_bounded_back_off() -> None:
    replies = [
        Reply(503, b"busy"),
        Reply(429, b"slow down", (("Retry-After", "0"),)),
        completion("fine"),
    ]
    with VlmTestServer(lambda _r: replies.pop(0)) as server:
        reply = ChatClient(server.url, "m", backoff_s=0.01).complete(
            [{"role": "user", "content": "q"}]
        )
    assert (reply.text, reply.attempts) == ("fine", 3)
    with VlmTestServer(lambda _r: Reply(500, b"model crashed")) as server:
        client = ChatClient(server.url, "m", retries=2, backoff_s=0.01)
        with pytest.raises(
            ProposerError, match=r"answered HTTP 500 after 3 attempts: model crashed"
        ):
            client.complete([{"role": "user", "content": "q"}])
        assert len(server.requests) == 3
    with VlmTestServer(lambda _r: Reply(400, b'{"error": "bad model"}')) as server:
        with pytest.raises(ProposerError, match="HTTP 400"):
            ChatClient(server.url, "m", backoff_s=0.01).complete([{"role": "user", "content": "q"}])
        assert len(server.requests) == 1  # a client error is not retried


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "malformed reply"),
        (b'{"choices": []}', "no choices"),
        (b'{"choices": [{"message": {"content": 5}}]}', "not text"),
        (b'{"choices": [{"message": {"content": "x"}}], "n": NaN}', "malformed reply"),
    ],
)
def test_a_malformed_completion_is_one_line(body: bytes, message: str) -> None:
    with (
        VlmTestServer(lambda _r: Reply(200, body)) as server,
        pytest.raises(ProposerError, match=message) as info,
    ):
        ChatClient(server.url, "m").complete([{"role": "user", "content": "q"}])
    assert "\n" not in str(info.value)


def test_time_out_and_unreachable_server() -> None:
    with (
        VlmTestServer(lambda _r: completion("late"), delay_s=1.5) as server,
        pytest.raises(ProposerError, match=r"did not answer within 0.3 s"),
    ):
        ChatClient(server.url, "m", timeout=0.3).complete([{"role": "user", "content": "q"}])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ProposerError, match=rf"cannot reach http://127.0.0.1:{port}/v1/chat"):
        ChatClient(f"127.0.0.1:{port}", "m", timeout=2).complete([{"role": "user", "content": "q"}])


def test_endpoints() -> None:
    assert chat_endpoint("gpu:8000") == "http://gpu:8000/v1/chat/completions"
    assert chat_endpoint("https://api.x/v1/") == "https://api.x/v1/chat/completions"
    assert chat_endpoint("http://h/v1/chat/completions") == "http://h/v1/chat/completions"


def _project(tmp_path: Path, image: np.ndarray, n: int) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "scene.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    db = tmp_path / "vlm.sqlite3"
    store = open_store(db)
    try:
        h, w = image.shape[:2]
        convs = []
        for k in range(n):
            conv = _conversation(image)
            img = Image("scene.png", w, h, "", root=str(folder))
            convs.append(Conversation(img, f"the square {k}", conv.turns, key=f"k{k}"))
        store.add_conversations(convs, actor="test")
    finally:
        store.close()
    return db


def test_the_key_stays_out_of_every_file_and_the_batch_runs_concurrently(
    tmp_path: Path,
    scene: Any,
    scene_target: Any,
    sam_engine: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = scene[0]
    h, w = image.shape[:2]
    db = _project(tmp_path, image, 6)
    monkeypatch.setenv("ANNOTATOR_VLM_API_KEY", SECRET)
    with VlmTestServer(BoxScript(_box(scene_target[1]), w, h), delay_s=0.05) as server:
        proposer = VlmProposer(server.url, "fake-vl-7b", concurrency=4, segmenter=sam_engine)
        store = open_store(db)
        try:
            summary = run_propose_batch(store, proposer, query=ListQuery())
            assert (summary.conversations, summary.turns, summary.masks) == (6, 18, 6)
            assert not summary.failed
            stored = store.proposals(1)
            assert stored[-1].detail["model"] == "fake-vl-7b" and stored[-1].masks
        finally:
            store.close()
    assert set(server.authorizations) == {f"Bearer {SECRET}"}
    assert server.max_in_flight == 4  # four conversations in flight, one turn each
    out = tmp_path / "all.jsonl"
    rc = main(
        ["--db", str(db), "export", "jsonl", str(out), "--status", "all", "--mask", "proposal"]
    )
    assert rc == 0
    capsys.readouterr()
    for path in (db, out, *tmp_path.glob("vlm.sqlite3*")):
        assert SECRET.encode() not in path.read_bytes(), path


def test_a_refused_key_names_the_variable_not_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_VLM_KEY", SECRET)
    with (
        VlmTestServer(
            lambda _r: Reply(401, b'{"error": "invalid key ' + SECRET.encode() + b'"}')
        ) as server,
        pytest.raises(ProposerError) as info,
    ):
        ChatClient(server.url, "m", key_env="MY_VLM_KEY").complete(
            [{"role": "user", "content": "q"}]
        )
    assert "$MY_VLM_KEY" in str(info.value) and SECRET not in str(info.value)


def test_the_command_line_and_entry_point(
    tmp_path: Path, scene: Any, scene_target: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    image = scene[0]
    h, w = image.shape[:2]
    db = _project(tmp_path, image, 2)
    with VlmTestServer(BoxScript(_box(scene_target[1]), w, h, "norm1000")) as server:
        proposer = load_proposer("vlm", url=server.url, model="fake-vl-7b", box_format="norm1000")
        assert proposer.info().name == "vlm" and "norm1000" in proposer.info().version
        rc = main(
            [
                "--db",
                str(db),
                "propose",
                "--proposer",
                "vlm",
                "--url",
                server.url,
                "--model",
                "fake-vl-7b",
                "--box-format",
                "norm1000",
                "--concurrency",
                "2",
                "--json",
            ]
        )
        assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["conversations"], summary["turns"], summary["masks"]) == (2, 6, 2)
    with pytest.raises(ProposerError, match="box-format"):
        load_proposer("vlm", url="http://x", model="m", box_format="xy")


def test_the_benchmark_runs_end_to_end() -> None:
    import argparse

    from annotator.bench import vlm_propose_bench

    args = argparse.Namespace(
        url=None, model="fake-vl-7b", box_format="pixels", concurrency=4, delay_ms=30.0, records=4
    )
    figures = vlm_propose_bench.run(args)
    assert figures["turns"] == 16 and figures["sequential"]["masks"] == 4
    assert figures["concurrency_4"]["failed"] == 0 and figures["server_max_in_flight"] == 4
    assert figures["speedup"] > 0 and "meets_target" in figures

"""The HTTP server and the ``remote`` proposer on loopback: same proposals as in-process, the
image sent once per conversation, and clear errors for every way the server can fail."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import zlib

import pytest
from fixtures_miras import EchoProposer, dialogue_turns, noise_image

from annotator.core.errors import ProposerError
from annotator.proposers.base import (
    TurnRequest,
    history_for,
    image_key,
    load_proposer,
)
from annotator.proposers.remote import RemoteProposer
from annotator.proposers.remote_protocol import encode_png
from annotator.proposers.server import ImageStore, start_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def echo_server():
    proposer = EchoProposer()
    running = start_server(proposer)
    yield running, proposer
    running.stop()


def test_remote_gives_the_same_proposals_as_in_process(tiny_miras, prist_records) -> None:
    running = start_server(tiny_miras)
    try:
        remote = RemoteProposer(running.url, timeout=60)
        assert remote.info().name == tiny_miras.info().name == "miras"
        assert remote.info().version == tiny_miras.info().version
        assert remote.info().proposes_noise
        for n, record in enumerate(prist_records[:2]):
            questions, _ = dialogue_turns(record)
            image = noise_image(75, 101, seed=40 + n)
            answers_local: list[str] = []
            answers_remote: list[str] = []
            for t, q in enumerate(questions):
                local = tiny_miras.propose(
                    TurnRequest(image, history_for(questions, answers_local, t), q)
                )
                far = remote.propose(
                    TurnRequest(image, history_for(questions, answers_remote, t), q)
                )
                assert far.answer == local.answer
                assert far.masks == local.masks
                assert far.scores == pytest.approx(local.scores)
                assert far.detail["seg_tokens"] == local.detail["seg_tokens"]
                answers_local.append(local.answer)
                answers_remote.append(far.answer)
        # One upload per conversation (image), every turn answered by the server.
        assert running.server.uploads == 2
        assert running.server.served == sum(len(dialogue_turns(r)[0]) for r in prist_records[:2])
    finally:
        running.stop()


def test_image_is_sent_once_and_resent_after_eviction() -> None:
    proposer = EchoProposer()
    running = start_server(proposer, images=ImageStore(max_images=1))
    try:
        client = RemoteProposer(running.url)
        a, b = noise_image(10, 12, seed=1), noise_image(10, 12, seed=2)
        for _ in range(3):
            client.propose(TurnRequest(a, (), "q"))
        assert running.server.uploads == 1
        client.propose(TurnRequest(b, (), "q"))  # evicts a on the server
        out = client.propose(TurnRequest(a, (), "again"))
        assert out.answer == "0:again"
        assert running.server.uploads == 3
        # A second client finds the image on the server and does not send it again.
        other = RemoteProposer(running.url)
        other.propose(TurnRequest(a, (), "q"))
        assert running.server.uploads == 3
    finally:
        running.stop()


def test_server_not_running() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(
        ProposerError, match=r"cannot reach the proposer server at .*annotator serve"
    ):
        RemoteProposer(url, timeout=5)


def test_time_out_is_a_clear_error() -> None:
    running = start_server(EchoProposer(delay=2.0))
    try:
        client = RemoteProposer(running.url, timeout=0.5)
        with pytest.raises(ProposerError, match=r"did not answer within 0\.5 s"):
            client.propose(TurnRequest(noise_image(8, 8), (), "q"))
    finally:
        running.stop()


def test_model_error_reaches_the_client() -> None:
    running = start_server(EchoProposer(fail="out of GPU memory"))
    try:
        client = RemoteProposer(running.url)
        with pytest.raises(ProposerError, match="answered 500: out of GPU memory"):
            client.propose(TurnRequest(noise_image(8, 8), (), "q"))
    finally:
        running.stop()


def test_token_is_required_when_set() -> None:
    running = start_server(EchoProposer(), token="s3cret")
    try:
        with pytest.raises(ProposerError, match="401: missing or wrong access token"):
            RemoteProposer(running.url)
        with pytest.raises(ProposerError, match="401"):
            RemoteProposer(running.url, token="wrong")
        client = RemoteProposer(running.url, token="s3cret")
        assert client.propose(TurnRequest(noise_image(8, 8), (), "q")).answer == "0:q"
    finally:
        running.stop()


def _raw(url: str, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, (json.loads(data) if data else None)


def test_hostile_requests_are_refused(echo_server) -> None:
    running, proposer = echo_server
    img = noise_image(6, 7)
    key = image_key(img)
    status, body = _raw(running.url, "PUT", f"/v1/images/{key}", b"not a png")
    assert status == 400 and body["error"]["message"] == "not a PNG image"
    status, body = _raw(
        running.url, "PUT", f"/v1/images/{key}", encode_png(noise_image(6, 7, seed=9))
    )
    assert status == 400 and "does not match its key" in body["error"]["message"]
    # A PNG header that claims a huge image is refused before decoding.
    ihdr = struct.pack(">II", 100_000, 100_000) + bytes([8, 2, 0, 0, 0])
    bomb = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
    bomb += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    status, body = _raw(running.url, "PUT", f"/v1/images/{key}", bomb)
    assert status == 400 and "refused" in body["error"]["message"]
    status, body = _raw(running.url, "PUT", "/v1/images/../../etc", b"x")
    assert status == 400
    status, body = _raw(running.url, "POST", "/v1/propose", b"{not json")
    assert status == 400
    req = json.dumps({"image": key, "history": "nope", "question": "q"}).encode()
    status, body = _raw(running.url, "POST", "/v1/propose", req)
    assert status == 400 and "history" in body["error"]["message"]
    req = json.dumps({"image": key, "history": [], "question": "q"}).encode()
    status, body = _raw(running.url, "POST", "/v1/propose", req)
    assert status == 404 and body["error"]["kind"] == "image_unknown"
    status, body = _raw(running.url, "POST", "/v1/propose", b"", {"Content-Length": str(1 << 40)})
    assert status == 413
    assert proposer.calls == 0
    # The server still answers normally afterwards.
    assert RemoteProposer(running.url).propose(TurnRequest(img, (), "ok")).answer == "0:ok"


def test_concurrent_clients(echo_server) -> None:
    running, proposer = echo_server
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            client = RemoteProposer(running.url)
            img = noise_image(9, 9, seed=seed)
            for t in range(3):
                out = client.propose(TurnRequest(img, (), f"q{t}"))
                assert out.answer == f"0:q{t}"
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert proposer.calls == 12


def test_remote_found_through_entry_points(echo_server) -> None:
    running, _ = echo_server
    proposer = load_proposer("remote", url=running.url, timeout=5.0)
    assert proposer.info().name == "echo"
    assert running.url in proposer.info().device

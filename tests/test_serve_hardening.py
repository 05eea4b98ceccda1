"""Issue 23, point 3: ``annotator serve`` holds a bounded amount whatever its clients send, and
the ``remote`` client survives a hostile server. Every refusal is one line, and nothing is
stored or changed by it. Real servers on 127.0.0.1, raw sockets where the framing matters."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fixtures_miras import EchoProposer, noise_image

from annotator.cli import build_parser, main
from annotator.cli.miras_commands import _load_proposer, access_token
from annotator.core.errors import InputError, ProposerError
from annotator.proposers.base import TurnRequest, image_key
from annotator.proposers.remote import RemoteProposer
from annotator.proposers.remote_protocol import encode_png
from annotator.proposers.serve_limits import ServeLimits, decode_cost
from annotator.proposers.server import ProposerServer, RunningServer, start_server

TOKEN = "s3cret-Token_42"


# -- helpers --------------------------------------------------------------------------------
def wait_for(condition: Callable[[], bool], what: str, limit_s: float = 20.0) -> None:
    """Poll until ``condition`` holds (a wait for another thread, not a speed assertion)."""
    end = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.01)


def connect(running: RunningServer) -> socket.socket:
    sock = socket.create_connection(running.server.server_address[:2], timeout=15)
    return sock


def request_bytes(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("PUT", "POST"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def error(self) -> dict[str, str]:
        return json.loads(self.body)["error"]


def read_replies(sock: socket.socket, count: int) -> tuple[list[Reply], bool]:
    """Up to ``count`` HTTP replies from ``sock``, and whether the server closed it after them
    (only looked for once ``count`` replies arrived, or when the socket ends first)."""
    buf, replies, closed = b"", [], False
    while True:
        while b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
            length = int(headers.get("content-length", "0"))
            if len(rest) < length:
                break
            replies.append(Reply(int(lines[0].split()[1]), headers, rest[:length]))
            buf = rest[length:]
        if closed or len(replies) > count:
            return replies, closed
        if len(replies) == count and not closed:
            # One more read tells whether the server closed the connection or keeps it open
            # (it must not answer anything more: a later reply would show in `replies`).
            sock.settimeout(1.0)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return replies, False
        if not chunk:
            closed = True
        buf += chunk


def one_line(message: str) -> bool:
    return "\n" not in message and "\r" not in message and 0 < len(message) < 400


class GateProposer(EchoProposer):
    """An echo proposer that holds each turn until ``gate`` is set (a turn in progress)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.entered = threading.Event(), threading.Event()

    def propose(self, request: Any, task: Any = None) -> Any:
        self.entered.set()
        assert self.gate.wait(30)
        return super().propose(request, task)


@pytest.fixture
def served() -> Iterator[Callable[..., tuple[RunningServer, EchoProposer]]]:
    started: list[RunningServer] = []

    def start(
        proposer: EchoProposer | None = None, **kwargs: Any
    ) -> tuple[RunningServer, EchoProposer]:
        proposer = proposer or EchoProposer()
        started.append(start_server(proposer, **kwargs))
        return started[-1], proposer

    yield start
    for running in started:
        running.stop()


def assert_nothing_changed(running: RunningServer, proposer: EchoProposer) -> None:
    # A handler may still be releasing what it held just after its answer went out.
    wait_for(lambda: running.server.budget.in_use == 0, "every reservation released")
    wait_for(lambda: running.server.in_flight.current == 0, "every request slot released")
    assert running.server.uploads == 0
    assert len(running.server.images) == 0
    assert proposer.calls == 0


# -- decode memory --------------------------------------------------------------------------
def test_decode_memory_is_reserved_from_the_header_and_refused_past_the_budget(served) -> None:
    a, b = noise_image(60, 80, seed=1), noise_image(60, 80, seed=2)
    png_a, png_b = encode_png(a), encode_png(b)
    one = max(decode_cost(len(png_a), 80, 60), decode_cost(len(png_b), 80, 60))
    limits = ServeLimits(decode_budget_bytes=one + 100, budget_wait_s=0.0)
    running, _ = served(limits=limits)
    # A sends its header and the PNG header only: its decode memory is reserved from the
    # dimensions, before the body (let alone the pixels) exists.
    slow = connect(running)
    slow.sendall(request_bytes("PUT", f"/v1/images/{image_key(a)}", png_a)[: -len(png_a) + 40])
    wait_for(lambda: running.server.budget.in_use > 0, "the first upload's reservation")
    # B does not fit beside it: 503 at once, with Retry-After, nothing decoded or stored.
    with connect(running) as other:
        other.sendall(request_bytes("PUT", f"/v1/images/{image_key(b)}", png_b))
        (reply,), _ = read_replies(other, 1)
    assert reply.status == 503 and reply.headers["retry-after"] == "1"
    assert reply.error["kind"] == "busy" and one_line(reply.error["message"])
    assert running.server.uploads == 0 and running.server.refused == 1
    # An image that could never fit is 413, not a 503 to retry for ever.
    big = noise_image(120, 160, seed=3)
    with connect(running) as other:
        other.sendall(request_bytes("PUT", f"/v1/images/{image_key(big)}", encode_png(big)))
        (reply,), _ = read_replies(other, 1)
    assert reply.status == 413 and "decode budget" in reply.error["message"]
    assert one_line(reply.error["message"])
    # A finishes: stored, and every reservation is back.
    slow.sendall(png_a[40:])
    (reply,), _ = read_replies(slow, 1)
    slow.close()
    assert reply.status == 201
    assert running.server.uploads == 1 and running.server.budget.in_use == 0
    assert running.server.budget.peak <= one + 100
    assert RemoteProposer(running.url).propose(TurnRequest(b, (), "q")).answer == "0:q"


def test_the_decode_releases_its_reservation_when_the_client_vanishes(served) -> None:
    img = noise_image(40, 40, seed=4)
    png = encode_png(img)
    running, proposer = served()
    with connect(running) as sock:
        sock.sendall(request_bytes("PUT", f"/v1/images/{image_key(img)}", png)[:-100])
        wait_for(lambda: running.server.budget.in_use > 0, "the upload's reservation")
    wait_for(lambda: running.server.budget.in_use == 0, "the reservation released")
    wait_for(lambda: running.server.in_flight.current == 0, "the slot released")
    assert_nothing_changed(running, proposer)


# -- requests in flight ---------------------------------------------------------------------
def test_requests_past_the_in_flight_limit_get_503_and_the_client_retries(served) -> None:
    proposer = GateProposer()
    running, _ = served(proposer, limits=ServeLimits(max_in_flight=1))
    img = noise_image(10, 12, seed=5)
    first = RemoteProposer(running.url)
    answers: list[str] = []
    turn = threading.Thread(
        target=lambda: answers.append(first.propose(TurnRequest(img, (), "a")).answer)
    )
    turn.start()
    assert proposer.entered.wait(20)
    # The only slot is taken by a turn in progress: a second request is refused at once.
    body = json.dumps({"image": image_key(img), "history": [], "question": "b"}).encode()
    with connect(running) as sock:
        sock.sendall(request_bytes("POST", "/v1/propose", body))
        (reply,), _ = read_replies(sock, 1)
    assert reply.status == 503 and reply.headers["retry-after"] == "1"
    assert reply.error["kind"] == "busy" and one_line(reply.error["message"])
    # Information is not a request in flight: it is answered meanwhile.
    assert RemoteProposer(running.url).info().name == "echo"
    # A client that cannot wait long enough gets one clear line.
    hasty = RemoteProposer(running.url, timeout=0.5)
    with pytest.raises(ProposerError, match=r"is busy after 1 tries \(503: ") as err:
        hasty.propose(TurnRequest(img, (), "b"))
    assert one_line(str(err.value))
    # A patient one asks again after Retry-After and is answered once the slot is free.
    second: list[str] = []
    retry = threading.Thread(
        target=lambda: second.append(
            RemoteProposer(running.url).propose(TurnRequest(img, (), "c")).answer
        )
    )
    retry.start()
    wait_for(lambda: running.server.refused >= 3, "the patient client refused once")
    proposer.gate.set()
    turn.join(30)
    retry.join(30)
    assert answers == ["0:a"] and second == ["0:c"]
    assert proposer.calls == 2  # the refused requests never reached the model


# -- connections and time -------------------------------------------------------------------
def test_idle_connections_are_dropped(served) -> None:
    running, proposer = served(limits=ServeLimits(idle_timeout_s=0.3))
    with connect(running) as idle, connect(running) as half:
        half.sendall(b"GET /v1/info HTTP/1.1\r\nHost: test\r\n")  # never ends its headers
        assert idle.recv(1024) == b""  # closed by the server, not by this socket's time-out
        assert half.recv(1024) == b""
    wait_for(lambda: running.server.connections.current == 0, "the handler threads to end")
    assert RemoteProposer(running.url).info().name == "echo"
    assert_nothing_changed(running, proposer)


def test_a_body_slower_than_the_minimum_rate_is_cut(served) -> None:
    limits = ServeLimits(idle_timeout_s=0.2, min_upload_rate=1e9)
    running, proposer = served(limits=limits)
    img = noise_image(20, 20)
    png = encode_png(img)
    with connect(running) as sock:
        sock.sendall(request_bytes("PUT", f"/v1/images/{image_key(img)}", png)[: -len(png) + 30])
        sock.settimeout(0.1)
        got = b""
        for byte in png[30:]:  # one byte at a time, each well within the idle time-out
            try:
                sock.sendall(bytes([byte]))
                got = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if got:
                break
    assert got.startswith(b"HTTP/1.1 408 ")
    assert_nothing_changed(running, proposer)


def test_connections_past_the_cap_get_503_without_a_thread(served) -> None:
    running, proposer = served(limits=ServeLimits(max_connections=2))
    first, second = connect(running), connect(running)
    wait_for(lambda: running.server.connections.current == 2, "two connections accepted")
    with connect(running) as third:
        third.sendall(request_bytes("GET", "/v1/info"))
        (reply,), closed = read_replies(third, 1)
    assert reply.status == 503 and closed
    assert reply.error["message"] == "too many connections; try again"
    first.close()
    second.close()
    wait_for(lambda: running.server.connections.current == 0, "the two connections ended")
    assert RemoteProposer(running.url).info().name == "echo"
    assert_nothing_changed(running, proposer)


def test_the_listen_backlog_holds_a_burst_of_clients() -> None:
    server = ProposerServer(("127.0.0.1", 0), EchoProposer())  # not accepting yet
    socks = []
    try:
        for _ in range(64):  # the standard library's backlog of 5 would drop most of these
            socks.append(socket.create_connection(server.server_address[:2], timeout=5))
    finally:
        for s in socks:
            s.close()
        server.server_close()
    assert len(socks) == 64


# -- answers before the body ----------------------------------------------------------------
def test_an_early_401_never_reads_its_body_as_the_next_request(served) -> None:
    running, proposer = served(token=TOKEN)
    smuggled = request_bytes("GET", "/v1/info")  # a request hidden in the body
    with connect(running) as sock:
        sock.sendall(request_bytes("PUT", "/v1/images/" + "0" * 64, smuggled))
        sock.sendall(request_bytes("GET", "/v1/info", headers={"Authorization": f"Bearer {TOKEN}"}))
        replies, closed = read_replies(sock, 2)
    assert [r.status for r in replies] == [401, 200]  # never a second 401 for the smuggled one
    assert not closed  # a small body is read and dropped: the connection stays usable
    assert one_line(replies[0].error["message"])
    assert_nothing_changed(running, proposer)


def test_an_early_400_with_a_large_body_answers_then_closes(served) -> None:
    running, proposer = served()
    junk = request_bytes("GET", "/v1/info") + b"x" * (2 * 1024 * 1024)
    with connect(running) as sock:
        sender = threading.Thread(
            target=sock.sendall, args=(request_bytes("PUT", "/v1/images/not-a-key", junk),)
        )
        sender.start()
        replies, closed = read_replies(sock, 1)
        sender.join(30)
    assert [r.status for r in replies] == [400] and closed
    assert replies[0].headers["connection"] == "close"
    assert replies[0].error["message"] == "bad image key"
    assert_nothing_changed(running, proposer)


def test_a_refused_large_upload_reaches_the_client_as_an_answer_not_a_reset(served) -> None:
    running, proposer = served(token=TOKEN)
    host, port = running.server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("PUT", "/v1/images/" + "0" * 64, body=b"\0" * (16 * 1024 * 1024))
        resp = conn.getresponse()
        body = json.loads(resp.read())
    finally:
        conn.close()
    assert resp.status == 401 and body["error"]["kind"] == "unauthorised"
    assert_nothing_changed(running, proposer)


def test_a_body_of_unknown_length_is_refused_and_the_connection_closed(served) -> None:
    running, proposer = served()
    hidden = request_bytes("GET", "/v1/info")
    framings = [
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(hidden), hidden),
        b"Content-Length: \xb3\r\n\r\n" + hidden,  # a superscript 3 in Latin-1
        b"Content-Length: 3\r\nContent-Length: 4\r\n\r\n" + hidden,
        b"Content-Length: " + b"9" * 30 + b"\r\n\r\n" + hidden,
    ]
    for framing in framings:
        with connect(running) as sock:
            sock.sendall(b"POST /v1/propose HTTP/1.1\r\nHost: t\r\n" + framing)
            replies, closed = read_replies(sock, 1)
        assert [r.status for r in replies] == [411] and closed, framing
        assert one_line(replies[0].error["message"])
    assert_nothing_changed(running, proposer)


# -- JSON -----------------------------------------------------------------------------------
def test_deeply_nested_or_oversized_requests_are_one_line_400s(served) -> None:
    running, proposer = served()
    for body in (b"[" * 1_000_000, b'{"image": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"):
        with connect(running) as sock:
            sock.sendall(request_bytes("POST", "/v1/propose", body))
            (reply,), _ = read_replies(sock, 1)
        assert reply.status == 400 and "nesting deeper than 16 levels" in reply.error["message"]
        assert one_line(reply.error["message"])
    with connect(running) as sock:
        sock.sendall(b"POST /v1/propose HTTP/1.1\r\nHost: t\r\nContent-Length: 9000000\r\n\r\n")
        (reply,), _ = read_replies(sock, 1)
    assert reply.status == 413 and one_line(reply.error["message"])
    assert_nothing_changed(running, proposer)


class _HostileHandler(BaseHTTPRequestHandler):
    """A proposer server that answers ``/v1/info`` well and then whatever the test set."""

    protocol_version = "HTTP/1.1"
    replies: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status, body = self.replies.get(self.path.split("/")[2], (200, b"{}"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = _answer


@pytest.fixture
def hostile() -> Iterator[tuple[str, dict[str, tuple[int, bytes]]]]:
    info = {"protocol": 1, "name": "evil", "version": "1", "description": "", "device": ""}
    replies = {"info": (200, json.dumps(info).encode())}
    handler = type("Handler", (_HostileHandler,), {"replies": replies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", replies
    server.shutdown()
    server.server_close()


def test_the_client_survives_a_hostile_server(hostile) -> None:
    url, replies = hostile
    client = RemoteProposer(url, timeout=10)
    request = TurnRequest(noise_image(8, 8), (), "q")
    answers = {
        b"[" * 200_000: r"nesting deeper than \d+ levels",
        b'{"answer": "a", "masks": [], "scores": [], "timing": {"t": [[[1]]]}}': "'timing'",
        b'{"answer": "a", "masks": [{"size": [8, 8], "counts": "8"}], "scores": [true]}': (
            "'scores'"
        ),
        b'{"answer": "a", "masks": "none", "scores": []}': "'masks'",
        b'{"answer": "a", "detail": [1, 2]}': "'detail'",
    }
    for body, expected in answers.items():
        replies["propose"] = (200, body)
        with pytest.raises(ProposerError, match=expected) as err:
            client.propose(request)
        assert one_line(str(err.value))
    replies["propose"] = (
        500,
        json.dumps(
            {"error": {"kind": "x", "message": "line one\nline two\r\n" + "z" * 5000}}
        ).encode(),
    )
    with pytest.raises(ProposerError, match="answered 500: line one line two") as err:
        client.propose(request)
    assert one_line(str(err.value))
    replies["info"] = (200, json.dumps({"protocol": 1, "name": [[["x"]]], "version": "1"}).encode())
    with pytest.raises(ProposerError, match="not a compatible proposer server") as err:
        RemoteProposer(url, timeout=10)
    assert one_line(str(err.value))


# -- the access token -----------------------------------------------------------------------
def test_the_token_comes_from_a_file_or_the_environment(
    served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANNOTATOR_SERVE_TOKEN", raising=False)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="ascii")
    serve = build_parser().parse_args(["serve", "--token-file", str(token_file)])
    assert access_token(serve) == TOKEN
    running, _ = served(token=access_token(serve))
    # `annotator propose --proposer remote --token-file F` builds a client that gets in.
    propose = build_parser().parse_args(
        ["propose", "--proposer", "remote", "--url", running.url, "--token-file", str(token_file)]
    )
    client = _load_proposer(propose, with_token=True)
    assert client.propose(TurnRequest(noise_image(8, 8), (), "q")).answer == "0:q"
    # The variable serves both sides when no option is given.
    monkeypatch.setenv("ANNOTATOR_SERVE_TOKEN", TOKEN)
    assert access_token(build_parser().parse_args(["serve"])) == TOKEN
    assert RemoteProposer(running.url).propose(TurnRequest(noise_image(8, 8), (), "r")).answer == (
        "0:r"
    )
    # --token still works (its help says that `ps` shows it).
    assert access_token(build_parser().parse_args(["serve", "--token", TOKEN])) == TOKEN
    monkeypatch.setenv("ANNOTATOR_SERVE_TOKEN", "wrong-token")
    with pytest.raises(ProposerError, match="401"):
        RemoteProposer(running.url)


def test_the_token_option_says_that_ps_shows_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "visible to other users in `ps`" in help_text and "--token-file PATH" in help_text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (b"two words\n", "one word of printable ASCII"),
        ("pässword".encode(), "one word of printable ASCII"),
        (b"\xff\xfe\x00", "one word of printable ASCII"),
        (b"x" * 5000, "more than the limit"),
    ],
)
def test_a_bad_token_file_is_one_line_that_never_shows_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, reason: str
) -> None:
    token_file = tmp_path / "token"
    token_file.write_bytes(content)
    # Reported before any model loads (--checkpoint names nothing that exists).
    code = main(["serve", "--token-file", str(token_file), "--checkpoint", str(tmp_path / "no")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert str(token_file) in err[0] and reason in err[0]
    assert "words" not in err[0] and "pässword" not in err[0]


def test_token_options_that_contradict_or_are_missing_are_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="ascii")
    both = build_parser().parse_args(["serve", "--token", TOKEN, "--token-file", str(token_file)])
    with pytest.raises(InputError, match="not both"):
        access_token(both)
    missing = build_parser().parse_args(["serve", "--token-file", str(tmp_path / "nope")])
    with pytest.raises(InputError, match="file not found"):
        access_token(missing)
    with pytest.raises(ProposerError, match="one word of printable ASCII"):
        RemoteProposer("http://127.0.0.1:9", token="bad\r\nX-Injected: 1")


# -- the benchmark --------------------------------------------------------------------------
def test_the_serve_benchmark_reports_both_servers(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "serve", "--json", "--clients", "4", "--seconds", "1"]
    code = main([*args, "--pixels", "250000", "--naive-clients", "2"])
    figures = json.loads(capsys.readouterr().out)
    assert code == 0 and "bench-constant" in figures["proposer"] and figures["machine"]["cores"]
    runs = ("bounded", "bounded_at_naive_clients", "naive_unbounded")
    assert [figures[r]["limits"] for r in runs] == ["bounded", "bounded", "unbounded"]
    for name in runs:
        run = figures[name]
        assert run["ok"] > 0 and run["resets"] == 0
        assert run["server"]["peak_rss_mb"] > 0 and run["server"]["uploads_decoded"] > 0
        assert {"p50", "p95"} <= set(run["latency_ms"]["propose_small"])
    assert figures["bounded"]["clients"] == 4 and figures["naive_unbounded"]["clients"] == 2
    assert figures["meets_target"] is True

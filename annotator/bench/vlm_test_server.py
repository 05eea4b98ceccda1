"""A small OpenAI-compatible chat server on 127.0.0.1 for the ``vlm`` proposer's tests and
benchmark: it isolates the protocol (no model weights can be fetched here), answering from a
script with an optional fixed delay, and records what it was sent.

The default script answers every turn in prose and, for the segmentation request, adds the
configured box as JSON in the configured format; a test passes its own script to send anything
else (malformed boxes, errors, delays).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "fake-vl-7b"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def completion(text: str, model: str = MODEL) -> Reply:
    """A well-formed chat completion holding ``text``."""
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10},
    }
    return Reply(200, json.dumps(body).encode())


def last_question(request: dict[str, Any]) -> str:
    content = request["messages"][-1]["content"]
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return str(content)


@dataclass
class BoxScript:
    """Prose for every turn; the box (``x0, y0, x1, y1`` image pixels) written in ``box_format``
    for the segmentation request of an image ``width`` × ``height``."""

    box: tuple[float, float, float, float]
    width: int
    height: int
    box_format: str = "pixels"
    label: str = "target"

    def __call__(self, request: dict[str, Any]) -> Reply:
        question = last_question(request)
        if "segmentation request" not in question:
            return completion(f"Looking at the image: {question[:40]} It is on the left.")
        x0, y0, x1, y1 = self.box
        if self.box_format == "pixels":
            key, value = "bbox_2d", [x0, y0, x1, y1]
        else:
            nx0, nx1 = (round(v * 1000 / self.width) for v in (x0, x1))
            ny0, ny1 = (round(v * 1000 / self.height) for v in (y0, y1))
            if self.box_format == "norm1000":
                key, value = "bbox_2d", [nx0, ny0, nx1, ny1]
            else:
                key, value = "box_2d", [ny0, nx0, ny1, nx1]
        block = json.dumps([{key: value, "label": self.label}])
        return completion(f"It is the {self.label}.\n```json\n{block}\n```")


@dataclass
class VlmTestServer:
    script: Callable[[dict[str, Any]], Reply]
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    max_in_flight: int = 0
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> VlmTestServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = json.loads(body)
                with owner._lock:
                    owner.requests.append(request)
                    owner.authorizations.append(self.headers.get("Authorization", ""))
                    owner._in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner._in_flight)
                try:
                    if owner.delay_s:
                        time.sleep(owner.delay_s)
                    reply = owner.script(request)
                finally:
                    with owner._lock:
                        owner._in_flight -= 1
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

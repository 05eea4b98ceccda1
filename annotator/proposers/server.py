"""``annotator serve``: any in-process proposer over HTTP (see :mod:`.remote_protocol`).

Built on the standard library's threading HTTP server. The model runs one turn at a time (a
lock); uploads and info requests are answered meanwhile. Received images are kept in a bounded
LRU store keyed by their content hash. The default address is loopback; give ``host="0.0.0.0"``
and, outside a trusted network, a ``token`` that clients must send as ``Bearer``.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from annotator.core.errors import AnnotatorError, Cancelled, InputError, ProposerError
from annotator.io import safe_json
from annotator.io.safe_json import JsonLimits
from annotator.proposers.base import Proposer, RgbImage, TurnRequest, image_key
from annotator.proposers.remote_protocol import (
    KIND_BAD_REQUEST,
    KIND_IMAGE_UNKNOWN,
    KIND_INTERNAL,
    KIND_PROPOSER,
    KIND_UNAUTHORISED,
    MAX_BODY_BYTES,
    decode_png,
    error_json,
    info_to_json,
    is_image_key,
    output_to_json,
    parse_propose_request,
)

# A propose request is a key, a question and the history: small, shallow JSON.
REQUEST_LIMITS = JsonLimits(max_bytes=MAX_BODY_BYTES, max_depth=16, max_string=1024 * 1024)


class ImageStore:
    """Images by key, least recently used dropped first beyond ``max_images`` or ``max_bytes``."""

    def __init__(self, max_images: int = 64, max_bytes: int = 2 << 30) -> None:
        self.max_images, self.max_bytes = max_images, max_bytes
        self._items: OrderedDict[str, RgbImage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> RgbImage | None:
        with self._lock:
            img = self._items.get(key)
            if img is not None:
                self._items.move_to_end(key)
            return img

    def put(self, key: str, image: RgbImage) -> None:
        with self._lock:
            self._items[key] = image
            self._items.move_to_end(key)
            while len(self._items) > 1 and (
                len(self._items) > self.max_images
                or sum(i.nbytes for i in self._items.values()) > self.max_bytes
            ):
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class ProposerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        proposer: Proposer,
        *,
        token: str | None = None,
        images: ImageStore | None = None,
        log: Any = None,
    ) -> None:
        super().__init__(address, _Handler)
        self.proposer = proposer
        self.token = token
        self.images = images if images is not None else ImageStore()
        self.model_lock = threading.Lock()
        self.log = log  # callable(str) or None
        self.served = 0  # turns proposed
        self.uploads = 0  # images received

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: ProposerServer
    protocol_version = "HTTP/1.1"

    # -- plumbing ------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")

    def _send(self, status: int, body: dict[str, Any] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _fail(self, status: int, kind: str, message: str) -> None:
        self._send(status, error_json(kind, message))

    def _authorised(self) -> bool:
        if not self.server.token:
            return True
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {self.server.token}".encode()):
            return True
        self._fail(HTTPStatus.UNAUTHORIZED, KIND_UNAUTHORISED, "missing or wrong access token")
        return False

    def _body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._fail(HTTPStatus.LENGTH_REQUIRED, KIND_BAD_REQUEST, "Content-Length required")
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self._fail(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, KIND_BAD_REQUEST, "body too large")
            return None
        return self.rfile.read(length)

    def _image_key_from_path(self) -> str | None:
        key = self.path.removeprefix("/v1/images/")
        if not is_image_key(key):
            self._fail(HTTPStatus.BAD_REQUEST, KIND_BAD_REQUEST, "bad image key")
            return None
        return key

    # -- endpoints -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        if not self._authorised():
            return
        if self.path == "/v1/info":
            body = info_to_json(self.server.proposer.info())
            body["images_held"] = len(self.server.images)
            self._send(HTTPStatus.OK, body)
        else:
            self._fail(HTTPStatus.NOT_FOUND, KIND_BAD_REQUEST, f"no such endpoint {self.path}")

    def do_HEAD(self) -> None:
        if not self._authorised():
            return
        if not self.path.startswith("/v1/images/"):
            self._send(HTTPStatus.NOT_FOUND)
            return
        key = self._image_key_from_path()
        if key is not None:
            held = self.server.images.get(key) is not None
            self._send(HTTPStatus.OK if held else HTTPStatus.NOT_FOUND)

    def do_PUT(self) -> None:
        if not self._authorised():
            return
        if not self.path.startswith("/v1/images/"):
            self._fail(HTTPStatus.NOT_FOUND, KIND_BAD_REQUEST, f"no such endpoint {self.path}")
            return
        key = self._image_key_from_path()
        body = self._body() if key is not None else None
        if key is None or body is None:
            return
        try:
            image = decode_png(body)
        except InputError as exc:
            self._fail(HTTPStatus.BAD_REQUEST, KIND_BAD_REQUEST, str(exc))
            return
        if image_key(image) != key:
            self._fail(HTTPStatus.BAD_REQUEST, KIND_BAD_REQUEST, "the image does not match its key")
            return
        self.server.images.put(key, image)
        self.server.uploads += 1
        self._send(HTTPStatus.CREATED, {"image": key})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        if self.path != "/v1/propose":
            self._fail(HTTPStatus.NOT_FOUND, KIND_BAD_REQUEST, f"no such endpoint {self.path}")
            return
        body = self._body()
        if body is None:
            return
        try:
            request = safe_json.loads(body, file="request", limits=REQUEST_LIMITS).value
            key, history, question = parse_propose_request(request)
        except (InputError, ValueError) as exc:
            self._fail(HTTPStatus.BAD_REQUEST, KIND_BAD_REQUEST, str(exc))
            return
        image = self.server.images.get(key)
        if image is None:
            self._fail(
                HTTPStatus.NOT_FOUND, KIND_IMAGE_UNKNOWN, "the server does not hold this image"
            )
            return
        try:
            with self.server.model_lock:
                out = self.server.proposer.propose(TurnRequest(image, history, question, key))
                self.server.served += 1
        except (ProposerError, Cancelled, AnnotatorError) as exc:
            self._fail(HTTPStatus.INTERNAL_SERVER_ERROR, KIND_PROPOSER, str(exc))
            return
        except Exception as exc:  # a model bug must reach the client as a message, not a hang
            self._fail(
                HTTPStatus.INTERNAL_SERVER_ERROR, KIND_INTERNAL, f"{type(exc).__name__}: {exc}"
            )
            return
        self._send(HTTPStatus.OK, output_to_json(out))


@dataclass
class RunningServer:
    """A server on a background thread (tests, the app's own local server)."""

    server: ProposerServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def start_server(
    proposer: Proposer,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    token: str | None = None,
    images: ImageStore | None = None,
) -> RunningServer:
    server = ProposerServer((host, port), proposer, token=token, images=images)
    thread = threading.Thread(target=server.serve_forever, name="proposer-server", daemon=True)
    thread.start()
    return RunningServer(server, thread)

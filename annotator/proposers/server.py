"""``annotator serve``: any in-process proposer over HTTP (see :mod:`.remote_protocol`).

Built on the standard library's threading HTTP server. The model runs one turn at a time (a
lock); uploads and info requests are answered meanwhile. Received images are kept in a bounded
LRU store keyed by their content hash. The default address is loopback; give ``host="0.0.0.0"``
and, outside a trusted network, a ``token`` that clients must send as ``Bearer``.

What the server holds at once is bounded whatever clients send (:mod:`.serve_limits`,
docs/adr/0018): connections (one thread each), requests in flight (503 past it), the memory of
bodies and decodes (reserved from the PNG header before anything large is allocated), and time
(idle connections and slow bodies are dropped). A request answered before its body was read
never leaves that body to be parsed as the next request.
"""

from __future__ import annotations

import hmac
import json
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from annotator.core.errors import AnnotatorError, Cancelled, InputError, ProposerError
from annotator.io import safe_json
from annotator.io.safe_json import JsonLimits
from annotator.proposers.base import Proposer, RgbImage, TurnOutput, TurnRequest, image_key
from annotator.proposers.remote_protocol import (
    KIND_BAD_REQUEST,
    KIND_BUSY,
    KIND_IMAGE_UNKNOWN,
    KIND_INTERNAL,
    KIND_PROPOSER,
    KIND_UNAUTHORISED,
    MAX_BODY_BYTES,
    MAX_PROPOSE_BYTES,
    PNG_HEADER_BYTES,
    check_png_size,
    decode_png,
    error_json,
    info_to_json,
    is_image_key,
    output_to_json,
    parse_propose_request,
)
from annotator.proposers.serve_limits import (
    MIB,
    BudgetExceeded,
    InFlight,
    MemoryBudget,
    ServeLimits,
    decode_cost,
)

# A propose request is a key, a question and the history: small, shallow JSON.
REQUEST_LIMITS = JsonLimits(max_bytes=MAX_PROPOSE_BYTES, max_depth=16, max_string=1024 * 1024)
# Bytes reserved per byte of a propose body: the body, its text (up to 4 bytes a character) and
# the parsed strings.
PROPOSE_PARSE_FACTOR = 8
_READ_CHUNK = 1 * MIB  # a body is read in chunks so its deadline is checked between them
_TOO_MANY_CONNECTIONS = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: %d\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
)


class ImageStore:
    """Images by key, least recently used dropped first beyond ``max_images`` or ``max_bytes``."""

    # 512 MiB: with the decode budget and one image in use, the server stays under 2 GB.
    def __init__(self, max_images: int = 64, max_bytes: int = 512 * MIB) -> None:
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
        limits: ServeLimits | None = None,
    ) -> None:
        self.limits = limits if limits is not None else ServeLimits()
        # The listen backlog, read by server_activate() inside super().__init__: bursts of
        # clients wait in the kernel's queue instead of having their connections dropped.
        self.request_queue_size = self.limits.listen_backlog
        super().__init__(address, _Handler)
        self.proposer = proposer
        self.token = token
        self.images = images if images is not None else ImageStore()
        self.model_lock = threading.Lock()
        self.log = log  # callable(str) or None
        self.budget = MemoryBudget(self.limits.decode_budget_bytes)
        self.in_flight = InFlight(self.limits.max_in_flight)
        self.connections = InFlight(self.limits.max_connections)
        self._counts_lock = threading.Lock()
        self.served = 0  # turns proposed
        self.uploads = 0  # images received
        self.refused = 0  # 503 answers (requests in flight, decode memory, connections)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, name: str) -> None:
        with self._counts_lock:
            setattr(self, name, getattr(self, name) + 1)

    # -- connections: one thread each, at most max_connections ---------------------------------
    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.connections.try_enter():
            self._refuse_connection(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.connections.leave()  # no thread was started to leave it
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.leave()

    def _refuse_connection(self, request: socket.socket) -> None:
        """503 from the accepting thread without starting a handler; never blocks it."""
        self.count("refused")
        body = json.dumps(error_json(KIND_BUSY, "too many connections; try again")).encode()
        try:
            request.setblocking(False)
            request.send(_TOO_MANY_CONNECTIONS % (self.limits.retry_after_s, len(body), body))
            request.recv(65536)  # what the client sent already: unread bytes would reset it
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line (a client that went away is not a traceback on the server's console)."""
        exc = sys.exc_info()[1]
        if self.log is not None:
            self.log(f"{client_address[0]}: connection ended: {type(exc).__name__}: {exc}")


class _BodyLost(Exception):
    """The client stopped sending its body: it closed the connection, or it was too slow
    (``slow``: the server still tries a 408). The connection is closed either way."""

    def __init__(self, message: str, *, slow: bool) -> None:
        super().__init__(message)
        self.slow = slow


class _Handler(BaseHTTPRequestHandler):
    server: ProposerServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for the
    # client's delayed ACK (~40 ms per answer on a kept-alive connection).
    disable_nagle_algorithm = True
    # Per request: body bytes declared but not read yet (-1: unknown framing), and whether the
    # answer must be followed by draining the rest and closing.
    _unread = 0
    _linger = False

    # -- plumbing ------------------------------------------------------------------------------
    def setup(self) -> None:
        # StreamRequestHandler.setup() applies this to the socket: every read and write of
        # this connection, the wait for the next request included, gives up after it.
        self.timeout = self.server.limits.idle_timeout_s
        super().setup()

    def parse_request(self) -> bool:
        self._unread, self._linger = 0, False
        if not super().parse_request():
            return False
        self._unread = self._declared_length()
        return True

    def _declared_length(self) -> int:
        if self.headers.get("Transfer-Encoding") is not None:
            return -1  # chunked bodies are not taken; their end is unknown
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return 0
        text = values[0].strip()
        # ASCII digits only (str.isdigit() also takes '³'), and few enough to be a length.
        if len(set(values)) != 1 or not (text.isascii() and text.isdigit() and len(text) <= 18):
            return -1
        return int(text)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")

    def _send(
        self,
        status: int,
        body: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._settle_unread()
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def handle_one_request(self) -> None:
        super().handle_one_request()
        if self._linger:
            # After the handler returned: a refused body is drained without holding a request
            # slot or any reserved memory.
            self._linger = False
            self._drain()

    def _fail(self, status: int, kind: str, message: str) -> None:
        self._send(status, error_json(kind, message))

    def _busy(self, message: str) -> None:
        self.server.count("refused")
        self._send(
            HTTPStatus.SERVICE_UNAVAILABLE,
            error_json(KIND_BUSY, message),
            {"Retry-After": str(self.server.limits.retry_after_s)},
        )

    # -- bodies --------------------------------------------------------------------------------
    def _settle_unread(self) -> None:
        """Before an answer: the body the handler did not read must not become the next
        request. A small one is read and dropped (the connection stays open); a larger or
        unframed one closes the connection after the answer, drained first (_drain)."""
        if self._unread == 0:
            return
        if 0 < self._unread <= self.server.limits.discard_limit:
            try:
                self._read_into(bytearray(self._unread), 0)
                return
            except _BodyLost:
                return  # closed already; the answer is still tried
        self.close_connection = True
        # A body far over any limit is not drained: the client asked for the reset it gets.
        self._linger = self._unread <= MAX_BODY_BYTES

    def _drain(self) -> None:
        """Read and drop the rest of the body after answering, then let the connection close.

        Closing a socket with unread input sends a reset, which can destroy the answer before
        the client reads it; so the answer goes first, then input is drained (bounded by the
        body's length and deadline)."""
        left = self._unread if self._unread > 0 else MAX_BODY_BYTES
        # A declared body gets the time it would have had to arrive; an unframed one a little.
        limit = self.server.limits.body_deadline(left) if self._unread > 0 else 2.0
        deadline = time.monotonic() + (limit if limit is not None else 10.0)
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            while left > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.connection.settimeout(remaining)
                chunk = self.rfile.read1(min(left, _READ_CHUNK))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _read_into(self, buf: bytearray, start: int) -> None:
        """Fill ``buf[start:]`` from the body; :class:`_BodyLost` if the client stops or is
        slower than the limits allow."""
        limit = self.server.limits.body_deadline(len(buf) - start)
        deadline = None if limit is None else time.monotonic() + limit
        view = memoryview(buf)
        pos = start
        try:
            while pos < len(buf):
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError("body slower than the server's minimum upload rate")
                # One socket read at most, so the deadline is checked between trickles.
                n = self.rfile.readinto1(view[pos : pos + _READ_CHUNK])
                if not n:
                    raise _BodyLost("the client closed the connection mid-body", slow=False)
                pos += n
                self._unread -= n
        except TimeoutError:
            self._unread, self.close_connection = 0, True
            raise _BodyLost("the body came too slowly", slow=True) from None
        except (_BodyLost, OSError):
            self._unread, self.close_connection = 0, True
            raise _BodyLost("the client closed the connection mid-body", slow=False) from None
        finally:
            view.release()

    def _lost(self, exc: _BodyLost) -> None:
        if exc.slow:
            with suppress(OSError):  # the client may be gone as well
                self._fail(HTTPStatus.REQUEST_TIMEOUT, KIND_BAD_REQUEST, str(exc))

    def _body_length(self, cap: int) -> int | None:
        if self._unread < 0:
            self._fail(
                HTTPStatus.LENGTH_REQUIRED,
                KIND_BAD_REQUEST,
                "one Content-Length required (chunked bodies are not taken)",
            )
            return None
        if self._unread > cap:
            self._fail(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                KIND_BAD_REQUEST,
                f"body of {self._unread} bytes is over the limit of {cap} bytes",
            )
            return None
        return self._unread

    @contextmanager
    def _admitted(self) -> Iterator[bool]:
        """Counts this request in flight; False (after a 503) when the server is full."""
        gate = self.server.in_flight
        if not gate.try_enter():
            self._busy(f"the server has {gate.limit} requests in flight; try again")
            yield False
            return
        try:
            yield True
        finally:
            gate.leave()

    def _reserve(self, nbytes: int, what: str) -> bool:
        """Reserve decode memory (waiting a bounded time); False after a 413 or 503."""
        limits = self.server.limits
        try:
            if self.server.budget.try_reserve(nbytes, limits.budget_wait_s):
                return True
        except BudgetExceeded:
            budget = limits.decode_budget_bytes or 0
            self._fail(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                KIND_BAD_REQUEST,
                f"{what} needs {nbytes / MIB:.0f} MiB, more than the server's decode "
                f"budget of {budget / MIB:.0f} MiB",
            )
            return False
        self._busy(f"the server is short of memory for {what} now; try again")
        return False

    # -- access --------------------------------------------------------------------------------
    def _authorised(self) -> bool:
        if not self.server.token:
            return True
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {self.server.token}".encode()):
            return True
        self._fail(HTTPStatus.UNAUTHORIZED, KIND_UNAUTHORISED, "missing or wrong access token")
        return False

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
        length = self._body_length(MAX_BODY_BYTES) if key is not None else None
        if key is None or length is None:
            return
        with self._admitted() as admitted:
            if admitted:
                self._upload(key, length)

    def _upload(self, key: str, length: int) -> None:
        head = bytearray(min(length, PNG_HEADER_BYTES))
        try:
            self._read_into(head, 0)
            width, height = check_png_size(head)
        except _BodyLost as exc:
            self._lost(exc)
            return
        except InputError as exc:
            self._fail(HTTPStatus.BAD_REQUEST, KIND_BAD_REQUEST, str(exc))
            return
        # Reserved before the body buffer or the pixels exist: the header decides the cost.
        need = decode_cost(length, width, height)
        if not self._reserve(need, f"a {width}x{height} image"):
            return
        with self.server.budget.held(need):
            body = bytearray(length)
            body[: len(head)] = head
            try:
                self._read_into(body, len(head))
                image = decode_png(body)
            except _BodyLost as exc:
                self._lost(exc)
                return
            except InputError as exc:
                self._fail(HTTPStatus.BAD_REQUEST, KIND_BAD_REQUEST, str(exc))
                return
            del body  # freed before the content hash copies the pixels (decode_cost)
            if image_key(image) != key:
                self._fail(
                    HTTPStatus.BAD_REQUEST, KIND_BAD_REQUEST, "the image does not match its key"
                )
                return
            self.server.images.put(key, image)
            self.server.count("uploads")
        self._send(HTTPStatus.CREATED, {"image": key})

    def do_POST(self) -> None:
        if not self._authorised():
            return
        if self.path != "/v1/propose":
            self._fail(HTTPStatus.NOT_FOUND, KIND_BAD_REQUEST, f"no such endpoint {self.path}")
            return
        length = self._body_length(MAX_PROPOSE_BYTES)
        if length is None:
            return
        with self._admitted() as admitted:
            if admitted:
                self._propose(length)

    def _propose(self, length: int) -> None:
        need = length * PROPOSE_PARSE_FACTOR
        if not self._reserve(need, "this request"):
            return
        with self.server.budget.held(need):
            body = bytearray(length)
            try:
                self._read_into(body, 0)
                request = safe_json.loads(bytes(body), file="request", limits=REQUEST_LIMITS).value
                key, history, question = parse_propose_request(request)
            except _BodyLost as exc:
                self._lost(exc)
                return
            except (InputError, ValueError) as exc:
                self._fail(HTTPStatus.BAD_REQUEST, KIND_BAD_REQUEST, str(exc))
                return
        status, answer = self._run_model(key, history, question)
        self._send(status, answer)

    def _run_model(self, key: str, history: Any, question: str) -> tuple[int, dict[str, Any]]:
        with self.server.model_lock:
            # Taken under the lock: a request waiting its turn holds no image, so images the
            # store evicts meanwhile are freed (only the running turn keeps one alive).
            image = self.server.images.get(key)
            if image is None:
                return HTTPStatus.NOT_FOUND, error_json(
                    KIND_IMAGE_UNKNOWN, "the server does not hold this image"
                )
            try:
                out: TurnOutput = self.server.proposer.propose(
                    TurnRequest(image, history, question, key)
                )
                self.server.count("served")
            except (ProposerError, Cancelled, AnnotatorError) as exc:
                return HTTPStatus.INTERNAL_SERVER_ERROR, error_json(KIND_PROPOSER, str(exc))
            except Exception as exc:  # a model bug must reach the client as a message, not a hang
                return HTTPStatus.INTERNAL_SERVER_ERROR, error_json(
                    KIND_INTERNAL, f"{type(exc).__name__}: {exc}"
                )
        return HTTPStatus.OK, output_to_json(out)


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
    limits: ServeLimits | None = None,
) -> RunningServer:
    server = ProposerServer((host, port), proposer, token=token, images=images, limits=limits)
    thread = threading.Thread(target=server.serve_forever, name="proposer-server", daemon=True)
    thread.start()
    return RunningServer(server, thread)

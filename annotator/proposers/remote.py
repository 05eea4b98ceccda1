"""The ``remote`` proposer: a client of ``annotator serve`` on another machine (or this one).

Every failure -- server not running, wrong address, time-out, refused token, model error on the
server -- becomes a :class:`ProposerError` whose message says what happened and where, so the
app can show it and go on without proposals. A busy server (503) is asked again after its
``Retry-After``, a bounded number of times. The access token comes from the caller or from
``$ANNOTATOR_SERVE_TOKEN`` (so that it need not be on a command line, where ``ps`` shows it).
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from typing import Any

from annotator.core.errors import InputError, ProposerError
from annotator.core.progress import Task
from annotator.io import safe_json
from annotator.io.access_token import TOKEN_ENV, parse_token, token_from_env
from annotator.proposers.base import ProposerInfo, TurnOutput, TurnRequest
from annotator.proposers.remote_protocol import (
    KIND_IMAGE_UNKNOWN,
    MAX_BODY_BYTES,
    REPLY_LIMITS,
    encode_png,
    info_from_json,
    one_line,
    output_from_json,
    propose_request,
)

NAME = "remote"
BUSY_TRIES = 6  # a 503 is asked again this many times in all, then reported
MAX_RETRY_AFTER_S = 10.0  # a longer Retry-After from the server is not believed
_MAX_ERROR_BODY = 64 * 1024


class RemoteProposer:
    """``url``: e.g. ``http://gpu-box:8765``; ``timeout``: seconds per HTTP call (a MIRAS turn
    on a GPU takes seconds; the first call after start-up can take longer)."""

    def __init__(self, url: str, timeout: float = 120.0, token: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            url = "http://" + url
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        try:
            self.token = (
                parse_token(token, source="the remote proposer's token")
                if token is not None
                else token_from_env(TOKEN_ENV)
            )
        except InputError as exc:
            raise ProposerError(str(exc)) from None
        self._task: Task | None = None  # the turn's task while propose() runs (busy waits)
        self._sent: set[str] = set()  # image keys this client has uploaded
        remote = info_from_json_checked(self._call("GET", "/v1/info"), self.url)
        self._info = ProposerInfo(
            name=remote.name,
            version=remote.version,
            description=f"{remote.description} (served by {self.url})",
            device=f"{remote.device} @ {self.url}",
            proposes_noise=remote.proposes_noise,
        )

    def info(self) -> ProposerInfo:
        return self._info

    def propose(self, request: TurnRequest, task: Task | None = None) -> TurnOutput:
        if task is not None:
            task.check()
        self._task = task
        try:
            data = self._propose(request)
        finally:
            self._task = None
        if task is not None:
            task.check()
        try:
            return output_from_json(data, image_size=request.image.shape[:2])
        except InputError as exc:
            raise ProposerError(f"{self.url} sent a malformed proposal: {exc}") from exc

    def close(self) -> None:
        self._sent.clear()

    def _propose(self, request: TurnRequest) -> Any:
        key = request.image_key
        if key not in self._sent:
            self._upload(request, key)
        body = propose_request(key, request.history, request.question)
        try:
            return self._call("POST", "/v1/propose", body)
        except _ImageUnknown:
            self._upload(request, key, force=True)  # the server dropped it since
            return self._call("POST", "/v1/propose", body)

    # -- HTTP ----------------------------------------------------------------------------------
    def _upload(self, request: TurnRequest, key: str, *, force: bool = False) -> None:
        if not force and self._call("HEAD", f"/v1/images/{key}", expect_absent=True) is not None:
            self._sent.add(key)  # another client sent it already
            return
        self._call("PUT", f"/v1/images/{key}", raw=encode_png(request.image), ctype="image/png")
        self._sent.add(key)

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        raw: bytes | None = None,
        ctype: str = "application/json",
        expect_absent: bool = False,
    ) -> Any:
        """One request, asked again while the server answers 503 (busy), at most
        :data:`BUSY_TRIES` times and never waiting longer than the time-out in all."""
        waited = 0.0
        for attempt in range(1, BUSY_TRIES + 1):
            try:
                return self._call_once(method, path, body, raw, ctype, expect_absent)
            except _Busy as busy:
                pause = busy.retry_after
                if attempt == BUSY_TRIES or waited + pause > self.timeout:
                    raise ProposerError(
                        f"the proposer server at {self.url} is busy after {attempt} tries "
                        f"({busy}); try again later or ask its owner to raise its limits"
                    ) from None
                self._pause(pause)
                waited += pause
        raise AssertionError("unreachable")

    def _pause(self, seconds: float) -> None:
        """Sleep, in slices so that a cancelled turn stops waiting at once."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self._task is not None:
                self._task.check()
            time.sleep(min(left, 0.1))

    def _call_once(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        raw: bytes | None,
        ctype: str,
        expect_absent: bool,
    ) -> Any:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", ctype)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = resp.read(MAX_BODY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            if expect_absent and exc.code == HTTPStatus.NOT_FOUND:
                return None
            raise self._http_error(exc) from None
        except TimeoutError:
            raise ProposerError(
                f"the proposer server at {self.url} did not answer within {self.timeout:g} s"
            ) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise ProposerError(
                    f"the proposer server at {self.url} did not answer within {self.timeout:g} s"
                ) from None
            raise ProposerError(
                f"cannot reach the proposer server at {self.url} ({reason}); is "
                "`annotator serve` running there?"
            ) from None
        except (ConnectionError, OSError) as exc:
            raise ProposerError(f"connection to {self.url} failed ({exc})") from None
        if method == "HEAD":
            return True
        if len(payload) > MAX_BODY_BYTES:
            raise ProposerError(f"{self.url} sent an answer over {MAX_BODY_BYTES} bytes")
        try:
            return (
                safe_json.loads(payload, file=self.url, limits=REPLY_LIMITS).value
                if payload
                else {}
            )
        except InputError as exc:
            raise ProposerError(f"{self.url} did not answer with clean JSON: {exc}") from None

    def _http_error(self, exc: urllib.error.HTTPError) -> Exception:
        kind, message = "", str(exc.reason)
        try:
            doc = safe_json.loads(exc.read(_MAX_ERROR_BODY) or b"{}", file=self.url)
            err = doc.value.get("error", {})
            if isinstance(err.get("kind"), str) and isinstance(err.get("message"), str):
                kind, message = err["kind"], err["message"]
        except (InputError, AttributeError, OSError):
            pass
        message = one_line(message)  # the server's words, shown on one line
        if kind == KIND_IMAGE_UNKNOWN:
            return _ImageUnknown(message)
        if exc.code == HTTPStatus.SERVICE_UNAVAILABLE:
            return _Busy(f"503: {message}", _retry_after(exc.headers.get("Retry-After")))
        return ProposerError(f"the proposer server at {self.url} answered {exc.code}: {message}")


def _retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header (a number; dates and junk count as 1 s), capped."""
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0
    if math.isnan(seconds) or seconds < 0:
        return 1.0
    return min(seconds, MAX_RETRY_AFTER_S)


class _ImageUnknown(ProposerError):
    """The server does not hold the image (anymore): send it and ask again."""


class _Busy(ProposerError):
    """The server answered 503: ask again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def info_from_json_checked(data: Any, url: str) -> ProposerInfo:
    try:
        return info_from_json(data)
    except (InputError, KeyError, TypeError) as exc:
        raise ProposerError(f"{url} is not a compatible proposer server ({exc})") from exc

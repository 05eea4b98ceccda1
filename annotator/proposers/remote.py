"""The ``remote`` proposer: a client of ``annotator serve`` on another machine (or this one).

Every failure -- server not running, wrong address, time-out, refused token, model error on the
server -- becomes a :class:`ProposerError` whose message says what happened and where, so the
app can show it and go on without proposals.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from http import HTTPStatus
from typing import Any

from annotator.core.errors import InputError, ProposerError
from annotator.core.progress import Task
from annotator.io import safe_json
from annotator.proposers.base import ProposerInfo, TurnOutput, TurnRequest
from annotator.proposers.remote_protocol import (
    KIND_IMAGE_UNKNOWN,
    encode_png,
    info_from_json,
    output_from_json,
    propose_request,
)

NAME = "remote"


class RemoteProposer:
    """``url``: e.g. ``http://gpu-box:8765``; ``timeout``: seconds per HTTP call (a MIRAS turn
    on a GPU takes seconds; the first call after start-up can take longer)."""

    def __init__(self, url: str, timeout: float = 120.0, token: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            url = "http://" + url
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self.token = token
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
        key = request.image_key
        if key not in self._sent:
            self._upload(request, key)
        body = propose_request(key, request.history, request.question)
        try:
            data = self._call("POST", "/v1/propose", body)
        except _ImageUnknown:
            self._upload(request, key, force=True)  # the server dropped it since
            data = self._call("POST", "/v1/propose", body)
        if task is not None:
            task.check()
        try:
            return output_from_json(data, image_size=request.image.shape[:2])
        except InputError as exc:
            raise ProposerError(f"{self.url} sent a malformed proposal: {exc}") from exc

    def close(self) -> None:
        self._sent.clear()

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
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", ctype)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = resp.read()
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
        try:
            return safe_json.loads(payload, file=self.url).value if payload else {}
        except InputError as exc:
            raise ProposerError(f"{self.url} did not answer with clean JSON: {exc}") from None

    def _http_error(self, exc: urllib.error.HTTPError) -> Exception:
        kind, message = "", exc.reason
        try:
            err = safe_json.loads(exc.read() or b"{}", file=self.url).value.get("error", {})
            kind, message = err.get("kind", ""), err.get("message", message)
        except (InputError, AttributeError, OSError):
            pass
        if kind == KIND_IMAGE_UNKNOWN:
            return _ImageUnknown(message)
        return ProposerError(f"the proposer server at {self.url} answered {exc.code}: {message}")


class _ImageUnknown(ProposerError):
    """The server does not hold the image (anymore): send it and ask again."""


def info_from_json_checked(data: Any, url: str) -> ProposerInfo:
    try:
        return info_from_json(data)
    except (InputError, KeyError, TypeError) as exc:
        raise ProposerError(f"{url} is not a compatible proposer server ({exc})") from exc

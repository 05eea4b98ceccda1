"""A client of OpenAI-compatible ``/v1/chat/completions`` servers (vLLM, SGLang, llama.cpp,
LM Studio, Ollama, hosted APIs), shared by everything that asks a vision-language model.

The API key is read from an environment variable at each request and goes only into the
``Authorization`` header: it is never stored, logged or put in an error message. Replies are
untrusted: the body is read with a size cap and parsed by the strict JSON reader, and anything
but a well-formed completion is one :class:`ProposerError` line naming the URL. 429 and 5xx are
retried with bounded exponential back-off (honouring a numeric ``Retry-After`` up to the cap);
an unreachable server or a time-out is not retried.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from annotator.core.errors import InputError, ProposerError
from annotator.core.progress import Task
from annotator.io.safe_json import JsonLimits, loads

DEFAULT_KEY_ENV = "ANNOTATOR_VLM_API_KEY"
MAX_BODY = 8 * 1024 * 1024  # bytes of a reply read at most
_LIMITS = JsonLimits(max_bytes=MAX_BODY, max_depth=32, max_string=MAX_BODY)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

Message = dict[str, Any]


@dataclass(frozen=True)
class ChatReply:
    text: str
    model: str  # the model the server says answered
    elapsed_s: float
    attempts: int


def chat_endpoint(url: str) -> str:
    """``http://host:8000``, ``http://host:8000/v1`` or the full path: the completions URL."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    if url.endswith("/chat/completions"):
        return url
    return url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions")


def image_data_url(image: NDArray[np.uint8], quality: int = 92) -> str:
    """An RGB image as a ``data:image/jpeg;base64,...`` URL (what every such server takes)."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ProposerError("the image could not be encoded as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


class ChatClient:
    def __init__(
        self,
        url: str,
        model: str,
        *,
        key_env: str = DEFAULT_KEY_ENV,
        timeout: float = 60.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
    ) -> None:
        if not model.strip():
            raise ProposerError("a model name is needed (--model)")
        self.endpoint = chat_endpoint(url)
        self.model = model.strip()
        self.key_env = key_env
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s

    def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        task: Task | None = None,
    ) -> ChatReply:
        body = json.dumps(
            {
                "model": self.model,
                "messages": list(messages),
                "temperature": temperature,
                "max_tokens": max_tokens,
                "stream": False,
            }
        ).encode("utf-8")
        start = time.perf_counter()
        for attempt in range(self.retries + 1):
            if task is not None:
                task.check()
            status, payload, retry_after = self._post(body)
            if status == 200:
                text, model = self._read(payload)
                return ChatReply(text, model, time.perf_counter() - start, attempt + 1)
            if status not in RETRY_STATUSES or attempt == self.retries:
                raise ProposerError(self._refusal(status, payload, attempt + 1))
            wait = min(self.max_backoff_s, self.backoff_s * 2**attempt)
            if retry_after is not None:
                wait = min(self.max_backoff_s, max(wait, retry_after))
            time.sleep(wait)
        raise AssertionError("unreachable")

    # -- HTTP -----------------------------------------------------------------------------------
    def _post(self, body: bytes) -> tuple[int, bytes, float | None]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.key_env, "").strip()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return resp.status, resp.read(MAX_BODY + 1), None
        except urllib.error.HTTPError as exc:
            payload = exc.read(4096) if exc.fp is not None else b""
            return exc.code, payload, _retry_after(exc.headers.get("Retry-After"))
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):  # timed out while connecting
                raise self._timed_out() from None
            raise ProposerError(f"cannot reach {self.endpoint}: {exc.reason}") from None
        except TimeoutError:  # timed out while waiting for the reply
            raise self._timed_out() from None
        except OSError as exc:  # a connection reset mid-reply
            raise ProposerError(f"{self.endpoint} broke off the reply: {exc}") from None

    def _timed_out(self) -> ProposerError:
        return ProposerError(f"{self.endpoint} did not answer within {self.timeout:g} s")

    def _read(self, payload: bytes) -> tuple[str, str]:
        if len(payload) > MAX_BODY:
            raise ProposerError(f"{self.endpoint} sent a reply over {MAX_BODY // 2**20} MiB")
        try:
            doc = loads(payload, file=self.endpoint, limits=_LIMITS).value
        except InputError as exc:
            raise ProposerError(f"{self.endpoint} sent a malformed reply: {exc}") from None
        try:
            message = doc["choices"][0]["message"]
            content = message["content"]
        except (KeyError, IndexError, TypeError):
            raise ProposerError(
                f"{self.endpoint} sent no choices[0].message.content in its reply"
            ) from None
        if isinstance(content, list):  # content parts
            content = "".join(
                p.get("text", "")
                for p in content
                if isinstance(p, dict) and p.get("type") == "text"
            )
        if not isinstance(content, str):
            raise ProposerError(f"{self.endpoint} sent a reply whose content is not text")
        model = doc.get("model") if isinstance(doc, dict) else None
        return content, model if isinstance(model, str) and model.strip() else self.model

    def _refusal(self, status: int, payload: bytes, attempts: int) -> str:
        snippet = payload[:300].decode("utf-8", "replace").replace("\n", " ").strip()
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        if status in (401, 403):
            return (
                f"{self.endpoint} refused the request (HTTP {status}): set the API key in "
                f"${self.key_env}"
            )
        return f"{self.endpoint} answered HTTP {status}{tried}" + (
            f": {snippet}" if snippet else ""
        )


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None

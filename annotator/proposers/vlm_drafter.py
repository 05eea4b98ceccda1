"""Drafting conversations with an OpenAI-compatible vision-language server: one request per
image carries our prompt (``core.draft_prompt``) and the image, and the reply comes back as text
for the strict reader (``io.draft_reply``). The client is the proposer's (``openai_client``):
the same retries, time-outs, key handling and one-line errors naming the URL."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from annotator.core.draft_prompt import SYSTEM_PROMPT, DraftRequest, user_prompt
from annotator.core.errors import ProposerError
from annotator.core.progress import Task
from annotator.proposers.openai_client import (
    DEFAULT_KEY_ENV,
    ChatClient,
    ChatReply,
    Message,
    image_data_url,
)

# The model describes the scene, it gives no coordinates: a larger image only costs tokens.
MAX_SIDE = 1536


class VlmDrafter:
    """``url`` of the server and the ``model`` it serves; ``concurrency``: images a batch may
    have in flight; the API key is read from the environment variable ``key_env``."""

    def __init__(
        self,
        url: str,
        model: str,
        *,
        temperature: float = 0.7,
        max_tokens: int = 4096,
        timeout: float = 180.0,
        concurrency: int = 1,
        key_env: str = DEFAULT_KEY_ENV,
    ) -> None:
        if int(concurrency) < 1:
            raise ProposerError("--concurrency must be at least 1")
        if int(max_tokens) < 1:
            raise ProposerError("--max-tokens must be at least 1")
        self.client = ChatClient(url, model, key_env=key_env, timeout=float(timeout))
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.concurrency = int(concurrency)

    @property
    def model(self) -> str:
        return self.client.model

    @property
    def endpoint(self) -> str:
        return self.client.endpoint

    def messages(self, image: NDArray[np.uint8], request: DraftRequest) -> list[Message]:
        content: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": image_data_url(_fit(image))}},
            {"type": "text", "text": user_prompt(request)},
        ]
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": content},
        ]

    def draft(
        self, image: NDArray[np.uint8], request: DraftRequest, task: Task | None = None
    ) -> ChatReply:
        return self.client.complete(
            self.messages(image, request),
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            task=task,
        )


def _fit(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    h, w = image.shape[:2]
    scale = MAX_SIDE / max(h, w)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))

"""The ``vlm`` proposer: any OpenAI-compatible vision-language server answers each turn, and the
target's box it gives prompts our SAM engine for the mask.

Per turn the server gets the image (a JPEG data URL, encoded once per image), the conversation so
far as chat messages, and the question, under a system prompt asking for the answer and, when the
turn asks for a region, the target's box as JSON in the chosen format. Replies are read strictly
(``vlm_reply``); a box that is not usable gives the answer without a mask and a note. The final
turn's answer keeps the PRIST form (one ``[SEG]``, at the end); earlier answers carry none.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from typing import Any

from annotator.core.errors import ProposerError
from annotator.core.mask import Mask
from annotator.core.model import SEG_TOKEN
from annotator.core.progress import Task
from annotator.proposers.base import ProposerInfo, RgbImage, TurnOutput, TurnRequest
from annotator.proposers.openai_client import (
    DEFAULT_KEY_ENV,
    ChatClient,
    Message,
    image_data_url,
)
from annotator.proposers.segmenter import Segmenter
from annotator.proposers.vlm_reply import BOX_FORMATS, Box, ParsedReply, parse_reply

NAME = "vlm"
PROMPT_VERSION = "vlm-1"  # bumped whenever the prompts change: a new proposer version
MAX_REPLY_KEPT = 4000  # characters of the raw reply kept with a proposal (audit)
_CACHED_IMAGES = 8

_BOX_SPEC = {
    "pixels": '"bbox_2d": [x1, y1, x2, y2] in pixels of the image as given',
    "norm1000": '"bbox_2d": [x1, y1, x2, y2] on a 0-1000 grid over the image',
    "norm1000-yx": '"box_2d": [ymin, xmin, ymax, xmax] on a 0-1000 grid over the image',
}


def system_prompt(box_format: str) -> str:
    return (
        "You answer questions about one image in a conversation that narrows, turn by turn, "
        "onto one target. Answer the question in one to three sentences, explaining your "
        "reasoning from what is visible. When the question asks to segment, locate or point "
        "out a region, also give the target's box after your answer as JSON in a ```json "
        f'fence: {{"label": "<the target>", {_BOX_SPEC[box_format]}}}.'
    )


def prist_form(answer: str, *, final: bool) -> str:
    """The final turn's answer holds [SEG] exactly once, at the end; earlier answers hold
    none (the PRIST rules)."""
    text = re.sub(r"\s+", " ", answer.replace(SEG_TOKEN, " ")).strip()
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    if not final:
        return text
    text = text.rstrip(" .") or "Sure, it is"
    return f"{text} {SEG_TOKEN}."


class VlmProposer:
    """``url`` of the server, ``model`` it serves; ``box_format``: how the model writes boxes
    (``pixels`` as Qwen2.5-VL, ``norm1000`` or ``norm1000-yx`` as Gemini); ``concurrency``: turns
    a batch may have in flight; the API key is read from the environment variable ``key_env``."""

    def __init__(
        self,
        url: str,
        model: str,
        box_format: str = "pixels",
        temperature: float = 0.0,
        max_tokens: int = 512,
        timeout: float = 60.0,
        concurrency: int = 1,
        key_env: str = DEFAULT_KEY_ENV,
        sam_model: str = "mobile-sam",
        segmenter: Segmenter | None = None,
    ) -> None:
        if box_format not in BOX_FORMATS:
            raise ProposerError(f"--box-format must be one of {', '.join(BOX_FORMATS)}")
        if int(concurrency) < 1:
            raise ProposerError("--concurrency must be at least 1")
        self.client = ChatClient(url, model, key_env=key_env, timeout=float(timeout))
        self.box_format = box_format
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.concurrency = int(concurrency)
        self.sam_model = sam_model
        self._segmenter = segmenter
        self._lock = threading.Lock()
        self._images: OrderedDict[str, str] = OrderedDict()  # image key -> data URL

    def info(self) -> ProposerInfo:
        version = f"{self.client.model}|{self.box_format}|t{self.temperature:g}|{PROMPT_VERSION}"
        return ProposerInfo(
            name=NAME,
            version=version,
            description=f"{self.client.model} at {self.client.endpoint}, boxes by {self.sam_model}",
            device=self.client.endpoint,
            concurrency=self.concurrency,
        )

    def propose(self, request: TurnRequest, task: Task | None = None) -> TurnOutput:
        t0 = time.perf_counter()
        reply = self.client.complete(
            self.messages(request),
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            task=task,
        )
        h, w = request.image.shape[:2]
        parsed = parse_reply(
            reply.text, box_format=self.box_format, width=w, height=h, focus=request.focus
        )
        detail: dict[str, Any] = {
            "model": reply.model,
            "reply": reply.text[:MAX_REPLY_KEPT],
            "prompt_version": PROMPT_VERSION,
            "attempts": reply.attempts,
        }
        masks: tuple[Mask, ...] = ()
        scores: tuple[float, ...] = ()
        t_sam = 0.0
        if parsed.box is not None:
            t1 = time.perf_counter()
            masks, scores, candidates = self._segment(request, parsed.box, task)
            t_sam = time.perf_counter() - t1
            detail["box"] = [round(v, 2) for v in parsed.box]
            detail["candidates"] = candidates
        note = parsed.note or _box_note(parsed, request.final)
        if note:
            detail["note"] = note
        return TurnOutput(
            answer=prist_form(parsed.answer, final=request.final),
            masks=masks,
            scores=scores,
            timing={
                "server_s": reply.elapsed_s,
                "sam_s": t_sam,
                "total_s": time.perf_counter() - t0,
            },
            detail=detail,
        )

    def messages(self, request: TurnRequest) -> list[Message]:
        """The chat: the system prompt, the image with the first question, the earlier
        exchanges, the question of this turn."""
        image = {"type": "image_url", "image_url": {"url": self._data_url(request)}}
        turns = [(e.question, e.answer) for e in request.history]
        question = request.question
        if request.final:
            question += (
                "\n(This is the segmentation request: give the target's box as JSON after "
                "your answer.)"
            )
        out: list[Message] = [{"role": "system", "content": system_prompt(self.box_format)}]
        for i, (q, a) in enumerate([*turns, (question, None)]):
            content: Any = [image, {"type": "text", "text": q}] if i == 0 else q
            out.append({"role": "user", "content": content})
            if a is not None:
                out.append({"role": "assistant", "content": a})
        return out

    def close(self) -> None:
        with self._lock:
            self._images.clear()

    # -- helpers ------------------------------------------------------------------------------
    def _data_url(self, request: TurnRequest) -> str:
        with self._lock:
            url = self._images.get(request.image_key)
            if url is not None:
                self._images.move_to_end(request.image_key)
                return url
        url = image_data_url(request.image)
        with self._lock:
            self._images[request.image_key] = url
            while len(self._images) > _CACHED_IMAGES:
                self._images.popitem(last=False)
        return url

    def _sam(self) -> Segmenter:
        with self._lock:
            if self._segmenter is None:
                from annotator.proposers.sam import open_segmenter

                self._segmenter = open_segmenter(self.sam_model)
            return self._segmenter

    def _segment(
        self, request: TurnRequest, box: Box, task: Task | None
    ) -> tuple[tuple[Mask, ...], tuple[float, ...], list[dict[str, Any]]]:
        """The best of SAM's candidates for the box as the proposal's mask; every candidate
        with its score kept in the detail (best first)."""
        sam = self._sam()
        image: RgbImage = request.image
        handle = sam.prepare(image, request.image_key, task)
        result = sam.segment(handle, None, None, box=box, multimask=True)
        order = result.ranked_indices()
        candidates = [
            {
                "score": round(float(result.candidates[i].score), 4),
                "rle": result.candidates[i].to_mask().to_rle(),
            }
            for i in order
        ]
        best = result.candidates[order[0]]
        return (best.to_mask(),), (float(best.score),), candidates


def _box_note(parsed: ParsedReply, final: bool) -> str:
    if final and parsed.box is None:
        return "the reply gave no box for the segmentation turn: no mask"
    return ""

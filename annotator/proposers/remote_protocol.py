"""The JSON-over-HTTP protocol between ``annotator serve`` and the ``remote`` proposer.

=======  =====================  ==============================================================
GET      ``/v1/info``           the served proposer's :class:`ProposerInfo` + protocol version
HEAD     ``/v1/images/<key>``   200 when the server holds the image, 404 when not
PUT      ``/v1/images/<key>``   PNG bytes of the image; the server checks that they hash to key
POST     ``/v1/propose``        ``{"image": key, "history": [[q, a], ...], "question": q}``
=======  =====================  ==============================================================

An image is sent once (lossless PNG, so the server sees the same pixels as an in-process
proposer) and named by its content hash afterwards; a propose call for an image the server no
longer holds answers 404 with kind ``image_unknown`` and the client sends it again. Errors are
``{"error": {"kind": ..., "message": ...}}``. Masks travel as COCO RLE.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from annotator.core.errors import InputError
from annotator.core.mask import Mask
from annotator.proposers.base import Exchange, ProposerInfo, RgbImage, TurnOutput

PROTOCOL_VERSION = 1
MAX_IMAGE_PIXELS = 80_000_000
MAX_BODY_BYTES = 256 * 1024 * 1024
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

KIND_IMAGE_UNKNOWN = "image_unknown"
KIND_BAD_REQUEST = "bad_request"
KIND_UNAUTHORISED = "unauthorised"
KIND_PROPOSER = "proposer_error"
KIND_INTERNAL = "internal_error"


# -- images ---------------------------------------------------------------------------------
def encode_png(image: RgbImage) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError("the image could not be encoded as PNG")
    return buf.tobytes()


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the PNG header, read before any decoding."""
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise InputError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def decode_png(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> RgbImage:
    width, height = png_size(data)
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise InputError(f"image of {width}x{height} pixels refused (limit {max_pixels} pixels)")
    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if arr is None or arr.shape[:2] != (height, width):
        raise InputError("the PNG image could not be decoded")
    return np.ascontiguousarray(cv2.cvtColor(arr, cv2.COLOR_BGR2RGB))


# -- requests and answers -------------------------------------------------------------------
def propose_request(key: str, history: tuple[Exchange, ...], question: str) -> dict[str, Any]:
    return {
        "image": key,
        "history": [[e.question, e.answer] for e in history],
        "question": question,
    }


def parse_propose_request(data: Any) -> tuple[str, tuple[Exchange, ...], str]:
    if not isinstance(data, Mapping):
        raise InputError("the request must be a JSON object")
    key, history, question = data.get("image"), data.get("history", []), data.get("question")
    if not isinstance(key, str) or not is_image_key(key):
        raise InputError("'image' must be the image's sha256 key")
    if not isinstance(question, str):
        raise InputError("'question' must be a string")
    if not isinstance(history, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in history
    ):
        raise InputError("'history' must be a list of [question, answer] string pairs")
    return key, tuple(Exchange(q, a) for q, a in history), question


def output_to_json(out: TurnOutput) -> dict[str, Any]:
    return {
        "answer": out.answer,
        "masks": [m.to_rle() for m in out.masks],
        "scores": list(out.scores),
        "timing": dict(out.timing),
        "detail": dict(out.detail),
    }


def output_from_json(data: Any, *, image_size: tuple[int, int]) -> TurnOutput:
    if not isinstance(data, Mapping) or not isinstance(data.get("answer"), str):
        raise InputError("the server's answer is not a proposal")
    masks = tuple(Mask.from_rle(r, expect_size=image_size) for r in data.get("masks", []))
    scores = tuple(float(s) for s in data.get("scores", []))
    if len(scores) != len(masks):
        raise InputError("the server's answer has a different number of masks and scores")
    timing = {str(k): float(v) for k, v in dict(data.get("timing", {})).items()}
    return TurnOutput(data["answer"], masks, scores, timing, dict(data.get("detail", {})))


def info_to_json(info: ProposerInfo) -> dict[str, Any]:
    return {
        "protocol": PROTOCOL_VERSION,
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "device": info.device,
        "proposes_noise": info.proposes_noise,
    }


def info_from_json(data: Any) -> ProposerInfo:
    theirs = data.get("protocol") if isinstance(data, Mapping) else None
    if theirs != PROTOCOL_VERSION:
        raise InputError(f"the server speaks protocol {theirs}, this client {PROTOCOL_VERSION}")
    return ProposerInfo(
        name=str(data["name"]),
        version=str(data["version"]),
        description=str(data.get("description", "")),
        device=str(data.get("device", "")),
        proposes_noise=bool(data.get("proposes_noise", False)),
    )


def error_json(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"kind": kind, "message": message}}


def is_image_key(key: str) -> bool:
    return len(key) == 64 and all(c in "0123456789abcdef" for c in key)

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
``{"error": {"kind": ..., "message": ...}}``. Masks travel as COCO RLE. A server past its
limits answers 503 with kind ``busy`` and a ``Retry-After`` in seconds (docs/adr/0018).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from annotator.core.errors import InputError
from annotator.core.mask import Mask
from annotator.io.safe_json import JsonLimits
from annotator.proposers.base import Exchange, ProposerInfo, RgbImage, TurnOutput

PROTOCOL_VERSION = 1
MAX_IMAGE_PIXELS = 80_000_000
MAX_BODY_BYTES = 256 * 1024 * 1024  # an image upload (PUT)
# A propose request is a key, a question and the history: a few kilobytes in practice.
MAX_PROPOSE_BYTES = 8 * 1024 * 1024
# A proposal's masks are RLE (compact); its detail is the proposer's small free-form dict.
REPLY_LIMITS = JsonLimits(max_bytes=MAX_BODY_BYTES, max_depth=16, max_string=MAX_BODY_BYTES)
MAX_ERROR_CHARS = 300  # of a server's error message shown to the user
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

KIND_IMAGE_UNKNOWN = "image_unknown"
KIND_BAD_REQUEST = "bad_request"
KIND_UNAUTHORISED = "unauthorised"
KIND_PROPOSER = "proposer_error"
KIND_INTERNAL = "internal_error"
KIND_BUSY = "busy"


# -- images ---------------------------------------------------------------------------------
def encode_png(image: RgbImage) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError("the image could not be encoded as PNG")
    return buf.tobytes()


PNG_HEADER_BYTES = 24  # signature, IHDR length and type, width, height


def png_size(data: bytes | bytearray) -> tuple[int, int]:
    """(width, height) from the PNG header, read before any decoding (the first
    :data:`PNG_HEADER_BYTES` suffice)."""
    if (
        len(data) < PNG_HEADER_BYTES
        or bytes(data[:8]) != _PNG_SIGNATURE
        or bytes(data[12:16]) != b"IHDR"
    ):
        raise InputError("not a PNG image")
    width, height = struct.unpack(">II", bytes(data[16:24]))
    return int(width), int(height)


def check_png_size(
    data: bytes | bytearray, *, max_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[int, int]:
    """(width, height) of a PNG whose pixel count is within ``max_pixels``."""
    width, height = png_size(data)
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise InputError(f"image of {width}x{height} pixels refused (limit {max_pixels} pixels)")
    return width, height


def decode_png(data: bytes | bytearray, *, max_pixels: int = MAX_IMAGE_PIXELS) -> RgbImage:
    """The RGB pixels of a PNG whose header passed :func:`check_png_size`.

    Peak memory is the body and two pixel buffers (OpenCV decodes into its own buffer, which
    its Python binding copies into the returned array); nothing more, since the colour order
    is decoded as RGB or swapped in place a band at a time (``serve_limits.decode_cost``)."""
    width, height = check_png_size(data, max_pixels=max_pixels)
    try:
        arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), _IMREAD_RGB or cv2.IMREAD_COLOR)
    except cv2.error:
        arr = None
    if arr is None or arr.shape[:2] != (height, width):
        raise InputError("the PNG image could not be decoded")
    if not _IMREAD_RGB:
        # cv2.cvtColor(arr, dst=arr) would allocate a full-size temporary; a band does not.
        for y in range(0, height, _SWAP_ROWS):
            band = arr[y : y + _SWAP_ROWS]
            cv2.cvtColor(band, cv2.COLOR_BGR2RGB, dst=band)
    return arr


# OpenCV 4.11+ decodes straight to RGB; older versions decode BGR, swapped afterwards.
_IMREAD_RGB: int | None = getattr(cv2, "IMREAD_COLOR_RGB", None)
_SWAP_ROWS = 256


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
    """A proposal from a server's reply, every field type-checked (the server is untrusted)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("answer"), str):
        raise InputError("the server's answer is not a proposal")
    raw_masks, raw_scores = data.get("masks", []), data.get("scores", [])
    raw_timing, detail = data.get("timing", {}), data.get("detail", {})
    if not isinstance(raw_masks, list) or not all(isinstance(r, Mapping) for r in raw_masks):
        raise InputError("the server's 'masks' is not a list of RLE objects")
    if not isinstance(raw_scores, list) or not all(_is_number(s) for s in raw_scores):
        raise InputError("the server's 'scores' is not a list of finite numbers")
    if not isinstance(raw_timing, Mapping) or not all(_is_number(v) for v in raw_timing.values()):
        raise InputError("the server's 'timing' is not an object of finite numbers")
    if not isinstance(detail, Mapping):
        raise InputError("the server's 'detail' is not an object")
    masks = tuple(Mask.from_rle(r, expect_size=image_size) for r in raw_masks)
    if len(raw_scores) != len(masks):
        raise InputError("the server's answer has a different number of masks and scores")
    scores = tuple(float(s) for s in raw_scores)
    timing = {str(k): float(v) for k, v in raw_timing.items()}
    return TurnOutput(data["answer"], masks, scores, timing, dict(detail))


def _is_number(value: Any) -> bool:
    # bool is an int to Python but never a score; safe_json already refuses NaN and infinity.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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
        raise InputError(
            f"the server speaks protocol {one_line(str(theirs), 40)}, "
            f"this client {PROTOCOL_VERSION}"
        )
    texts = {k: data.get(k, "") for k in ("name", "version", "description", "device")}
    if not all(isinstance(v, str) for v in texts.values()) or not texts["name"]:
        raise InputError("the server's info has a missing or non-text name, version or device")
    if not isinstance(data.get("proposes_noise", False), bool):
        raise InputError("the server's info has a non-boolean 'proposes_noise'")
    return ProposerInfo(
        name=one_line(texts["name"], 100),
        version=one_line(texts["version"], 100),
        description=one_line(texts["description"], MAX_ERROR_CHARS),
        device=one_line(texts["device"], 100),
        proposes_noise=bool(data.get("proposes_noise", False)),
    )


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` as one line of at most ``limit`` characters (a server's words shown to a user)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def error_json(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"kind": kind, "message": message}}


def is_image_key(key: str) -> bool:
    return len(key) == 64 and all(c in "0123456789abcdef" for c in key)

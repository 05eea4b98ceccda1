"""One record as the app opens it: the stored conversation, its proposals and reviews, and the
decoded image (or why it cannot be shown). Read on the UI thread when a record is opened, or
ahead of the reviewer on a worker thread."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotator.core.errors import AnnotatorError, InputError
from annotator.core.image_key import image_key
from annotator.core.model import Conversation, Image, Proposal, Review
from annotator.services.catalog import RecordStore

RgbArray = NDArray[np.uint8]


@dataclass(frozen=True)
class RecordBundle:
    conversation: Conversation
    proposals: list[Proposal]
    reviews: list[Review]
    rgb: RgbArray | None  # None: the image file is missing or unreadable
    key: str  # ``core.image_key.image_key``; "" without pixels
    loaded_at: float
    image_problem: str = ""  # why ``rgb`` is None, in one line naming the file


def load_bundle(store: RecordStore, conv_id: int, locate: Callable[[Image], str]) -> RecordBundle:
    """Read one record with what opening it needs (may run on a worker thread). ``locate``
    gives the image's file, ``""`` for none, or raises :class:`InputError` saying why the file
    there may not be shown (``services.image_resolver``)."""
    conv = store.get_conversation(conv_id)
    proposals = store.proposals(conv_id)
    reviews = store.reviews(conv_id)
    try:
        path, refused = locate(conv.image), ""
    except InputError as exc:  # a file is there but may not be shown (outside its folder, ...)
        path, refused = "", str(exc)
    rgb, problem = read_rgb(path)
    if refused:
        problem = refused
    elif not path:  # named as the import names it, so an unchanged problem reads the same
        problem = f"image not found: {Path(conv.image.root) / conv.image.path}"
    w, h = conv.image.width, conv.image.height
    if rgb is not None and rgb.shape[:2] != (h, w):
        # Masks would not fit: the canvas shows a placeholder instead.
        problem = f"{path}: image is {rgb.shape[1]}×{rgb.shape[0]}, the record's masks {w}×{h}"
        rgb = None
    key = image_key(conv.image, rgb) if rgb is not None else ""
    return RecordBundle(conv, proposals, reviews, rgb, key, time.monotonic(), problem)


def read_rgb(path: str) -> tuple[NDArray[np.uint8] | None, str]:
    """The image as RGB through the vetted loader and ``""``; or ``None`` and why it cannot be
    shown, in one line (the canvas then shows a placeholder so the masks can still be
    reviewed, and the strip above it says why)."""
    if not path:
        return None, "image not found"
    from annotator.io.images import load_image  # Pillow: imported when the first image opens

    try:
        return np.ascontiguousarray(load_image(path)), ""
    except AnnotatorError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"{path}: {exc}"

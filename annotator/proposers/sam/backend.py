"""What the engine needs from a runtime that executes SAM: encode an image, decode prompts."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from annotator.core.progress import Task

FloatArray = NDArray[np.float32]


class SamBackend(Protocol):
    name: str  # "torch" or "onnxruntime"

    def encode(self, image_input: FloatArray, task: Task) -> FloatArray:
        """``(1, 3, 1024, 1024)`` normalised input → ``(1, 256, 64, 64)`` embedding.
        Checks ``task`` while it runs and raises ``Cancelled``."""
        ...

    def decode(
        self,
        embedding: FloatArray,
        coords: FloatArray,
        labels: FloatArray,
        mask_input: FloatArray,
        has_mask_input: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Inputs as :class:`annotator.proposers.sam.torch_graphs.DecoderGraph` takes them;
        returns all four low-res logits ``(4, 256, 256)`` and scores ``(4,)``."""
        ...

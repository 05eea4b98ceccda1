"""What the engine needs from a runtime that executes SAM: encode an image, prepare the
decoder's per-image state, decode prompts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from annotator.core.progress import Task

FloatArray = NDArray[np.float32]
STATE_NAMES = ("tokens", "keys", "values", "queries")  # DecoderState's arrays, in order


@dataclass(frozen=True, eq=False)
class DecoderState:
    """What no click changes, for one embedding (see
    :class:`annotator.proposers.sam.factored_decoder.ImageStateGraph`)."""

    tokens: FloatArray  # (pixels, 256): embedding + dense prompt
    keys: FloatArray  # first layer, token→image: (heads, pixels, head_dim)
    values: FloatArray  # first layer, token→image: (heads, pixels, head_dim)
    queries: FloatArray  # first layer, image→token, scaled: (heads, head_dim, pixels)

    def arrays(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        return self.tokens, self.keys, self.values, self.queries


class SamBackend(Protocol):
    name: str  # "torch" or "onnxruntime"

    def encode(self, image_input: FloatArray, task: Task) -> FloatArray:
        """``(1, 3, 1024, 1024)`` normalised input → ``(1, 256, 64, 64)`` embedding.
        Checks ``task`` while it runs and raises ``Cancelled``."""
        ...

    def image_state(self, embedding: FloatArray) -> DecoderState:
        """The state every click on the image shares."""
        ...

    def decode(
        self,
        state: DecoderState,
        coords: FloatArray,
        labels: FloatArray,
        outputs: Sequence[int],
        mask_input: FloatArray | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Prompts as :class:`annotator.proposers.sam.torch_graphs.PromptEmbedding` takes them,
        and optionally earlier logits ``(1, 1, 256, 256)``; returns the low-res logits of the
        wanted ``outputs`` (of SAM's four: 0 single-mask, 1-3 multimask) ``(n, 256, 256)`` and
        all four scores ``(4,)``."""
        ...

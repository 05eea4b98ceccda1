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


@dataclass(frozen=True, eq=False)
class Decoded:
    """One click's answer from the decoder (see
    :class:`annotator.proposers.sam.factored_decoder.ClickGraph`): the logits of the cells the
    image covers, and what the other cells' logits are made from."""

    logits: FloatArray  # (n, R, W, 16): the first R x W cells' logits, per wanted mask
    below: FloatArray  # (64 - R, 64, C): image tokens of the cells below those
    right: FloatArray  # (R, 64 - W, C): image tokens of the cells right of those
    hyper: FloatArray  # (n, 32): the wanted masks' hypernetwork outputs
    scores: FloatArray  # (4,): all four outputs' predicted IoU


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
        covered: tuple[int, int],
        mask_input: FloatArray | None = None,
    ) -> Decoded:
        """Prompts as :class:`annotator.proposers.sam.torch_graphs.PromptEmbedding` takes them,
        the wanted ``outputs`` (of SAM's four: 0 single-mask, 1-3 multimask), the ``covered``
        rows and columns of token cells to upscale now, and optionally earlier logits
        ``(1, 1, 256, 256)``."""
        ...

    def upscale(self, cells: FloatArray, hyper: FloatArray) -> FloatArray:
        """A block of image tokens ``(R, W, 256)`` → its logits ``(n, R, W, 16)`` (see
        :class:`annotator.proposers.sam.factored_decoder.UpscaleGraph`)."""
        ...

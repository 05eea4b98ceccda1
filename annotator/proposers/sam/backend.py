"""What the engine needs from a runtime that executes SAM: encode an image, prepare the
decoder's per-image state, decode prompts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from annotator.core.progress import Task

FloatArray = NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class DecoderState:
    """What no click changes, for one embedding and one ``mask_input`` (see
    :class:`annotator.proposers.sam.factored_decoder.ImageStateGraph`)."""

    tokens: FloatArray  # (pixels, 256): embedding + dense prompt
    keys: FloatArray  # (heads, pixels, head_dim): first layer, token→image
    values: FloatArray

    @property
    def nbytes(self) -> int:
        return self.tokens.nbytes + self.keys.nbytes + self.values.nbytes


class SamBackend(Protocol):
    name: str  # "torch" or "onnxruntime"

    def encode(self, image_input: FloatArray, task: Task) -> FloatArray:
        """``(1, 3, 1024, 1024)`` normalised input → ``(1, 256, 64, 64)`` embedding.
        Checks ``task`` while it runs and raises ``Cancelled``."""
        ...

    def image_state(
        self, embedding: FloatArray, mask_input: FloatArray, has_mask_input: FloatArray
    ) -> DecoderState:
        """``mask_input (1, 1, 256, 256)`` is used when ``has_mask_input`` is ``[1.0]``."""
        ...

    def decode(
        self, state: DecoderState, coords: FloatArray, labels: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Prompts as :class:`annotator.proposers.sam.torch_graphs.PromptEmbedding` takes them;
        returns all four low-res logits ``(4, 256, 256)`` and scores ``(4,)``."""
        ...

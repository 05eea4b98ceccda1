"""What the engine needs from a runtime that executes SAM: encode an image, prepare the
decoder's per-image state, decode prompts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from annotator.core.progress import Task

FloatArray = NDArray[np.float32]


def mask_inputs(mask_input: FloatArray | None) -> tuple[FloatArray, FloatArray]:
    """``(mask_input, has_mask_input)`` as SAM's prompt encoder takes them; zeros and ``[0]``
    mean "no earlier mask"."""
    if mask_input is None:
        return np.zeros((1, 1, 256, 256), np.float32), np.zeros(1, np.float32)
    return mask_input, np.ones(1, np.float32)


@dataclass(frozen=True, eq=False)
class DecoderState:
    """What no click changes, for one embedding and one ``mask_input`` (see
    :class:`annotator.proposers.sam.factored_decoder.ImageStateGraph`)."""

    tokens: FloatArray  # (pixels, 256): embedding + dense prompt
    # First layer, token→image, (heads, pixels, head_dim); None in a refining click's state.
    keys: FloatArray | None = None
    values: FloatArray | None = None


class SamBackend(Protocol):
    name: str  # "torch" or "onnxruntime"

    def encode(self, image_input: FloatArray, task: Task) -> FloatArray:
        """``(1, 3, 1024, 1024)`` normalised input → ``(1, 256, 64, 64)`` embedding.
        Checks ``task`` while it runs and raises ``Cancelled``."""
        ...

    def image_state(self, embedding: FloatArray, mask_input: FloatArray | None) -> DecoderState:
        """Without ``mask_input``: the state every fresh click on the image shares. With
        earlier logits ``(1, 1, 256, 256)``: the state of one refining click."""
        ...

    def decode(
        self, state: DecoderState, coords: FloatArray, labels: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Prompts as :class:`annotator.proposers.sam.torch_graphs.PromptEmbedding` takes them;
        returns all four low-res logits ``(4, 256, 256)`` and scores ``(4,)``."""
        ...

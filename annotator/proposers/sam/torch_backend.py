"""SAM run by torch on the CPU (or a CUDA device when asked for)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from annotator.core.progress import Task
from annotator.proposers.sam.backend import Decoded, DecoderState, FloatArray
from annotator.proposers.torch_runtime import ensure_torch_threads

if TYPE_CHECKING:
    import torch


class TorchSamBackend:
    name = "torch"

    def __init__(self, model: torch.nn.Module, device: str = "cpu") -> None:
        from annotator.proposers.sam.factored_decoder import (
            ClickGraph,
            ImageStateGraph,
            UpscaleGraph,
        )
        from annotator.proposers.sam.torch_graphs import DecoderGraph, EncoderGraph

        self.device = device
        self.model = model
        self.encoder = EncoderGraph(model).eval().to(device)
        self.state_graph = ImageStateGraph(model).eval().to(device)
        self.click_graph = ClickGraph(model).eval().to(device)
        self.refine_click_graph = ClickGraph(model, refining=True).eval().to(device)
        self.upscale_graph = UpscaleGraph(model).eval().to(device)
        self.reference_decoder = DecoderGraph(model).eval().to(device)  # for checks only
        # Checkpoints for cancellation and progress: every block of the encoder (the entries of
        # its ModuleLists: TinyViT stages and their blocks, or the ViT blocks).
        self._blocks = [
            block
            for module in self.encoder.modules()
            if type(module).__name__ == "ModuleList"
            for block in module
        ]
        # Encodes are serialised: the progress hooks are per model, and two encodes would only
        # compete for the same cores.
        self._encode_lock = threading.Lock()

    def encode(self, image_input: FloatArray, task: Task) -> FloatArray:
        import torch

        with self._encode_lock:
            ensure_torch_threads()
            task.start(len(self._blocks) + 1, "encoding image")

            def checkpoint(*_: Any) -> None:
                task.step()  # raises Cancelled when the task was cancelled

            handles = [b.register_forward_pre_hook(checkpoint) for b in self._blocks]
            try:
                with torch.inference_mode():
                    x = torch.from_numpy(image_input).to(self.device)
                    out = self.encoder(x).float().cpu().numpy()
            finally:
                for h in handles:
                    h.remove()
            task.step(message="image encoded")
        return np.ascontiguousarray(out, dtype=np.float32)

    def image_state(self, embedding: FloatArray) -> DecoderState:
        return DecoderState(*self._run(self.state_graph, embedding))

    def decode(
        self,
        state: DecoderState,
        coords: FloatArray,
        labels: FloatArray,
        outputs: Sequence[int],
        covered: tuple[int, int],
        mask_input: FloatArray | None = None,
    ) -> Decoded:
        inputs = [*state.arrays(), coords, labels, np.asarray(outputs, dtype=np.int64)]
        inputs.append(np.asarray(covered, dtype=np.int64))
        graph = self.click_graph
        if mask_input is not None:
            graph = self.refine_click_graph
            inputs.append(mask_input)
        logits, below, right, hyper, scores = self._run(graph, *inputs)
        return Decoded(logits, below, right, hyper, scores[0])

    def upscale(self, cells: FloatArray, hyper: FloatArray) -> FloatArray:
        return self._run(self.upscale_graph, cells, hyper)[0]

    def reference_decode(
        self,
        embedding: FloatArray,
        coords: FloatArray,
        labels: FloatArray,
        mask_input: FloatArray,
        has_mask_input: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """SAM's own decoder on the same inputs: what the other paths are checked against."""
        low_res, scores = self._run(
            self.reference_decoder, embedding, coords, labels, mask_input, has_mask_input
        )
        return low_res[0], scores[0]

    def _run(self, graph: torch.nn.Module, *arrays: FloatArray) -> tuple[FloatArray, ...]:
        import torch

        ensure_torch_threads()
        with torch.inference_mode():
            outputs = graph(*(torch.from_numpy(_writable(a)).to(self.device) for a in arrays))
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        return tuple(np.ascontiguousarray(o.float().cpu().numpy()) for o in outputs)


def _writable(array: FloatArray) -> FloatArray:
    """torch warns on read-only arrays (cached embeddings are); a copy is ~1 ms for 4 MB."""
    return array if array.flags.writeable else array.copy()

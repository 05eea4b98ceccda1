"""How much arithmetic SAM does per image and per click, and how fast this machine multiplies
matrices: the floor under the benchmark's times (no runtime does a graph's multiply-accumulates
faster than it does one large matrix product on the same threads)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from annotator.proposers.weights_registry import InstalledWeights

if TYPE_CHECKING:
    import torch


def sam_gmac(entry: InstalledWeights, covered: tuple[int, int] = (64, 64)) -> dict[str, float]:
    """Multiply-accumulates (10⁹) of the encoder, of a first click (two prompt points, the image
    state made already; three masks) and of a refining click (with an earlier mask; one mask),
    each with the upscaling of the ``covered`` token cells (the image's, see
    :func:`annotator.proposers.sam.low_res.covered_cells`), counted by torch on the graphs the
    engine runs; and of upscaling the rest of the grid for one mask (``padding_gmac``)."""
    import torch

    from annotator.proposers.sam.model_loading import load_sam_model
    from annotator.proposers.sam.torch_backend import TorchSamBackend

    backend = TorchSamBackend(load_sam_model(entry))
    points = (torch.tensor([[[500.0, 400.0], [0.0, 0.0]]]), torch.tensor([[1.0, -1.0]]))
    embedding = torch.zeros(1, 256, 64, 64)
    mask = torch.zeros(1, 1, 256, 256)
    with torch.inference_mode():
        state = backend.state_graph(embedding)
    no_mask = (mask, torch.zeros(1))
    rows, cols = covered
    cells = torch.tensor([rows, cols])
    rest = 64 * 64 - rows * cols
    return {
        "encoder_gmac": _gmac(backend.encoder, torch.zeros(1, 3, 1024, 1024)),
        "image_state_gmac": _gmac(backend.state_graph, embedding),
        "click_gmac": _gmac(backend.click_graph, *state, *points, torch.tensor([1, 2, 3]), cells),
        "refine_click_gmac": _gmac(
            backend.refine_click_graph, *state, *points, torch.tensor([0]), cells, mask
        ),
        "padding_gmac": (
            _gmac(backend.upscale_graph, torch.zeros(1, rest, 256), torch.zeros(1, 32))
            if rest
            else 0.0
        ),
        "reference_decoder_gmac": _gmac(backend.reference_decoder, embedding, *points, *no_mask),
    }


def _gmac(module: torch.nn.Module, *inputs: Any) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        module(*inputs)
    return round(counter.get_total_flops() / 2e9, 3)  # torch counts a multiply-add as 2


def matmul_gmac_per_s(threads: int, side: int = 1024, repeats: int = 5) -> float:
    """Best multiply-accumulate rate (10⁹/s) of one ``side``² float32 product in ONNX Runtime
    with ``threads`` threads."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.random((side, side), dtype=np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [side, side])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [side, side])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what every onnxruntime that runs opset 17 reads
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    feed = {"a": rng.random((side, side), dtype=np.float32)}
    session.run(None, feed)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        session.run(None, feed)
        best = min(best, time.perf_counter() - started)
    return round(side**3 / best / 1e9, 1)

"""What ``annotator bench propose`` needs from torch, kept here (torch stays in proposers):
a full-size random MIRAS built directly on the device, parameter counts and peak memory."""

from __future__ import annotations

import resource
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from annotator.proposers.miras.checkpoint import LoadedMiras, load_tokenizer
from annotator.proposers.miras.config import MirasConfig, full_size_config
from annotator.proposers.miras.network import MirasNetwork
from annotator.proposers.miras.proposer import MirasProposer
from annotator.proposers.miras.runtime import building_on, pick_device, pick_dtype
from annotator.proposers.miras.tiny_tokenizer import build_tokenizer

LLAMA_VOCAB = 32000


def full_size_random_proposer(
    *,
    device: str = "auto",
    dtype: str = "auto",
    with_aux: bool = True,
    corpus: Sequence[str] | None = None,
    seed: int = 0,
    cache_images: int = 4,
    config: MirasConfig | None = None,
) -> MirasProposer:
    """MIRAS-7B dimensions with random weights, created on the device (no weights file).

    The tokenizer is a small local BPE (the LLaMA tokenizer is not fetched); the model keeps
    LLaMA's 32000-token vocabulary plus the added tokens, so generated ids the small tokenizer
    does not know are dropped from the text (counted in ``detail["unknown_tokens"]``).
    ``config`` replaces the 7B dimensions (tests run this path with small ones).
    """
    import tempfile
    from pathlib import Path

    from annotator.proposers.miras.config import TokensConfig

    dev = pick_device(device)
    dt = pick_dtype(dev, dtype)
    tokenizer = build_tokenizer(corpus, TokensConfig())
    if config is None:
        config = full_size_config(max(LLAMA_VOCAB + 4, len(tokenizer)), with_aux=with_aux)
        config = replace(config, name="miras-7b-random")
    config = replace(config, random_init=True)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)  # loaded back the way checkpoints load it
        tokenizer, seg_id = load_tokenizer(Path(tmp), config)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        with building_on(dev, dt):
            network = MirasNetwork(config)
    finally:
        torch.random.set_rng_state(state)
    network.to_runtime(dev, dt)
    loaded = LoadedMiras(config, network, tokenizer, seg_id, dev, dt)
    return MirasProposer.from_loaded(loaded, cache_images=cache_images)


def parameter_counts(proposer: MirasProposer) -> dict[str, int]:
    net = proposer.loaded.network
    parts: dict[str, Any] = {
        "language_model": net.language_model,
        "vision_tower": net.vision_tower,
        "vision_tower_aux": net.vision_tower_aux,
        "sam": net.sam,
    }
    counts = {k: sum(p.numel() for p in m.parameters()) for k, m in parts.items() if m is not None}
    counts["total"] = sum(p.numel() for p in net.parameters())
    return counts


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    """GPU: peak allocated / reserved by torch since the last reset. CPU: the process's peak
    resident size (never reset, so it includes loading)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return {
            "gpu_peak_allocated_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1),
            "gpu_peak_reserved_mb": round(torch.cuda.max_memory_reserved(device) / 2**20, 1),
            "gpu_total_mb": round(torch.cuda.get_device_properties(device).total_memory / 2**20, 1),
        }
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 / 2**20 if sys.platform == "darwin" else 1 / 1024  # bytes on macOS, KiB on Linux
    return {"cpu_peak_rss_mb": round(rss * scale, 1)}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def torch_version() -> str:
    return str(torch.__version__)

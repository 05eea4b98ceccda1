"""``MirasProposer``: the in-process MIRAS backend behind the ``Proposer`` protocol."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

from annotator.core.errors import ProposerError
from annotator.core.progress import Task
from annotator.proposers.base import ProposerInfo, TurnOutput, TurnRequest

NAME = "miras"


class MirasProposer:
    """Loads a local checkpoint directory (see ``annotator.proposers.miras.checkpoint``).

    ``device``: "auto" (GPU when there is one), "cpu", "cuda", "cuda:1"...; ``dtype``: "auto"
    (bf16, or fp16 without bf16 support, on a GPU; fp32 on the CPU) or an explicit one.
    ``cache_images``: how many images' encoder features to keep for later turns (0: none).
    """

    def __init__(
        self,
        checkpoint: str | Path,
        device: str = "auto",
        dtype: str = "auto",
        cache_images: int = 4,
        verify: bool = True,
        task: Task | None = None,
    ) -> None:
        if importlib.util.find_spec("torch") is None:
            raise ProposerError(
                "the MIRAS proposer runs the model in this process and needs the full install "
                "with torch (pip or source; see README); this installation (the desktop "
                "bundle) proposes through a `remote` server instead"
            )
        from annotator.proposers.miras.checkpoint import load_checkpoint
        from annotator.proposers.miras.inference import MirasPipeline
        from annotator.proposers.miras.runtime import pick_device, pick_dtype
        from annotator.proposers.torch_runtime import ensure_torch_threads

        ensure_torch_threads()
        dev = pick_device(device)
        loaded = load_checkpoint(
            checkpoint, device=dev, dtype=pick_dtype(dev, dtype), verify=verify, task=task
        )
        self._setup(loaded, MirasPipeline(loaded, cache_images=cache_images))

    @classmethod
    def from_loaded(cls, loaded: Any, cache_images: int = 4) -> MirasProposer:
        """A proposer around a network built in memory (e.g. a full-size random one)."""
        from annotator.proposers.miras.inference import MirasPipeline

        self = cls.__new__(cls)
        self._setup(loaded, MirasPipeline(loaded, cache_images=cache_images))
        return self

    def _setup(self, loaded: Any, pipeline: Any) -> None:
        self._loaded = loaded
        self._pipeline = pipeline
        self._lock = threading.Lock()  # one turn at a time: the model and its cache are shared
        cfg = loaded.config
        dev = loaded.device
        self._info = ProposerInfo(
            name=NAME,
            version=f"{cfg.name}-{(cfg.weights_sha256 or 'unhashed')[:12]}",
            description=(
                f"MIRAS {cfg.name} ({'with' if cfg.aux else 'without'} high-resolution encoder)"
                + (": RANDOM WEIGHTS, proposals are noise" if cfg.random_init else "")
            ),
            device=f"{dev} {str(self._loaded.dtype).removeprefix('torch.')}",
            proposes_noise=cfg.random_init,
        )

    @property
    def loaded(self) -> Any:
        return self._loaded

    @property
    def pipeline(self) -> Any:
        return self._pipeline

    def info(self) -> ProposerInfo:
        return self._info

    def propose(self, request: TurnRequest, task: Task | None = None) -> TurnOutput:
        if self._pipeline is None:
            raise ProposerError("this MIRAS proposer has been closed")
        from annotator.proposers.torch_runtime import ensure_torch_threads

        with self._lock:
            ensure_torch_threads()  # per OS thread: the caller may be a worker thread
            return self._pipeline.propose(
                request.image, request.image_key, request.history, request.question, task
            )

    def close(self) -> None:
        self._pipeline = None
        self._loaded = None  # type: ignore[assignment]

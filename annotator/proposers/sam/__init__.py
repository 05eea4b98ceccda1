"""Segment-Anything click engine: MobileSAM (default) and official SAM ViT-B/L/H behind the
``Segmenter`` protocol, with an image-embedding cache in memory and on disk.

Importing this package does not import torch; :func:`open_segmenter` does not either (the model
loads on first use or on ``engine.load()``).
"""

from __future__ import annotations

from typing import Any

from annotator.proposers.sam.engine import EngineOptions, SamEngine


def open_segmenter(model_id: str = "mobile-sam", **options: Any) -> SamEngine:
    """A :class:`SamEngine` for an installed model; ``options`` are :class:`EngineOptions`
    fields (runtime, device, memory_cache_mb, disk_cache, prefetch_limit, ...)."""
    return SamEngine(model_id, options=EngineOptions(**options) if options else None)


__all__ = ["EngineOptions", "SamEngine", "open_segmenter"]

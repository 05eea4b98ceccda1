"""Fixtures for the official Segment-Anything backends without their published weights: a ViT-B
built by ``segment_anything`` itself with seeded random weights and saved as a user's own
checkpoint (``my_vit_b.pth``, ~375 MB), registered the way ``annotator models add`` registers it,
and engines on it.

Random weights make the masks meaningless, but every step the real checkpoints go through runs
for real: hashing, ``weights_only`` loading, strict loading into the architecture, encoding,
decoding, and the default runtime's choice of torch for it. The ViT-B
encoder takes about 40 s per 1024² image on one CPU thread, so the session encodes the scene once
with torch; the default-runtime engine reads that embedding from the shared disk cache.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CHECKPOINT_NAME = "my_vit_b.pth"  # not the published file name: pinned to its own hash
SEED = 20250213
SCENE_KEY = "official-scene"
# One torch / ONNX Runtime thread: the machine's cores are shared with everything else running.
THREADS_ENV = ("ANNOTATOR_TORCH_THREADS", "1")


@pytest.fixture(scope="session")
def sam_official_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A ViT-B state dict with seeded random weights, written by ``torch.save``."""
    import torch
    from segment_anything.build_sam import sam_model_registry

    path = tmp_path_factory.mktemp("sam-official-weights") / CHECKPOINT_NAME
    with torch.random.fork_rng():  # the rest of the session keeps its own random state
        torch.manual_seed(SEED)
        model = sam_model_registry["vit_b"](checkpoint=None)
    torch.save(model.state_dict(), path)
    del model
    yield path
    path.unlink(missing_ok=True)  # hundreds of MB; pytest keeps old temp dirs around


@pytest.fixture(scope="session")
def sam_official_registry(
    sam_official_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """A models directory of its own with the checkpoint recorded as ``sam-vit-b`` (the CLI
    tests run ``annotator models add`` itself, with the trial load)."""
    from annotator.proposers.weights_registry import WeightsRegistry

    registry = WeightsRegistry(tmp_path_factory.mktemp("sam-official-models"))
    registry.add("sam-vit-b", sam_official_checkpoint)
    yield registry
    shutil.rmtree(registry.root / "onnx", ignore_errors=True)  # exported graphs, ~380 MB


@pytest.fixture(scope="session")
def sam_official_disk_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Embedding cache shared by the torch and the default-runtime engine (the cache key names
    the model and its weights, not the runtime)."""
    return tmp_path_factory.mktemp("sam-official-embeddings")


@contextmanager
def _loaded_engine(registry: Any, options: Any) -> Iterator[Any]:
    from annotator.proposers.sam import SamEngine

    with (
        pytest.MonkeyPatch.context() as mp,
        SamEngine("sam-vit-b", registry=registry, options=options) as engine,
    ):
        mp.setenv(*THREADS_ENV)
        engine.load()
        mp.undo()
        yield engine


@pytest.fixture(scope="session")
def sam_official_engine(sam_official_registry: Any, sam_official_disk_cache: Path) -> Iterator[Any]:
    """The ViT-B engine on torch."""
    from annotator.proposers.sam import EngineOptions

    options = EngineOptions(runtime="torch", disk_cache_dir=sam_official_disk_cache)
    with _loaded_engine(sam_official_registry, options) as engine:
        yield engine


@pytest.fixture(scope="session")
def sam_official_handle(
    sam_official_engine: Any, scene: tuple[np.ndarray, dict[str, np.ndarray]]
) -> Any:
    """The 1024×768 scene, encoded once by the torch engine (and written to the disk cache)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(*THREADS_ENV)
        return sam_official_engine.prepare(scene[0], SCENE_KEY)


@pytest.fixture(scope="session")
def sam_official_default_engine(
    sam_official_registry: Any, sam_official_disk_cache: Path, sam_official_handle: Any
) -> Iterator[Any]:
    """The ViT-B engine with the default runtime ("auto"), loaded after the scene is in the disk
    cache."""
    from annotator.proposers.sam import EngineOptions

    options = EngineOptions(disk_cache_dir=sam_official_disk_cache)  # runtime left at its default
    with _loaded_engine(sam_official_registry, options) as engine:
        yield engine

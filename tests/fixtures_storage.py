"""Fixtures for the storage tests: conversation builders and stores on real database files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from annotator.core.mask import Mask
from annotator.core.model import (
    Conversation,
    Flag,
    FlagCode,
    Image,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Provenance,
    Turn,
)
from annotator.storage import Store, open_store


def blob_mask(height: int, width: int, seed: int) -> Mask:
    """A filled rectangle placed by ``seed`` (different seeds give different masks)."""
    rng = np.random.default_rng(seed)
    arr = np.zeros((height, width), dtype=bool)
    y0, x0 = int(rng.integers(0, height // 2)), int(rng.integers(0, width // 2))
    y1, x1 = y0 + int(rng.integers(2, height // 2)), x0 + int(rng.integers(2, width // 2))
    arr[y0:y1, x0:x1] = True
    return Mask.from_array(arr)


def make_conversation(
    n: int,
    *,
    turns: int = 3,
    height: int = 48,
    width: int = 64,
    image_path: str | None = None,
    flags: tuple[Flag, ...] = (),
    final_mask: bool = False,
) -> Conversation:
    image = Image(
        path=image_path or f"img/{n:05d}.jpg",
        width=width,
        height=height,
        sha256=f"{n:064x}",
        root="/data/images",
    )
    out: list[Turn] = []
    for i in range(turns):
        last = i == turns - 1
        masks: tuple[MaskAnnotation, ...] = ()
        if last:
            layers = [MaskLayer.DRAFT] + ([MaskLayer.FINAL] if final_mask else [])
            masks = tuple(
                MaskAnnotation(
                    mask=blob_mask(height, width, n * 10 + k),
                    layer=layer,
                    provenance=Provenance(
                        source=MaskSource.IMPORTED, author="importer", detail={"n": n, "k": k}
                    ),
                    label=f"thing {n}",
                )
                for k, layer in enumerate(layers)
            )
        out.append(
            Turn(
                index=i,
                question=f"question {i} of {n} — é",
                draft_answer="Sure, [SEG]." if last else f"answer {i} of {n}",
                masks=masks,
            )
        )
    return Conversation(
        image=image,
        focus=f"focus number {n}",
        turns=tuple(out),
        source=f"test.json#{n}",
        key=f"key-{n}",
        flags=flags,
    )


def missing_image_flag() -> Flag:
    return Flag(FlagCode.MISSING_IMAGE, "image file not found")


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path / "annotator.sqlite3")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=["sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same repository tests on every backend."""
    s = open_store(tmp_path / "annotator.sqlite3")
    try:
        yield s
    finally:
        s.close()

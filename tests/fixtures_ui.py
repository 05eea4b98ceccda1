"""Fixtures for the desktop app tests: a database holding the sample project, and the app built
on it offscreen (no SAM unless a test asks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from annotator.core.model import MaskAnnotation, MaskLayer
from annotator.services.sample_project import ensure_sample
from annotator.storage import open_store


def stored_final_masks(db: Path, conv_id: int, turn: int) -> list[MaskAnnotation]:
    """The final-layer masks of ``turn`` as the database holds them now."""
    store = open_store(db)
    try:
        return list(store.get_conversation(conv_id).turns[turn].layer(MaskLayer.FINAL))
    finally:
        store.close()


@pytest.fixture
def sample_db(tmp_path: Path) -> Path:
    db = tmp_path / "ui.sqlite3"
    store = open_store(db)
    ensure_sample(store)
    store.close()
    return db


@pytest.fixture
def make_app(qtbot: Any) -> Iterator[Any]:
    from annotator.app import build_app

    built: list[Any] = []

    def make(db: Path, **kwargs: Any) -> Any:
        kwargs.setdefault("offer_sample", False)
        kwargs.setdefault("segmenter", None)
        parts = build_app(db, **kwargs)
        qtbot.addWidget(parts.window)
        parts.window.resize(1400, 900)
        parts.window.show()
        qtbot.waitExposed(parts.window)
        built.append(parts)
        return parts

    yield make
    for parts in built:
        parts.window.close()
        parts.store.close()

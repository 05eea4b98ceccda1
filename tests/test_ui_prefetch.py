"""Reading ahead follows the review queue as the list shows it (filters and sort order), not the
folder or id order; SAM embeddings of the next records are prepared by the engine's own prefetch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from annotator.core.appdirs import models_dir
from annotator.services.settings import Settings

pytest_plugins = ["tests.fixtures_ui"]


def _queue(w: Any, start: int, n: int) -> list[int]:
    return [w.model.summary(r).id for r in range(start + 1, start + 1 + n)]


def test_prefetch_follows_the_sorted_filtered_queue(
    sample_db: Path, make_app: Any, qtbot: Any
) -> None:
    parts = make_app(sample_db, settings=Settings(prefetch=3))
    w = parts.window
    w.browser.sort.setCurrentIndex(w.browser.sort.findData("focus"))
    ids_in_list = [w.model.summary(r).id for r in range(w.model.rowCount())]
    assert ids_in_list != sorted(ids_in_list)  # the queue is not id order
    w.select_row(0)
    wanted = _queue(w, 0, 3)
    qtbot.waitUntil(
        lambda: [b.conversation.id for b in w.prefetcher.ready_bundles()] == wanted, timeout=30_000
    )
    bundle = next(b for b in w.prefetcher.ready_bundles() if b.conversation.id == wanted[0])
    assert bundle.rgb is not None and bundle.key
    w.queue.go(+1)
    assert parts.session.document.id == wanted[0]
    assert w.record.bundle is bundle  # opened from what was read ahead
    qtbot.waitUntil(
        lambda: [b.conversation.id for b in w.prefetcher.ready_bundles()] == _queue(w, 1, 3),
        timeout=30_000,
    )
    # filters change the queue: flagged records are not read ahead when they are filtered out
    flagged = {
        w.model.summary(r).id for r in range(w.model.rowCount()) if w.model.summary(r).flag_count
    }
    assert flagged
    w.browser.flag_filter.setCurrentIndex(w.browser.flag_filter.findData(False))
    w.select_row(0)
    assert not flagged & {w.model.summary(r).id for r in range(w.model.rowCount())}
    qtbot.waitUntil(
        lambda: [b.conversation.id for b in w.prefetcher.ready_bundles()] == _queue(w, 0, 3),
        timeout=30_000,
    )
    assert not flagged & {b.conversation.id for b in w.prefetcher.ready_bundles()}


def test_a_saved_record_is_read_again(sample_db: Path, make_app: Any, qtbot: Any) -> None:
    parts = make_app(sample_db, settings=Settings(prefetch=2))
    w = parts.window
    w.select_row(1)
    w.editor.apply_polygon([(10, 10), (90, 10), (90, 90)], False)  # record of row 1, saved
    edited = parts.session.document.id
    w.select_row(0)  # row 1 is now next in the queue: it is read again, with the edit
    qtbot.waitUntil(
        lambda: edited in {b.conversation.id for b in w.prefetcher.ready_bundles()},
        timeout=30_000,
    )
    bundle = next(b for b in w.prefetcher.ready_bundles() if b.conversation.id == edited)
    w.queue.go(+1)
    assert w.record.bundle is bundle
    assert parts.session.document.conversation.revision == bundle.conversation.revision >= 1
    assert parts.session.history.is_clean  # its undo history came back with it
    w.undo()
    assert parts.session.history.index == 0


@pytest.mark.skipif(
    not (models_dir() / "mobile_sam.pt").is_file(),
    reason="MobileSAM weights not installed (annotator models install mobile-sam)",
)
def test_sam_prefetch_prepares_the_next_records(sample_db: Path, make_app: Any, qtbot: Any) -> None:
    from annotator.app import segmenter_factory

    settings = Settings(prefetch=2)
    parts = make_app(sample_db, segmenter=segmenter_factory(settings), settings=settings)
    w = parts.window
    w.browser.sort.setCurrentIndex(w.browser.sort.findData("-id"))
    w.select_row(0)
    qtbot.waitUntil(lambda: w.sam.ready or w.sam.state.startswith("error"), timeout=180_000)
    assert w.sam.ready, w.sam.state
    engine = w.sam.engine
    qtbot.waitUntil(lambda: len(w.prefetcher.ready_bundles()) == 2, timeout=30_000)
    keys = [b.key for b in w.prefetcher.ready_bundles()]
    qtbot.waitUntil(lambda: all(engine.cached(k) is not None for k in keys), timeout=180_000)
    w.queue.go(+1)
    qtbot.waitUntil(lambda: w.sam.ready, timeout=5_000)  # from the cache: no encode
    assert engine.cached(w.record.bundle.key) is not None

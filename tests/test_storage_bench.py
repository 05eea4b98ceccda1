"""The storage benchmark runs end to end at a small size and reports every figure (no timing
assertions: speed targets live in ``annotator bench store``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from annotator.bench import store_bench


def test_store_bench_small_run(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    store_bench.add_arguments(parser)
    args = parser.parse_args(
        [
            "--conversations", "40",
            "--page-db", "130",
            "--naive-sample", "5",
            "--height", "48",
            "--width", "64",
            "--distinct-masks", "7",
            "--dir", str(tmp_path),
        ]
    )  # fmt: skip
    figures = store_bench.run(args)
    for key in (
        "import_10k_s",
        "import_naive_per_conversation_tx_s",
        "export_coco_10k_s",
        "iter_conversations_10k_s",
        "first_page_100k_ms",
        "last_page_offset_ms",
        "last_page_keyset_ms",
        "first_page_naive_aggregates_warm_ms",
    ):
        assert isinstance(figures[key], float) and figures[key] >= 0, key
    assert figures["page_db_conversations"] == 130
    assert figures["export_coco_bytes"] > 1000  # every conversation's final masks were written
    assert set(figures["meets_targets"]) == set(store_bench.TARGETS)
    assert list(tmp_path.iterdir()) == []  # the temporary databases are gone

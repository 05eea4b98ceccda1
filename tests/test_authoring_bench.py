"""The authoring benchmark runs end to end at a small size and reports every figure (no timing
assertions: speed targets live in ``annotator bench authoring``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from annotator.bench import authoring_bench


def test_authoring_bench_small_run(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    authoring_bench.add_arguments(parser)
    args = parser.parse_args(
        [
            "--images", "12",
            "--naive-images", "4",
            "--db-conversations", "30",
            "--edits", "2",
            "--dir", str(tmp_path),
        ]
    )  # fmt: skip
    figures = authoring_bench.run(args)
    assert figures["images"] == 12 and figures["add_images_naive_sample"] == 4
    assert figures["turn_edits"] == 3 * 2  # add, move and remove, twice each
    for key in (
        "add_images_s",
        "add_images_naive_tx_per_image_s",
        "turn_edit_ms_median",
        "turn_edit_ms_p95",
        "turn_rows_naive_rewrite_only_ms_median",
    ):
        assert isinstance(figures[key], float) and figures[key] >= 0, key
    assert set(figures["meets_targets"]) == set(authoring_bench.TARGETS)
    assert list(tmp_path.iterdir()) == []  # the temporary files are gone

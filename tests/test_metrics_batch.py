"""Batch evaluation of stored masks (in-process and on worker processes) and the metrics bench."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from annotator.bench import metrics_bench
from annotator.cli import main as cli_main
from annotator.core.errors import Cancelled, MaskError
from annotator.core.mask import Mask
from annotator.core.metrics import pair_metrics
from annotator.core.metrics_batch import INLINE_BELOW, decode, evaluate_pairs
from annotator.core.progress import Task


@pytest.fixture(scope="module")
def stored_pairs() -> list[tuple[Mask, Mask]]:
    return metrics_bench.make_pairs(INLINE_BELOW + 40, 96, 128, seed=5)


def test_decode_matches_mask_to_array(stored_pairs: list[tuple[Mask, Mask]]) -> None:
    for p, _ in stored_pairs[:10]:
        np.testing.assert_array_equal(decode(p), p.to_array())


def test_inline_and_pool_agree_with_pair_metrics(stored_pairs: list[tuple[Mask, Mask]]) -> None:
    want = [pair_metrics(p.to_array(), r.to_array()) for p, r in stored_pairs]
    seen: list[tuple[int, int | None]] = []
    task = Task(on_progress=lambda done, total, _msg: seen.append((done, total)))
    assert evaluate_pairs(stored_pairs, workers=2, task=task, chunk_size=50) == want
    assert seen[-1] == (len(stored_pairs), len(stored_pairs))
    assert evaluate_pairs(stored_pairs, workers=1) == want
    assert evaluate_pairs(stored_pairs[:3], workers=2, edge=True) == [
        pair_metrics(p.to_array(), r.to_array(), edge=True) for p, r in stored_pairs[:3]
    ]
    assert evaluate_pairs([]) == []
    full = np.ones((40, 30), bool)
    corner = np.zeros((40, 30), bool)
    corner[:7, -5:] = True
    edge_cases = [
        (Mask.empty(40, 30), Mask.empty(40, 30)),
        (Mask.from_array(full), Mask.empty(40, 30)),
        (Mask.from_array(corner), Mask.from_array(full)),
        (Mask.from_array(corner), Mask.from_array(corner.T.copy().reshape(40, 30))),
    ]
    assert evaluate_pairs(edge_cases, workers=1) == [
        pair_metrics(p.to_array(), r.to_array()) for p, r in edge_cases
    ]


def test_size_mismatch_names_the_record() -> None:
    pairs = [(Mask.empty(4, 4), Mask.empty(4, 4)), (Mask.empty(4, 5), Mask.empty(4, 4))]
    with pytest.raises(MaskError, match="record 1"):
        evaluate_pairs(pairs)


def test_cancel_stops_the_pool(stored_pairs: list[tuple[Mask, Mask]]) -> None:
    task = Task()

    def cancel_after_first(done: int, total: int | None, msg: str) -> None:
        if done > 0:
            task.token.cancel()

    task.on_progress = cancel_after_first
    with pytest.raises(Cancelled):
        evaluate_pairs(stored_pairs * 4, workers=2, task=task, chunk_size=8)
    assert task.done < len(stored_pairs) * 4


def test_bench_reports_consistent_figures(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    metrics_bench.add_arguments(parser)
    argv = f"--records {INLINE_BELOW + 20} --distinct 30 --height 120 --width 160 --workers 2"
    args = parser.parse_args([*argv.split(), "--naive-sample", "10", "--edge-sample", "3"])
    figures = metrics_bench.run(args)
    assert figures["records"] == INLINE_BELOW + 20
    assert figures["workers"] == 2
    assert figures["boundary_width_px"] == 4  # round(0.02 * 200)
    assert figures["total_s"] > 0
    assert figures["records_per_s"] == pytest.approx(figures["records"] / figures["total_s"], 0.01)
    assert figures["summary"]["n"] == INLINE_BELOW + 20
    assert 0 <= figures["summary"]["giou"] <= 1
    assert figures["naive_full_frame"]["per_record_ms"] > 0
    assert figures["meets_target"] is None  # the target is defined for 10,000 records only

    assert cli_main(["bench", "metrics", "--json", "--records", "12", "--distinct", "4",
                     "--height", "50", "--width", "60", "--naive-sample", "2",
                     "--edge-sample", "1"]) == 0  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert printed["records"] == 12
    assert printed["machine"]["cores"] >= 1

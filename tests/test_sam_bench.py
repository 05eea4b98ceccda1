"""``annotator bench sam --json`` prints one JSON object with the promised figures."""

from __future__ import annotations

import json

import pytest

from annotator.cli import main

KEYS = {
    "model",
    "runtime",
    "threads",
    "encode_s_first",
    "embedding_cache_load_ms",
    "click_ms_median",
    "click_ms_p95",
    "naive_click_ms_median",
    "speedup_vs_naive",
    "iou_min",
    "peak_rss_mb",
    "machine",
}


def test_bench_sam_json(mobile_sam_registry: object, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "sam", "--json", "--runtime", "torch", "--clicks", "4", "--naive-clicks", "1"]
    assert main([*argv, "--no-compare"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert set(figures) >= KEYS
    assert figures["model"] == "mobile-sam" and figures["runtime"] == "torch"
    assert figures["threads"] >= 1 and figures["machine"]["cores"] >= 1
    assert figures["iou_min"] >= 0.95
    # Re-encoding per click is slower than answering from the cached embedding.
    assert figures["naive_click_ms_median"] > figures["click_ms_median"] > 0
    assert figures["speedup_vs_naive"] > 1
    assert 0 < figures["embedding_cache_load_ms"] < figures["encode_s_first"] * 1000
    assert figures["click_ms_p95"] >= figures["click_ms_median"]
    assert set(figures["targets_met"]) <= set(figures)

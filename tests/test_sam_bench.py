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
    # The floor: the engine's factored decoder does about half the arithmetic of SAM's own,
    # and no figure is below what the counted work allows at the measured product rate.
    arithmetic = figures["arithmetic"]
    assert arithmetic["click_gmac"] < 0.6 * arithmetic["reference_decoder_gmac"]
    assert arithmetic["encoder_gmac"] > 10 * arithmetic["refine_click_gmac"] > 0
    assert arithmetic["matmul_gmac_per_s"] > 0
    assert arithmetic["click_share_of_rate"] > 0 and arithmetic["encode_share_of_rate"] > 0


def test_gmac_counts_multiply_accumulates() -> None:
    import torch

    from annotator.proposers.bench.sam_arithmetic import _gmac

    layer = torch.nn.Linear(256, 128)
    assert _gmac(layer, torch.zeros(4096, 256)) == round(4096 * 256 * 128 / 1e9, 3)
    conv = torch.nn.Conv2d(3, 16, kernel_size=3, padding=1)
    assert _gmac(conv, torch.zeros(1, 3, 64, 64)) == round(64 * 64 * 16 * 3 * 9 / 1e9, 3)

"""``annotator bench propose``: runs on the tiny checkpoint and reports its figures; the
full-size configuration has MIRAS-7B's parameter counts (checked without allocating memory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.cli import main

torch = pytest.importorskip("torch")


def test_bench_propose_on_tiny_checkpoint(tiny_miras_dir: Path, capsys) -> None:
    code = main(
        [
            "bench",
            "propose",
            "--checkpoint",
            str(tiny_miras_dir),
            "--device",
            "cpu",
            "--conversations",
            "2",
            "--image-size",
            "320x240",
            "--json",
        ]
    )
    assert code == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["random_weights"] is True and figures["device"] == "cpu"
    assert figures["conversations"] == 2 and figures["turns"] >= 6
    assert figures["reuse_gives_identical_output"] is True
    for key in (
        "turn_latency_s_mean",
        "decode_tokens_per_s_mean",
        "conversation_s_with_feature_reuse",
        "conversation_s_without_reuse",
        "cpu_peak_rss_mb",
    ):
        assert figures[key] is not None and figures[key] > 0, key
    parts = {k: v for k, v in figures["parameters"].items() if k != "total"}
    assert figures["parameters"]["total"] > sum(parts.values()) > 0  # + projectors and fcs
    assert figures["machine"]["cores"] >= 1


def test_full_size_configuration_has_miras_7b_dimensions() -> None:
    from annotator.proposers.miras.config import full_size_config
    from annotator.proposers.miras.network import MirasNetwork

    with torch.device("meta"):
        net = MirasNetwork(full_size_config(32004))

    def count(module) -> int:
        return sum(p.numel() for p in module.parameters())

    # LLaMA-7B (32000 + added tokens), CLIP ViT-L/14-336, SAM ViT-H, ConvNeXt-L stem+stages.
    assert 6.70e9 < count(net.language_model) < 6.80e9
    assert 3.00e8 < count(net.vision_tower) < 3.10e8
    assert 6.30e8 < count(net.sam) < 6.45e8
    assert 1.9e8 < count(net.vision_tower_aux) < 2.0e8
    total = count(net)
    assert total * 2 / 2**30 < 16  # bf16 weights fit a 24 GB GPU, let alone an 80 GB one
    # The [SEG] projection maps LLaMA's 4096 to SAM's 256 prompt width.
    assert net.text_hidden_fcs[0].in_features == 4096 and net.text_hidden_fcs[2].out_features == 256

"""``annotator self-test`` on this (pip) installation: the checks a bundle or a new machine is
put through, run by the command a user would type."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fixtures_install import run_self_test

from annotator.cli.self_test import problems

ANNOTATOR = Path(sys.executable).with_name("annotator")


def test_self_test_opens_clicks_exports_and_reads_back(tmp_path: Path) -> None:
    facts, _ = run_self_test(ANNOTATOR, tmp_path, tmp_path / "home")
    assert facts["records"] == 10 and facts["problems"] == []
    assert len(facts["sam_clicks"]) == 4  # one per sample image
    assert all(c["pixels"] > 0 and c["rle"] for c in facts["sam_clicks"])
    assert facts["sam_runtime"].startswith("onnxruntime")
    shapes = facts["bench_shapes"]
    assert [c["shape"] for c in shapes] == ["ellipse", "rectangle", "triangle", "disc"]
    assert all(c["iou_with_shape"] >= 0.95 and c["rle"] for c in shapes)
    assert facts["export"] == {
        "path": str(tmp_path / "self-test.jsonl"),
        "records": 10,
        "masks": facts["export"]["masks"],
        "read_back": 10,
    }
    lines = (tmp_path / "self-test.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 10
    clicked = {c["record"] for c in facts["sam_clicks"]}
    with_final = {
        r["id"]
        for r in map(json.loads, lines)
        if any(m["layer"] == "final" for m in r["turns"][-1]["masks"])
    }
    assert with_final == clicked  # each click's mask was saved as the target's final mask


def test_self_test_names_what_went_wrong() -> None:
    good = {
        "records": 2,
        "sam_clicks": [{"image": "a.png", "pixels": 5, "rle": "x"}],
        "export": {"records": 2, "read_back": 2},
    }
    assert problems(good) == []
    bad = {
        "records": 2,
        "sam_clicks": [{"image": "a.png", "pixels": 0, "rle": ""}],
        "bench_shapes": [{"shape": "disc", "iou_with_shape": 0.41, "rle": "y"}],
        "export": {"records": 2, "read_back": 1},
    }
    assert problems(bad) == [
        "the click on a.png made an empty mask",
        "the click inside the bench's disc found it with IoU 0.41",
        "2 records, 2 exported, 1 read back",
    ]

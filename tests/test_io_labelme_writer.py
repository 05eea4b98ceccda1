"""LabelMe export: the PRIST loader's rule reads every mask back."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fixtures_io import build_prist_workspace, finalize, ring_mask

from annotator.core.errors import Cancelled
from annotator.core.export_mask import FINAL, content_of
from annotator.core.mask import Mask
from annotator.core.model import (
    Conversation,
    Image,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Provenance,
    Turn,
)
from annotator.core.progress import Task
from annotator.io.labelme import match_focus, read_labelme
from annotator.io.labelme_writer import write_labelme
from annotator.io.prist_reader import read_prist


def target_mask(conv: Conversation) -> Mask | None:
    """What the writer writes by default: the target turn's final mask."""
    return content_of(conv, FINAL).target_mask


@pytest.fixture(scope="module")
def conversations(tmp_path_factory: pytest.TempPathFactory) -> list:
    ws = build_prist_workspace(tmp_path_factory.mktemp("prist"))
    imported = read_prist(ws.json_path, images_dir=ws.images_dir, masks_dir=ws.masks_dir)
    return finalize(imported.conversations)


def test_loader_reads_every_mask_back(tmp_path: Path, conversations: list) -> None:
    report = write_labelme(tmp_path, conversations)
    with_mask = [c for c in conversations if target_mask(c) is not None]
    assert report.annotations == len(with_mask) and len(report.fidelity) == len(with_mask)
    assert report.records == len({c.image.path for c in with_mask})
    fidelity = {f.conversation_id: f for f in report.fidelity}
    exact_reads = 0
    for conv in with_mask:
        lm = read_labelme(tmp_path / (Path(conv.image.path).stem + ".json"))
        mask = target_mask(conv)
        got = match_focus(lm, conv.focus, match="substring", height=mask.height, width=mask.width)
        a = got.mask.to_array() if got.mask is not None else np.zeros(mask.size, bool)
        b = mask.to_array()
        iou = (a & b).sum() / (a | b).sum()
        assert fidelity[conv.id].iou == pytest.approx(iou)
        # Several conversations on one image: a focus that is part of another label, or the
        # same focus twice, merges in the loader and is reported as lossy.
        others = [o for o in with_mask if o.image.path == conv.image.path and o.id != conv.id]
        collides = any(conv.focus.lower() in o.focus.lower() for o in others)
        assert fidelity[conv.id].lossy == (iou < 0.99)
        if not collides:
            assert iou == 1.0
            exact_reads += 1
        else:
            assert iou < 1.0 or all(target_mask(o) == mask for o in others if o.focus == conv.focus)
    assert exact_reads > 450


def test_holes_survive_as_keyhole_cuts(tmp_path: Path) -> None:
    conv0 = None
    ring = Mask.from_array(ring_mask(80, 90, 45, 40, 30, 12))
    conv0 = Conversation(
        image=Image("sub/ring.jpg", 90, 80, ""),
        focus="Кольцо",
        turns=(
            Turn(
                0,
                "Where?",
                "[SEG]",
                masks=(MaskAnnotation(ring, MaskLayer.FINAL, Provenance(MaskSource.HUMAN, "a")),),
            ),
        ),
        id=1,
    )
    report = write_labelme(tmp_path, [conv0])
    path = tmp_path / "sub" / "ring.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["imageHeight"] == 80 and doc["imageWidth"] == 90 and doc["imagePath"] == "ring.jpg"
    assert [s["label"] for s in doc["shapes"]] == ["Кольцо"]
    lm = read_labelme(path)
    got = match_focus(lm, "кольцо", height=80, width=90)
    np.testing.assert_array_equal(got.mask.to_array(), ring.to_array())
    assert report.fidelity[0].iou == 1.0 and not report.lossy


def test_cancel_leaves_no_file(tmp_path: Path, conversations: list) -> None:
    task = Task()
    task.on_progress = lambda done, _t, _m: task.token.cancel() if done == 300 else None
    out = tmp_path / "lm"
    with pytest.raises(Cancelled):
        write_labelme(out, conversations, task=task)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_conversations_without_masks_are_reported(tmp_path: Path, conversations: list) -> None:
    no_mask = [
        replace(c, turns=tuple(replace(t, masks=()) for t in c.turns)) for c in conversations[:3]
    ]
    report = write_labelme(tmp_path, no_mask)
    assert report.records == 0 and len(report.skipped) == 3
    assert {i.reason for i in report.skipped} == {"no_final_mask"}
    assert not any(tmp_path.iterdir())

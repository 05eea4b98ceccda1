"""COCO export read back by pycocotools and evaluated with COCOeval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures_io import ap_against_itself, build_prist_workspace, finalize, quiet_coco, ring_mask
from pycocotools import mask as mask_utils

from annotator.core.errors import Cancelled
from annotator.core.export_mask import DRAFT
from annotator.core.mask import Mask
from annotator.core.model import MaskLayer
from annotator.core.progress import Task
from annotator.io.coco_writer import polygon_iou, polygon_segmentation, write_coco
from annotator.io.prist_reader import read_prist


@pytest.fixture(scope="module")
def conversations(tmp_path_factory: pytest.TempPathFactory) -> list:
    ws = build_prist_workspace(tmp_path_factory.mktemp("prist"))
    imported = read_prist(ws.json_path, images_dir=ws.images_dir, masks_dir=ws.masks_dir)
    return finalize(imported.conversations)


def final_masks(convs: list) -> dict[tuple[int, int], Mask]:
    return {
        (c.id, t.index): a.mask
        for c in convs
        for t in c.turns
        for a in t.layer(MaskLayer.FINAL)
        if not a.mask.is_empty
    }


@pytest.mark.parametrize("polygons", [False, True])
def test_loads_in_pycocotools_and_scores_ap_1(
    tmp_path: Path, conversations: list, polygons: bool
) -> None:
    path = tmp_path / "coco.json"
    report = write_coco(path, conversations, polygons=polygons)
    gt = quiet_coco(path)
    want = final_masks(conversations)
    anns = gt.dataset["annotations"]
    assert len(anns) == len(want) == report.annotations > 500
    for a in anns:
        mask = want[(a["conversation_id"], a["turn_index"])]
        np.testing.assert_array_equal(gt.annToMask(a).astype(bool), mask.to_array())
        assert a["area"] == mask.area and a["iscrowd"] == 0
        assert a["bbox"] == list(mask.bbox)
        img = gt.imgs[a["image_id"]]
        assert (img["height"], img["width"]) == mask.size
        if not polygons:
            assert isinstance(a["segmentation"]["counts"], str)
    ids = [a["conversation_id"] for a in anns]
    assert ids == sorted(ids)
    if polygons:
        assert len(report.fidelity) == len(anns)
        assert all(f.iou == 1.0 and not f.lossy for f in report.fidelity)
        assert any(len(a["segmentation"]) == 1 and len(a["segmentation"][0]) > 8 for a in anns)
    assert ap_against_itself(gt) == pytest.approx(1.0)  # (COCOeval turns polygons into RLE)


def test_categories(tmp_path: Path, conversations: list) -> None:
    write_coco(tmp_path / "f.json", conversations, categories="focus")
    data = json.loads((tmp_path / "f.json").read_text(encoding="utf-8"))
    names = [c["name"] for c in data["categories"]]
    assert len(names) == len(set(names))
    focus_of = {c.id: c.focus for c in conversations}
    by_id = {c["id"]: c["name"] for c in data["categories"]}
    assert all(
        by_id[a["category_id"]] == focus_of[a["conversation_id"]] for a in data["annotations"]
    )
    assert "Book 'Caçadores de Bruxas' (Volume I)" in names  # non-ASCII kept as is
    assert "Caçadores" in (tmp_path / "f.json").read_text(encoding="utf-8")
    write_coco(tmp_path / "s.json", conversations, categories="single")
    single = quiet_coco(tmp_path / "s.json")
    assert [c["name"] for c in single.dataset["categories"]] == ["target"]
    assert ap_against_itself(single) == pytest.approx(1.0)


def test_images_are_shared_between_conversations(tmp_path: Path, conversations: list) -> None:
    write_coco(tmp_path / "c.json", conversations)
    data = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    names = [i["file_name"] for i in data["images"]]
    assert len(names) == len(set(names))
    with_final = {
        c.image.path for c in conversations if any(t.layer(MaskLayer.FINAL) for t in c.turns)
    }
    assert set(names) == with_final


def test_output_is_deterministic(tmp_path: Path, conversations: list) -> None:
    write_coco(tmp_path / "a.json", conversations)
    write_coco(tmp_path / "b.json", list(reversed(conversations)))
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_only_final_masks(tmp_path: Path, conversations: list) -> None:
    drafts_only = [c for c in conversations if not any(t.layer(MaskLayer.FINAL) for t in c.turns)]
    assert (drafts_only and any(c.target_turn.masks for c in drafts_only) is False) or True
    report = write_coco(tmp_path / "d.json", drafts_only)
    assert report.annotations == 0
    assert quiet_coco(tmp_path / "d.json").dataset["annotations"] == []


def test_draft_source_writes_the_draft_layer_only(tmp_path: Path, conversations: list) -> None:
    path = tmp_path / "drafts.json"
    report = write_coco(path, conversations, mask=DRAFT)
    want = {
        (c.id, t.index): a.mask
        for c in conversations
        for t in c.turns
        for a in t.layer(MaskLayer.DRAFT)
        if not a.mask.is_empty
    }
    gt = quiet_coco(path)
    anns = gt.dataset["annotations"]
    assert len(anns) == len(want) == report.annotations
    # the fixture's final ring masks on first turns are not drafts: none of them is written
    assert any(c.turns[0].layer(MaskLayer.FINAL) for c in conversations)
    last = {c.id: len(c.turns) - 1 for c in conversations}
    assert all(a["turn_index"] == last[a["conversation_id"]] for a in anns)
    for a in anns:
        np.testing.assert_array_equal(
            gt.annToMask(a).astype(bool), want[(a["conversation_id"], a["turn_index"])].to_array()
        )
    assert gt.dataset["info"]["mask_source"] == "draft"
    no_draft = {c.id for c in conversations if not c.target_turn.layer(MaskLayer.DRAFT)}
    assert {i.conversation_id for i in report.skipped} >= no_draft
    assert report.written + len(report.skipped) == report.matched == len(conversations)
    assert ap_against_itself(gt) == pytest.approx(1.0)


def test_cancel_leaves_no_file_and_keeps_the_old_one(tmp_path: Path, conversations: list) -> None:
    path = tmp_path / "c.json"
    task = Task()
    task.on_progress = lambda done, _t, _m: task.token.cancel() if done == 50 else None
    with pytest.raises(Cancelled):
        write_coco(path, conversations, task=task)
    assert list(tmp_path.iterdir()) == []
    path.write_text("old")
    task = Task()
    task.on_progress = lambda done, _t, _m: task.token.cancel() if done == 50 else None
    with pytest.raises(Cancelled):
        write_coco(path, conversations, task=task)
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


def test_polygon_outlines_are_exact_for_awkward_masks() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 25, 2))
        arr = rng.random((h, w)) < rng.random()
        mask = Mask.from_array(arr)
        segs, dropped = polygon_segmentation(mask)
        assert dropped == 0
        assert polygon_iou(segs, mask) == 1.0 or mask.is_empty
    ring = Mask.from_array(ring_mask(60, 60, 30, 30, 25, 8) | (np.arange(60)[None, :] == 59))
    segs, _ = polygon_segmentation(ring)
    rles = mask_utils.frPyObjects([list(map(float, s)) for s in segs], 60, 60)
    np.testing.assert_array_equal(
        mask_utils.decode(mask_utils.merge(rles)).astype(bool), ring.to_array()
    )


def test_lossy_polygons_are_flagged() -> None:
    from annotator.core.export_report import PolygonFidelity

    assert PolygonFidelity(1, 0, 0.985, 2, 0).lossy
    assert PolygonFidelity(1, 0, 1.0, 2, 1).lossy
    assert not PolygonFidelity(1, 0, 0.995, 2, 0).lossy
    # a polygon that misses a corner pixel is measured as such
    m = Mask.from_array(np.ones((10, 10), bool))
    assert polygon_iou([[0, 0, 10, 0, 10, 10, 1, 10, 0, 9]], m) < 1.0

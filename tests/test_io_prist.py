"""PRIST import on the real released test split, with generated images and LabelMe files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fixtures_io import PRIST_TEST, build_prist_workspace, rect_mask, write_image, write_labelme

from annotator.core.errors import Cancelled, InputError
from annotator.core.mask import Mask
from annotator.core.model import SEG_TOKEN, FlagCode, MaskLayer, MaskSource
from annotator.core.progress import Task
from annotator.core.status import Status
from annotator.io.prist_reader import read_prist


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    return build_prist_workspace(tmp_path_factory.mktemp("prist"))


@pytest.fixture(scope="module")
def imported(workspace):
    return read_prist(
        workspace.json_path, images_dir=workspace.images_dir, masks_dir=workspace.masks_dir
    )


def test_takes_every_record_of_the_real_file(workspace, imported) -> None:
    records = workspace.records
    assert len(records) == 508
    assert len(imported.conversations) == len(records)
    for i, (rec, conv) in enumerate(zip(records, imported.conversations, strict=True)):
        assert conv.status is Status.DRAFT
        assert conv.source == f"prist:test.json#{i}"
        assert conv.focus == rec["focus"].strip()
        assert conv.image.path == rec["img_id"]
        msgs = [m["value"] for m in rec["dialogue"]]
        assert [t.question for t in conv.turns] == msgs[0::2]
        assert [t.draft_answer for t in conv.turns] == msgs[1::2]
        assert all(t.final_answer is None for t in conv.turns)
        assert SEG_TOKEN in conv.target_turn.draft_answer
        assert all(not t.masks for t in conv.turns[:-1])


def test_keys_are_distinct_and_duplicate_pairs_are_both_kept(imported) -> None:
    keys = [c.key for c in imported.conversations]
    assert len(set(keys)) == 508
    pairs = Counter((c.image.path, c.focus) for c in imported.conversations)
    assert sum(1 for n in pairs.values() if n == 2) == 12


def test_reimport_gives_the_same_keys(workspace, imported) -> None:
    again = read_prist(
        workspace.json_path, images_dir=workspace.images_dir, masks_dir=workspace.masks_dir
    )
    assert [c.key for c in again.conversations] == [c.key for c in imported.conversations]


def test_flags_match_the_planted_problems(workspace, imported) -> None:
    got = {i: {f.code for f in c.flags} for i, c in enumerate(imported.conversations)}
    assert got == workspace.expected
    # Every import quirk is planted; model_drafted marks provenance, not a file's problem.
    assert {r.code for r in imported.report} == set(FlagCode) - {FlagCode.MODEL_DRAFTED}
    assert len(imported.report) == sum(len(c.flags) for c in imported.conversations)
    for line in imported.report:
        assert imported.conversations[line.record].focus == line.focus
        assert line.line is not None and line.line > 1


def test_masks_are_attached_to_the_last_turn_with_provenance(workspace, imported) -> None:
    no_mask_codes = {FlagCode.MISSING_MASKS, FlagCode.NO_MATCH, FlagCode.EMPTY_MASK}
    for i, conv in enumerate(imported.conversations):
        masks = conv.target_turn.masks
        if workspace.expected[i] & no_mask_codes:
            assert masks == ()
            continue
        (ann,) = masks
        assert ann.layer is MaskLayer.DRAFT
        assert ann.provenance.source is MaskSource.IMPORTED
        assert ann.provenance.author == "import"
        assert ann.provenance.detail["match"] == "exact"
        assert {lab.strip().casefold() for lab in ann.provenance.detail["labels"]} == {
            conv.focus.casefold()
        }
        assert ann.mask.size == (conv.image.height, conv.image.width)
        assert not ann.mask.is_empty


def _plain_records(workspace, kind: int) -> list[int]:
    counts = Counter((r["img_id"], r["focus"]) for r in workspace.records)
    return [
        i
        for i, r in enumerate(workspace.records)
        if i % 5 == kind and not workspace.expected[i] and counts[(r["img_id"], r["focus"])] == 1
    ]


def test_rectangles_are_filled_not_slivers(workspace, imported) -> None:
    checked = 0
    for i in _plain_records(workspace, 1)[:20]:
        conv = imported.conversations[i]
        (a, b) = workspace.shapes_of[i]["points"]
        want = rect_mask(conv.image.height, conv.image.width, *a, *b)
        np.testing.assert_array_equal(conv.target_turn.masks[0].mask.to_array(), want)
        assert want.sum() > 100
        checked += 1
    assert checked >= 10


def test_circles_are_filled_discs(workspace, imported) -> None:
    for i in _plain_records(workspace, 2)[:20]:
        mask = imported.conversations[i].target_turn.masks[0].mask
        # radius 6: pi r^2 = 113; the loader's rule includes the rim pixels
        assert 100 <= mask.area <= 170
        (cx, cy), _ = workspace.shapes_of[i]["points"]
        assert mask.to_array()[int(cy), int(cx)]


def test_exif_rotated_image_reports_upright_size(workspace, imported) -> None:
    img_id = workspace.special["exif_rotated"]
    w, h = workspace.sizes[img_id]
    assert w != h
    convs = [c for c in imported.conversations if c.image.path == img_id]
    assert convs and all((c.image.width, c.image.height) == (w, h) for c in convs)
    assert all(not c.flags for c in convs)


def test_missing_image_takes_its_size_from_labelme(workspace, imported) -> None:
    img_id = workspace.special["missing_image"]
    for c in imported.conversations:
        if c.image.path == img_id:
            assert (c.image.width, c.image.height) == workspace.sizes[img_id]
            assert c.image.sha256 == ""
            assert c.target_turn.masks


def test_substring_rule_reproduces_the_loader(workspace) -> None:
    result = read_prist(
        workspace.json_path,
        images_dir=workspace.images_dir,
        masks_dir=workspace.masks_dir,
        match="substring",
    )
    got = {i: {f.code for f in c.flags} for i, c in enumerate(result.conversations)}
    assert got == workspace.expected_substring
    # 'Square clock' (202) also takes 'Square clock with transparent casing' (204)
    conv = result.conversations[202]
    h, w = conv.image.height, conv.image.width
    both = []
    for j in (202, 204):
        exact = read_prist(
            workspace.json_path, images_dir=workspace.images_dir, masks_dir=workspace.masks_dir
        ).conversations[j]
        both.append(exact.target_turn.masks[0].mask.to_array())
    np.testing.assert_array_equal(conv.target_turn.masks[0].mask.to_array(), both[0] | both[1])
    assert conv.target_turn.masks[0].provenance.detail["match"] == "substring"
    assert h > 0 and w > 0


def test_progress_and_cancel(workspace) -> None:
    seen: list[tuple[int, int | None]] = []
    task = Task(on_progress=lambda done, total, _m: seen.append((done, total)))
    read_prist(
        workspace.json_path,
        images_dir=workspace.images_dir,
        masks_dir=workspace.masks_dir,
        task=task,
    )
    assert seen[0] == (0, 508) and seen[-1] == (508, 508)

    task = Task()

    def cancel_at_10(done: int, _t: int | None, _m: str) -> None:
        if done == 10:
            task.token.cancel()

    task.on_progress = cancel_at_10
    with pytest.raises(Cancelled):
        read_prist(
            workspace.json_path,
            images_dir=workspace.images_dir,
            masks_dir=workspace.masks_dir,
            task=task,
        )


def test_labelme_beside_the_images_by_default(tmp_path: Path) -> None:
    records = [
        {
            "img_id": "a.jpg",
            "focus": "Cat",
            "dialogue": [
                {"from": "human", "value": "Segment the cat"},
                {"from": "gpt", "value": "Sure, [SEG]."},
            ],
        }
    ]
    (tmp_path / "d.json").write_text(json.dumps(records))
    write_image(tmp_path / "a.jpg", 30, 20)
    write_labelme(
        tmp_path / "a.json",
        30,
        20,
        [{"label": "cat", "points": [[1, 1], [10, 1], [10, 10]], "shape_type": "polygon"}],
    )
    result = read_prist(tmp_path / "d.json", images_dir=tmp_path)
    (conv,) = result.conversations
    assert conv.flags == ()
    assert conv.target_turn.masks[0].mask.area > 0
    assert isinstance(conv.target_turn.masks[0].mask, Mask)


def test_a_broken_labelme_file_rejects_the_import(tmp_path: Path) -> None:
    records = [
        {
            "img_id": "a.jpg",
            "focus": "Cat",
            "dialogue": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "[SEG]"}],
        }
    ]
    (tmp_path / "d.json").write_text(json.dumps(records))
    write_image(tmp_path / "a.jpg", 30, 20)
    (tmp_path / "a.json").write_text(
        '{"shapes": [\n{"label": "cat", "points": [[1, "x"]]}],\n'
        '"imageHeight": 20, "imageWidth": 30}'
    )
    with pytest.raises(InputError) as err:
        read_prist(tmp_path / "d.json", images_dir=tmp_path)
    assert err.value.file.endswith("a.json")
    assert err.value.line == 2
    assert "record 0" in str(err.value)


def test_real_file_is_unchanged() -> None:
    import hashlib

    digest = hashlib.sha256(PRIST_TEST.read_bytes()).hexdigest()
    assert digest == "48a617b3a69a9e88856a219d743962c88408af32b7815b8337b3d3b23a6ea143"


def test_missing_folders_are_refused(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text("[]")
    with pytest.raises(InputError, match="images folder does not exist"):
        read_prist(tmp_path / "d.json", images_dir=tmp_path / "nope")
    with pytest.raises(InputError, match="masks folder does not exist"):
        read_prist(tmp_path / "d.json", images_dir=tmp_path, masks_dir=tmp_path / "nope")
    assert read_prist(tmp_path / "d.json", images_dir=tmp_path).conversations == []

"""The official Segment-Anything ViT-B end to end, on a checkpoint of seeded random weights built by
``segment_anything`` itself (the published ones cannot be fetched): ``annotator models add`` and
``list``, the engine on torch and on its default runtime, the answers of the official
``SamPredictor`` on the same embedding, and refusals — a published file name with other bytes
(before ``torch.load`` runs) and ViT-B weights offered as ViT-L.

Random weights make the masks meaningless, so these tests check structure, determinism and
agreement with SAM's own code, never mask quality (the MobileSAM tests do that)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures_sam import box_around, iou
from fixtures_sam_official import SCENE_KEY

from annotator.cli import main
from annotator.core.errors import WeightsError
from annotator.proposers.sam import SamEngine
from annotator.proposers.weights import KNOWN_WEIGHTS, sha256_file
from annotator.proposers.weights_registry import WeightsRegistry

# Every test here loads or runs a ~375 MB model; the default test command runs them all.
pytestmark = pytest.mark.slow

Scene = tuple[np.ndarray, dict[str, np.ndarray]]
PUBLISHED_VIT_B = KNOWN_WEIGHTS["sam-vit-b"]


@pytest.fixture(autouse=True)
def _one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNOTATOR_TORCH_THREADS", "1")


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty models directory for the CLI (which reads ``ANNOTATOR_MODELS_DIR``)."""
    path = tmp_path / "models"
    monkeypatch.setenv("ANNOTATOR_MODELS_DIR", str(path))
    return path


def _record_torch_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    import torch

    calls: list[object] = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a) or real_load(*a, **k))
    return calls


def _assert_well_formed(answer: Any, size: tuple[int, int], outputs: list[int]) -> None:
    assert [c.output_index for c in answer.candidates] == outputs
    for candidate in answer.candidates:
        assert np.isfinite(candidate.score)
        assert candidate.low_res_logits.shape == (256, 256)
        assert np.isfinite(candidate.low_res_logits).all()
        assert candidate.mask.shape == size and candidate.mask.dtype == np.bool_
        assert np.isfinite(candidate.logits).all()


def _assert_same_answer(a: Any, b: Any) -> None:
    assert a.scores == b.scores
    for x, y in zip(a.candidates, b.candidates, strict=True):
        np.testing.assert_array_equal(x.low_res_logits, y.low_res_logits)
        np.testing.assert_array_equal(x.mask, y.mask)


# -- annotator models add / list ----------------------------------------------------------------
def test_cli_adds_and_lists_own_vit_b_checkpoint(
    sam_official_checkpoint: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "add", "sam-vit-b", str(sam_official_checkpoint)]) == 0
    captured = capsys.readouterr()
    assert "sam-vit-b added" in captured.out and str(sam_official_checkpoint) in captured.out
    assert "no published hash for this file name" in captured.out
    # Progress on stderr: hashing, then the trial load into ViT-B, which passed.
    assert f"hashing {sam_official_checkpoint.name}" in captured.err
    assert "loading weights" in captured.err and "model ready" in captured.err

    assert main(["models", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["models_dir"] == str(models_dir)
    rows = {row["model"]: row for row in listing["models"]}
    assert rows["sam-vit-b"] == {
        "model": "sam-vit-b",
        "arch": "vit_b",
        "installed": True,
        "path": str(sam_official_checkpoint),
        "pinned_by": "recorded",
        "size_bytes": sam_official_checkpoint.stat().st_size,
        "problem": None,
        "onnx_graphs": "not exported yet (the auto runtime keeps this model on torch)",
    }
    assert not rows["sam-vit-l"]["installed"] and not rows["sam-vit-h"]["installed"]

    assert main(["models", "list"]) == 0
    line = next(
        ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("sam-vit-b ")
    )
    assert line.split()[:3] == ["sam-vit-b", "vit_b", "installed"]
    assert line.endswith(str(sam_official_checkpoint))

    # An engine for the model finds what the command recorded (loading is tested below).
    with SamEngine("sam-vit-b") as engine:
        assert engine.weights.path == sam_official_checkpoint
        assert engine.weights.arch == "vit_b"
        assert engine.weights.sha256 == sha256_file(sam_official_checkpoint)


def test_published_name_with_other_bytes_is_refused_before_torch_load(
    sam_official_checkpoint: Path,
    models_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    loads = _record_torch_loads(monkeypatch)
    renamed = tmp_path / PUBLISHED_VIT_B.file_name
    os.symlink(sam_official_checkpoint, renamed)  # the same bytes under the published name

    assert main(["models", "add", "sam-vit-b", str(renamed)]) == 2
    err = capsys.readouterr().err
    assert f"error: {renamed}: sha256 mismatch (expected {PUBLISHED_VIT_B.sha256}" in err
    assert sha256_file(sam_official_checkpoint) in err
    assert not (models_dir / "models.json").exists()  # nothing recorded

    # Dropped into the models directory under that name, it is taken for the published release
    # and refused when the engine loads it (default runtime), still before torch.load.
    models_dir.mkdir(exist_ok=True)
    dropped = models_dir / PUBLISHED_VIT_B.file_name
    os.symlink(sam_official_checkpoint, dropped)
    with SamEngine("sam-vit-b") as engine:
        assert engine.weights.pinned_by == "published"
        with pytest.raises(WeightsError, match="sha256 mismatch") as refused:
            engine.load()
    assert str(dropped) in str(refused.value) and "it was not loaded" in str(refused.value)
    assert loads == []


def test_vit_b_weights_are_refused_as_vit_l(
    sam_official_checkpoint: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "add", "sam-vit-l", str(sam_official_checkpoint)]) == 2
    err = capsys.readouterr().err
    assert f"error: {sam_official_checkpoint}: checkpoint does not fit" in err
    assert "missing (e.g. image_encoder.blocks.12." in err  # ViT-L has 24 blocks, ViT-B 12
    assert "of the wrong shape (e.g. image_encoder.pos_embed (1, 64, 64, 768)" in err
    assert "looks like a vit_b checkpoint" in err and "sam-vit-b" in err
    assert not (models_dir / "models.json").exists()

    # Recorded without the trial load, the engine refuses it the same way when it loads.
    assert (
        main(["models", "add", "sam-vit-l", str(sam_official_checkpoint), "--no-load-check"]) == 0
    )
    capsys.readouterr()
    with SamEngine("sam-vit-l") as engine:
        assert engine.weights.arch == "vit_l"
        with pytest.raises(WeightsError, match=r"does not fit the Sam architecture: \d+ missing"):
            engine.load()


# -- the engine on torch ------------------------------------------------------------------------
def test_torch_engine_prepares_and_answers_clicks(
    sam_official_engine: Any,
    sam_official_handle: Any,
    scene: Scene,
    scene_points: dict[str, tuple[float, float]],
) -> None:
    assert sam_official_engine.runtime == "torch"
    handle = sam_official_handle
    assert handle.model_id == "sam-vit-b" and handle.source == "encoded"
    assert handle.original_size == (768, 1024) and handle.input_size == (768, 1024)
    assert handle.embedding.shape == (1, 256, 64, 64) and np.isfinite(handle.embedding).all()
    assert float(np.abs(handle.embedding).max()) > 0

    click = [scene_points["disc"]]
    first = sam_official_engine.segment(handle, click, [1])
    _assert_well_formed(first, (768, 1024), [1, 2, 3])
    _assert_same_answer(first, sam_official_engine.segment(handle, click, [1]))

    single = sam_official_engine.segment(handle, click, [1], multimask=False)
    _assert_well_formed(single, (768, 1024), [0])
    _assert_same_answer(single, sam_official_engine.segment(handle, click, [1], multimask=False))

    # The prompt reaches the decoder: another click, a negative click, the previous logits.
    elsewhere = sam_official_engine.segment(handle, [scene_points["rectangle"]], [1])
    assert not np.array_equal(elsewhere.best.low_res_logits, first.best.low_res_logits)
    with_negative = sam_official_engine.segment(
        handle, [*click, scene_points["rectangle"]], [1, 0], multimask=False
    )
    _assert_well_formed(with_negative, (768, 1024), [0])
    assert not np.array_equal(with_negative.best.low_res_logits, single.best.low_res_logits)
    refined = sam_official_engine.segment(
        handle, click, [1], mask_input=first.best.low_res_logits, multimask=False
    )
    _assert_well_formed(refined, (768, 1024), [0])
    assert not np.array_equal(refined.best.low_res_logits, single.best.low_res_logits)
    _assert_same_answer(
        refined,
        sam_official_engine.segment(
            handle, click, [1], mask_input=first.best.low_res_logits, multimask=False
        ),
    )
    assert first.best.to_mask().area == int(first.best.mask.sum())


def test_torch_engine_answers_box_prompts(
    sam_official_engine: Any,
    sam_official_handle: Any,
    scene: Scene,
    scene_points: dict[str, tuple[float, float]],
) -> None:
    box = box_around(scene[1]["rectangle"], 6)
    boxed = sam_official_engine.segment(sam_official_handle, None, None, box=box, multimask=False)
    _assert_well_formed(boxed, (768, 1024), [0])
    _assert_same_answer(
        boxed,
        sam_official_engine.segment(sam_official_handle, None, None, box=box, multimask=False),
    )
    several = sam_official_engine.segment(sam_official_handle, None, None, box=box)
    _assert_well_formed(several, (768, 1024), [1, 2, 3])
    other_box = box_around(scene[1]["triangle"], 6)
    elsewhere = sam_official_engine.segment(
        sam_official_handle, None, None, box=other_box, multimask=False
    )
    assert not np.array_equal(elsewhere.best.low_res_logits, boxed.best.low_res_logits)
    with_click = sam_official_engine.segment(
        sam_official_handle, [scene_points["rectangle"]], [1], box=box, multimask=False
    )
    _assert_well_formed(with_click, (768, 1024), [0])
    assert not np.array_equal(with_click.best.low_res_logits, boxed.best.low_res_logits)


def test_prepared_image_is_cached(
    sam_official_engine: Any, sam_official_handle: Any, scene: Scene
) -> None:
    again = sam_official_engine.prepare(scene[0], SCENE_KEY)
    assert again.source == "memory"
    np.testing.assert_array_equal(again.embedding, sam_official_handle.embedding)
    cached = sam_official_engine.cached(SCENE_KEY)
    assert cached is not None and cached.original_size == (768, 1024)


def test_answers_equal_official_sam_predictor(
    sam_official_engine: Any,
    sam_official_registry: WeightsRegistry,
    sam_official_handle: Any,
    scene: Scene,
    scene_points: dict[str, tuple[float, float]],
) -> None:
    """``segment_anything.SamPredictor`` on the same weights and embedding gives the same
    low-resolution logits and scores, and masks that agree (SAM upsamples in two steps, the
    engine in one)."""
    import torch
    from segment_anything import SamPredictor

    from annotator.proposers.sam.model_loading import load_sam_model

    handle = sam_official_handle
    predictor = SamPredictor(load_sam_model(sam_official_registry.resolve("sam-vit-b")))
    # The image is set the way SamPredictor.set_image leaves it, minus a second 40-s encode.
    predictor.features = torch.from_numpy(handle.embedding.copy())
    predictor.original_size = handle.original_size
    predictor.input_size = handle.input_size
    predictor.is_image_set = True

    disc, rect = scene_points["disc"], scene_points["rectangle"]
    box = box_around(scene[1]["triangle"], 6)
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"points": [disc], "labels": [1]}, {"point_coords": [disc], "point_labels": [1]}),
        (
            {"points": [disc, rect], "labels": [1, 0], "multimask": False},
            {"point_coords": [disc, rect], "point_labels": [1, 0], "multimask_output": False},
        ),
        (
            {"points": None, "labels": None, "box": box, "multimask": False},
            {"box": box, "multimask_output": False},
        ),
        (
            {"points": [rect], "labels": [1], "box": box},
            {"point_coords": [rect], "point_labels": [1], "box": box},
        ),
    ]
    for ours_kwargs, sam_kwargs in cases:
        ours = sam_official_engine.segment(handle, **ours_kwargs)
        sam_kwargs = {k: np.asarray(v) for k, v in sam_kwargs.items() if k != "multimask_output"}
        multimask = ours_kwargs.get("multimask", True)
        with torch.inference_mode():
            masks, scores, low_res = predictor.predict(
                **sam_kwargs, multimask_output=multimask, return_logits=True
            )
        assert len(ours.candidates) == len(scores) == (3 if multimask else 1)
        np.testing.assert_allclose(ours.scores, scores, atol=1e-4, rtol=1e-4)
        for candidate, ref_low, ref_logits in zip(ours.candidates, low_res, masks, strict=True):
            np.testing.assert_allclose(candidate.low_res_logits, ref_low, atol=1e-3, rtol=1e-3)
            assert candidate.mask.shape == ref_logits.shape
            assert iou(candidate.mask, ref_logits > 0) >= 0.99, ours_kwargs


# -- the default runtime ------------------------------------------------------------------------
def test_default_runtime_keeps_vit_b_on_torch(
    sam_official_default_engine: Any,
    sam_official_engine: Any,
    sam_official_registry: WeightsRegistry,
    sam_official_handle: Any,
    scene: Scene,
    scene_points: dict[str, tuple[float, float]],
) -> None:
    """Under "auto" only MobileSAM is exported to ONNX: a ViT-B runs on torch, says why, writes
    no graphs, and answers exactly like the torch engine from the shared embedding cache."""
    engine = sam_official_default_engine
    assert engine.runtime == "torch"
    assert "MobileSAM only" in engine.runtime_note
    assert not list((sam_official_registry.root / "onnx").glob("sam-vit-b-*"))

    handle = engine.prepare(scene[0], SCENE_KEY)
    assert handle.source == "disk"
    np.testing.assert_array_equal(handle.embedding, sam_official_handle.embedding)
    _assert_same_answer(
        engine.segment(handle, [scene_points["disc"]], [1]),
        sam_official_engine.segment(sam_official_handle, [scene_points["disc"]], [1]),
    )

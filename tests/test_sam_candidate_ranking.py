"""Candidates are ranked by the model's predicted IoU discounted by their stability: SAM's IoU
head does not see speckle, and on photos its top-scored candidate is at times a speckled union
of textures a hair above the clean object the user clicked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fixtures_sam import iou

from annotator.io.images import load_image
from annotator.io.labelme import match_focus, read_labelme
from annotator.proposers.sam import geometry
from annotator.proposers.segmenter import UNSTABLE_BELOW, Candidate, Segmentation

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample"


def _candidate(logits: np.ndarray, score: float, extent: tuple[int, int] = (256, 256)) -> Candidate:
    return Candidate(
        score=score,
        output_index=0,
        _image_logits=logits.astype(np.float32),
        _all_logits=lambda: logits,
        _upsample=lambda grid: grid,
        _extent=extent,
    )


def _disk() -> np.ndarray:
    yy, xx = np.mgrid[:256, :256]
    return np.where((yy - 100) ** 2 + (xx - 90) ** 2 < 40**2, 12.0, -12.0)


def test_stability_is_the_area_kept_when_the_threshold_moves_one_logit() -> None:
    assert _candidate(_disk(), 0.9).stability == 1.0
    # A mask whose logits sit near zero is mostly speckle: half of it is above +1 or below -1.
    speckle = np.random.default_rng(0).uniform(-3.0, 3.0, (256, 256))
    assert _candidate(speckle, 0.9).stability == pytest.approx(0.5, abs=0.02)
    ramp = np.tile(np.linspace(-4.0, 4.0, 256), (256, 1))  # > -1 on 5/8, > +1 on 3/8 of it
    assert _candidate(ramp, 0.9).stability == pytest.approx(3 / 5, abs=0.01)
    # An empty answer is stably empty, not a division by zero.
    assert _candidate(np.full((256, 256), -5.0), 0.9).stability == 1.0


def test_stability_reads_only_the_grid_the_mask_reads() -> None:
    """Beyond what the full-resolution mask reads the map is not the answer (the padding's
    logits are made later, or never): values there must not count."""
    extent = geometry.low_res_extent((768, 1024))
    assert extent == (193, 256)
    logits = _disk()
    logits[extent[0] :, :] = np.random.default_rng(1).choice([-1e4, 0.0, 1e4], (63, 256))
    assert _candidate(logits, 0.9, extent).stability == 1.0
    assert _candidate(logits, 0.9).stability < 0.9


def test_best_and_ranking_discount_unstable_candidates() -> None:
    speckle = np.random.default_rng(2).uniform(-3.0, 3.0, (256, 256))
    small = np.where(_disk() > 0, -12.0, _disk())  # empty: stable, but scored low
    answer = Segmentation(
        (_candidate(small, 0.70), _candidate(_disk(), 0.968), _candidate(speckle, 0.974))
    )
    assert answer.best_index == 1  # not the top score (2)
    assert answer.best is answer.candidates[1]
    assert answer.ranked_indices() == [1, 0, 2]  # 0.70 · 1.0 > 0.974 · ~0.5
    # Among equally stable candidates the score alone decides, as before.
    clean = Segmentation((_candidate(_disk(), 0.8), _candidate(_disk(), 0.9)))
    assert clean.best_index == 1 and clean.ranked_indices() == [1, 0]


def test_a_click_on_the_mission_patch_gets_the_patch_not_the_speckled_suit(
    sam_engine: Any,
) -> None:
    """The sample's first record, clicked in the middle of the mission patch: SAM scores a
    speckled mask of the suit, hair and helmet ring highest (0.974), the patch just below
    (0.968). The patch is what the engine answers first."""
    image = load_image(SAMPLE / "images" / "astronaut.png")
    h, w = image.shape[:2]
    truth = match_focus(
        read_labelme(SAMPLE / "masks" / "astronaut.json"), "mission patch", height=h, width=w
    ).mask
    assert truth is not None
    handle = sam_engine.prepare(image, "sample-astronaut")
    answer = sam_engine.segment(handle, [(165.0, 371.0)], [1])

    top_scored = answer.candidates[int(np.argmax(answer.scores))]
    pieces = cv2.connectedComponents(top_scored.mask.astype(np.uint8))[0] - 1
    assert top_scored.stability < UNSTABLE_BELOW and pieces > 20  # speckle
    best = answer.best
    assert best is not top_scored
    assert best.stability >= UNSTABLE_BELOW
    assert cv2.connectedComponents(best.mask.astype(np.uint8))[0] - 1 == 1
    assert iou(best.mask, truth.to_array()) >= 0.8
    assert iou(top_scored.mask, truth.to_array()) < 0.1
    # The low-resolution figure is the full-resolution one, within a hundredth.
    for c in answer.candidates:
        full = c.logits
        assert c.stability == pytest.approx((full > 1).sum() / (full > -1).sum(), abs=0.01)

"""Clicking on one object: all candidates offered, the chosen one refined by the next click."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fixtures_sam import iou

from annotator.core.errors import InputError
from annotator.proposers.click_session import ClickSession


def test_first_click_offers_all_candidates_and_choice_feeds_next_click(
    sam_engine: Any, scene_handle: Any, scene: Any, scene_points: dict[str, tuple[float, float]]
) -> None:
    _, shapes = scene
    session = ClickSession(sam_engine, scene_handle)
    assert session.current is None and session.answer is None
    x, y = scene_points["ellipse"]
    first = session.click(x, y)
    assert len(first.candidates) == 3  # one click is ambiguous: three alternatives
    assert session.chosen_index == first.best_index
    assert iou(session.current.mask, shapes["ellipse"]) >= 0.95

    # The user prefers another candidate; it is the one refined by the next click.
    other = (first.best_index + 1) % 3
    assert session.choose(other) is first.candidates[other]
    second = session.click(x + 30, y + 10)
    assert len(second.candidates) == 1  # two clicks are not ambiguous
    expected = sam_engine.segment(
        scene_handle,
        [(x, y), (x + 30, y + 10)],
        [1, 1],
        mask_input=first.candidates[other].low_res_logits,
        multimask=False,
    )
    np.testing.assert_array_equal(second.best.low_res_logits, expected.best.low_res_logits)
    assert session.points == ((x, y), (x + 30, y + 10)) and session.labels == (1, 1)

    assert session.steps == 2
    assert session.undo() is first
    assert session.chosen_index == other and len(session.points) == 1 and session.steps == 1
    assert session.undo() is None and session.current is None and session.steps == 0
    assert session.undo() is None and session.steps == 0  # nothing left to take back


def test_negative_click_and_box_in_a_session(
    sam_engine: Any, scene_handle: Any, scene: Any, scene_points: dict[str, tuple[float, float]]
) -> None:
    _, shapes = scene
    both = shapes["ellipse"] | shapes["rectangle"]
    ys, xs = np.nonzero(both)
    session = ClickSession(sam_engine, scene_handle)
    session.set_box(xs.min() - 4, ys.min() - 4, xs.max() + 4, ys.max() + 4)
    assert iou(session.current.mask, both) >= 0.9
    session.click(*scene_points["ellipse"])
    session.click(*scene_points["rectangle"], positive=False)
    assert session.labels == (1, 0) and session.box is not None
    assert iou(session.current.mask, shapes["ellipse"]) >= 0.95


def test_refinement_can_be_switched_off(
    sam_engine: Any, scene_handle: Any, scene_points: dict[str, tuple[float, float]]
) -> None:
    x, y = scene_points["disc"]
    session = ClickSession(sam_engine, scene_handle, refine=False)
    session.click(x, y)
    second = session.click(x + 20, y)
    plain = sam_engine.segment(scene_handle, [(x, y), (x + 20, y)], [1, 1], multimask=False)
    np.testing.assert_array_equal(second.best.low_res_logits, plain.best.low_res_logits)


def test_choose_checks_its_index(sam_engine: Any, scene_handle: Any) -> None:
    session = ClickSession(sam_engine, scene_handle)
    with pytest.raises(InputError, match="click first"):
        session.choose(0)
    session.click(300, 300)
    with pytest.raises(InputError, match="candidate 5 does not exist"):
        session.choose(5)

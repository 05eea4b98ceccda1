"""The SAM tool in the real window refines its previous answer: each further click or box on the
same object goes to the real MobileSAM engine with every prompt so far and the chosen
candidate's low-resolution logits as ``mask_input``. A thin wrapper records what the engine was
asked and answered; the segmentation itself is the engine's."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures_ui import stored_final_masks
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from annotator.core.appdirs import models_dir
from annotator.core.model import MaskLayer, MaskSource

pytest_plugins = ["tests.fixtures_ui"]

pytestmark = pytest.mark.skipif(
    not (models_dir() / "mobile_sam.pt").is_file(),
    reason="MobileSAM weights not installed (annotator models install mobile-sam)",
)

CLICK = (170.0, 385.0)  # on the object of the sample's first record (see test_ui_sam)


@dataclass(frozen=True)
class Call:
    points: list[list[float]] | None
    labels: list[int] | None
    box: list[float] | None
    mask_input: np.ndarray | None
    multimask: bool
    answer: Any


class RecordingEngine:
    """The real engine, with every ``segment`` call and its answer written down."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return str(self.engine.model_id)

    def prepare(self, image: Any, key: str | None = None, task: Any = None) -> Any:
        return self.engine.prepare(image, key=key, task=task)

    def segment(
        self,
        handle: Any,
        points: Any,
        labels: Any,
        box: Any = None,
        mask_input: Any = None,
        multimask: bool = True,
    ) -> Any:
        answer = self.engine.segment(
            handle, points, labels, box=box, mask_input=mask_input, multimask=multimask
        )
        call = Call(
            None if points is None else [list(map(float, p)) for p in points],
            None if labels is None else [int(v) for v in labels],
            None if box is None else [float(v) for v in box],
            None if mask_input is None else np.array(mask_input),
            multimask,
            answer,
        )
        with self._lock:
            self.calls.append(call)
        return answer

    def prefetch(self, items: Any) -> None:
        return None  # these tests never read ahead; encoding the queue would only cost time

    def close(self) -> None:
        return None  # the engine belongs to the test session


@dataclass
class SamRig:
    window: Any
    session: Any
    recorder: RecordingEngine
    failures: list[str]  # SAM errors reported to the user


@pytest.fixture
def sam_window(sample_db: Path, make_app: Any, qtbot: Any, sam_engine: Any) -> SamRig:
    recorder = RecordingEngine(sam_engine)
    parts = make_app(sample_db, segmenter=lambda: recorder)
    w = parts.window
    w.select_row(0)
    qtbot.waitUntil(lambda: w.sam.ready or w.sam.state.startswith("error"), timeout=120_000)
    assert w.sam.ready, w.sam.state
    w.set_tool("sam")
    rig = SamRig(w, parts.session, recorder, [])
    w.sam.failed.connect(rig.failures.append)
    return rig


def _view_point(w: Any, x: float, y: float) -> QPoint:
    return w.canvas.mapFromScene(QPointF(x, y))


def _click(
    w: Any, x: float, y: float, button: Qt.MouseButton = Qt.MouseButton.LeftButton
) -> list[float]:
    """Click at image point (x, y); returns the point as the canvas maps the view pixel back."""
    at = _view_point(w, x, y)
    QTest.mouseClick(w.canvas.viewport(), button, Qt.KeyboardModifier.NoModifier, at)
    scene = w.canvas.mapToScene(at)
    return [scene.x(), scene.y()]


def _wait_answer(qtbot: Any, parts: Any, calls: int, steps: int) -> Any:
    """Wait until the engine answered ``calls`` prompts in all and the editor shows the answer
    of an object with ``steps`` prompts."""
    w = parts.window

    def shown() -> None:
        c = w.editor.candidates
        assert not parts.failures, parts.failures
        assert len(parts.recorder.calls) == calls and c is not None and c.steps == steps

    qtbot.waitUntil(shown, timeout=60_000)
    return w.editor.candidates


def _chosen_logits(call: Call, candidates: Any, shown_index: int) -> np.ndarray:
    return call.answer.candidates[candidates.outputs[shown_index]].low_res_logits


def test_second_click_sends_the_chosen_candidates_logits(sam_window: Any, qtbot: Any) -> None:
    parts = sam_window
    w, rec = parts.window, parts.recorder
    x, y = CLICK
    a = _click(w, x, y)
    first = _wait_answer(qtbot, parts, calls=1, steps=1)
    call = rec.calls[0]
    assert call.mask_input is None and call.multimask  # one click: ambiguous, no history
    assert call.points == [a] and call.labels == [1]
    assert len(first.masks) == 3 and first.answer is call.answer
    # Best first: the score discounted by the stability. Here SAM scores a speckled mask of
    # the suit second; it is shown last, greyed, and its tooltip says why.
    ranked = [s * st for s, st in zip(first.scores, first.stabilities, strict=True)]
    assert ranked == sorted(ranked, reverse=True)
    assert first.stabilities[0] >= 0.9 and min(first.stabilities) < 0.9
    chips = w.editor.candidate_chips
    for button, stability in zip(chips.buttons, first.stabilities, strict=True):
        assert button.property("unstable") == (stability < 0.9)
        assert ("speckled" in button.toolTip()) == (stability < 0.9)
    # A real click on the sample image: the mask shown holds the clicked pixel.
    shown = first.masks[w.editor.candidate_index]
    assert shown.shape == parts.session.document.size and shown[round(a[1]), round(a[0])]
    # Every candidate's score is on screen, the current one in the status line.
    assert w.editor.candidate_chips.isVisible()
    assert w.editor.candidate_chips.texts() == [
        f"{i + 1} · {s:.2f}" for i, s in enumerate(first.scores)
    ]
    assert f"1/3 · score {first.scores[0]:.2f}" in w.status.candidate_label.text()

    b = _click(w, x + 12, y + 4)
    second = _wait_answer(qtbot, parts, calls=2, steps=2)
    call = rec.calls[1]
    assert call.points == [a, b] and call.labels == [1, 1]
    assert not call.multimask  # two clicks are not ambiguous
    assert call.mask_input is not None
    np.testing.assert_array_equal(call.mask_input, _chosen_logits(rec.calls[0], first, 0))
    assert len(second.masks) == 1 and second.prompt["refined"]
    assert "refined ×1" in w.editor.candidate_chips.caption.text()

    # A negative click still refines: all three prompts, the second answer's logits.
    _click(w, 40.0, 40.0, Qt.MouseButton.RightButton)
    _wait_answer(qtbot, parts, calls=3, steps=3)
    call = rec.calls[2]
    assert call.labels == [1, 1, 0] and len(call.points) == 3
    np.testing.assert_array_equal(call.mask_input, _chosen_logits(rec.calls[1], second, 0))


def test_the_speckled_top_score_is_not_what_is_shown(sam_window: Any, qtbot: Any) -> None:
    """In the middle of the patch SAM scores a speckled mask of the suit highest, the patch just
    below: the window shows the patch, and the speckled one last, greyed."""
    parts = sam_window
    w, rec = parts.window, parts.recorder
    _click(w, 165.0, 371.0)
    shown = _wait_answer(qtbot, parts, calls=1, steps=1)
    answer = rec.calls[0].answer
    top = int(np.argmax(answer.scores))
    assert w.editor.candidate_index == 0 and shown.outputs[0] != top
    assert shown.outputs[-1] == top and shown.stabilities[-1] < 0.9
    patch = shown.masks[0]
    assert 2000 < patch.sum() < 8000  # the patch, not the suit (tens of thousands of pixels)
    chips = w.editor.candidate_chips
    assert chips.buttons[0].isChecked() and chips.buttons[2].property("unstable")
    assert max(shown.scores) == shown.scores[2] > shown.scores[0]


def test_choosing_another_candidate_changes_what_is_fed_back(sam_window: Any, qtbot: Any) -> None:
    parts = sam_window
    w, rec = parts.window, parts.recorder
    x, y = CLICK
    _click(w, x, y)
    first = _wait_answer(qtbot, parts, calls=1, steps=1)
    vp = w.canvas.viewport()
    QTest.keyClick(vp, Qt.Key.Key_Tab)  # the keyboard still cycles
    assert w.editor.candidate_index == 1
    assert "2/3" in w.status.candidate_label.text()
    chips = w.editor.candidate_chips
    assert [b.isChecked() for b in chips.buttons[:3]] == [False, True, False]
    QTest.mouseClick(chips.buttons[2], Qt.MouseButton.LeftButton)  # the chooser
    assert w.editor.candidate_index == 2 and "3/3" in w.status.candidate_label.text()

    _click(w, x + 12, y + 4)
    _wait_answer(qtbot, parts, calls=2, steps=2)
    fed = rec.calls[1].mask_input
    np.testing.assert_array_equal(fed, _chosen_logits(rec.calls[0], first, 2))
    assert not np.array_equal(fed, _chosen_logits(rec.calls[0], first, 0))


def test_undo_goes_back_one_step(sam_window: Any, qtbot: Any) -> None:
    parts = sam_window
    w, rec = parts.window, parts.recorder
    doc = parts.session.document
    x, y = CLICK
    a = _click(w, x, y)
    first = _wait_answer(qtbot, parts, calls=1, steps=1)
    w.editor.choose_candidate(1)
    _click(w, x + 30, y - 20)
    _wait_answer(qtbot, parts, calls=2, steps=2)
    assert len(w.editor.sam_prompts) == 2

    vp = w.canvas.viewport()
    QTest.keyClick(vp, Qt.Key.Key_Backspace)
    assert len(w.editor.sam_prompts) == 1 and w.editor.sam_prompts.points == [tuple(a)]
    back = _wait_answer(qtbot, parts, calls=2, steps=1)  # the earlier answer: no new call
    assert back.answer is first.answer and back.chosen == 1  # with the candidate chosen then
    assert w.editor.candidate_index == 1

    c = _click(w, x - 10, y + 6)
    _wait_answer(qtbot, parts, calls=3, steps=2)
    call = rec.calls[2]
    assert call.points == [a, c]  # the undone click is gone
    np.testing.assert_array_equal(call.mask_input, _chosen_logits(rec.calls[0], first, 1))

    # Ctrl+Z takes back SAM prompts while there are any, and only then undoes mask edits.
    history = doc.conversation.revision, parts.session.history.can_undo
    QTest.keyClick(vp, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    _wait_answer(qtbot, parts, calls=3, steps=1)
    QTest.keyClick(vp, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(w.editor.sam_prompts) == 0 and not w.editor.sam_pending()
    qtbot.waitUntil(lambda: w.editor.candidates is None and w.editor.sam_prompts.box is None)
    assert not w.editor.candidate_chips.isVisible()
    assert (doc.conversation.revision, parts.session.history.can_undo) == history
    _click(w, x, y)  # nothing left of the old object
    _wait_answer(qtbot, parts, calls=4, steps=1)
    assert rec.calls[3].mask_input is None and rec.calls[3].points == [a]


def test_commit_records_refinement_and_starts_a_new_object(
    sam_window: Any, sample_db: Path, qtbot: Any
) -> None:
    parts = sam_window
    w, rec = parts.window, parts.recorder
    doc = parts.session.document
    key = (doc.target_turn, MaskLayer.FINAL)
    x, y = CLICK
    a = _click(w, x, y)
    first = _wait_answer(qtbot, parts, calls=1, steps=1)
    b = _click(w, x + 12, y + 4)
    second = _wait_answer(qtbot, parts, calls=2, steps=2)
    QTest.keyClick(w.canvas.viewport(), Qt.Key.Key_Return)
    assert doc.layer_array(key).any() and w.editor.candidates is None
    assert len(w.editor.sam_prompts) == 0

    stored = stored_final_masks(sample_db, doc.id, doc.target_turn)
    assert stored and stored[0].provenance.source == MaskSource.SAM
    edit = stored[0].provenance.detail["edits"][-1]
    assert edit["tool"] == "sam" and edit["refined"] is True and edit["steps"] == 2
    assert edit["points"] == [a, b] and edit["labels"] == [1, 1]
    assert edit["box"] is None and edit["candidate"] == 0
    assert edit["output"] == second.outputs[0]
    assert edit["score"] == pytest.approx(second.scores[0])
    assert edit["model"] == rec.model_id
    assert first.prompt["refined"] is False

    # After the commit the next click starts over.
    _click(w, x, y)
    _wait_answer(qtbot, parts, calls=3, steps=1)
    assert rec.calls[2].mask_input is None and rec.calls[2].points == [a]

    # So does Escape; an answer still on its way for the dropped object is never shown.
    _click(w, x + 12, y + 4)
    QTest.keyClick(w.canvas.viewport(), Qt.Key.Key_Escape)
    shown: list[int] = []
    w.editor.candidatesChanged.connect(lambda _i, count, _s: shown.append(count))
    c = _click(w, x - 10, y + 6)
    fresh = _wait_answer(qtbot, parts, calls=5, steps=1)
    assert rec.calls[3].mask_input is not None  # the dropped click still refined its object
    assert rec.calls[4].mask_input is None and rec.calls[4].points == [c]
    assert shown == [3] and fresh.answer is rec.calls[4].answer

    # And opening another record.
    _click(w, x, y)
    _wait_answer(qtbot, parts, calls=6, steps=2)
    w.select_row(1)
    assert w.editor.candidates is None and len(w.editor.sam_prompts) == 0
    qtbot.waitUntil(lambda: w.sam.ready, timeout=120_000)
    h, wd = parts.session.document.size
    _click(w, wd / 2, h / 2)
    _wait_answer(qtbot, parts, calls=7, steps=1)
    assert rec.calls[6].mask_input is None and len(rec.calls[6].points) == 1


def test_box_after_click_refines_and_switching_turn_resets(sam_window: Any, qtbot: Any) -> None:
    parts = sam_window
    w, rec = parts.window, parts.recorder
    x, y = CLICK
    a = _click(w, x, y)
    first = _wait_answer(qtbot, parts, calls=1, steps=1)
    vp = w.canvas.viewport()
    QTest.mousePress(
        vp,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        _view_point(w, x - 60, y - 60),
    )
    QTest.mouseMove(vp, _view_point(w, x, y))
    QTest.mouseRelease(
        vp,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        _view_point(w, x + 60, y + 60),
    )
    _wait_answer(qtbot, parts, calls=2, steps=2)
    call = rec.calls[1]
    assert call.points == [a] and call.box is not None and not call.multimask
    assert call.box[0] == pytest.approx(x - 60, abs=2) and call.box[3] == pytest.approx(
        y + 60, abs=2
    )
    np.testing.assert_array_equal(call.mask_input, _chosen_logits(rec.calls[0], first, 0))
    assert w.editor.sam_prompts.box is not None

    doc = parts.session.document
    if doc.turn_count > 1:
        w.record.select_turn(doc.turn_count - 1 if w.editor.turn == 0 else 0)
    else:
        w.set_tool("brush")
        w.set_tool("sam")
    assert w.editor.sam_prompts.box is None and w.editor.candidates is None
    _click(w, x, y)
    _wait_answer(qtbot, parts, calls=3, steps=1)
    assert rec.calls[2].mask_input is None and rec.calls[2].box is None


def _preview_pixels(w: Any) -> np.ndarray:
    """Where the SAM preview overlay has paint (its buffer's alpha), as the user sees it."""
    buffer = w.editor._sam_preview._buffer
    return np.zeros(w.editor.doc.size, bool) if buffer is None else buffer[..., 3] > 0


def test_candidates_are_made_when_shown_and_the_preview_shows_exactly_one(
    sam_window: Any, qtbot: Any
) -> None:
    """Only the candidate on screen is upsampled to full size (one upsampling of the whole image
    per candidate); the preview is redrawn only where the old or the new candidate has pixels,
    and still shows exactly the candidate chosen, with nothing left of the one before."""
    parts = sam_window
    w = parts.window
    x, y = CLICK
    _click(w, x, y)
    first = _wait_answer(qtbot, parts, calls=1, steps=1)
    candidates = first.answer.candidates
    made = ["mask" in vars(c) for c in candidates]
    assert made.count(True) == 1 and made[first.outputs[first.chosen]]
    np.testing.assert_array_equal(_preview_pixels(w), first.masks[first.chosen])
    for step in range(1, len(first.outputs) + 1):
        QTest.keyClick(w.canvas.viewport(), Qt.Key.Key_Tab)
        index = (first.chosen + step) % len(first.outputs)
        assert w.editor.candidate_index == index
        assert "mask" in vars(candidates[first.outputs[index]])
        np.testing.assert_array_equal(_preview_pixels(w), first.masks[index])
    w.editor.sam_clear()
    assert not _preview_pixels(w).any()


def test_the_next_clicks_logits_are_made_while_an_answer_is_shown(
    sam_window: Any, qtbot: Any, monkeypatch: Any
) -> None:
    """The logits a refining click feeds back cover the encoder's padding too, which no mask
    needs: the worker makes them right after the answer is handed over, not when the next
    click comes."""
    from annotator.proposers.sam.low_res import GRID_SIDE, covered_cells

    parts = sam_window
    w, rec = parts.window, parts.recorder
    for row in range(1, 12):  # the first record's image is square: nothing is padding
        w.select_row(row)
        qtbot.waitUntil(lambda: w.sam.ready, timeout=120_000)
        if covered_cells(w.sam.handle.input_size) != (GRID_SIDE, GRID_SIDE):
            break
    else:
        pytest.fail("the sample project has no image that is not square")
    height, width = w.sam.handle.original_size
    click = (width / 2, height / 2)
    backend = rec.engine.backend
    upscaled_by: list[int] = []
    real = backend.upscale

    def recording(cells: Any, hyper: Any) -> Any:
        upscaled_by.append(threading.get_ident())
        return real(cells, hyper)

    monkeypatch.setattr(backend, "upscale", recording)
    _click(w, *click)
    _wait_answer(qtbot, parts, calls=1, steps=1)
    qtbot.waitUntil(lambda: len(upscaled_by) == 1, timeout=10_000)
    assert upscaled_by[0] != threading.get_ident()  # on the worker, not the GUI thread

    _click(w, click[0] + 12, click[1] + 4)
    _wait_answer(qtbot, parts, calls=2, steps=2)
    qtbot.waitUntil(lambda: len(upscaled_by) == 2, timeout=10_000)  # the second answer's
    np.testing.assert_array_equal(rec.calls[1].mask_input, rec.calls[0].answer.best.low_res_logits)
    qtbot.wait(200)
    assert len(upscaled_by) == 2  # each answer's padding made once

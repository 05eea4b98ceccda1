"""Binds the open record to the canvas: which turn's layers are shown, overlay refreshes for
exactly the changed rectangles, and every mask action (brush, polygon, SAM, clean-up) turned into
an undoable command saved through the session."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QColor

from annotator.core import mask_edit
from annotator.core.commands import LayerKey
from annotator.core.mask_edit import EMPTY, Rect, bounding_rect
from annotator.core.model import MaskLayer, MaskSource
from annotator.services.mask_tools import Stroke
from annotator.services.open_record import OpenRecord
from annotator.services.record_document import RecordDocument
from annotator.services.settings import Settings
from annotator.ui.canvas.candidate_chips import CandidateChips
from annotator.ui.canvas.image_item import PyramidImageItem, placeholder_rgb
from annotator.ui.canvas.overlay import (
    OutlineItem,
    RasterOverlayItem,
    diff_indexer,
    diff_palette,
    fill_palette,
    mask_indexer,
)
from annotator.ui.canvas.sam_prompts import SamPromptItems
from annotator.ui.canvas.tools import Box
from annotator.ui.canvas.view import CanvasView
from annotator.ui.sam_controller import Candidates, SamController

LAYERS = ("draft", "proposal", "final", "diff")


class EditorController(QObject):
    message = Signal(str)
    maskChanged = Signal()
    candidatesChanged = Signal(int, int, float)

    def __init__(
        self,
        view: CanvasView,
        record: OpenRecord,
        settings: Settings,
        sam: SamController,
        actor: Callable[[], str],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view = view
        self.record = record
        self.settings = settings
        self.sam = sam
        self._actor = actor
        self.brush_radius = settings.brush_radius
        self.doc: RecordDocument | None = None
        self._image_item: PyramidImageItem | None = None
        self._raster: dict[str, RasterOverlayItem] = {}
        self._outline: dict[str, OutlineItem] = {}
        self._visible = {"draft": True, "proposal": True, "final": True, "diff": False}
        self._opacity = settings.overlay_opacity
        self._sam_preview: RasterOverlayItem | None = None
        self._preview_rect = EMPTY  # where the SAM preview has pixels
        self._candidates: Candidates | None = None
        self._candidate_index = 0
        self.sam_prompts = SamPromptItems(view.scene())  # the current object's clicks and box
        self.candidate_chips = CandidateChips(view)
        self.candidate_chips.chosen.connect(self.choose_candidate)
        self._outline_timer = QTimer(self)
        self._outline_timer.setSingleShot(True)
        self._outline_timer.setInterval(0)
        self._outline_timer.timeout.connect(self._rebuild_final_outline)
        sam.candidatesReady.connect(self._show_candidates)
        sam.promptFailed.connect(lambda _message: self.sam_clear())
        record.proposals_changed.connect(self._proposals_changed)
        record.verdicts_changed.connect(lambda _none: self._apply_visibility())

    @property
    def turn(self) -> int:
        """The selected turn (the open record's)."""
        return self.record.turn

    # -- record -------------------------------------------------------------------------
    def show_record(self, doc: RecordDocument, rgb: NDArray[np.uint8] | None) -> None:
        """Show ``doc`` on its selected turn."""
        if self.doc is not None and self._on_layer_changed in self.doc.layer_listeners:
            self.doc.layer_listeners.remove(self._on_layer_changed)
        self.doc = doc
        doc.layer_listeners.append(self._on_layer_changed)
        h, w = doc.size
        if rgb is None or rgb.shape[:2] != (h, w):
            rgb = placeholder_rgb(w, h)
        scene = self.view.scene()
        for item in [
            self._image_item,
            *self._raster.values(),
            *self._outline.values(),
            self._sam_preview,
        ]:
            if item is not None:
                scene.removeItem(item)
        self._image_item = PyramidImageItem(rgb)
        scene.addItem(self._image_item)
        c = self.settings.colour
        self._raster = {}
        self._outline = {}
        for z, name in enumerate(LAYERS, start=1):
            if name == "diff":
                palette = diff_palette(
                    QColor(c("diff_kept")), QColor(c("diff_added")), QColor(c("diff_removed"))
                )
            else:
                palette = fill_palette(QColor(c(name)))
            item = RasterOverlayItem(w, h, palette)
            item.setZValue(z)
            item.setOpacity(self._opacity)
            scene.addItem(item)
            self._raster[name] = item
            if name != "diff":
                outline = OutlineItem(QColor(c(name)))
                outline.setZValue(10 + z)
                scene.addItem(outline)
                self._outline[name] = outline
        self._sam_preview = RasterOverlayItem(w, h, fill_palette(QColor("#ffd166"), 0.5))
        self._sam_preview.setZValue(20)
        self._preview_rect = EMPTY
        scene.addItem(self._sam_preview)
        self.sam_clear()  # a new image: a new object
        self.view.set_scene_size(w, h)
        self._bind_layers()

    def _proposals_changed(self, _conv_id: int) -> None:
        """New proposals for the open record (a Propose run finished): redraw the layers."""
        if self.doc is not None:
            self._bind_layers()
            self.maskChanged.emit()

    def show_turn(self) -> None:
        """The record's selected turn changed: show its layers."""
        if self.doc is not None:
            self.sam_clear()
            self._bind_layers()

    def _final_key(self) -> LayerKey:
        return (self.turn, MaskLayer.FINAL)

    def _bind_layers(self) -> None:
        doc = self.doc
        if doc is None:
            return
        draft = doc.layer_array((self.turn, MaskLayer.DRAFT))
        final = doc.layer_array(self._final_key())
        proposal = self.record.proposal_array(self.turn)
        empty = np.zeros(doc.size, dtype=bool)
        self._arrays = {
            "draft": draft,
            "final": final,
            "proposal": proposal if proposal is not None else empty,
        }
        for name in ("draft", "proposal", "final"):
            self._raster[name].set_indexer(mask_indexer(self._arrays[name]))
            self._outline[name].set_mask(self._arrays[name])
        self._raster["diff"].set_indexer(diff_indexer(self._arrays["proposal"], final))
        self._apply_visibility()

    # -- layers -------------------------------------------------------------------------
    def set_layer_visible(self, name: str, visible: bool) -> None:
        self._visible[name] = visible
        self._apply_visibility()

    def layer_visible(self, name: str) -> bool:
        return self._visible[name]

    def _apply_visibility(self) -> None:
        hidden = self.record.model_hidden(self.turn)
        for name, item in self._raster.items():
            visible = self._visible[name]
            # Blind-first hides what others made of the turn: the model's mask, the diff
            # against it, and the imported draft.
            if name in ("draft", "proposal", "diff") and hidden:
                visible = False
            item.setVisible(visible)
            if name in self._outline:
                self._outline[name].setVisible(visible)

    def set_opacity(self, opacity: float) -> None:
        self._opacity = opacity
        for item in self._raster.values():
            item.setOpacity(opacity)

    def set_brush_radius(self, radius: float) -> None:
        self.brush_radius = max(1.0, min(500.0, radius))
        self.settings.brush_radius = self.brush_radius
        self.view.update_cursor_circle()
        self.message.emit(f"Brush size {self.brush_radius:.0f} px")

    # -- changes ------------------------------------------------------------------------
    def _on_layer_changed(self, key: LayerKey, rect: Rect) -> None:
        if key == self._final_key():
            self._raster["final"].refresh(rect)
            self._raster["diff"].refresh(rect)
            self._outline_timer.start()
        elif key == (self.turn, MaskLayer.DRAFT):
            self._raster["draft"].refresh(rect)
            self._outline["draft"].set_mask(self._arrays["draft"])

    def _rebuild_final_outline(self) -> None:
        if self.doc is not None and "final" in self._outline:
            self._outline["final"].set_mask(self.doc.layer_array(self._final_key()))
        self.maskChanged.emit()

    # -- MaskEditor: brush ----------------------------------------------------------------
    def begin_stroke(self, erase: bool) -> Stroke | None:
        if self.doc is None:
            return None
        self._outline_timer.stop()
        return Stroke(self.doc, self._final_key(), self.brush_radius, erase)

    def stroke_moved(self) -> None:
        self._outline_timer.stop()  # outlines are rebuilt once the stroke ends

    def finish_stroke(self, stroke: Stroke) -> None:
        command = stroke.finish(self._actor())
        if command is not None:
            self.record.session.record(command)
        self._outline_timer.start()

    def cancel_stroke(self, stroke: Stroke) -> None:
        stroke.cancel()

    # -- MaskEditor: operations -----------------------------------------------------------
    def apply_polygon(self, points: list[tuple[float, float]], erase: bool) -> None:
        self.record.edit_final(
            lambda a: mask_edit.fill_polygon(a, points, not erase),
            "Erase polygon" if erase else "Polygon",
            info={"tool": "polygon", "vertices": len(points), "erase": erase},
        )

    def fill_holes(self) -> None:
        self.record.edit_final(mask_edit.fill_holes, "Fill holes")

    def keep_largest(self) -> None:
        self.record.edit_final(mask_edit.keep_largest_component, "Keep largest")

    def clear_mask(self) -> None:
        self.record.edit_final(mask_edit.clear, "Clear mask")

    # -- MaskEditor: SAM ------------------------------------------------------------------
    # One object at a time: its clicks and box accumulate (each refines the candidate shown)
    # until it is accepted or cleared, or the turn, record or tool changes.
    def _sam_usable(self) -> bool:
        if not self.sam.available:
            self.message.emit("No SAM model configured (Settings > Model)")
            return False
        if not self.sam.ready:
            self.message.emit("SAM is still encoding this image…")
            return False
        return self.doc is not None

    def sam_click(self, x: float, y: float, label: int) -> None:
        if self._sam_usable() and self.sam.click(x, y, bool(label)):
            self.sam_prompts.add_point(x, y, label)

    def sam_box(self, box: Box) -> None:
        if self._sam_usable() and self.sam.set_box(box):
            self.sam_prompts.set_box(box)

    def sam_pending(self) -> bool:
        """Whether the current object has prompts (an undo then takes one back)."""
        return len(self.sam_prompts) > 0

    def sam_undo(self) -> bool:
        """Take back the object's last click or box; the answer before it comes back."""
        if not self.sam_pending() or not self.sam.undo():
            return False
        self.sam_prompts.pop()
        if not self.sam_pending():
            self._hide_candidates()
        return True

    def _show_candidates(self, candidates: Candidates) -> None:
        if self.doc is None or self._sam_preview is None:
            return
        if candidates.object_id != self.sam.object_id:
            return  # an answer for an object (or image) no longer being segmented
        if not candidates.masks:
            self._hide_candidates()  # every prompt was taken back
            return
        if candidates.size != self.doc.size:
            return  # an answer for another image
        self._candidates = candidates
        self._candidate_index = candidates.chosen
        self._show_candidate()

    def _show_candidate(self) -> None:
        assert self._candidates is not None and self._sam_preview is not None
        c = self._candidates
        mask = c.masks[self._candidate_index]
        # Only where the old or the new preview has pixels: on a 12-megapixel photo a whole
        # repaint of the preview took ~100 ms per click.
        shown = bounding_rect(mask)
        self._sam_preview.set_indexer(mask_indexer(mask), shown.union(self._preview_rect))
        self._preview_rect = shown
        score = c.scores[self._candidate_index] if c.scores else 0.0
        self.candidate_chips.show_candidates(
            c.scores, self._candidate_index, c.steps, c.stabilities
        )
        self.candidatesChanged.emit(self._candidate_index, len(c.masks), score)

    def _hide_candidates(self) -> None:
        self._candidates = None
        if self._sam_preview is not None:
            self._sam_preview.set_indexer(None, self._preview_rect)
            self._preview_rect = EMPTY
        self.candidate_chips.clear()
        self.candidatesChanged.emit(-1, 0, 0.0)

    @property
    def candidates(self) -> Candidates | None:
        """SAM's answer now shown for the current object."""
        return self._candidates

    @property
    def candidate_index(self) -> int:
        return self._candidate_index

    def sam_cycle(self) -> None:
        if self._candidates is not None and self._candidates.masks:
            self.choose_candidate((self._candidate_index + 1) % len(self._candidates.masks))

    def choose_candidate(self, index: int) -> None:
        """Show candidate ``index``; the next click or box on the object refines it."""
        if self._candidates is not None and 0 <= index < len(self._candidates.masks):
            self._candidate_index = index
            self.sam.choose(self._candidates, index)
            self._show_candidate()

    def sam_accept(self, subtract: bool) -> None:
        c = self._candidates
        if c is None or self.doc is None:
            return
        i = self._candidate_index
        mask = c.masks[i]
        info = {
            "tool": "sam",
            **c.prompt,
            "candidate": i,  # as shown: best first
            "output": c.outputs[i] if c.outputs else None,  # the model's output index
            "score": c.scores[i] if c.scores else None,
            "scores": list(c.scores),
            "stability": c.stabilities[i] if c.stabilities else None,
            "subtract": subtract,
        }
        final = self.doc.layer_array(self._final_key())
        if subtract:
            op = lambda a: mask_edit.combine(a, mask, False)  # noqa: E731
        elif not final.any():
            op = lambda a: mask_edit.replace(a, mask)  # noqa: E731
        else:
            op = lambda a: mask_edit.combine(a, mask, True)  # noqa: E731
        self.record.edit_final(
            op, "SAM subtract" if subtract else "SAM mask", source=MaskSource.SAM, info=info
        )
        self.sam_clear()

    def sam_clear(self) -> None:
        """Drop the current object's prompts and preview; the next click starts a new object."""
        self.sam_prompts.clear()
        self.sam.new_object()
        self._hide_candidates()

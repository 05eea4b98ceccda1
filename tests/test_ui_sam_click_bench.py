"""``annotator bench ui`` times SAM clicks in the real app until the candidate is painted, beside
the engine's own time and the naive way's extra work, per image size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from annotator.bench import ui_sam_click_bench
from annotator.core.appdirs import models_dir


@pytest.mark.skipif(
    not (models_dir() / "mobile_sam.pt").is_file(),
    reason="MobileSAM weights not installed (annotator models install mobile-sam)",
)
def test_sam_click_bench_reports_every_figure_per_size(
    tmp_path: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui_sam_click_bench, "SIZES", ((640, 480), (300, 500)))
    figures = ui_sam_click_bench.run(tmp_path, clicks=2)
    for size in ("640x480", "300x500"):
        shown = figures[f"sam_click_shown_ms_{size}"]
        engine = figures[f"sam_engine_click_ms_{size}"]
        assert shown > 0 and engine > 0
        assert figures[f"sam_all_candidate_masks_ms_{size}"] > 0
        assert figures[f"sam_preview_full_redraw_ms_{size}"] > 0
    assert len(figures) == 8

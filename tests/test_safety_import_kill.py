"""`annotator import prist` SIGKILLed mid-way leaves the database with none of the import or all
of it, and the data stored before untouched; running it again completes the import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures_io import PRIST_TEST

from annotator_devtools.kill_harness.import_kills import database_digest, run_import_kills

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "sample"


@pytest.mark.crash
def test_killed_import_is_all_or_nothing(tmp_path: Path) -> None:
    images = tmp_path / "no-images"
    images.mkdir()
    base = (SAMPLE / "dialogues.json", SAMPLE / "images", SAMPLE / "masks")
    result = run_import_kills(
        PRIST_TEST, images, tmp_path / "run", kills=4, seed=2, copies=2, base=base
    )
    print(f"\nimport kills: {json.dumps(result.figures())}")
    assert result.problems == []
    assert result.kills == 4
    assert result.untouched + result.complete == 4
    assert result.base_conversations == 10
    assert result.reference_conversations > 508  # two copies, minus duplicate records
    # The first kill fell inside the storing transaction and rolled it back.
    assert result.killed_while_storing >= 1 and result.untouched >= 1
    assert result.resumed_after_kill
    count, _, problems = database_digest(tmp_path / "run" / "trial.sqlite3")
    assert problems == [] and count == result.base_conversations + result.reference_conversations

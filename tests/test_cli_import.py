"""The import path end to end as a user runs it: CLI -> io -> storage, on the real PRIST split."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from fixtures_io import PRIST_TEST, build_prist_workspace

from annotator.cli import main
from annotator.core.model import FlagCode
from annotator.storage import ListQuery, open_store


def _dump(db: Path) -> list[tuple[str, list[tuple[object, ...]]]]:
    """Every row of every table, to prove a refused import changed nothing."""
    with sqlite3.connect(db) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        return [(t, conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall()) for t in tables]


def test_full_prist_split_imports_once_with_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = build_prist_workspace(tmp_path / "ws")
    db = tmp_path / "a.sqlite3"
    args = [
        "--db",
        str(db),
        "import",
        "prist",
        str(ws.json_path),
        "--images",
        str(ws.images_dir),
        "--masks",
        str(ws.masks_dir),
        "--json",
        "--report",
        str(tmp_path / "report.json"),
    ]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["records"] == 508
    assert first["added"] == 508
    expected_flagged = sum(1 for codes in ws.expected.values() if codes)
    assert first["flagged"] == expected_flagged
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    for code in (
        FlagCode.MISSING_IMAGE,
        FlagCode.MISSING_MASKS,
        FlagCode.SIZE_MISMATCH,
        FlagCode.NO_MATCH,
        FlagCode.AMBIGUOUS_MATCH,
        FlagCode.DEGENERATE_POLYGON,
    ):
        assert any(r["flag"] == code for r in report), code

    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["added"] == 0 and second["skipped"] == 508

    assert main(["--db", str(db), "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    for key in ("conversations", "turns", "images", "masks", "by_status", "flagged"):
        assert key in stats
    assert stats["conversations"] == 508
    assert stats["images"] == 169
    assert stats["turns"] == sum(len(r["dialogue"]) // 2 for r in ws.records)
    assert stats["by_status"]["draft"] == 508

    with open_store(db) as store:
        # every record's last turn carries the [SEG] answer; unicode survives
        convs = list(store.iter_conversations(ListQuery()))
        assert all("[SEG]" in c.target_turn.draft_answer for c in convs)
        texts = {t.question for c in convs for t in c.turns} | {c.focus for c in convs}
        src = {m["value"] for r in ws.records for m in r["dialogue"] if m["from"] == "human"}
        src |= {r["focus"] for r in ws.records}
        assert texts == src


def test_malformed_file_is_refused_and_database_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "b.sqlite3"
    sample = Path(__file__).resolve().parents[1] / "resources" / "sample"
    assert (
        main(
            [
                "--db",
                str(db),
                "import",
                "prist",
                str(sample / "dialogues.json"),
                "--images",
                str(sample / "images"),
                "--masks",
                str(sample / "masks"),
            ]
        )
        == 0
    )
    before = _dump(db)

    records = json.loads(PRIST_TEST.read_text(encoding="utf-8"))
    records[37]["dialogue"][2]["from"] = "gpt"  # breaks the human/gpt alternation
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(records, indent=4, ensure_ascii=False), encoding="utf-8")
    capsys.readouterr()
    rc = main(["--db", str(db), "import", "prist", str(bad), "--images", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "bad.json:" in err and "record 37" in err
    assert _dump(db) == before

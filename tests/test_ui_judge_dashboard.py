"""The quality dashboard's reasoning table on a real report from a real database: the judge's
scores per criterion (mean and 95 % interval), per turn, the pairwise win rates, records opened
by a double-click, and the hint shown while nothing has been judged."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures_storage import make_conversation
from PySide6.QtGui import QImage

from annotator.core.judge_criteria import PAIRWISE_KEYS, SCORE_CRITERIA, SCORE_KEYS
from annotator.core.judgement import JudgeIdentity, Judgement, PairwiseJudgement
from annotator.core.mean_interval import mean_interval
from annotator.core.model import Proposal
from annotator.services.quality_report import ReportOptions, build_report
from annotator.storage import Store, open_store
from annotator.ui.dashboard import QualityDashboard
from annotator.ui.dashboard.reasoning_table import EMPTY_TEXT, interval_text

SCREENSHOT = Path(tempfile.gettempdir()) / "prist-annotator-reasoning-dashboard.png"
JUDGE = JudgeIdentity("judge-x-2025", "judge-x", "judge-score-1", "verified")
PAIR_JUDGE = JudgeIdentity("judge-x-2025", "judge-x", "judge-pair-1", "verified")
ACCURACY = {0: [3, 2, 3], 1: [1, 2, 1]}  # planted per turn, one per conversation


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "judged.sqlite3")
    try:
        yield s
    finally:
        s.close()


def _judged(store: Store) -> list[int]:
    ids = store.add_conversations(
        [make_conversation(i, verified=True) for i in range(3)], actor="importer"
    ).added_ids
    verdicts: list[Judgement] = []
    pairs: list[PairwiseJudgement] = []
    for n, cid in enumerate(ids):
        store.add_proposals(cid, [Proposal(t, "vlm", "v1", f"vlm {t}") for t in range(3)])
        store.add_proposals(cid, [Proposal(t, "miras", "m1", f"miras {t}") for t in range(3)])
        for turn in (0, 1):
            vlm, miras = sorted(store.proposals(cid, turn_index=turn), key=lambda p: p.proposer)[
                ::-1
            ]
            assert vlm.id is not None and miras.id is not None
            scores = {**dict.fromkeys(SCORE_KEYS, 3), "accuracy": ACCURACY[turn][n]}
            verdicts.append(Judgement(cid, turn, vlm.id, "vlm", "v1", vlm.answer, JUDGE, scores))
            pairs.append(
                PairwiseJudgement(
                    cid,
                    turn,
                    miras.id,
                    vlm.id,
                    "miras",
                    "vlm",
                    "a" if turn else "b",
                    PAIR_JUDGE,
                    "a" if n else "tie",
                    dict.fromkeys(PAIRWISE_KEYS, "a" if n else "tie"),
                )
            )
        store.add_judgements(verdicts[-2:])
        store.add_pairwise_judgements(pairs[-2:])
    failed = Judgement(
        ids[0],
        0,
        verdicts[0].proposal_id,
        "vlm",
        "v1",
        "vlm 0",
        JUDGE,
        None,
        "no JSON object in the reply",
    )
    store.add_judgements([failed])
    return ids


def _dashboard(qtbot: Any, report: dict[str, Any]) -> tuple[QualityDashboard, list[list[int]]]:
    opened: list[list[int]] = []
    widget = QualityDashboard(report, opened.append)
    qtbot.addWidget(widget)
    widget.resize(1400, 1000)
    widget.show()
    qtbot.waitExposed(widget)
    return widget, opened


def test_the_dashboard_shows_the_reasoning_table(qtbot: Any, store: Store) -> None:
    ids = _judged(store)
    report = build_report(store, ReportOptions(turns="all", text=False))
    widget, opened = _dashboard(qtbot, report)
    panel = widget.reasoning
    table = panel.table
    assert panel.isVisible() and table.isVisible()
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == [
        "Proposer",
        "Judge",
        "Turns",
        "n",
        "Failed",
        *(c.name for c in SCORE_CRITERIA),
    ]
    rows = [
        [table.item(r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]
    assert [r[2] for r in rows] == ["all turns", "turn 0", "turn 1"]
    assert rows[0][0] == "vlm@v1" and rows[0][1].startswith("judge-x-2025 (judge-score-1")
    assert rows[0][3] == "6" and rows[0][4] == "1"  # six scored, one reply not used
    accuracy = headers.index("Accuracy")
    everything = mean_interval([float(v) for t in (0, 1) for v in ACCURACY[t]])
    assert rows[0][accuracy] == interval_text(everything.as_dict()) == "2.00 [1.06, 2.94]"
    # with three items the t interval reaches past the scale; it is clipped to 1-3
    assert mean_interval([3.0, 2.0, 3.0]).high == pytest.approx(4.101, abs=1e-3)
    assert rows[1][accuracy] == "2.67 [1.23, 3.00]" and rows[2][accuracy] == "1.33 [1.00, 2.77]"
    assert rows[2][headers.index("Fluency")] == "3.00 [3.00, 3.00]"
    assert "6 answers scored 1–3, judge replies not used: 1" in panel.heading.text()
    assert "Student t" in panel.heading.text()
    pairwise = panel.pairwise.text()
    assert "miras vs vlm" in pairwise and "6 turns" in pairwise
    assert "A wins 67%, ties 33%, B wins 0%" in pairwise

    table.cellDoubleClicked.emit(2, accuracy)  # turn 1: the records behind the row open
    assert opened[-1] == sorted(ids)

    widget.save_png(SCREENSHOT)  # for a look by eye; the assertions above are the test
    assert not QImage(str(SCREENSHOT)).isNull()


def test_without_verdicts_the_dashboard_says_how_to_get_them(qtbot: Any, store: Store) -> None:
    store.add_conversations([make_conversation(1, verified=True)], actor="importer")
    report = build_report(store, ReportOptions(text=False))
    assert report["reasoning"]["scores"] == [] and report["reasoning"]["pairwise"] == []
    widget, _ = _dashboard(qtbot, report)
    assert widget.reasoning.heading.text() == EMPTY_TEXT
    assert not widget.reasoning.table.isVisible()
    # a report made before the judge existed (no section) reads the same way
    older = {k: v for k, v in report.items() if k != "reasoning"}
    widget.set_report(older)
    assert widget.reasoning.heading.text() == EMPTY_TEXT

"""The judge's reply parser and statistics on their own: verdicts taken from chatter, refusals
with one-line reasons, shown positions mapped back to A and B, win-rate tallies, and the
Student t interval checked against SciPy."""

from __future__ import annotations

import json

import pytest

from annotator.core.judge_criteria import SCORE_KEYS, outcome_of
from annotator.core.mean_interval import mean_interval, t_quantile
from annotator.core.win_rate import tally
from annotator.io.judge_reply import JudgeReplyError, parse_preferences, parse_scores


def scores_reply(**scores: int) -> str:
    full = {k: scores.get(k, 3) for k in SCORE_KEYS}
    return f"```json\n{json.dumps({'scores': full})}\n```"


def test_parser_takes_the_verdict_from_chatter_and_refuses_the_rest() -> None:
    flat = (
        'Sure! {"Accuracy": 1, "informativeness": 2, "FLUENCY": 3, "logicality": 1, '
        '"harmlessness": 3, "rationale": "  short \\n and fair "} Hope that helps.'
    )
    reply = parse_scores(flat)
    assert reply.scores == {
        "accuracy": 1,
        "informativeness": 2,
        "fluency": 3,
        "logicality": 1,
        "harmlessness": 3,
    }
    assert reply.rationale == "short and fair"
    assert parse_scores(scores_reply(accuracy=2)).scores["accuracy"] == 2
    prefs = parse_preferences(
        '{"preferences": {"naturalness": 1, "coherence": "2", "engagingness": "tie", '
        '"groundedness": "Response 1"}}'
    )
    assert prefs.choices == {
        "naturalness": "1",
        "coherence": "2",
        "engagingness": "tie",
        "groundedness": "1",
    }
    bad = {
        '{"preferences": {"naturalness": "A", "coherence": 1, "engagingness": 1, '
        '"groundedness": 1}}': "preference for 'naturalness' is \"A\", not 1, 2 or tie",
        '{"preferences": [1, 2]}': '"preferences" is not a JSON object',
        "[" * 5000 + "]" * 5000: "no JSON object in the reply",
        "{" * 20000: "no JSON object in the reply",
    }
    for text, reason in bad.items():
        with pytest.raises(JudgeReplyError) as info:
            parse_preferences(text)
        assert info.value.reason == reason


def test_outcomes_map_shown_positions_back_to_a_and_b() -> None:
    assert outcome_of("1", "a") == "a" and outcome_of("1", "b") == "b"
    assert outcome_of("2", "a") == "b" and outcome_of("2", "b") == "a"
    assert outcome_of("tie", "b") == "tie"
    rate = tally([("a", "a"), ("a", "b"), ("b", "a"), ("tie", "b")])
    assert rate.as_dict() == {
        "n": 4,
        "wins": 2,
        "ties": 1,
        "losses": 1,
        "win_rate": 0.5,
        "tie_rate": 0.25,
        "loss_rate": 0.25,
        "shown_a_first": 2,
        "first_shown_won": 1 / 3,
    }


def test_the_interval_is_students_t() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 5, 29, 30, 200):
        assert t_quantile(0.975, df) == pytest.approx(float(stats.t.ppf(0.975, df)), abs=1e-9)
    values = [3.0, 2.0, 3.0, 1.0, 3.0, 2.0]
    got = mean_interval(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=got.mean, scale=stats.sem(values))
    assert (got.low, got.high) == (pytest.approx(low), pytest.approx(high))
    assert mean_interval([2.0]).low is None and mean_interval([]).mean is None

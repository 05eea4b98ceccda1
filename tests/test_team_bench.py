"""``annotator bench team`` on a real PostgreSQL server, short: the figures it reports and the two
that must be zero (double claims, lost updates)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.postgres


def test_bench_team_reports_both_ways_with_no_double_claims_or_lost_updates(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from annotator.cli import main

    argv = ["bench", "team", "--url", postgres_url, "--clients", "4", "--seconds", "2"]
    assert main([*argv, "--records", "12", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["clients"] == 4 and figures["machine"]["cores"] >= 1
    for way in ("skip_locked", "naive_for_update"):
        run = figures[way]
        assert run["saves"] > 0 and run["saves_per_s"] > 0 and run["save_ms_p95"] > 0
        assert run["double_claims"] == 0 and run["lost_updates"] == 0
        assert run["errors"] == 0, run["error_kinds"]
    with sa.create_engine(postgres_url).connect() as conn:
        left = conn.execute(
            sa.text("SELECT count(*) FROM pg_roles WHERE rolname LIKE :p"), {"p": "bench\\_%"}
        )
        assert left.scalar_one() == 0  # the bench's members are gone again

"""Win, tie and loss rates of proposer A against proposer B from pairwise judgements.

Each item (one turn both answered) counts once: A's win, B's win (A's loss) or a tie. The order
the two answers were shown in is drawn at random per item, so a judge that favours a position
spreads that favour over both sides; ``first_shown_won`` (of the items that were not ties)
measures how strong that pull was: 0.5 means none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from annotator.core.judge_criteria import Outcome


@dataclass(frozen=True)
class WinRate:
    wins: int  # A better
    ties: int
    losses: int  # B better
    shown_a_first: int  # items where A's answer came first
    first_shown_won: float | None  # share of decided items won by the answer shown first

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    def rate(self, count: int) -> float | None:
        return count / self.n if self.n else None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "n": self.n,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "win_rate": self.rate(self.wins),
            "tie_rate": self.rate(self.ties),
            "loss_rate": self.rate(self.losses),
            "shown_a_first": self.shown_a_first,
            "first_shown_won": self.first_shown_won,
        }


def tally(items: Iterable[tuple[Outcome, Literal["a", "b"]]]) -> WinRate:
    """``items``: (outcome from A's side, which side was shown first) per judged item."""
    wins = ties = losses = a_first = decided = first_won = 0
    for outcome, first in items:
        if first == "a":
            a_first += 1
        if outcome == "a":
            wins += 1
        elif outcome == "b":
            losses += 1
        elif outcome == "tie":
            ties += 1
        else:
            raise ValueError(f"not an outcome: {outcome!r}")
        if outcome != "tie":
            decided += 1
            first_won += outcome == first
    return WinRate(wins, ties, losses, a_first, first_won / decided if decided else None)

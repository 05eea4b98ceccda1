"""Text agreement between a proposed answer and the verified one: BLEU-4 and ROUGE-L.

Both come from maintained packages: sentence-level BLEU-4 from sacrebleu (its default ``13a``
tokenisation, exponential smoothing and effective order, so short answers do not collapse to 0)
and the ROUGE-L F-measure from rouge-score. rouge-score's own tokenizer keeps only ASCII letters and
digits, which would score every Cyrillic or accented answer 0 (PRIST has 67 such messages), so it
is given a Unicode word tokenizer instead. Scores are on a 0-1 scale (sacrebleu's 0-100 / 100).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import fmean
from typing import Any

_WORD = re.compile(r"\w+", re.UNICODE)


class UnicodeWords:
    """Lower-cased Unicode word tokens (the tokenizer interface rouge-score expects)."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text.lower())


@dataclass(frozen=True)
class TextScores:
    bleu4: float
    rouge_l: float


class TextScorer:
    """Scores answer pairs; build one and reuse it (building costs more than one score)."""

    def __init__(self) -> None:
        from rouge_score.rouge_scorer import RougeScorer
        from sacrebleu.metrics import BLEU

        self._bleu = BLEU(max_ngram_order=4, smooth_method="exp", effective_order=True)
        self._rouge = RougeScorer(["rougeL"], tokenizer=UnicodeWords())

    def score(self, hypothesis: str, reference: str) -> TextScores:
        """``hypothesis`` (the proposal's answer) against ``reference`` (the verified answer)."""
        bleu = self._bleu.sentence_score(hypothesis, [reference]).score / 100.0
        rouge = self._rouge.score(reference, hypothesis)["rougeL"].fmeasure
        # sacrebleu's exp/log round trip can land a hair above 100 for identical sentences
        return TextScores(bleu4=min(1.0, float(bleu)), rouge_l=float(rouge))


def text_agreement(
    pairs: Iterable[tuple[str, str]], scorer: TextScorer | None = None
) -> dict[str, Any]:
    """Mean BLEU-4 and ROUGE-L over ``(hypothesis, reference)`` pairs; pairs whose reference is
    blank are skipped (nothing to agree with). ``{"n": 0, ...}`` with ``None`` when none remain."""
    scorer = scorer or TextScorer()
    scores = [scorer.score(h, r) for h, r in pairs if r.strip()]
    if not scores:
        return {"n": 0, "bleu4": None, "rouge_l": None}
    return {
        "n": len(scores),
        "bleu4": fmean(s.bleu4 for s in scores),
        "rouge_l": fmean(s.rouge_l for s in scores),
    }

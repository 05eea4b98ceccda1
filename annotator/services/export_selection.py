"""Which stored conversations an export takes: those of the asked status that the export gate
(:mod:`annotator.core.export_gate`) lets through for the chosen mask source and format. The
others are counted with their reason, never written as if they were data; for those that lack
what the chosen source should have, it also counts which other source has a target mask (the
report's hint)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from annotator.core.export_gate import FormatNeeds, skip_issue
from annotator.core.export_mask import DRAFT, FINAL, MaskChoice, MaskKind, content_of
from annotator.core.export_report import MISSING, ExportIssue, ExportReport
from annotator.core.model import Conversation, Proposal, Review
from annotator.core.progress import Task
from annotator.core.review_rules import stale_turns
from annotator.core.status import Status
from annotator.storage import ListQuery, Store


class ExportSelection:
    """Reads the matching conversations once (:meth:`take`), keeping the reviews and proposals
    the writers need (``keep_stored``: the PRIST record writes both in full)."""

    def __init__(
        self,
        store: Store,
        status: Status | None,
        mask: MaskChoice,
        needs: FormatNeeds,
        task: Task,
        *,
        keep_stored: bool = False,
    ) -> None:
        self._store = store
        self._query = ListQuery(status=status)
        self._mask = mask
        self._needs = needs
        self._task = task
        self._keep_stored = keep_stored
        self.matched = 0
        self.skipped: list[ExportIssue] = []
        self.alternatives: Counter[str] = Counter()
        self.reviews: dict[int, list[Review]] = {}
        self.proposals: dict[int, list[Proposal]] = {}
        self._stale: set[int] = set()

    def take(self) -> list[Conversation]:
        """The conversations to write, in id order; the rest go to ``skipped``."""
        out: list[Conversation] = []
        self._task.start(self._store.count(self._query), "choosing records")
        # The stored count of stale verdicts is kept in the transaction of every save and
        # review: only those records need their reviews read.
        self._stale = set(self._store.ids(replace(self._query, queue="stale")))
        for conv in self._store.iter_conversations(self._query):
            self.matched += 1
            issue = self._issue(conv)
            if issue is None:
                out.append(conv)
                if self._keep_stored:
                    self._stored(conv)
            else:
                self.skipped.append(issue)
                if issue.reason in MISSING:
                    self._count_alternatives(conv)
            self._task.step()
        return out

    def report(self, written: ExportReport) -> ExportReport:
        """The writer's report completed with what was left out before it."""
        written.matched = self.matched
        written.skipped[:0] = self.skipped
        written.alternatives = dict(self.alternatives)
        return written

    def _stored(self, conv: Conversation) -> tuple[list[Review], list[Proposal]]:
        assert conv.id is not None  # stored conversations only
        if conv.id not in self.reviews:
            self.reviews[conv.id] = self._store.reviews(conv.id)
        if conv.id not in self.proposals:
            self.proposals[conv.id] = self._store.proposals(conv.id)
        return self.reviews[conv.id], self.proposals[conv.id]

    def _issue(self, conv: Conversation) -> ExportIssue | None:
        assert conv.id is not None
        proposals: Sequence[Proposal] = ()
        if self._mask.kind == MaskKind.PROPOSAL:
            proposals = self.proposals[conv.id] = self._store.proposals(conv.id)
        content = content_of(conv, self._mask, proposals)
        stale: set[int] = set()
        # Reviews are read only where they can matter: a final mask that would be written, on
        # a record with a stale verdict.
        if self._mask.kind == MaskKind.FINAL and content.target.masks and conv.id in self._stale:
            reviews = self.reviews[conv.id] = self._store.reviews(conv.id)
            stale = stale_turns(conv, reviews)
        return skip_issue(content, self._needs, stale)

    def _count_alternatives(self, conv: Conversation) -> None:
        for other in (DRAFT, FINAL):
            if other.kind != self._mask.kind and content_of(conv, other).target.masks:
                self.alternatives[str(other)] += 1

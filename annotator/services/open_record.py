"""The record on screen, without Qt: what it was read with, the selected turn, the latest
proposal per turn, the standing verdicts, what blind-first review hides, the proposal → final
diff per turn and the PRIST rules it breaks; with the operations annotators and reviewers
perform on it (review, texts, the focus, adding, removing and moving turns, taking masks,
storing proposals).

Widgets render this model and send it intents; they hold none of its state. Each change is
announced on a :class:`~annotator.services.notifier.Notifier`; every save also reaches the
editing session's ``save_listeners``. Refusals the user must read come as ``message``; refusals
by a rule (approving without a final mask) raise :class:`~annotator.core.errors.AnnotatorError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from annotator.core import mask_edit
from annotator.core.commands import LayerKey, SetText
from annotator.core.correction import MaskDiff, latest_per_turn, mask_diff, proposed_mask
from annotator.core.mask_edit import BoolArray, Rect
from annotator.core.model import (
    Decision,
    HistoryEvent,
    MaskLayer,
    MaskSource,
    Proposal,
    ReasonEntry,
    Review,
    Turn,
    standing_answer,
)
from annotator.core.prist_rules import RuleBreach, check_texts
from annotator.core.review_rules import (
    BLIND_FIRST_REQUIRED,
    Verdict,
    approve_blockers,
    first_blocker,
    judged_by,
    verdicts_of,
)
from annotator.core.status import Status
from annotator.core.turn_commands import AddTurn, MoveTurn, RemoveTurn, SetDeleted, SetFocus
from annotator.services.catalog import RecordStore
from annotator.services.image_resolver import ImageResolver
from annotator.services.mask_tools import operation_delta
from annotator.services.notifier import Notifier
from annotator.services.record_bundle import RecordBundle, RgbArray, load_bundle
from annotator.services.record_document import RecordDocument
from annotator.services.session import EditSession, SaveResult

MaskOperation = Callable[[BoolArray], Rect]
TEXT_LABELS = {
    "question": "Edit question",
    "draft_answer": "Edit draft answer",
    "final_answer": "Edit answer",
}


class OpenRecord:
    def __init__(
        self,
        store: RecordStore,
        session: EditSession,
        resolver: ImageResolver,
        actor: Callable[[], str],
        *,
        blind: bool = False,
    ) -> None:
        self.store = store
        self.session = session
        self.resolver = resolver
        self._actor = actor
        # The project may require blind-first review of everyone (``annotator project
        # blind-first on``); then the user's own setting cannot turn it off.
        self.blind_required = bool(store.project_setting(BLIND_FIRST_REQUIRED, False))
        self.blind = blind or self.blind_required
        self.bundle: RecordBundle | None = None
        self.turn = -1
        self.proposals: dict[int, Proposal] = {}  # the latest of each turn
        self.verdicts: dict[int, Verdict] = {}
        self.reviews: list[Review] = []  # every review of the record, stored order
        self.noise_versions: set[str] = set()  # proposer versions known to propose noise
        self._judged: set[int] = set()  # turns the user has judged: blind-first shows them
        self._second = False  # another reviewer asked for a second review: blind to theirs
        self._proposed: dict[int, BoolArray | None] = {}
        self._diffs: dict[int, MaskDiff | None] = {}
        self._listened: RecordDocument | None = None
        self._reshaped = False  # turns added, removed or moved since the last save
        session.save_listeners.append(self._saved)
        # Called before every action on the record (a review, another record, proposing, a
        # turn move): the app commits the text being typed, so no action runs ahead of it.
        self.before_action: list[Callable[[], None]] = []

        self.opened: Notifier[RecordDocument] = Notifier()
        self.turn_changed: Notifier[int] = Notifier()
        self.text_changed: Notifier[int] = Notifier()  # the turn whose text changed (-1: focus)
        self.reshaped: Notifier[None] = Notifier()  # turns added, removed or moved
        self.status_changed: Notifier[Status] = Notifier()
        self.proposals_changed: Notifier[int] = Notifier()  # conversation id
        self.verdicts_changed: Notifier[None] = Notifier()  # verdicts or what is hidden
        self.diffs_changed: Notifier[None] = Notifier()
        self.message: Notifier[str] = Notifier()

    # -- what is open ---------------------------------------------------------------------
    @property
    def document(self) -> RecordDocument | None:
        return self.session.document

    def flush_pending(self) -> None:
        """Run the ``before_action`` hooks (the app commits the text being typed)."""
        for hook in list(self.before_action):
            hook()

    def _doc(self) -> RecordDocument:
        doc = self.session.document
        if doc is None:
            raise RuntimeError("no record is open")
        return doc

    def load(self, conv_id: int) -> RecordBundle:
        return load_bundle(self.store, conv_id, self.resolver.locate)

    def open(self, bundle: RecordBundle) -> RecordDocument:
        """Open the record ``bundle`` was read for, on its target turn (pending edits of the
        record open before are saved first)."""
        if self.session.document is not None:
            self.flush_pending()
            if self.session.is_dirty:
                self.session.save()
        conv = bundle.conversation
        assert conv.id is not None
        self.bundle = bundle
        self.resolver.add_root(conv.image.root)
        doc = self.session.open(conv.id, stored=conv)
        self._listen(doc)
        self._take_proposals(bundle.proposals)
        self._take_reviews(bundle.reviews)
        self.turn = doc.target_turn
        self.opened.emit(doc)
        return doc

    def _listen(self, doc: RecordDocument) -> None:
        old = self._listened
        if old is doc:
            return
        if old is not None:
            old.text_listeners.remove(self._on_text)
            old.status_listeners.remove(self.status_changed.emit)
            old.layer_listeners.remove(self._on_layer)
            old.structure_listeners.remove(self._on_structure)
        doc.text_listeners.append(self._on_text)
        doc.status_listeners.append(self.status_changed.emit)
        doc.layer_listeners.append(self._on_layer)
        doc.structure_listeners.append(self._on_structure)
        self._listened = doc

    def _on_text(self, turn: int, _field: str) -> None:
        self.text_changed.emit(turn)

    def _on_layer(self, key: LayerKey, _rect: Rect) -> None:
        if key[1] == MaskLayer.FINAL:
            self._diffs.pop(key[0], None)  # recomputed when next asked for

    def _on_structure(self) -> None:
        """Turn indices changed (a command, an undo): what is kept by index is stale until the
        save moves the stored proposals and reviews with their turns (see :meth:`_saved`)."""
        self._reshaped = True
        self._proposed = {}
        self._diffs = {}

    def _saved(self, result: SaveResult) -> None:
        doc = self.session.document
        if doc is None or doc is not self._listened:
            return
        if not self._reshaped:
            if result.ok and self.reviews:
                self._refresh_verdicts()  # an edit may have made a verdict stale
            return
        assert doc.id is not None
        if result.ok:
            self._reshaped = False
            self._take_proposals(self.store.proposals(doc.id))
            self._take_reviews(self.store.reviews(doc.id))
        self.turn = max(0, min(self.turn, doc.turn_count - 1))
        self.reshaped.emit(None)

    @property
    def rgb(self) -> RgbArray | None:
        """The open record's image (RGB array), or None when it could not be read."""
        return self.bundle.rgb if self.bundle is not None else None

    def select_turn(self, turn: int) -> None:
        doc = self.session.document
        if doc is None:
            return
        self.turn = max(0, min(turn, doc.turn_count - 1))
        self.turn_changed.emit(self.turn)

    @property
    def can_approve(self) -> bool:
        return not self.approve_blocker()

    def approve_blockers(self) -> list[str]:
        """Why the record cannot be approved as it stands (empty when it can): the rules
        storage enforces (``core.review_rules.approve_blockers``), read from the saved record
        (every action saves before it returns)."""
        doc = self.session.document
        if doc is None:
            return ["no record is open"]
        hidden = sorted(self.hidden)
        if hidden:
            # Naming another reviewer's verdict would unblind it: a blind reviewer judges
            # every turn before the record.
            turns = ", ".join(str(t + 1) for t in hidden)
            noun = "turns" if len(hidden) > 1 else "turn"
            return [f"judge every turn first (blind review): {noun} {turns}"]
        return approve_blockers(doc.conversation, self.verdicts)

    def approve_blocker(self) -> str:
        """The first reason approving is refused, for a tooltip ("" when it is not)."""
        blockers = self.approve_blockers()
        return f"Cannot approve: {first_blocker(blockers)}" if blockers else ""

    # -- proposals and the correction -------------------------------------------------------
    def _take_proposals(self, proposals: Sequence[Proposal]) -> None:
        self.proposals = latest_per_turn(proposals)
        self._proposed = {}
        self._diffs = {}

    def proposal_array(self, turn: int) -> BoolArray | None:
        """The mask the latest proposal of ``turn`` proposes (``core.correction``); None
        without a proposal or when its masks do not fit the image."""
        if turn not in self._proposed:
            p = self.proposals.get(turn)
            doc = self.session.document
            mask = proposed_mask(p, *doc.size) if p is not None and doc is not None else None
            self._proposed[turn] = mask.to_array() if mask is not None else None
        return self._proposed[turn]

    def diff(self, turn: int) -> MaskDiff | None:
        """Proposal → final on ``turn``; None without a comparable proposal, or on an earlier
        turn nobody drew a final mask for (most turns of a PRIST conversation have none: only
        the target's mask is owed)."""
        if turn not in self._diffs:
            self._diffs[turn] = self._compute_diff(turn)
        return self._diffs[turn]

    def known_diff(self, turn: int) -> MaskDiff | None:
        """The diff of ``turn`` if computed already (opening a record computes none)."""
        return self._diffs.get(turn)

    def _compute_diff(self, turn: int) -> MaskDiff | None:
        doc = self.session.document
        proposed = self.proposal_array(turn)
        if doc is None or proposed is None:
            return None
        if turn != doc.target_turn and not doc.has_mask((turn, MaskLayer.FINAL)):
            return None
        return mask_diff(proposed, doc.layer_array((turn, MaskLayer.FINAL)))

    def refresh_diffs(self) -> None:
        """Compute the diffs not known yet (the ones a change dropped, or all after opening)."""
        doc = self.session.document
        if doc is None:
            return
        for t in range(doc.turn_count):
            self.diff(t)
        self.diffs_changed.emit(None)

    def add_proposals(
        self, conv_id: int, proposals: Sequence[Proposal], *, noise: bool = False
    ) -> list[Proposal]:
        """Store new proposals for ``conv_id`` (open or not) and return all of its proposals.
        The open record's pending edits are saved first, so its revision stays its own;
        a clean working copy then follows the stored status."""
        if noise:
            self.noise_versions.update(p.proposer_version for p in proposals)
        self.flush_pending()
        doc = self.session.document
        is_open = doc is not None and doc.id == conv_id
        if is_open and self.session.is_dirty:
            self.session.save()
        self.store.add_proposals(conv_id, proposals)
        if is_open:
            return self.reload_proposals()
        self.session.adopt_stored(conv_id)
        return self.store.proposals(conv_id)

    def reload_proposals(self) -> list[Proposal]:
        """The open record's stored proposals, shown anew (after a batch or a Propose stored
        some); a clean working copy also follows the status they moved it to."""
        doc = self.session.document
        if doc is None or doc.id is None:
            return []
        self.session.adopt_stored(doc.id)
        stored = self.store.proposals(doc.id)
        self._take_proposals(stored)
        self.proposals_changed.emit(doc.id)
        return stored

    def is_noise(self, proposal: Proposal) -> bool:
        return proposal.proposer_version in self.noise_versions

    # -- reviews, verdicts and blind-first review --------------------------------------------
    def _take_reviews(self, reviews: Sequence[Review]) -> None:
        self.reviews = list(reviews)
        self._refresh_verdicts(emit=False)

    def _refresh_verdicts(self, *, emit: bool = True) -> None:
        doc = self.session.document
        if doc is None:
            return
        turns = doc.conversation.turns
        verdicts = verdicts_of(self.reviews, turns)
        me = self._actor()
        judged = judged_by(self.reviews, me, len(turns))
        # Asked to review second, one reviews blind to the first whatever one's setting.
        second = any(
            r.decision == Decision.REQUEST_SECOND and r.reviewer != me for r in self.reviews
        )
        changed = verdicts != self.verdicts or judged != self._judged or second != self._second
        self.verdicts, self._judged, self._second = verdicts, judged, second
        if emit and changed:
            self.verdicts_changed.emit(None)

    def set_blind(self, blind: bool) -> None:
        self.blind = blind or self.blind_required
        self.verdicts_changed.emit(None)

    def model_hidden(self, turn: int) -> bool:
        """Blind-first review: until *this* reviewer has judged ``turn``, the model's output,
        the draft mask, the correction and other reviewers' verdicts and comments on it stay
        hidden, whatever others did."""
        return (self.blind or self._second) and turn not in self._judged

    def verdict(self, turn: int) -> Verdict | None:
        """The standing verdict of ``turn`` as this user may see it."""
        return None if self.model_hidden(turn) else self.verdicts.get(turn)

    def thread(self, turn: int | None) -> list[Review]:
        """The comments on ``turn`` (None: on the record), oldest first, as this user may see
        them: blind-first hides other reviewers' words on what they have not judged."""
        me = self._actor()
        doc = self.session.document
        if doc is None:
            return []
        if turn is None:
            hidden = (self.blind or self._second) and len(self._judged) < doc.turn_count
        else:
            hidden = self.model_hidden(turn)
        return [
            r
            for r in self.reviews
            if r.turn_index == turn and r.comment.strip() and not (hidden and r.reviewer != me)
        ]

    def comment(self, text: str, *, turn: int | None = None) -> SaveResult:
        """Add to the comment thread of the record or of ``turn``."""
        return self.review(Decision.COMMENT, text, turn=turn)

    def resolve(self, review_id: int) -> None:
        doc = self._doc()
        assert doc.id is not None
        self.store.resolve_comment(doc.id, review_id, actor=self._actor())
        self._take_reviews(self.store.reviews(doc.id))
        self.verdicts_changed.emit(None)

    def reason_codes(self) -> list[ReasonEntry]:
        """The project's reason codes offered for a reject."""
        return self.store.reason_codes()

    @property
    def hidden(self) -> set[int]:
        doc = self.session.document
        if doc is None:
            return set()
        return {t for t in range(doc.turn_count) if self.model_hidden(t)}

    # -- review -----------------------------------------------------------------------------
    def review(
        self,
        decision: Decision,
        comment: str = "",
        *,
        turn: int | None = None,
        reason: str | None = None,
    ) -> SaveResult:
        """Store a review of the record (or of ``turn``); a refusal comes back as a result
        that is not ok, naming the rule."""
        self.flush_pending()
        result = self.session.review(decision, comment, turn_index=turn, reason=reason)
        if result.ok:
            doc = self._doc()
            assert doc.id is not None
            self._take_reviews(self.store.reviews(doc.id))
            self.verdicts_changed.emit(None)
        return result

    def history(self) -> list[HistoryEvent]:
        """Who changed the open record, and how, oldest first."""
        doc = self._doc()
        assert doc.id is not None
        return self.store.history(doc.id)

    # -- text -------------------------------------------------------------------------------
    def commit_text(self, turn: int, field: str, text: str) -> SaveResult | None:
        """Set a question, draft answer or verified answer as one undoable step; None when it
        is unchanged."""
        doc = self.session.document
        if doc is None:
            return None
        before = doc.text(turn, field)
        if field == "final_answer" and not text and before is None:
            return None
        if (before or "") == text:
            return None
        label = TEXT_LABELS.get(field, "Edit text")
        return self.session.execute(SetText(turn, field, before, text, label=label))

    def set_focus(self, focus: str) -> SaveResult | None:
        doc = self.session.document
        if doc is None or focus.strip() == doc.focus:
            return None
        return self.session.execute(SetFocus(doc.focus, focus.strip()))

    def breaches(self) -> list[RuleBreach]:
        """The PRIST rules the working copy breaks now (a draft may; approving may not)."""
        doc = self.session.document
        if doc is None:
            return []
        pairs = [
            (
                doc.text(i, "question") or "",
                standing_answer(doc.text(i, "draft_answer") or "", doc.text(i, "final_answer")),
            )
            for i in range(doc.turn_count)
        ]
        return check_texts(doc.focus, pairs)

    def set_deleted(self, deleted: bool) -> SaveResult | None:
        """Soft-delete the open conversation (out of lists and exports) or restore it: one
        undoable step, like any other edit."""
        self.flush_pending()
        doc = self.session.document
        if doc is None or doc.deleted == deleted:
            return None
        return self.session.execute(SetDeleted(deleted))

    # -- the conversation's turns --------------------------------------------------------------
    def add_turn(self, before: int) -> SaveResult | None:
        """An empty turn at ``before`` (at the latest before the final, segmentation turn),
        selected to be written."""
        self.flush_pending()
        doc = self.session.document
        if doc is None:
            return None
        index = max(0, min(before, doc.target_turn))
        self.turn = index
        label = f"Add turn {index + 1}"
        return self.session.execute(AddTurn(index, Turn(index, ""), label=label))

    def removal_loses_verified_mask(self, turn: int) -> bool:
        """Removing ``turn`` would take a verified mask with it (the app asks first)."""
        doc = self.session.document
        return doc is not None and doc.has_mask((turn, MaskLayer.FINAL))

    def remove_turn(self, turn: int) -> SaveResult | None:
        self.flush_pending()
        doc = self.session.document
        if doc is None or not 0 <= turn < doc.turn_count:
            return None
        if doc.turn_count == 1:
            self.message.emit("A conversation keeps at least one turn")
            return None
        self.turn = min(turn, doc.turn_count - 2)
        command = RemoveTurn(turn, doc.snapshot(turn), label=f"Remove turn {turn + 1}")
        return self.session.execute(command)

    def move_turn(self, turn: int, step: int) -> SaveResult | None:
        """Move ``turn`` ``step`` places (-1 up, +1 down); it stays selected."""
        self.flush_pending()
        doc = self.session.document
        if doc is None:
            return None
        dest = turn + step
        if not (0 <= turn < doc.turn_count and 0 <= dest < doc.turn_count) or dest == turn:
            return None
        self.turn = dest
        label = f"Move turn {turn + 1} {'up' if step < 0 else 'down'}"
        return self.session.execute(MoveTurn(turn, dest, label=label))

    # -- the selected turn's final mask --------------------------------------------------------
    def edit_final(
        self,
        op: MaskOperation,
        label: str,
        *,
        source: MaskSource = MaskSource.HUMAN,
        info: dict[str, object] | None = None,
        proposal_id: int | None = None,
    ) -> SaveResult | None:
        """Apply ``op`` to the selected turn's final mask as one undoable command; None (and a
        message) when it changes nothing."""
        doc = self.session.document
        if doc is None:
            return None
        command = operation_delta(
            doc,
            (self.turn, MaskLayer.FINAL),
            op,
            label,
            self._actor(),
            source=source,
            info=dict(info or {}),
            proposal_id=proposal_id,
        )
        if command is None:
            self.message.emit(f"{label}: nothing to change")
            return None
        return self.session.execute(command)

    def take_draft_mask(self) -> SaveResult | None:
        doc = self.session.document
        if doc is None:
            return None
        draft = doc.layer_array((self.turn, MaskLayer.DRAFT)).copy()
        return self.edit_final(
            lambda a: mask_edit.replace(a, draft),
            "Take draft mask",
            source=MaskSource.IMPORTED,
            info={"tool": "take_draft"},
        )

    def take_proposal_mask(self) -> SaveResult | None:
        proposed = self.proposal_array(self.turn)
        p = self.proposals.get(self.turn)
        if proposed is None or p is None or not p.masks:
            self.message.emit("This turn has no proposed mask")
            return None
        return self.edit_final(
            lambda a: mask_edit.replace(a, proposed),
            "Take proposal mask",
            source=MaskSource.PROPOSER,
            info={"tool": "take_proposal", "proposer": f"{p.proposer}@{p.proposer_version}"},
            proposal_id=p.id,
        )

    def use_draft(self, turn: int) -> None:
        """Take the imported answer of ``turn`` as verified, and its draft mask where the turn
        has no final mask yet."""
        doc = self.session.document
        if doc is None:
            return
        self.select_turn(turn)
        self.commit_text(turn, "final_answer", doc.turn(turn).draft_answer)
        if not doc.has_mask((turn, MaskLayer.FINAL)) and doc.has_mask((turn, MaskLayer.DRAFT)):
            self.take_draft_mask()

    def use_proposal(self, turn: int) -> None:
        """Take the model's answer (and mask) of ``turn``; refused while blind-first review
        hides it."""
        p = self.proposals.get(turn)
        if p is None:
            self.message.emit("No proposal for this turn — run Propose first")
            return
        if self.model_hidden(turn):
            self.message.emit("Judge the turn first (blind-first review)")
            return
        self.select_turn(turn)
        self.commit_text(turn, "final_answer", p.answer)
        if p.masks:
            self.take_proposal_mask()

"""Import MIRAS outputs produced elsewhere (the authors' evaluation script) as proposals.

The authors' ``eval_multiturn.py`` writes a JSON array of ``{"img_id", "focus", "response"}``
records -- ``response`` holding one decoded model output per turn -- and can save each record's
predicted mask as an image ``<img_id stem>_mask_<record index>.jpg`` (mask x 100, so JPEG noise
is removed by a threshold). Their decoded outputs include the whole prompt; the answer is the
text after the last ``ASSISTANT:``, without ``</s>``.

Records are matched to stored conversations by image file name and focus; when a pair occurs
more than once (PRIST has 12 such pairs) the n-th record goes to the n-th conversation. Every
record that cannot be matched or read is reported with its line and nothing of it is stored;
each conversation's proposals are stored in one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from annotator.core.errors import AnnotatorError, InputError
from annotator.core.mask import Mask
from annotator.core.model import SEG_TOKEN, Conversation, Proposal
from annotator.core.progress import Task
from annotator.io import safe_json
from annotator.io.images import load_image
from annotator.storage import ListQuery, Store

DEFAULT_MASK_NAME = "{stem}_mask_{index}"
MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
ASSISTANT = "ASSISTANT:"


@dataclass(frozen=True)
class MirasOutput:
    index: int  # position in the file
    line: int | None
    img_id: str
    focus: str
    responses: tuple[str, ...]


@dataclass
class MirasImportSummary:
    records: int = 0
    conversations: int = 0
    proposals: int = 0
    masks: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "conversations": self.conversations,
            "proposals": self.proposals,
            "masks": self.masks,
            "problems": list(self.problems),
        }


def answer_text(response: str) -> str:
    """The model's answer inside a decoded output that may repeat the whole prompt."""
    text = response.rsplit(ASSISTANT, 1)[-1] if ASSISTANT in response else response
    return text.replace("</s>", "").replace("<s>", "").strip()


def read_outputs(path: str | Path) -> list[MirasOutput]:
    doc = safe_json.load(path)
    if not isinstance(doc.value, list):
        raise InputError("expected a JSON array of output records", file=doc.file, line=1)
    out: list[MirasOutput] = []
    for i, rec in enumerate(doc.value):
        line = doc.line_of(i)

        def bad(msg: str, i: int = i, line: int | None = line) -> InputError:
            return InputError(msg, file=doc.file, line=line, record=i)

        if not isinstance(rec, dict):
            raise bad("a record must be an object")
        responses = rec.get("response", rec.get("responses"))
        if isinstance(responses, str):
            responses = [responses]
        if not isinstance(rec.get("img_id"), str) or not rec["img_id"]:
            raise bad("'img_id' must be a non-empty string")
        if not isinstance(rec.get("focus"), str):
            raise bad("'focus' must be a string")
        if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
            raise bad("'response' must be a list of strings (one per turn)")
        out.append(MirasOutput(i, line, rec["img_id"], rec["focus"], tuple(responses)))
    return out


def find_mask_file(masks_dir: Path, template: str, rec: MirasOutput) -> Path | None:
    stem = PurePosixPath(rec.img_id).stem
    base = template.format(stem=stem, index=rec.index, img_id=rec.img_id)
    if "/" in base or "\\" in base or base.startswith("."):
        raise InputError(f"mask name {base!r} must be a plain file name")
    for suffix in ("", *MASK_SUFFIXES):
        candidate = masks_dir / f"{base}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def read_mask_image(path: Path, size: tuple[int, int], threshold: int) -> Mask:
    pixels = load_image(path)
    if pixels.shape[:2] != size:
        raise InputError(
            f"mask is {pixels.shape[1]}x{pixels.shape[0]}, the image {size[1]}x{size[0]}",
            file=str(path),
        )
    return Mask.from_array(np.asarray(pixels).max(axis=2) > threshold)


def import_miras_outputs(
    store: Store,
    path: str | Path,
    *,
    masks_dir: str | Path | None = None,
    mask_name: str = DEFAULT_MASK_NAME,
    threshold: int = 50,
    proposer: str = "miras",
    version: str = "imported",
    task: Task | None = None,
) -> MirasImportSummary:
    task = task or Task()
    records = read_outputs(path)
    summary = MirasImportSummary(records=len(records))
    index = _conversation_index(store)
    used: dict[tuple[str, str], int] = defaultdict(int)
    task.start(len(records), f"importing {Path(path).name}")
    for rec in records:
        task.check()
        where = f"{path}:{rec.line} record {rec.index}" if rec.line else f"record {rec.index}"
        pair = (PurePosixPath(rec.img_id).name, rec.focus)
        ids = index.get(pair, [])
        nth = used[pair]
        used[pair] += 1
        if nth >= len(ids):
            summary.problems.append(f"{where}: no conversation for {rec.img_id!r} / {rec.focus!r}")
            task.step()
            continue
        conv_id = ids[nth]
        try:
            if _already(store, conv_id, proposer, version):
                # Importing the same file again is harmless: nothing is added twice.
                summary.problems.append(
                    f"{where}: conversation {conv_id} already has {proposer} {version} proposals"
                )
            else:
                conv = store.get_conversation(conv_id)
                items = _proposals(conv, rec, masks_dir, mask_name, threshold, proposer, version)
                store.add_proposals(conv_id, items)
                summary.conversations += 1
                summary.proposals += len(items)
                summary.masks += sum(len(p.masks) for p in items)
        except AnnotatorError as exc:
            summary.problems.append(f"{where}: {exc}")
        task.step()
    return summary


def _already(store: Store, conv_id: int, proposer: str, version: str) -> bool:
    return any(p.proposer_version == version for p in store.proposals(conv_id, proposer=proposer))


def _proposals(
    conv: Conversation,
    rec: MirasOutput,
    masks_dir: str | Path | None,
    mask_name: str,
    threshold: int,
    proposer: str,
    version: str,
) -> list[Proposal]:
    if not rec.responses:
        raise InputError("the record has no responses")
    if len(rec.responses) > len(conv.turns):
        raise InputError(
            f"{len(rec.responses)} responses for a conversation of {len(conv.turns)} turns"
        )
    answers = [answer_text(r) for r in rec.responses]
    masks: Sequence[Mask] = ()
    if masks_dir is not None:
        found = find_mask_file(Path(masks_dir), mask_name, rec)
        if found is None:
            raise InputError(f"no mask file for it in {masks_dir}")
        masks = (read_mask_image(found, (conv.image.height, conv.image.width), threshold),)
    # The predicted mask belongs to the segmentation answer: the last one with [SEG], else the
    # last answer.
    seg_turns = [i for i, a in enumerate(answers) if SEG_TOKEN in a]
    mask_turn = seg_turns[-1] if seg_turns else len(answers) - 1
    return [
        Proposal(
            turn_index=i,
            proposer=proposer,
            proposer_version=version,
            answer=a,
            masks=tuple(masks) if i == mask_turn else (),
        )
        for i, a in enumerate(answers)
    ]


def _conversation_index(store: Store, page: int = 1000) -> dict[tuple[str, str], list[int]]:
    """(image file name, focus) -> conversation ids in id order, from the light summaries."""
    index: dict[tuple[str, str], list[int]] = defaultdict(list)
    offset = 0
    while rows := store.page(ListQuery(sort="id"), offset, page):
        for row in rows:
            index[(PurePosixPath(row.image_path).name, row.focus)].append(row.id)
        offset += len(rows)
    return index

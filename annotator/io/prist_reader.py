"""Read a PRIST dialogue file (with its images and LabelMe masks) into draft conversations.

The file is checked whole before anything else happens: a malformed file (bad JSON, wrong
types, missing or unknown keys, a dialogue that does not alternate human/gpt, ``[SEG]`` missing
from the last answer or present anywhere else) is refused with an :class:`InputError` naming
``file:line`` and the record. Problems of single records that a reviewer can fix — a missing
image, an image file that is there but does not decode (truncated, not an image, too large), a
size that disagrees with the LabelMe file, a focus with no shape, an ambiguous match, a
degenerate polygon, an empty mask — are imported with a :class:`Flag` and listed in the report.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from annotator.core.errors import InputError
from annotator.core.model import (
    SEG_TOKEN,
    Conversation,
    Flag,
    FlagCode,
    Image,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Provenance,
    Turn,
)
from annotator.core.progress import Task
from annotator.core.status import Status
from annotator.io import safe_json
from annotator.io.images import ImageInfo, check_image
from annotator.io.labelme import MATCH_RULES, LabelmeFile, MatchRule, check_size, match_focus
from annotator.io.labelme import read_labelme as _read_labelme
from annotator.io.paths import confine, normalize_relative

RECORD_KEYS = frozenset({"img_id", "dialogue", "focus"})
MESSAGE_KEYS = frozenset({"from", "value"})
IMPORT_AUTHOR = "import"


@dataclass(frozen=True)
class ReportLine:
    record: int  # index in the file's array
    line: int | None  # where the record starts
    img_id: str
    focus: str
    code: FlagCode
    message: str


@dataclass
class PristImport:
    file: str
    conversations: list[Conversation] = field(default_factory=list)
    report: list[ReportLine] = field(default_factory=list)

    @property
    def flagged(self) -> int:
        return sum(1 for c in self.conversations if c.flags)


@dataclass(frozen=True)
class _Record:
    index: int
    line: int | None
    img_id: str  # normalised relative path
    focus: str
    pairs: tuple[tuple[str, str], ...]  # (question, answer)
    key: str


def record_key(img_id: str, focus: str, dialogue: Any) -> str:
    """Content hash that makes re-imports idempotent; distinct dialogues give distinct keys."""
    canon = json.dumps(
        [img_id, focus, dialogue], ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def _check_record(doc: safe_json.JsonDocument, i: int, rec: Any) -> _Record:
    if not isinstance(rec, dict):
        raise doc.error(f"a record must be an object, got {type(rec).__name__}", i)
    missing = RECORD_KEYS - rec.keys()
    if missing:
        raise doc.error(f"record lacks {sorted(missing)}", i)
    for key in rec:
        if key not in RECORD_KEYS:
            raise doc.error(
                f"unknown key {key!r} (a record has exactly img_id, dialogue, focus)", i, key
            )
    img_id = rec["img_id"]
    if not isinstance(img_id, str):
        raise doc.error("img_id must be text", i, "img_id")
    try:
        img_norm = normalize_relative(img_id)
    except InputError as exc:
        raise doc.error(f"img_id: {exc.reason}", i, "img_id") from exc
    focus = rec["focus"]
    if not isinstance(focus, str) or not focus.strip():
        raise doc.error("focus must be non-empty text", i, "focus")
    if SEG_TOKEN in focus:
        raise doc.error(f"focus contains {SEG_TOKEN}", i, "focus")
    dialogue = rec["dialogue"]
    pairs = check_dialogue(doc, dialogue, i, "dialogue")
    return _Record(
        i, doc.line_of(i), img_norm, focus.strip(), pairs, record_key(img_norm, focus, dialogue)
    )


def check_dialogue(
    doc: safe_json.JsonDocument, dialogue: Any, *where: str | int
) -> tuple[tuple[str, str], ...]:
    """The (question, answer) pairs of a PRIST ``dialogue`` (at ``where`` in ``doc``): messages
    alternate human/gpt starting with human, none is empty, and ``[SEG]`` stands exactly once,
    in the last answer. Refusals name the message by its index."""
    if not isinstance(dialogue, list):
        raise doc.error("dialogue must be a list of messages", *where)
    if len(dialogue) < 2 or len(dialogue) % 2:
        raise doc.error(
            f"dialogue must hold question/answer pairs, got {len(dialogue)} message(s)", *where
        )
    texts: list[str] = []
    for j, msg in enumerate(dialogue):
        at = (*where, j)
        if not isinstance(msg, dict):
            raise doc.error(f"message {j} must be an object", *at)
        if msg.keys() != MESSAGE_KEYS:
            raise doc.error(
                f"message {j} must have exactly 'from' and 'value', got {sorted(msg.keys())}",
                *at,
            )
        speaker = "human" if j % 2 == 0 else "gpt"
        if msg["from"] != speaker:
            raise doc.error(
                f"message {j} is from {msg['from']!r}, expected {speaker!r} "
                "(messages alternate human/gpt, starting with human)",
                *at,
                "from",
            )
        value = msg["value"]
        if not isinstance(value, str):
            raise doc.error(f"message {j}: value must be text", *at, "value")
        if not value.strip():
            raise doc.error(f"message {j} is empty", *at, "value")
        last = j == len(dialogue) - 1
        n_seg = value.count(SEG_TOKEN)
        if last and n_seg != 1:
            raise doc.error(
                f"the last answer must contain {SEG_TOKEN} exactly once, found {n_seg} "
                f"(message {j})",
                *at,
                "value",
            )
        if not last and n_seg:
            raise doc.error(
                f"{SEG_TOKEN} may appear only in the last answer (message {j})", *at, "value"
            )
        texts.append(value)
    return tuple((texts[k], texts[k + 1]) for k in range(0, len(texts), 2))


def read_dialogue(path: str | Path) -> tuple[tuple[str, str], ...]:
    """A file holding one PRIST ``dialogue`` array (what ``conversations new`` takes)."""
    doc = safe_json.load(path)
    try:
        return check_dialogue(doc, doc.value)
    except InputError as exc:  # the message index is in the text; the file holds no records
        raise InputError(exc.reason, file=exc.file, line=exc.line) from None


def check_prist(doc: safe_json.JsonDocument) -> list[_Record]:
    """Validate a parsed PRIST document whole; raise on the first malformed record."""
    if not isinstance(doc.value, list):
        raise doc.error("a PRIST file must hold a JSON array of records")
    return [_check_record(doc, i, rec) for i, rec in enumerate(doc.value)]


class _Resolver:
    """Looks up images and LabelMe files once per image, however many records share it."""

    def __init__(self, images_dir: Path, masks_dir: Path, file: str) -> None:
        self.images_dir = images_dir
        self.masks_dir = masks_dir
        self.file = file
        self._images: dict[str, ImageInfo | Flag] = {}
        self._labelme: dict[str, tuple[LabelmeFile | None, str]] = {}

    def _confine(self, root: Path, rel: str, rec: _Record) -> Path:
        try:
            return confine(root, rel)
        except InputError as exc:
            raise InputError(
                f"img_id {rec.img_id!r}: {exc.reason}",
                file=self.file,
                line=rec.line,
                record=rec.index,
            ) from exc

    def image(self, rec: _Record) -> ImageInfo | Flag:
        """The image's size and hash, or the flag that says why it cannot be used: absent
        (MISSING_IMAGE) or present but undecodable (BAD_IMAGE, with the decoder's reason)."""
        if rec.img_id not in self._images:
            path = self._confine(self.images_dir, rec.img_id, rec)
            result: ImageInfo | Flag
            if not path.is_file():
                result = Flag(FlagCode.MISSING_IMAGE, f"image not found: {path}")
            else:
                try:
                    result = check_image(path)
                except InputError as exc:
                    # Deleted between the two looks: absent, not broken.
                    code = FlagCode.BAD_IMAGE if path.is_file() else FlagCode.MISSING_IMAGE
                    result = Flag(code, f"image unreadable: {exc}")
            self._images[rec.img_id] = result
        return self._images[rec.img_id]

    def labelme(self, rec: _Record) -> tuple[LabelmeFile | None, str]:
        rel = str(PurePosixPath(rec.img_id).with_suffix(".json"))
        if rel not in self._labelme:
            path = self._confine(self.masks_dir, rel, rec)
            if not path.is_file():
                self._labelme[rel] = (None, rel)
            else:
                try:
                    self._labelme[rel] = (_read_labelme(path), rel)
                except InputError as exc:
                    raise InputError(
                        f"{exc.reason} (LabelMe file of {self.file} record {rec.index})",
                        file=exc.file,
                        line=exc.line,
                        record=exc.record,
                    ) from exc
        return self._labelme[rel]


def read_prist(
    path: str | Path,
    *,
    images_dir: str | Path,
    masks_dir: str | Path | None = None,
    match: MatchRule = "exact",
    task: Task | None = None,
    limits: safe_json.JsonLimits = safe_json.DEFAULT_LIMITS,
) -> PristImport:
    """Read a PRIST file into DRAFT conversations plus a report of flagged records.

    Images are looked up as ``images_dir/<img_id>``; LabelMe files as
    ``masks_dir/<img_id stem>.json`` (``masks_dir`` defaults to ``images_dir``, LabelMe's habit
    of keeping the JSON beside the image). Raises :class:`InputError` for a malformed file,
    :class:`~annotator.core.errors.Cancelled` when ``task`` is cancelled.
    """
    if match not in MATCH_RULES:
        raise ValueError(f"unknown match rule {match!r}; use one of {MATCH_RULES}")
    task = task or Task()
    p = Path(path)
    doc = safe_json.load(p, limits=limits)
    records = check_prist(doc)
    images_root = Path(images_dir).resolve()
    if not images_root.is_dir():
        raise InputError("the images folder does not exist", file=str(images_dir))
    if masks_dir is not None and not Path(masks_dir).is_dir():
        raise InputError("the masks folder does not exist", file=str(masks_dir))
    resolver = _Resolver(
        images_root, Path(masks_dir).resolve() if masks_dir is not None else images_root, doc.file
    )
    result = PristImport(file=doc.file)
    task.start(len(records), f"importing {p.name}")
    for rec in records:
        conv = _build(rec, resolver, match, images_root, p.name)
        result.conversations.append(conv)
        result.report.extend(
            ReportLine(rec.index, rec.line, rec.img_id, rec.focus, f.code, f.message)
            for f in conv.flags
        )
        task.step()
    return result


def _build(
    rec: _Record, resolver: _Resolver, match: MatchRule, images_root: Path, file_name: str
) -> Conversation:
    flags: list[Flag] = []
    info = resolver.image(rec)
    lm, lm_rel = resolver.labelme(rec)
    if isinstance(info, Flag):
        flags.append(info)
        height, width = (lm.height, lm.width) if lm is not None else (0, 0)
        sha = ""
    else:
        height, width, sha = info.height, info.width, info.sha256
    annotation: MaskAnnotation | None = None
    if lm is None:
        flags.append(Flag(FlagCode.MISSING_MASKS, f"no LabelMe file {lm_rel}"))
    else:
        if not isinstance(info, Flag):
            mismatch = check_size(lm, height, width)
            if mismatch is not None:
                flags.append(mismatch)
        found = match_focus(lm, rec.focus, match=match, height=height, width=width)
        flags.extend(found.flags)
        if found.mask is not None:
            annotation = MaskAnnotation(
                mask=found.mask,
                layer=MaskLayer.DRAFT,
                provenance=Provenance(
                    MaskSource.IMPORTED,
                    author=IMPORT_AUTHOR,
                    detail={
                        "labels": list(found.labels),
                        "match": match,
                        "shapes": list(found.shape_indices),
                        "file": lm_rel,
                    },
                ),
                label=" | ".join(found.labels),
            )
    last = len(rec.pairs) - 1
    turns = tuple(
        Turn(
            index=k,
            question=q,
            draft_answer=a,
            masks=(annotation,) if k == last and annotation is not None else (),
        )
        for k, (q, a) in enumerate(rec.pairs)
    )
    return Conversation(
        image=Image(path=rec.img_id, width=width, height=height, sha256=sha, root=str(images_root)),
        focus=rec.focus,
        turns=turns,
        status=Status.DRAFT,
        source=f"prist:{file_name}#{rec.index}",
        key=rec.key,
        flags=tuple(flags),
    )

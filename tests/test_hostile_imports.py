"""``import jsonl`` checks what a file claims (issue 23, point 4): one image cannot have two
sizes, ``--images`` checks sizes and hashes against the files, free-form detail has a size limit,
a review or proposal must name a turn the record has. Each refusal is one line naming the file,
line and record, and the database is left exactly as it was."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fixtures_io import write_image
from fixtures_storage import make_conversation

from annotator.cli import main
from annotator.core.model import Conversation, Decision, Proposal, Review
from annotator.io.record_codec import MAX_DETAIL_BYTES, encode_record

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _dump(db: Path) -> list[tuple[str, list[tuple[object, ...]]]]:
    """Every row of every table, to prove a refused import changed nothing."""
    with sqlite3.connect(db) as conn:
        names = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        return [(t, conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall()) for t in names]


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


def _on_image(conv: Conversation, path: str, sha256: str) -> Conversation:
    return replace(conv, image=replace(conv.image, path=path, sha256=sha256))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database holding two records already, so that "nothing changed" means something."""
    path = tmp_path / "a.sqlite3"
    seed = _write(tmp_path / "seed.jsonl", [encode_record(make_conversation(n)) for n in (1, 2)])
    assert main(["--db", str(path), "import", "jsonl", str(seed)]) == 0
    return path


def _refused(
    db: Path, file: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[str, list[tuple[str, list[tuple[object, ...]]]]]:
    before = _dump(db)
    capsys.readouterr()
    assert main(["--db", str(db), "import", "jsonl", str(file), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err, before


def test_one_image_with_two_sizes_is_refused(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _on_image(make_conversation(10), "img/same.jpg", "ab" * 32)
    b = _on_image(make_conversation(11, height=40, width=50), "img/same.jpg", "ab" * 32)
    bad = _write(tmp_path / "bad.jsonl", [encode_record(a), encode_record(b)])
    err, before = _refused(db, bad, capsys)
    assert "bad.jsonl:2 record 1" in err and "img/same.jpg" in err
    assert "50x40" in err and "64x48 on line 1" in err
    assert _dump(db) == before


def test_another_version_of_the_file_may_have_another_size(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same name, other bytes (sha256): another file version, stored as its own image."""
    a = _on_image(make_conversation(10), "img/same.jpg", "ab" * 32)
    b = _on_image(make_conversation(11, height=40, width=50), "img/same.jpg", "cd" * 32)
    good = _write(tmp_path / "good.jsonl", [encode_record(a), encode_record(b)])
    assert main(["--db", str(db), "import", "jsonl", str(good), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 2


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    write_image(folder / "img" / "a.jpg", 64, 48, seed=1)
    write_image(tmp_path / "elsewhere" / "secret.jpg", 64, 48, seed=2)
    (folder / "img" / "link.jpg").symlink_to(tmp_path / "elsewhere" / "secret.jpg")
    (folder / "img" / "notes.jpg").write_text("not a picture")
    return folder


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


BAD_CLAIMS = {
    "size": (("img/a.jpg", 80, 60, ""), "is 80x60 in the record but 64x48 in"),
    "sha256": (("img/a.jpg", 64, 48, "f" * 64), "another picture under the same name"),
    "symlink": (("img/link.jpg", 64, 48, ""), "leads outside"),
}


@pytest.mark.parametrize("kind", sorted(BAD_CLAIMS))
def test_images_folder_checks_each_claim(
    kind: str, db: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (path, width, height, sha), says = BAD_CLAIMS[kind]
    real = _sha(images / "img" / "a.jpg")
    good = _on_image(make_conversation(10), "img/a.jpg", real)
    claim = make_conversation(11, height=height, width=width)
    bad = _write(
        tmp_path / "bad.jsonl",
        [
            encode_record(good),
            encode_record(_on_image(claim, path, sha)),
        ],
    )
    err, before = _refused(db, bad, capsys, "--images", str(images))
    assert "bad.jsonl:2 record 1" in err and says in err, err
    assert _dump(db) == before


def test_images_folder_accepts_true_claims_and_absent_or_unreadable_files(
    db: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that is not there is the app's missing image, one that does not decode its bad
    image (as an import without a folder leaves them); only a readable file can contradict."""
    records = [
        _on_image(make_conversation(10), "img/a.jpg", _sha(images / "img" / "a.jpg")),
        _on_image(make_conversation(11), "img/a.jpg", ""),  # no hash claimed: size checked
        _on_image(make_conversation(12), "img/absent.jpg", "ab" * 32),
        _on_image(make_conversation(13), "img/notes.jpg", ""),
    ]
    good = _write(tmp_path / "good.jsonl", [encode_record(c) for c in records])
    assert main(["--db", str(db), "import", "jsonl", str(good), "--images", str(images)]) == 0
    assert "4 added" in capsys.readouterr().out


def test_a_missing_images_folder_is_named(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path / "good.jsonl", [encode_record(make_conversation(10))])
    err, before = _refused(db, good, capsys, "--images", str(tmp_path / "nowhere"))
    assert "nowhere: the images folder does not exist" in err
    assert _dump(db) == before


def _with_mask_detail(detail: dict[str, Any]) -> Conversation:
    conv = make_conversation(10)
    last = conv.turns[-1]
    ann = last.masks[0]
    masks = (replace(ann, provenance=replace(ann.provenance, detail=detail)),)
    return replace(conv, turns=(*conv.turns[:-1], replace(last, masks=masks)))


def _detail_of(size: int, char: str = "x") -> dict[str, Any]:
    """A detail whose stored JSON (ASCII escapes) is ``size`` bytes."""
    escaped = len(json.dumps(char)) - 2
    return {"blob": char * ((size - len(json.dumps({"blob": ""}))) // escaped)}


@pytest.mark.parametrize("where", ["provenance", "proposal"])
def test_free_form_detail_has_a_size_limit(
    where: str, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 60,000 "é" are 120 KB of UTF-8 but 360 KB as stored (\\u00e9): the stored size counts.
    big = _detail_of(MAX_DETAIL_BYTES + 6 * 10_000, "é")
    assert len(json.dumps(big["blob"], ensure_ascii=False).encode()) < MAX_DETAIL_BYTES
    conv = make_conversation(10)
    if where == "provenance":
        record = encode_record(_with_mask_detail(big))
    else:
        proposal = Proposal(2, "miras", "1", "Sure, [SEG].", created_at=T0, detail=big)
        record = encode_record(conv, proposals=[proposal])
    bad = _write(tmp_path / "bad.jsonl", [encode_record(make_conversation(11)), record])
    err, before = _refused(db, bad, capsys)
    assert "bad.jsonl:2 record 1" in err and f"more than the limit {MAX_DETAIL_BYTES:,}" in err
    assert _dump(db) == before


def test_detail_at_the_limit_is_taken(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    detail = _detail_of(MAX_DETAIL_BYTES)
    assert len(json.dumps(detail)) == MAX_DETAIL_BYTES
    good = _write(tmp_path / "good.jsonl", [encode_record(_with_mask_detail(detail))])
    assert main(["--db", str(db), "import", "jsonl", str(good)]) == 0
    assert "1 added" in capsys.readouterr().out


TURN_CLAIMS = {
    "review": lambda k: {"reviews": [Review("ann", Decision.COMMENT, "x", k, created_at=T0)]},
    "proposal": lambda k: {"proposals": [Proposal(k, "miras", "1", "Sure.", created_at=T0)]},
}


@pytest.mark.parametrize("turn", [3, -1])
@pytest.mark.parametrize("what", sorted(TURN_CLAIMS))
def test_a_review_or_proposal_for_a_missing_turn_is_refused(
    what: str, turn: int, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conv = make_conversation(10)  # three turns: 0, 1, 2
    record = encode_record(conv, **TURN_CLAIMS[what](turn))
    bad = _write(tmp_path / "bad.jsonl", [encode_record(make_conversation(11)), record])
    err, before = _refused(db, bad, capsys)
    assert "bad.jsonl:2 record 1" in err, err
    assert f"a {what} for turn_index {turn}, but the conversation has 3 turns" in err
    assert _dump(db) == before


def test_an_image_stored_with_one_size_refuses_a_record_naming_another(tmp_path: Path) -> None:
    """The same file content (root, path, sha256) already stored at another size: refused in
    one line naming the image, and nothing of the batch is stored."""
    from annotator.core.errors import InputError
    from annotator.core.listing import ListQuery
    from annotator.storage import open_store

    store = open_store(tmp_path / "db.sqlite3")
    try:
        first = make_conversation(1)
        store.add_conversations([first], actor="t")
        other = make_conversation(2)
        third = make_conversation(3)
        wider = replace(
            third,
            turns=tuple(replace(turn, masks=()) for turn in third.turns),
            image=replace(first.image, width=first.image.width * 2),
            key="key-wider",
        )
        with pytest.raises(InputError, match=r"img/00001\.jpg is stored as 64x48.*128x48"):
            store.add_conversations([other, wider], actor="t")
        assert store.count(ListQuery()) == 1
    finally:
        store.close()

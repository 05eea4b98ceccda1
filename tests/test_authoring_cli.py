"""``annotator images ...`` and ``annotator conversations ...`` from the command line, and every
bad input refused in one line with the database unchanged."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fixtures_io import write_image

from annotator.cli import main


def _rows(db: Path) -> list[str]:
    """Every row of the database, as SQL (the history included)."""
    con = sqlite3.connect(db)
    try:
        return list(con.iterdump())
    finally:
        con.close()


@pytest.fixture
def project(tmp_path: Path, capsys: Any) -> tuple[Path, Path]:
    folder = tmp_path / "imgs"
    write_image(folder / "cat.jpg", 50, 40, seed=5)
    write_image(folder / "sub" / "dog.png", 30, 30, "PNG", seed=6)
    (folder / "bad.jpg").write_bytes(b"not a jpeg")
    db = tmp_path / "cli.sqlite3"
    assert main(["--db", str(db), "images", "add", str(folder), "--recursive", "--json"]) == 0
    capsys.readouterr()
    return db, folder


def _dialogue(tmp_path: Path, value: Any, name: str = "d.json") -> Path:
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
    return path


GOOD = [
    {"from": "human", "value": "Which animal is on the sofa?"},
    {"from": "gpt", "value": "A grey cat."},
    {"from": "human", "value": "Please segment it."},
    {"from": "gpt", "value": "Sure, [SEG]."},
]


def test_images_add_reports_as_json_and_never_stops_on_a_bad_file(
    tmp_path: Path, capsys: Any
) -> None:
    folder = tmp_path / "imgs"
    write_image(folder / "a.jpg", 20, 20, seed=1)
    write_image(folder / "sub" / "b.jpg", 20, 20, seed=2)
    (folder / "sub" / "copy.jpg").write_bytes((folder / "a.jpg").read_bytes())
    (folder / "z.webp").write_bytes(b"RIFF....")
    db = tmp_path / "x.sqlite3"
    assert main(["--db", str(db), "images", "add", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["added"] == 1 and out["already_present"] == 0
    assert [r["path"] for r in out["refused"]] == ["z.webp"]
    assert main(["--db", str(db), "images", "add", str(folder), "--recursive", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["added"], out["already_present"]) == (1, 2)
    assert out["same_picture"] == [{"path": "sub/copy.jpg", "same_as": "a.jpg"}]
    assert main(["--db", str(db), "images", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(i["img_id"], i["conversations"]) for i in listed] == [("a.jpg", 0), ("sub/b.jpg", 0)]


def test_conversations_new_list_duplicate_delete_restore(
    project: tuple[Path, Path], tmp_path: Path, capsys: Any
) -> None:
    db, _ = project
    base = ["--db", str(db), "conversations"]
    dialogue = _dialogue(tmp_path, GOOD)
    assert (
        main(
            [*base, "new", "cat.jpg", "--focus", "grey cat", "--dialogue", str(dialogue), "--json"]
        )
        == 0
    )
    made = json.loads(capsys.readouterr().out)
    assert made == {"id": 1, "img_id": "cat.jpg", "turns": 2, "already_present": False}
    assert main([*base, "new", "cat.jpg", "--focus", "grey cat", "--dialogue", str(dialogue)]) == 0
    assert "stored already" in capsys.readouterr().out
    assert main([*base, "duplicate", "1", "--focus", "sofa cushion"]) == 0
    assert "#2" in capsys.readouterr().out
    assert main([*base, "list", "--image", "cat.jpg", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["focus"], r["turns"], r["status"]) for r in listed] == [
        (1, "grey cat", 2, "draft"),
        (2, "sofa cushion", 2, "draft"),
    ]
    assert main([*base, "delete", "2"]) == 0
    capsys.readouterr()
    assert main([*base, "list", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [1]
    assert main([*base, "list", "--deleted", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [2]
    assert main([*base, "restore", "2"]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "images", "list", "--json"]) == 0
    counts = {i["img_id"]: i["conversations"] for i in json.loads(capsys.readouterr().out)}
    assert counts == {"cat.jpg": 2, "sub/dog.png": 0}


@pytest.mark.parametrize(
    ("img_id", "focus", "dialogue", "wanted"),
    [
        ("cat.jpg", "cat", "not json", "d.json:1: invalid JSON"),
        ("cat.jpg", "cat", GOOD[:3], "got 3 message(s)"),
        ("cat.jpg", "cat", [GOOD[1], GOOD[0]], "message 0 is from 'gpt', expected 'human'"),
        (
            "cat.jpg",
            "cat",
            [GOOD[0], {"from": "gpt", "value": "A [SEG] cat."}, *GOOD[2:]],
            "[SEG] may appear only in the last answer (message 1)",
        ),
        ("cat.jpg", "cat", [GOOD[0], {"from": "gpt", "value": ""}], "message 1 is empty"),
        ("cat.jpg", "cat", {"dialogue": GOOD}, "list of messages"),
        ("horse.jpg", "cat", GOOD, "no image named 'horse.jpg'"),
        ("cat.jpg", " ", GOOD, "the focus is empty"),
    ],
)
def test_conversations_new_refuses_bad_input_in_one_line(
    project: tuple[Path, Path],
    tmp_path: Path,
    capsys: Any,
    img_id: str,
    focus: str,
    dialogue: Any,
    wanted: str,
) -> None:
    db, _ = project
    before = _rows(db)
    path = _dialogue(tmp_path, dialogue)
    code = main(
        ["--db", str(db), "conversations", "new", img_id, "--focus", focus, "--dialogue", str(path)]
    )
    err = capsys.readouterr().err
    assert code == 2 and wanted in err and "Traceback" not in err
    assert err.count("\n") == 1  # one line
    assert _rows(db) == before


def test_refusals_of_the_other_commands(project: tuple[Path, Path], capsys: Any) -> None:
    db, folder = project
    before = _rows(db)
    for argv, wanted in (
        (["conversations", "delete", "9"], "conversation 9 does not exist"),
        (["conversations", "restore", "9"], "conversation 9 does not exist"),
        (["conversations", "duplicate", "9", "--focus", "x"], "conversation 9 does not exist"),
        (["conversations", "list", "--image", "nope.jpg"], "no image named 'nope.jpg'"),
        (["images", "add", str(folder / "cat.jpg")], "not a folder"),
    ):
        assert main(["--db", str(db), *argv]) == 2, argv
        err = capsys.readouterr().err
        assert wanted in err and "Traceback" not in err, (argv, err)
    assert _rows(db) == before

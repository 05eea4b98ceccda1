"""The command line end to end: make a tiny checkpoint, propose into a database, survive a
SIGKILL mid-batch, serve over HTTP, and refuse garbage checkpoints with a one-line error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from fixtures_miras import PRIST_TEST_JSON, fill_db, served

from annotator.cli import main
from annotator.storage import open_store

ANNOTATOR = [sys.executable, "-m", "annotator"]


def counts(db: Path, ids: list[int]) -> Counter:
    with open_store(db) as store:
        return Counter(
            (cid, p.turn_index, p.proposer_version) for cid in ids for p in store.proposals(cid)
        )


def turns(db: Path, ids: list[int]) -> int:
    with open_store(db) as store:
        return sum(len(store.get_conversation(c).turns) for c in ids)


def test_make_tiny_and_propose_from_the_cli(tmp_path: Path, prist_records, capsys) -> None:
    ckpt = tmp_path / "tiny"
    assert main(["models", "make-tiny-miras", str(ckpt), "--corpus", str(PRIST_TEST_JSON)]) == 0
    out = capsys.readouterr().out
    assert "RANDOM weights" in out and "noise" in out
    db = tmp_path / "db.sqlite3"
    ids = fill_db(db, prist_records, tmp_path / "images", 2)
    code = main(
        ["--db", str(db), "propose", "--checkpoint", str(ckpt), "--device", "cpu", "--json"]
    )
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)
    assert summary["conversations"] == 2 and summary["proposes_noise"] is True
    assert "WARNING" in captured.err and "noise" in captured.err
    c = counts(db, ids)
    assert set(c.values()) == {1} and len(c) == turns(db, ids) == summary["turns"]
    # Nothing is left; a second run does no work.
    assert main(["--db", str(db), "propose", "--checkpoint", str(ckpt), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["turns"] == 0


def test_garbage_checkpoint_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("not json at all")
    db = tmp_path / "db.sqlite3"
    code = main(["--db", str(db), "propose", "--checkpoint", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert "error:" in err and "config.json: unreadable config" in err
    assert "Traceback" not in err
    code = main(["--db", str(db), "propose", "--checkpoint", str(tmp_path / "missing")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_bad_shard_and_status(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["propose", "--shard", "3/2"])
    assert "0 <= K < N" in capsys.readouterr().err
    code = main(["--db", str(tmp_path / "d.sqlite3"), "propose", "--status", "nonsense"])
    assert code == 2 and "--status" in capsys.readouterr().err


@pytest.mark.crash
def test_sigkill_mid_batch_then_resume_without_duplicates(
    tmp_path: Path, tiny_miras_dir: Path, prist_records
) -> None:
    db = tmp_path / "db.sqlite3"
    ids = fill_db(db, prist_records, tmp_path / "images", 6)
    cmd = [*ANNOTATOR, "--db", str(db), "propose", "--checkpoint", str(tiny_miras_dir)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            done = {cid for (cid, _, _) in counts(db, ids)}
            if len(done) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the batch finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    partial = counts(db, ids)
    finished = {cid for (cid, _, _) in partial}
    assert 2 <= len(finished) < len(ids)
    # No half-stored conversation: each is complete or absent.
    with open_store(db) as store:
        for cid in finished:
            assert len(store.proposals(cid)) == len(store.get_conversation(cid).turns)
    rerun = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["conversations"] == len(ids) - len(finished)
    final = counts(db, ids)
    assert set(final.values()) == {1} and len(final) == turns(db, ids)
    for key in partial:
        assert final[key] == 1


def test_serve_and_remote_from_the_cli(
    tmp_path: Path, tiny_miras_dir: Path, tiny_miras, prist_records, capsys
) -> None:
    with served(tiny_miras_dir) as url:
        db = tmp_path / "db.sqlite3"
        ids = fill_db(db, prist_records, tmp_path / "images", 2)
        code = main(["--db", str(db), "propose", "--proposer", "remote", "--url", url, "--json"])
        assert code == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["proposer"] == "miras" and summary["conversations"] == 2
        # The same proposals as the in-process model.
        from annotator.services.propose_job import conversation_image, propose_conversation

        with open_store(db) as store:
            for cid in ids:
                conv = store.get_conversation(cid)
                local = propose_conversation(tiny_miras, conv, conversation_image(conv.image))
                stored = store.proposals(cid)
                assert [p.answer for p in stored] == [p.answer for p in local]
                assert [p.masks for p in stored] == [p.masks for p in local]
                assert stored[0].proposer_version == local[0].proposer_version


def test_remote_without_server_is_a_clear_error(tmp_path: Path, capsys) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(
        [
            "--db",
            str(tmp_path / "d.sqlite3"),
            "propose",
            "--proposer",
            "remote",
            "--url",
            f"127.0.0.1:{port}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the proposer server" in err and "Traceback" not in err

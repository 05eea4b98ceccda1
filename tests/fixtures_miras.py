"""Fixtures for the MIRAS proposer tests: a tiny random checkpoint built once per session (its
tokenizer trained on the real PRIST test split), a proposer on it, and PRIST conversations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from fixtures_io import PRIST_TEST

PRIST_TEST_JSON = PRIST_TEST


@pytest.fixture(scope="session")
def prist_records() -> list[dict]:
    return json.loads(PRIST_TEST_JSON.read_text(encoding="utf-8"))


def dialogue_turns(record: dict) -> tuple[list[str], list[str]]:
    """(questions, draft answers) of a PRIST record."""
    msgs = record["dialogue"]
    return [m["value"] for m in msgs[0::2]], [m["value"] for m in msgs[1::2]]


def noise_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture(scope="session")
def tiny_miras_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from annotator.proposers.miras.tiny import make_tiny_miras
    from annotator.proposers.miras.tiny_tokenizer import corpus_from_file

    directory = tmp_path_factory.mktemp("tiny-miras")
    # The tokenizer learns its merges from real PRIST text.
    corpus = corpus_from_file(PRIST_TEST_JSON)
    make_tiny_miras(directory, corpus=corpus, force=True)
    return directory


@pytest.fixture(scope="session")
def tiny_miras(tiny_miras_dir: Path) -> Iterator[object]:
    from annotator.proposers.miras import MirasProposer

    proposer = MirasProposer(tiny_miras_dir, device="cpu")
    yield proposer
    proposer.close()


# -- conversations in a database, with real image files -------------------------------------
def prist_conversation(record: dict, n: int, images_dir: Path, *, size: tuple[int, int] = (48, 64)):
    """A Conversation built from a real PRIST record, with a noise PNG written for its image."""
    import cv2

    from annotator.core.model import Conversation, Image, Turn

    h, w = size
    name = f"{n:04d}_{record['img_id'].rsplit('.', 1)[0]}.png"
    images_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(images_dir / name), noise_image(h, w, seed=n))
    questions, drafts = dialogue_turns(record)
    turns = tuple(
        Turn(index=i, question=q, draft_answer=a)
        for i, (q, a) in enumerate(zip(questions, drafts, strict=True))
    )
    return Conversation(
        image=Image(path=name, width=w, height=h, sha256="", root=str(images_dir)),
        focus=record["focus"],
        turns=turns,
        source=f"prist:test.json#{n}",
        key=f"prist-{n}",
    )


class EchoProposer:
    """A small deterministic proposer for job and server tests: answers with the turn number and
    the question, one mask (the image's left half); optionally slow or failing."""

    def __init__(self, delay: float = 0.0, fail: str | None = None, version: str = "1") -> None:
        self.delay, self.fail, self.version = delay, fail, version
        self.calls = 0

    def info(self):
        from annotator.proposers.base import ProposerInfo

        return ProposerInfo("echo", self.version, "echo for tests")

    def propose(self, request, task=None):
        import time

        from annotator.core.errors import ProposerError
        from annotator.core.mask import Mask
        from annotator.proposers.base import TurnOutput

        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise ProposerError(self.fail)
        h, w = request.image.shape[:2]
        half = np.zeros((h, w), dtype=bool)
        half[:, : w // 2] = True
        text = f"{len(request.history)}:{request.question}"
        return TurnOutput(text, (Mask.from_array(half),), (0.5,), {"total_s": 0.0})

    def close(self) -> None:
        pass


def fill_db(db: Path, records: list[dict], images: Path, count: int) -> list[int]:
    """A database with the first ``count`` PRIST records (their images made in ``images``)."""
    from annotator.storage import open_store

    with open_store(db) as store:
        convs = [prist_conversation(r, n, images) for n, r in enumerate(records[:count])]
        return store.add_conversations(convs, actor="test").added_ids


@contextmanager
def served(checkpoint: Path) -> Iterator[str]:
    """``annotator serve`` of ``checkpoint`` on a free loopback port, ready; yields its URL."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "annotator",
            "serve",
            "--checkpoint",
            str(checkpoint),
            "--port",
            str(port),
            "--device",
            "cpu",
        ],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stderr is not None
        line = server.stdout.readline()  # printed once the model is loaded and the port open
        assert line.startswith("serving miras"), line + server.stderr.read()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

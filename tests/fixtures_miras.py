"""Fixtures for the MIRAS proposer tests: a tiny random checkpoint built once per session (its
tokenizer trained on the real PRIST test split), a proposer on it, and PRIST conversations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

PRIST_TEST_JSON = Path("/work/shared/data/prist/test.json")


@pytest.fixture(scope="session")
def prist_records() -> list[dict]:
    if not PRIST_TEST_JSON.is_file():
        pytest.skip("the PRIST test split is not available")
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
    # The tokenizer learns its merges from real PRIST text when it is there.
    corpus = corpus_from_file(PRIST_TEST_JSON) if PRIST_TEST_JSON.is_file() else None
    make_tiny_miras(directory, corpus=corpus, force=True)
    return directory


@pytest.fixture(scope="session")
def tiny_miras(tiny_miras_dir: Path) -> Iterator[object]:
    from annotator.proposers.miras import MirasProposer

    proposer = MirasProposer(tiny_miras_dir, device="cpu")
    yield proposer
    proposer.close()

"""Building the command-line parser loads no heavy library: help texts and argument errors come
from the command modules alone, and each handler imports what it needs when it runs."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

from annotator.bench import ui_bench
from annotator.cli import build_parser

HEAVY = {
    "sqlalchemy",
    "alembic",
    "numpy",
    "cv2",
    "PIL",
    "pycocotools",
    "sacrebleu",
    "tqdm",
    "torch",
    "transformers",
    "onnxruntime",
    "PySide6",
}

# Runs the command line in a fresh interpreter, then reports the exit code and the heavy
# top-level packages it had loaded, as the last line of stdout.
SNIPPET = """
import json, sys
from annotator.cli import main
heavy = set(sys.argv[1].split(","))
try:
    code = main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
loaded = sorted({m.split(".")[0] for m in sys.modules} & heavy)
print("\\n" + json.dumps({"code": code, "loaded": loaded}))
"""


def _run(*argv: str) -> tuple[int, list[str], str, str]:
    proc = subprocess.run(
        [sys.executable, "-c", SNIPPET, ",".join(sorted(HEAVY)), *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    *shown, last = proc.stdout.rstrip("\n").split("\n")
    report = json.loads(last)
    return report["code"], report["loaded"], "\n".join(shown), proc.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["import", "--help"],
        ["import", "prist", "--help"],
        ["export", "coco", "--help"],
        ["models", "--help"],
        ["propose", "--help"],
        ["metrics", "--help"],
        ["bench", "--help"],
        ["bench", "store", "--help"],
        ["bench", "metrics", "--help"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_help_loads_no_heavy_library(argv: list[str]) -> None:
    code, loaded, out, _ = _run(*argv)
    assert code == 0
    assert out.startswith("usage: annotator")
    assert loaded == []


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["import", "prist"], "the following arguments are required"),
        (["export", "coco", "out.json", "--categories", "every"], "invalid choice"),
        (["propose", "--shard", "3/2"], "need 0 <= K < N"),
        (["no-such-command"], "invalid choice"),
    ],
)
def test_argument_errors_load_no_heavy_library(argv: list[str], complaint: str) -> None:
    code, loaded, _, err = _run(*argv)
    assert code == 2
    assert complaint in err
    assert loaded == []


def test_a_command_imports_what_its_handler_needs(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    code, loaded, out, err = _run("--db", str(db), "stats", "--json")
    assert code == 0, err
    assert json.loads(out)["conversations"] == 0
    assert "sqlalchemy" in loaded
    assert db.is_file()


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    leaves = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                leaves += [(f"{name} {n}".strip(), p) for n, p in _leaf_parsers(sub)]
    return leaves or [("", parser)]


def test_every_command_has_a_handler() -> None:
    leaves = dict(_leaf_parsers(build_parser()))
    for name in ("import prist", "import jsonl", "export coco", "stats", "models list", "gui"):
        assert name in leaves
    for name, parser in leaves.items():
        run = parser.get_default("run")
        assert callable(run), f"'annotator {name}' has no handler"


def test_every_module_a_handler_imports_exists() -> None:
    modules = ui_bench.handler_imports()
    assert {"sqlalchemy", "numpy", "cv2", "annotator.storage"} <= set(modules)
    assert not [m for m in modules if m.startswith(("PySide6", "annotator.ui"))]
    missing = [m for m in modules if find_spec(m) is None]
    assert missing == []


def test_bench_reports_help_time_with_its_naive_baseline(tmp_path: Path) -> None:
    figures = ui_bench._cli_help(1, tmp_path)
    assert figures["cli_help_s"] > 0
    assert figures["cli_help_s_importing_all"] > 0
    assert figures["cli_help_importing_all_modules"] == len(ui_bench.handler_imports())

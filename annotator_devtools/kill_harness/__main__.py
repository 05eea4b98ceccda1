"""``python -m annotator_devtools.kill_harness [run] --kills 1000``: kill a writer N times and
print the figures as JSON (exit status 1 when anything acknowledged was lost or corrupted).

``writer DB ACKS SEED`` runs one writer (what ``--start exec`` launches); ``verify DB ACKS``
checks a database against its acknowledgement log.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from annotator_devtools.kill_harness.loop import HarnessConfig, HarnessResult, run_harness
from annotator_devtools.kill_harness.verify import verify
from annotator_devtools.kill_harness.writer import run_writer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m annotator_devtools.kill_harness",
        description="SIGKILL a process saving through the real store at random moments and "
        "check after each kill that nothing acknowledged was lost or half-written.",
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="the kill loop (the default)")
    _run_arguments(run)
    _run_arguments(parser)
    writer = sub.add_parser("writer", help="one writer process (runs until killed)")
    writer.add_argument("db")
    writer.add_argument("acks")
    writer.add_argument("seed", type=int)
    writer.add_argument("--max-conversations", type=int, default=60)
    imp = sub.add_parser(
        "import", help="SIGKILL `annotator import prist` mid-way; check all-or-nothing"
    )
    imp.add_argument("dialogues", type=Path, help="a PRIST dialogue JSON file")
    imp.add_argument(
        "--images", type=Path, default=None, help="its images (default: none, flagged missing)"
    )
    imp.add_argument(
        "--base",
        type=Path,
        default=None,
        help="a project imported first (dialogues.json, images/, masks/), e.g. resources/sample",
    )
    imp.add_argument("--kills", type=int, default=10)
    imp.add_argument("--copies", type=int, default=3, help="repeat the file to lengthen storing")
    imp.add_argument("--seed", type=int, default=1)
    imp.add_argument("--workdir", type=Path, default=None)
    check = sub.add_parser("verify", help="check a database against its acknowledgement log")
    check.add_argument("db")
    check.add_argument("acks")
    return parser


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kills", type=int, default=50, help="number of kills (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the kill moments and writes")
    parser.add_argument(
        "--start",
        choices=("fork", "exec"),
        default="fork",
        help="fork writers from this process (fast) or exec fresh interpreters (also kills "
        "them while they import and open the database)",
    )
    parser.add_argument(
        "--max-calls",
        type=int,
        default=6,
        help="each kill falls after 0..N completed calls, at a random point of the next one",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the database goes (default: a temp dir)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
    }


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="kill-harness-") as tmp:
        workdir = args.workdir or Path(tmp)
        config = HarnessConfig(
            workdir=workdir,
            kills=args.kills,
            seed=args.seed,
            start=args.start,
            max_calls=args.max_calls,
        )

        def progress(done: int, result: HarnessResult) -> None:
            if not args.quiet and (done % 25 == 0 or done == config.kills):
                acked = result.last.acknowledged if result.last else 0
                print(f"{done}/{config.kills} kills, {acked} acknowledged", file=sys.stderr)

        result = run_harness(config, progress)
        figures = result.figures(config)
        figures["workdir"] = str(workdir) if args.workdir else None
        figures["machine"] = machine()
        print(json.dumps(figures, indent=2))
        return 0 if result.ok else 1


def _to_stdout(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "writer":
        run_writer(
            args.db,
            args.acks,
            args.seed,
            signal=_to_stdout,
            max_conversations=args.max_conversations,
        )
        return 0
    if args.command == "verify":
        verdict = verify(args.db, args.acks)
        print(json.dumps(asdict(verdict), indent=2))
        return 0 if verdict.ok else 1
    if args.command == "import":
        return run_imports(args)
    return run(args)


def run_imports(args: argparse.Namespace) -> int:
    from annotator_devtools.kill_harness.import_kills import run_import_kills

    with tempfile.TemporaryDirectory(prefix="import-kills-") as tmp:
        workdir = args.workdir or Path(tmp)
        images = args.images or workdir / "no-images"
        images.mkdir(parents=True, exist_ok=True)
        base = None
        if args.base is not None:
            base = (args.base / "dialogues.json", args.base / "images", args.base / "masks")
        result = run_import_kills(
            args.dialogues,
            images,
            workdir / "run",
            kills=args.kills,
            seed=args.seed,
            copies=args.copies,
            base=base,
        )
        figures = result.figures()
        figures["machine"] = machine()
        print(json.dumps(figures, indent=2))
        return 0 if not result.problems else 1


if __name__ == "__main__":
    sys.exit(main())

"""``annotator self-test``: check this installation the way a person first uses it (see
``annotator.cli.self_test``, imported when the command runs: ``--help`` stays light)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "self-test",
        help="check this installation: open the sample offscreen, one SAM click per image, "
        "export JSON lines and read them back",
    )
    p.add_argument("--workdir", type=Path, help="where its files go (default: a new temp dir)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from annotator.cli.self_test import problems, run_self_test

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="annotator-self-test-"))
    facts = run_self_test(workdir)
    wrong = problems(facts)
    facts["problems"] = wrong
    if args.json:
        print(json.dumps(facts, indent=2))
    if wrong:
        print("self-test FAILED: " + "; ".join(wrong), file=sys.stderr)
        return 1
    if not args.json:
        export = facts["export"]
        print(
            f"self-test passed: {facts['records']} records; {len(facts['sam_clicks'])} SAM "
            f"clicks ({facts['sam_runtime']}); {export['records']} exported, "
            f"{export['read_back']} read back ({workdir})",
            file=sys.stderr,
        )
    return 0

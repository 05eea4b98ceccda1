"""Command line: ``annotator <command> ...``. Each command group lives in its own module and
registers its sub-parsers; heavy imports (torch, Qt) happen inside the handlers only."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from annotator import __version__
from annotator.core.errors import AnnotatorError, Cancelled

# Modules defining ``register(subparsers)``; commands use ``set_defaults(run=handler)``.
COMMAND_MODULES = (
    "annotator.cli.data_commands",  # import, export, stats
    "annotator.cli.authoring_commands",  # images ..., conversations ...
    "annotator.cli.review_commands",  # review, reasons ..., project ...
    "annotator.cli.team_commands",  # team ..., next
    "annotator.cli.model_commands",  # models ...
    "annotator.cli.miras_commands",  # propose, serve (and `import miras`)
    "annotator.cli.draft_commands",  # draft
    "annotator.cli.metrics_commands",  # metrics
    "annotator.cli.judge_commands",  # judge
    "annotator.cli.bench_commands",  # bench ...
    "annotator.cli.gui_commands",  # gui (the default with no command)
    "annotator.cli.self_test_command",  # self-test
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="annotator",
        description="PRIST Annotator: curate pixel-level reasoning-segmentation data.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--db",
        default=None,
        help="database file or SQLAlchemy URL (default: $ANNOTATOR_DB or annotator.sqlite3 in "
        "the user data directory)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command group not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        from annotator.cli.gui_commands import run_gui  # no command: open the app

        run = run_gui
    try:
        return int(run(args) or 0)
    except Cancelled:
        print("cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except AnnotatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a missing directory, no permission: the file is named
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

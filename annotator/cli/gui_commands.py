"""``annotator gui`` (also what ``annotator`` with no command runs): open the desktop app."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("gui", help="open the desktop review app (the default)")
    p.set_defaults(run=run_gui)


def run_gui(args: argparse.Namespace) -> int:
    from annotator.app import run  # Qt is imported only when the app is really opened

    return run(getattr(args, "db", None))

"""What several command modules need: the database named by ``--db``, who is acting, JSON out.
Heavy imports stay inside the functions (``--help`` loads neither SQLAlchemy nor Alembic)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from annotator.storage import Store


def open_db(args: argparse.Namespace) -> Store:
    from annotator.storage import open_store

    return open_store(args.db)


def acting_user(name: str | None = None) -> str:
    """``name`` (``--as``) when given, else the reviewer name of the settings."""
    if name:
        return name
    from annotator.services.settings import load_settings

    return load_settings().reviewer


def print_json(value: object) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))

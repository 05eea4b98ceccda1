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


def acting_user(name: str | None = None, store: Store | None = None) -> str:
    """Who is acting: on PostgreSQL the login role, which the database records whatever the
    client says (``--as`` naming someone else is refused); elsewhere ``name`` (``--as``) when
    given, else the reviewer name of the settings."""
    login = store.team.identity() if store is not None else None
    if login is not None:
        if name and name != login:
            from annotator.core.errors import InputError

            raise InputError(
                f"on PostgreSQL you act as your login role ({login}); --as {name} is refused: "
                "log in as that person instead"
            )
        return login
    if name:
        return name
    from annotator.services.settings import load_settings

    return load_settings().reviewer


def add_chat_server_options(
    p: argparse.ArgumentParser,
    *,
    temperature: float,
    max_tokens: int,
    timeout: float,
    in_flight: str,
) -> None:
    """What every command that asks an OpenAI-compatible server takes, with its own defaults
    (``in_flight``: what --concurrency counts, e.g. "images")."""
    p.add_argument("--url", required=True, help="the server, e.g. http://gpu:8000")
    p.add_argument("--model", required=True, help="the model the server serves")
    p.add_argument(
        "--temperature", type=float, default=temperature, help=f"default {temperature:g}"
    )
    p.add_argument("--max-tokens", type=int, default=max_tokens, help=f"per reply ({max_tokens})")
    p.add_argument(
        "--timeout", type=float, default=timeout, help=f"seconds per request ({timeout:g})"
    )
    p.add_argument("--concurrency", type=int, default=1, help=f"{in_flight} in flight at once")
    p.add_argument(
        "--key-env",
        default=None,
        help="environment variable holding the API key (default ANNOTATOR_VLM_API_KEY)",
    )


def print_json(value: object) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))

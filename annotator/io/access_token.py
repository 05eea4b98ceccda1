"""The access token of ``annotator serve``, from a file or an environment variable.

A token on the command line is visible to every user of the machine (``ps``), so the server and
the ``remote`` client also take it from a file (``--token-file``) or from
:data:`TOKEN_ENV`. Either source is untrusted text: it must be one line of printable ASCII
without spaces (it goes into an HTTP header as is), and errors name the file or variable, never
the token.
"""

from __future__ import annotations

import os
from pathlib import Path

from annotator.core.errors import InputError
from annotator.io.safe_json import read_bytes_capped

TOKEN_ENV = "ANNOTATOR_SERVE_TOKEN"
MAX_TOKEN_CHARS = 1024
# A token file holds one line; anything much larger is not a token file.
_MAX_FILE_BYTES = 4 * MAX_TOKEN_CHARS


def parse_token(text: str, *, source: str) -> str:
    """``text`` with surrounding whitespace removed, checked to be a usable token.

    ``source`` names where it came from ("--token", a path, the variable) in the error."""
    token = text.strip()
    if not token:
        raise InputError("the access token is empty", file=source)
    if len(token) > MAX_TOKEN_CHARS:
        raise InputError(
            f"the access token is longer than {MAX_TOKEN_CHARS} characters", file=source
        )
    # Printable ASCII without spaces: anything else would break or smuggle an HTTP header.
    if not all("!" <= c <= "~" for c in token):
        raise InputError(
            "the access token must be one word of printable ASCII characters", file=source
        )
    return token


def read_token_file(path: str | Path) -> str:
    data = read_bytes_capped(path, _MAX_FILE_BYTES)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise InputError(
            "the access token must be one word of printable ASCII characters", file=str(path)
        ) from None
    return parse_token(text, source=str(path))


def token_from_env(name: str = TOKEN_ENV) -> str | None:
    """The token in variable ``name``, or None when it is unset or empty."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return parse_token(value, source=f"${name}")


def resolve_token(
    given: str | None, token_file: str | Path | None, *, env: str = TOKEN_ENV
) -> str | None:
    """The token from ``--token``, else ``--token-file``, else ``$env``; None when none is set.

    Giving both a token and a file is refused: one of them would be silently ignored."""
    if given is not None and token_file is not None:
        raise InputError("give --token or --token-file, not both")
    if given is not None:
        return parse_token(given, source="--token")
    if token_file is not None:
        return read_token_file(token_file)
    return token_from_env(env)

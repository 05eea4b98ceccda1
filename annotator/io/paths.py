"""Confine paths named inside data files (image ids, mask files) to the directory they belong to.

A record's ``img_id`` is untrusted text: it must not reach ``..``, an absolute path, a Windows
drive or UNC share, or a symlink that points outside the root. Backslashes count as separators
so that a file written on Windows cannot smuggle ``..\\`` past a POSIX check.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from annotator.core.errors import InputError

_DRIVE = re.compile(r"^[A-Za-z]:")
MAX_PATH_CHARS = 4096


def normalize_relative(relative: str) -> str:
    """Return ``relative`` as a clean forward-slash path or raise :class:`InputError`.

    Refuses empty names, NUL and other control characters, absolute paths, drive letters
    (``C:\\x``, ``C:x``), UNC shares and any ``..`` component. ``.`` and empty components are
    dropped.
    """
    if not isinstance(relative, str):
        raise InputError(f"a path must be text, got {type(relative).__name__}")
    if len(relative) > MAX_PATH_CHARS:
        raise InputError(f"path is longer than {MAX_PATH_CHARS} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in relative):
        raise InputError(f"path {relative!r} contains a control character")
    if _DRIVE.match(relative):
        raise InputError(f"path {relative!r} names a drive; only relative paths are allowed")
    unified = relative.replace("\\", "/")
    if unified.startswith("/"):
        raise InputError(f"path {relative!r} is absolute (or a network share)")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if not parts:
        raise InputError(f"path {relative!r} names no file")
    if any(p == ".." for p in parts):
        raise InputError(f"path {relative!r} climbs out of its directory with '..'")
    return str(PurePosixPath(*parts))


def confine(root: str | Path, relative: str) -> Path:
    """Resolve ``relative`` under ``root`` and refuse anything that ends up outside it.

    Symlinks are followed (the target may not exist yet); a link inside ``root`` pointing
    elsewhere is refused. Returns the resolved path.
    """
    clean = normalize_relative(relative)
    base = Path(root).resolve()
    try:
        target = (base / clean).resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise InputError(f"path {relative!r} cannot be resolved: {exc}") from exc
    if not target.is_relative_to(base):
        raise InputError(f"path {relative!r} leads outside {base} (through a symlink)")
    return target

"""Write files so that readers see the old content or the complete new one, never a torn file.

Content goes to a temporary file in the target's directory, is flushed and fsynced, then
``os.replace``-d over the target, and the directory is fsynced so the rename survives a crash.
If the body raises (including :class:`~annotator.core.errors.Cancelled`) the temporary file is
removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from annotator.core.errors import OutputError


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # platforms without directory handles (Windows): rename is already durable
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_for(path: Path) -> tuple[int, Path]:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    return fd, Path(name)


@contextlib.contextmanager
def atomic_text(path: str | Path) -> Iterator[IO[str]]:
    """``with atomic_text(p) as fh: fh.write(...)`` — UTF-8, ``\\n`` line ends."""
    target = Path(path)
    try:
        fd, tmp = _temp_for(target)
    except OSError as exc:
        raise _output_error(target, exc) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _output_error(target, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def _output_error(target: Path, exc: OSError) -> OutputError:
    return OutputError(
        f"could not write {target}: {exc.strerror or exc}; nothing was written there "
        "(an earlier file of that name is kept)"
    )


class StagedFiles:
    """Several files that appear together: each is staged to a temporary file, and only
    :meth:`commit` renames them into place (after which a crash can leave some renamed, but
    never a torn one). :meth:`discard` removes whatever was staged."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def write_text(self, path: str | Path, text: str) -> None:
        target = Path(path)
        fd, tmp = _temp_for(target)
        self._staged.append((tmp, target))
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    def commit(self) -> list[Path]:
        for tmp, target in self._staged:
            os.replace(tmp, target)
        for directory in {target.parent for _, target in self._staged}:
            fsync_dir(directory)
        done = [target for _, target in self._staged]
        self._staged.clear()
        return done

    def discard(self) -> None:
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged.clear()

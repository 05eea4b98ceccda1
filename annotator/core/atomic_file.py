"""The one way this tool replaces a file: readers see the old content or the complete new one,
never a torn file, and a crash after the call returns does not undo it.

Content goes to a temporary file in the target's directory, is fsynced, then renamed over the
target, and the directory is fsynced so the rename itself survives a crash. If the body raises
(including :class:`~annotator.core.errors.Cancelled`) the temporary file is removed and the
target is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

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
    # The suffix is kept: some writers pick the format from the file name.
    fd, name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    # mkstemp makes the file private (0600); the result gets what any new file would (the
    # user's umask), or keeps the mode of the file it replaces, so a team's read access
    # survives an overwrite.
    with contextlib.suppress(AttributeError, OSError):  # no fchmod on Windows: no modes there
        os.fchmod(fd, _mode_for(path))
    return fd, Path(name)


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where the system says it (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it
    os.umask(mask)
    return mask


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """``with replacing(p) as tmp:`` write ``tmp`` by any means (a library that takes a file
    name); on leaving, it becomes ``p``. Errors pass through unchanged."""
    target = Path(path)
    fd, tmp = _temp_for(target)
    os.close(fd)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: Literal["w", "wb"] = "w") -> Iterator[IO]:
    """``with atomic_open(p) as fh: fh.write(...)``: text is UTF-8 with ``\\n`` line ends.
    Errors pass through unchanged."""
    with replacing(path) as tmp:
        if mode == "wb":
            with open(tmp, "wb") as fh:
                yield fh
        else:
            with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                yield fh


@contextlib.contextmanager
def atomic_text(path: str | Path) -> Iterator[IO[str]]:
    """A text file the user asked for (an export, a report): an OS error becomes one
    :class:`OutputError` line naming the file."""
    target = Path(path)
    try:
        with atomic_open(target) as fh:
            yield fh
    except OSError as exc:
        raise OutputError(
            f"could not write {target}: {exc.strerror or exc}; nothing was written there "
            "(an earlier file of that name is kept)"
        ) from exc


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

"""The one atomic file writer (core.atomic_file): the old file or the whole new one, never a
torn one, and no other module renames files into place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from annotator.core.atomic_file import atomic_open, atomic_text, replacing
from annotator.core.errors import OutputError

ROOT = Path(__file__).resolve().parents[1]


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half of the new")
        raise RuntimeError("crash in the middle")
    assert target.read_text(encoding="utf-8") == "old"
    assert _leftovers(tmp_path) == []
    with atomic_open(target, "wb") as fh:
        fh.write(b"\x00new")
    assert target.read_bytes() == b"\x00new" and _leftovers(tmp_path) == []


def test_replacing_gives_a_temporary_name_with_the_target_suffix(tmp_path: Path) -> None:
    target = tmp_path / "chart.png"
    with replacing(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png" and tmp != target
        assert not target.exists()  # nothing is visible before the block ends
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png" and _leftovers(tmp_path) == []


def test_an_export_that_cannot_be_written_is_one_line_naming_the_file(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "out.json"
    with pytest.raises(OutputError, match=re.escape(str(target))) as err, atomic_text(target):
        pass
    assert "\n" not in str(err.value)


def test_no_other_module_renames_files_into_place() -> None:
    """``os.replace``/``os.rename`` outside the writer would bypass its fsyncs."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for package in ("annotator", "annotator_devtools")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "atomic_file.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bos\.(replace|rename)\(|\.(replace|rename)\(\s*(tmp|path|target)\b", line)
    ]
    assert offenders == []


def test_a_written_file_gets_the_umask_mode_or_keeps_the_replaced_files(tmp_path: Path) -> None:
    import os

    from annotator.core.atomic_file import atomic_open

    old = os.umask(0o022)
    try:
        new = tmp_path / "export.json"
        with atomic_open(new) as fh:
            fh.write("{}")
        assert new.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600
        new.chmod(0o640)  # a team's group read on an export folder
        with atomic_open(new) as fh:
            fh.write("{}\n")
        assert new.stat().st_mode & 0o777 == 0o640
        os.umask(0o077)
        private = tmp_path / "private.json"
        with atomic_open(private) as fh:
            fh.write("{}")
        assert private.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)

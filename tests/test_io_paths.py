"""Path confinement for names that come from data files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.core.errors import InputError
from annotator.io.paths import confine, normalize_relative


@pytest.mark.parametrize(
    "bad",
    [
        "../x.jpg",
        "a/../../x.jpg",
        "a/..",
        "..\\x.jpg",
        "/etc/passwd",
        "C:\\x.jpg",
        "C:x.jpg",
        "c:/x.jpg",
        "\\\\srv\\s\\x.jpg",
        "//srv/s/x.jpg",
        "\\x.jpg",
        "a\x00b.jpg",
        "a\nb.jpg",
        "",
        ".",
        "./",
    ],
)
def test_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InputError):
        confine(tmp_path, bad)


@pytest.mark.parametrize(
    ("name", "rel"),
    [
        ("a.jpg", "a.jpg"),
        ("./sub/a.jpg", "sub/a.jpg"),
        ("sub\\a.jpg", "sub/a.jpg"),
        ("sub//a.jpg", "sub/a.jpg"),
        ("..a.jpg", "..a.jpg"),
        ("é/ü.jpg", "é/ü.jpg"),
    ],
)
def test_accepted(tmp_path: Path, name: str, rel: str) -> None:
    assert normalize_relative(name) == rel
    assert confine(tmp_path, name) == tmp_path.resolve() / rel


def test_symlink_escaping_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"x")
    os.symlink(outside / "secret.jpg", root / "link.jpg")
    os.symlink(outside, root / "dirlink")
    os.symlink("/etc/passwd", root / "passwd.jpg")
    for name in ("link.jpg", "dirlink/secret.jpg", "passwd.jpg"):
        with pytest.raises(InputError, match="outside"):
            confine(root, name)


def test_symlink_inside_root_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.jpg").write_bytes(b"x")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    assert confine(tmp_path, "alias/a.jpg") == (tmp_path / "real" / "a.jpg").resolve()


def test_symlink_loop_is_an_input_error(tmp_path: Path) -> None:
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    try:
        result = confine(tmp_path, "a/x.jpg")
    except InputError:
        return
    assert result.is_relative_to(tmp_path.resolve())


_PATH_ALPHABET = st.sampled_from(
    ["a", "b", ".", "..", "/", "\\", ":", "C", "\x00", "é", " ", "~", "$"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PATH_ALPHABET, max_size=14).map("".join) | st.text(max_size=30))
def test_random_names_never_escape(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    root = tmp_path_factory.getbasetemp() / "confine-root"
    root.mkdir(exist_ok=True)
    try:
        target = confine(root, name)
    except InputError:
        return
    assert target.is_relative_to(root.resolve())
    assert target != root.resolve()

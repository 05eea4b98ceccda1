"""The app's image lookup (issue 23, point 5): a stored name that leads out of its folder
through a symlink is refused, and a file whose sha256 is not the stored image's is not shown;
the record opens in its "image not shown" state with that reason. Files are hashed once while
they stay the same."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures_io import write_image
from fixtures_storage import make_conversation

from annotator.core.model import Conversation
from annotator.services import image_resolver
from annotator.services.image_resolver import ImageRefused, ImageResolver
from annotator.services.record_bundle import load_bundle
from annotator.storage import open_store


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    write_image(root / "img" / "a.png", 64, 48, fmt="PNG", seed=1)
    write_image(tmp_path / "elsewhere" / "secret.png", 64, 48, fmt="PNG", seed=2)
    (root / "img" / "link.png").symlink_to(tmp_path / "elsewhere" / "secret.png")
    (root / "inner.png").symlink_to(root / "img" / "a.png")  # a link inside is fine
    return root


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _conv(folder: Path, name: str, sha256: str) -> Conversation:
    conv = make_conversation(1)
    return replace(conv, image=replace(conv.image, path=name, sha256=sha256, root=str(folder)))


def test_a_symlink_out_of_the_folder_is_refused(folder: Path) -> None:
    resolver = ImageResolver()
    conv = _conv(folder, "img/link.png", "")
    with pytest.raises(ImageRefused, match=r"img/link\.png: path .* leads outside"):
        resolver.locate(conv.image)
    assert resolver.find("img/link.png", str(folder)) == ""  # list rows and thumbnails too
    inner = _conv(folder, "inner.png", _sha(folder / "img" / "a.png"))
    assert resolver.locate(inner.image) == str(folder / "img" / "a.png")


def test_another_root_may_still_hold_the_file(folder: Path, tmp_path: Path) -> None:
    """The refusal is about the file found, not the name: a known root with a real file wins."""
    other = tmp_path / "copy"
    write_image(other / "img" / "link.png", 64, 48, fmt="PNG", seed=3)
    resolver = ImageResolver([str(other)])
    conv = _conv(folder, "img/link.png", "")
    assert resolver.locate(conv.image) == str(other / "img" / "link.png")


def test_a_file_with_another_hash_is_not_shown_and_is_hashed_once(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = image_resolver.file_sha256

    def counted(path: str | Path) -> str:
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(image_resolver, "file_sha256", counted)
    path = folder / "img" / "a.png"
    resolver = ImageResolver()
    good = _conv(folder, "img/a.png", _sha(path))
    for _ in range(3):
        assert resolver.locate(good.image) == str(path)
    assert calls == [str(path)]
    wrong = _conv(folder, "img/a.png", "0" * 64)
    with pytest.raises(ImageRefused, match="another picture under the same name"):
        resolver.locate(wrong.image)
    assert len(calls) == 1  # the same file, unchanged: its hash is known
    write_image(path, 64, 48, fmt="PNG", seed=9)  # replaced: a new size or mtime
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    with pytest.raises(ImageRefused, match="another picture"):
        resolver.locate(good.image)
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("name", "says"),
    [("img/link.png", "leads outside"), ("img/a.png", "another picture under the same name")],
)
def test_the_record_opens_without_the_picture_and_says_why(
    name: str, says: str, folder: Path, tmp_path: Path
) -> None:
    conv = _conv(folder, name, "" if name == "img/link.png" else "0" * 64)
    with open_store(tmp_path / "a.sqlite3") as store:
        (cid,) = store.add_conversations([conv], actor="t").added_ids
        bundle = load_bundle(store, cid, ImageResolver().locate)
    assert bundle.rgb is None and bundle.key == ""
    assert says in bundle.image_problem and name in bundle.image_problem
    assert "\n" not in bundle.image_problem


def test_a_sound_record_still_shows_its_picture(folder: Path, tmp_path: Path) -> None:
    conv = _conv(folder, "img/a.png", _sha(folder / "img" / "a.png"))
    with open_store(tmp_path / "a.sqlite3") as store:
        (cid,) = store.add_conversations([conv], actor="t").added_ids
        bundle = load_bundle(store, cid, ImageResolver().locate)
    assert bundle.rgb is not None and bundle.rgb.shape == (48, 64, 3)
    assert bundle.image_problem == ""

"""Embedding caches: the disk cache survives a restart, damaged entries are ignored and rebuilt,
the memory cache stays within its budget."""

from __future__ import annotations

import os
import shutil
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from annotator.proposers.sam import EngineOptions, SamEngine
from annotator.proposers.sam.embedding_cache import (
    DiskEmbeddingCache,
    MemoryEmbeddingCache,
    cache_key,
)
from annotator.proposers.segmenter import PreparedImage


def _item(
    key: str = "img", fill: float = 0.5, size: tuple[int, int] = (768, 1024)
) -> PreparedImage:
    emb = np.random.default_rng(zlib.crc32(key.encode())).normal(fill, 1, (1, 256, 64, 64))
    return PreparedImage(key, "mobile-sam", size, (768, 1024), emb.astype(np.float32))


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "flipped payload byte":
        data[-100] ^= 0x40
    elif how == "wrong magic":
        data[0:4] = b"NOPE"
    elif how == "garbage header":
        data[20:40] = b"\xff" * 20
    elif how == "empty":
        data = bytearray()
    elif how == "padded":
        data += b"\0" * 16
    path.write_bytes(bytes(data))


def test_cache_key_depends_on_image_model_and_weights() -> None:
    base = cache_key("a" * 64, "mobile-sam", "b" * 64)
    assert base != cache_key("c" * 64, "mobile-sam", "b" * 64)
    assert base != cache_key("a" * 64, "sam-vit-h", "b" * 64)
    assert base != cache_key("a" * 64, "mobile-sam", "d" * 64)
    assert base == cache_key("a" * 64, "mobile-sam", "b" * 64) and len(base) == 64


def test_disk_cache_round_trip(tmp_path: Path) -> None:
    cache = DiskEmbeddingCache(tmp_path)
    item = _item()
    cache.put("k" * 64, item)
    got = cache.get("k" * 64, expect=("img", "mobile-sam", (768, 1024)))
    assert got is not None and got.source == "disk"
    np.testing.assert_array_equal(got.embedding, item.embedding)
    assert (got.key, got.model_id, got.original_size, got.input_size) == (
        "img",
        "mobile-sam",
        (768, 1024),
        (768, 1024),
    )
    assert not got.embedding.flags.writeable
    assert cache.get("0" * 64) is None


@pytest.mark.parametrize(
    "how", ["truncated", "flipped payload byte", "wrong magic", "garbage header", "empty", "padded"]
)
def test_damaged_disk_entry_is_ignored_and_removed(tmp_path: Path, how: str) -> None:
    cache = DiskEmbeddingCache(tmp_path)
    cache.put("k" * 64, _item())
    path = cache.path_for("k" * 64)
    _damage(path, how)
    assert cache.get("k" * 64) is None
    assert not path.exists()  # so the next put writes a good one
    cache.put("k" * 64, _item())
    assert cache.get("k" * 64) is not None


def test_disk_entry_for_another_image_is_not_used(tmp_path: Path) -> None:
    cache = DiskEmbeddingCache(tmp_path)
    cache.put("k" * 64, _item("other-image"))
    assert cache.get("k" * 64, expect=("img", "mobile-sam", (768, 1024))) is None
    cache.put("k" * 64, _item("img", size=(100, 100)))
    assert cache.get("k" * 64, expect=("img", "mobile-sam", (768, 1024))) is None


def test_disk_cache_drops_least_recently_used_over_budget(tmp_path: Path) -> None:
    one_entry_mb = _item().embedding.nbytes / 1024 / 1024
    cache = DiskEmbeddingCache(tmp_path, max_mb=one_entry_mb * 2.5)
    for name in ("a", "b"):
        cache.put(name * 64, _item(name))
    assert cache.get("a" * 64) is not None  # "a" is now the most recently used
    path_b = cache.path_for("b" * 64)
    os.utime(path_b, (1, 1))  # make the recency order unambiguous on coarse clocks
    cache.put("c" * 64, _item("c"))
    assert "b" * 64 not in cache
    assert "a" * 64 in cache and "c" * 64 in cache


def test_memory_cache_is_an_lru_bounded_in_bytes() -> None:
    size_mb = _item().embedding.nbytes / 1024 / 1024
    cache = MemoryEmbeddingCache(max_mb=size_mb * 2)
    cache.put("a", _item("a"))
    cache.put("b", _item("b"))
    assert cache.get("a") is not None  # refresh "a"
    cache.put("c", _item("c"))
    assert "b" not in cache and "a" in cache and "c" in cache
    assert len(cache) == 2 and cache.nbytes <= cache.max_bytes
    tiny = MemoryEmbeddingCache(max_mb=1)
    tiny.put("big", _item("big"))  # larger than the whole budget: not kept
    assert len(tiny) == 0


def test_disk_cache_survives_restart_and_rebuilds_truncated_entry(
    mobile_sam_registry: Any,
    sam_engine: Any,
    scene: tuple[np.ndarray, dict[str, np.ndarray]],
    scene_handle: Any,
    tmp_path: Path,
) -> None:
    image = scene[0]
    ckey = sam_engine._cache_key("scene-0")
    original = sam_engine.disk_cache.path_for(ckey)
    assert original.is_file()
    disk_dir = tmp_path / "disk"
    target = disk_dir / original.relative_to(sam_engine.disk_cache.directory)
    target.parent.mkdir(parents=True)
    shutil.copyfile(original, target)

    # A new engine (as after a restart) finds the embedding on disk: no encode.
    options = EngineOptions(runtime="torch", disk_cache_dir=disk_dir)
    with SamEngine("mobile-sam", registry=mobile_sam_registry, options=options) as restarted:
        handle = restarted.prepare(image, "scene-0")
        assert handle.source == "disk"
        np.testing.assert_array_equal(handle.embedding, scene_handle.embedding)
        click = [(400.0, 300.0)]
        np.testing.assert_array_equal(
            restarted.segment(handle, click, [1]).best.mask,
            sam_engine.segment(scene_handle, click, [1]).best.mask,
        )
        assert restarted.prepare(image, "scene-0").source == "memory"

    with open(target, "r+b") as fh:
        fh.truncate(target.stat().st_size - 1000)
    with SamEngine("mobile-sam", registry=mobile_sam_registry, options=options) as restarted:
        handle = restarted.prepare(image, "scene-0")
        assert handle.source == "encoded"  # the truncated file was refused and rebuilt
        np.testing.assert_allclose(handle.embedding, scene_handle.embedding, atol=1e-5)
    rebuilt = DiskEmbeddingCache(disk_dir).get(ckey)
    assert rebuilt is not None and rebuilt.embedding.shape == (1, 256, 64, 64)

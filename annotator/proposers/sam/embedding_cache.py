"""Image embeddings kept in memory (LRU, bounded in MB) and on disk (bounded, oldest dropped).

An entry is keyed by the image's key (its sha256), the model id and the model checkpoint's sha256,
so a different checkpoint never reuses an embedding. A disk entry is one file: a fixed magic, a
JSON header (shapes, sizes, the key parts, a CRC-32 of the payload) and the raw float32 payload.
Nothing is unpickled. A file that is truncated, has a wrong magic, header or checksum, or was made
for another image size is treated as missing, deleted, and rebuilt by the caller.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import struct
import threading
import zlib
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np

from annotator.core.atomic_file import atomic_open
from annotator.proposers.segmenter import PreparedImage

log = logging.getLogger(__name__)

_MAGIC = b"PRIST-SAM-EMB\x00\x01\n"
_HEADER_LEN = struct.Struct("<I")
_MAX_HEADER = 64 * 1024
_SUFFIX = ".samemb"


def cache_key(image_key: str, model_id: str, model_sha256: str) -> str:
    """File-name-safe digest of the three things an embedding depends on."""
    raw = "\x1f".join((image_key, model_id, model_sha256)).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()


class MemoryEmbeddingCache:
    """Thread-safe LRU of prepared images, bounded by the bytes of their embeddings."""

    def __init__(self, max_mb: float) -> None:
        self.max_bytes = int(max_mb * 1024 * 1024)
        self._items: OrderedDict[str, PreparedImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> PreparedImage | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: str, item: PreparedImage) -> None:
        size = item.embedding.nbytes
        if size > self.max_bytes:
            return  # one entry larger than the whole budget is not kept
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.embedding.nbytes
            self._items[key] = item
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.embedding.nbytes

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


class DiskEmbeddingCache:
    """Embeddings as files under ``directory``; the least recently used go once the total
    passes ``max_mb``. Safe for several threads and processes: files appear atomically."""

    def __init__(self, directory: Path, max_mb: float = 2048.0) -> None:
        self.directory = Path(directory)
        self.max_bytes = int(max_mb * 1024 * 1024)
        self._lock = threading.Lock()

    def path_for(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}{_SUFFIX}"

    def __contains__(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def get(
        self, key: str, expect: tuple[str, str, tuple[int, int]] | None = None
    ) -> PreparedImage | None:
        """The entry for ``key``, or None when absent or unusable (an unusable file is removed).
        ``expect`` = (image key, model id, original size) guards against a mismatched entry."""
        path = self.path_for(key)
        try:
            with open(path, "rb") as fh:
                item = _read_entry(fh, os.fstat(fh.fileno()).st_size)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            log.warning("ignoring unusable embedding cache file %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return None
        if expect is not None and (item.key, item.model_id, item.original_size) != expect:
            log.warning("ignoring embedding cache file %s made for another image", path)
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recency for eviction
        return replace(item, source="disk")

    def put(self, key: str, item: PreparedImage) -> None:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as fh:
            _write_entry(fh, item)
        self._evict()

    def _evict(self) -> None:
        with self._lock:
            files: list[tuple[float, int, Path]] = []
            total = 0
            for path in self.directory.glob(f"*/*{_SUFFIX}"):
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                files.append((st.st_mtime, st.st_size, path))
                total += st.st_size
            if total <= self.max_bytes:
                return
            for _, size, path in sorted(files):
                path.unlink(missing_ok=True)
                total -= size
                if total <= self.max_bytes:
                    break


def _write_entry(fh: io.BufferedIOBase, item: PreparedImage) -> None:
    payload = np.ascontiguousarray(item.embedding, dtype="<f4")
    header = json.dumps(
        {
            "key": item.key,
            "model_id": item.model_id,
            "original_size": list(item.original_size),
            "input_size": list(item.input_size),
            "shape": list(payload.shape),
            "nbytes": payload.nbytes,
            "crc32": zlib.crc32(payload.data),
        }
    ).encode("utf-8")
    fh.write(_MAGIC)
    fh.write(_HEADER_LEN.pack(len(header)))
    fh.write(header)
    fh.write(payload.data)


def _read_entry(fh: io.BufferedIOBase, file_size: int) -> PreparedImage:
    read = fh.read
    if read(len(_MAGIC)) != _MAGIC:
        raise ValueError("wrong magic")
    raw_len = read(_HEADER_LEN.size)
    if len(raw_len) != _HEADER_LEN.size:
        raise ValueError("truncated header")
    (header_len,) = _HEADER_LEN.unpack(raw_len)
    if header_len > _MAX_HEADER:
        raise ValueError("header too large")
    header = json.loads(read(header_len).decode("utf-8"))
    shape = tuple(int(d) for d in header["shape"])
    nbytes = int(header["nbytes"])
    if len(shape) != 4 or int(np.prod(shape)) * 4 != nbytes:
        raise ValueError(f"inconsistent shape {shape} for {nbytes} bytes")
    if len(_MAGIC) + _HEADER_LEN.size + header_len + nbytes != file_size:
        raise ValueError("truncated or padded payload")
    embedding = np.empty(shape, dtype="<f4")
    if fh.readinto(memoryview(embedding).cast("B")) != nbytes:
        raise ValueError("short read")
    if zlib.crc32(embedding.data) != int(header["crc32"]):
        raise ValueError("checksum mismatch")
    embedding.setflags(write=False)
    h, w = (int(v) for v in header["original_size"])
    ih, iw = (int(v) for v in header["input_size"])
    return PreparedImage(
        key=str(header["key"]),
        model_id=str(header["model_id"]),
        original_size=(h, w),
        input_size=(ih, iw),
        embedding=embedding,
        source="disk",
    )

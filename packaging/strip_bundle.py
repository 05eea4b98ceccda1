"""Strips the symbol tables and debug information from the desktop bundle's shared objects (Linux).

``strip --strip-unneeded`` keeps what the dynamic loader uses (the dynamic symbols). Libraries
that auditwheel rewrote with patchelf can come out of ``strip`` with load segments whose file
offset no longer matches their address modulo the page size (numpy's OpenBLAS does), which the
loader refuses ("ELF load command address/offset not page-aligned"); each file is therefore
stripped into a copy, and the copy replaces it only when every load segment is still aligned.

    python packaging/strip_bundle.py dist/bundle/annotator/_internal
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_ELF_MAGIC = b"\x7fELF"
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_PT_LOAD = 1


@dataclass(frozen=True)
class StripResult:
    stripped: int  # files replaced by their stripped copy
    kept: tuple[Path, ...]  # files whose stripped copy would not load, left as they were
    saved_bytes: int


def load_segments_aligned(path: Path) -> bool:
    """Whether every load segment of a 64-bit little-endian ELF file has ``offset ≡ address``
    modulo its alignment, as the loader requires. Other files answer False."""
    with path.open("rb") as fh:
        header = fh.read(64)
        if len(header) < 64 or header[:4] != _ELF_MAGIC:
            return False
        if header[4] != _ELFCLASS64 or header[5] != _ELFDATA2LSB:
            return False
        (phoff,) = struct.unpack_from("<Q", header, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        fh.seek(phoff)
        table = fh.read(phentsize * phnum)
    if phentsize < 56 or len(table) < phentsize * phnum:
        return False
    for i in range(phnum):
        p_type, _, offset, vaddr, _, _, _, align = struct.unpack_from(
            "<IIQQQQQQ", table, i * phentsize
        )
        if p_type == _PT_LOAD and align > 1 and offset % align != vaddr % align:
            return False
    return True


def is_elf(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == _ELF_MAGIC


def strip_tree(root: Path, strip: str = "strip") -> StripResult:
    """Strip every shared object under ``root`` (links are left alone: their targets are in the
    tree too)."""
    stripped = saved = 0
    kept: list[Path] = []
    for path in sorted(root.rglob("*.so*")):
        if path.is_symlink() or not path.is_file() or not is_elf(path):
            continue
        # Beside the original, so that replacing it is one rename on the same file system.
        copy = path.with_name(f".{path.name}.stripped")
        try:
            done = subprocess.run(
                [strip, "--strip-unneeded", "-o", str(copy), str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0 or not copy.is_file():
                kept.append(path)
                continue
            gain = path.stat().st_size - copy.stat().st_size
            if gain <= 0:
                continue  # stripped already
            if not load_segments_aligned(copy):
                kept.append(path)
                continue
            shutil.copymode(path, copy)
            os.replace(copy, path)
            stripped += 1
            saved += gain
        finally:
            copy.unlink(missing_ok=True)
    return StripResult(stripped, tuple(kept), saved)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the bundle's _internal folder")
    args = parser.parse_args(argv)
    if sys.platform != "linux" or shutil.which("strip") is None:
        print("strip: skipped (Linux with binutils' strip only)")
        return 0
    result = strip_tree(args.root)
    print(f"strip: {result.stripped} files, {result.saved_bytes / 2**20:.1f} MiB saved")
    for path in result.kept:
        print(f"strip: left {path.relative_to(args.root)} as it was (stripped, it would not load)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

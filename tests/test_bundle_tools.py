"""The desktop bundle's build tools on small real libraries (built here with the C compiler):
what ``bundle_contents.leave_out`` drops with the files it is told to leave out, and the strip
that keeps a library as it was when its stripped copy would not load; and which modules
``start_modules`` keeps loose."""

from __future__ import annotations

import ctypes
import importlib.util
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]

needs_toolchain = pytest.mark.skipif(
    sys.platform != "linux" or not all(shutil.which(t) for t in ("cc", "ldd", "strip")),
    reason="needs Linux with a C compiler, ldd and strip",
)


def _load(path: Path) -> ModuleType:
    # Under a name of its own: packaging/ is no package, and dataclasses look the module up.
    name = f"packaging_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


contents = _load(ROOT / "packaging" / "pyinstaller" / "bundle_contents.py")
strip_bundle = _load(ROOT / "packaging" / "strip_bundle.py")
start_modules = _load(ROOT / "packaging" / "pyinstaller" / "start_modules.py")


def _library(folder: Path, name: str, needs: tuple[str, ...] = ()) -> Path:
    """``lib<name>.so`` with one function, linked against ``lib<need>.so`` for each need and
    finding them beside itself ($ORIGIN), as bundled libraries do."""
    source = folder / f"{name}.c"
    calls = "".join(f"int f_{n}(void);" for n in needs)
    body = " + ".join([*(f"f_{n}()" for n in needs), "1"])
    source.write_text(f"{calls}\nint f_{name}(void) {{ return {body}; }}\n", encoding="utf-8")
    target = folder / f"lib{name}.so"
    subprocess.run(
        [
            "cc",
            "-shared",
            "-fPIC",
            "-g",
            "-o",
            str(target),
            str(source),
            f"-L{folder}",
            *(f"-l{n}" for n in needs),
            "-Wl,-rpath,$ORIGIN",
        ],
        check=True,
    )
    return target


@needs_toolchain
def test_leave_out_drops_the_libraries_only_the_left_out_files_needed(tmp_path: Path) -> None:
    # A plugin needs a and b (b through a and directly); a kept module needs c, which needs b.
    for name, needs in (("b", ()), ("a", ("b",)), ("c", ("b",)), ("d", ()), ("e", ("d",))):
        _library(tmp_path, name, needs)
    plugin = _library(tmp_path, "plugin", ("a", "e"))
    module = _library(tmp_path, "module", ("c",))
    binaries = [
        ("plugins/theme/libplugin.so", str(plugin), "BINARY"),
        ("module.so", str(module), "EXTENSION"),
        *((f"lib{n}.so", str(tmp_path / f"lib{n}.so"), "BINARY") for n in "abcde"),
        ("libb.so.1", "libb.so", "SYMLINK"),
    ]
    datas = [
        ("translations/qt_de.qm", str(tmp_path / "b.c"), "DATA"),
        ("resources/kept.txt", str(tmp_path / "c.c"), "DATA"),
    ]

    kept_binaries, kept_datas, dropped = contents.leave_out(
        binaries, datas, ["plugins/theme/*", "translations/*"]
    )

    kept = {entry[0] for entry in kept_binaries}
    # a, d and e served the plugin alone; b stays for c, which the kept module needs.
    assert kept == {"module.so", "libb.so", "libc.so", "libb.so.1"}
    assert {entry[0] for entry in dropped} == {
        "plugins/theme/libplugin.so",
        "translations/qt_de.qm",
        "liba.so",
        "libd.so",
        "libe.so",
    }
    assert kept_datas == [datas[1]]
    assert contents.size_mb(dropped) > 0


def test_leave_out_matches_bundle_paths_only() -> None:
    binaries = [("PySide6/Qt/plugins/platforms/libqvnc.so", "/nonexistent/libqvnc.so", "BINARY")]
    datas = [("PySide6/Qt/translations/qtbase_fr.qm", "/nonexistent/qtbase_fr.qm", "DATA")]
    kept_binaries, kept_datas, dropped = contents.leave_out(binaries, datas, contents.QT_LEFT_OUT)
    assert kept_binaries == [] and kept_datas == [] and len(dropped) == 2
    xcb = [("PySide6/Qt/plugins/platforms/libqxcb.so", "/nonexistent/libqxcb.so", "BINARY")]
    assert contents.leave_out(xcb, [], contents.QT_LEFT_OUT)[0] == xcb


def _elf_with_load_segment(path: Path, offset: int, vaddr: int) -> None:
    """A 64-bit little-endian ELF header and one load segment, nothing else."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 0x20, 64)  # program headers right after this header
    struct.pack_into("<HH", header, 0x36, 56, 1)
    segment = struct.pack("<IIQQQQQQ", 1, 5, offset, vaddr, vaddr, 16, 16, 0x1000)
    path.write_bytes(bytes(header) + segment)


def test_load_segment_alignment(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.so", tmp_path / "bad.so"
    _elf_with_load_segment(good, 0x2040, 0x5040)
    _elf_with_load_segment(bad, 0x2040, 0x5080)  # what the loader refuses: not page-aligned
    assert strip_bundle.load_segments_aligned(good)
    assert not strip_bundle.load_segments_aligned(bad)
    text = tmp_path / "notes.so.txt"
    text.write_text("not a library", encoding="utf-8")
    assert not strip_bundle.load_segments_aligned(text) and not strip_bundle.is_elf(text)


@needs_toolchain
def test_strip_tree_strips_and_the_libraries_still_load(tmp_path: Path) -> None:
    tree = tmp_path / "_internal"
    tree.mkdir()
    _library(tree, "b")
    lib = _library(tree, "a", ("b",))
    (tree / "liba.so.1").symlink_to("liba.so")
    before = lib.stat().st_size

    result = strip_bundle.strip_tree(tree)

    assert result.stripped == 2 and result.kept == () and result.saved_bytes > 0
    assert lib.stat().st_size < before
    assert not list(tree.glob(".*stripped"))  # no copy left behind
    assert ctypes.CDLL(str(tree / "liba.so.1")).f_a() == 2
    # A second run finds nothing left to strip.
    assert strip_bundle.strip_tree(tree).stripped == 0


@needs_toolchain
def test_strip_tree_keeps_a_library_whose_stripped_copy_would_not_load(tmp_path: Path) -> None:
    tree = tmp_path / "_internal"
    tree.mkdir()
    lib = _library(tree, "a")
    original = lib.read_bytes()
    # A stand-in `strip` that writes a copy the loader would refuse (a misaligned load segment).
    fake = tmp_path / "strip"
    fake.write_text(
        "#!/bin/sh\n"
        f'{sys.executable} -c "import sys, struct; '
        "h = bytearray(64); h[:6] = b'\\x7fELF\\x02\\x01'; "
        "struct.pack_into('<Q', h, 0x20, 64); struct.pack_into('<HH', h, 0x36, 56, 1); "
        "s = struct.pack('<IIQQQQQQ', 1, 5, 0x2040, 0x5080, 0x5080, 16, 16, 0x1000); "
        'open(sys.argv[1], \'wb\').write(bytes(h) + s)" "$3"\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)

    result = strip_bundle.strip_tree(tree, strip=str(fake))

    assert result.stripped == 0 and result.kept == (lib,)
    assert lib.read_bytes() == original
    assert not list(tree.glob(".*stripped"))


def test_start_modules_go_loose_and_their_packages_other_modules_stay_archived() -> None:
    import json.decoder  # noqa: F401

    import annotator.core.errors  # noqa: F401

    started = {"annotator", "annotator.core", "annotator.core.errors", "json", "json.decoder"}
    modes = start_modules.collection_modes(started)
    assert {name for name, mode in modes.items() if mode == "pyc"} == {
        "annotator",
        "annotator.core",
        "annotator.core.errors",
    }
    # A package's mode passes down to its modules, so each module of a started package that did
    # not start is named archived: a sibling module, and a whole subpackage by its name.
    assert modes["annotator.core.mask"] == modes["annotator.storage"] == "pyz"
    assert "annotator.storage.store" not in modes
    # The standard library stays in the archive (part of it must be in the base library).
    assert not any(name.startswith("json") for name in modes)
    # Only modules with bytecode: an extension module has none to keep loose.
    import PIL._imaging  # noqa: F401

    assert start_modules.collection_modes({"PIL._imaging"}) == {}

"""What the desktop bundle leaves out of what PyInstaller's analysis collected, and why.

For each Qt module the app imports, PyInstaller takes every plugin and translation Qt might use
with it, and then the libraries those need. Some the app never loads: Qt's translations (the
app installs no translator), the platforms of devices without a window system, the network
plugins (the app opens no connection through Qt) and the GTK 3 theme, whose GTK the build could
not take along. :func:`leave_out` drops them from the analysis and, on Linux, the libraries that
only they needed (found with ``ldd``), so nothing a kept file links against goes. Python packages
are left out with the spec's ``excludes`` instead, before the analysis follows their imports.
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

TocEntry = tuple[str, str, str]  # (path in the bundle, source file, PyInstaller's type code)

_QT = "PySide6/Qt/"
_PLUGINS = f"{_QT}plugins/"

QT_LEFT_OUT: tuple[str, ...] = (
    # The app's texts are English and it installs no QTranslator: Qt's catalogues are never read.
    f"{_QT}translations/*",
    # Platforms for devices without a window system (KMS/EGL, framebuffer, VNC, a Vulkan
    # display) and their input plugins: the bundle runs under X11 or Wayland, and offscreen for
    # its own checks (xcb, wayland, offscreen and minimal stay).
    f"{_PLUGINS}platforms/libqeglfs.so",
    f"{_PLUGINS}platforms/libqlinuxfb.so",
    f"{_PLUGINS}platforms/libqminimalegl.so",
    f"{_PLUGINS}platforms/libqvkkhrdisplay.so",
    f"{_PLUGINS}platforms/libqvnc.so",
    f"{_PLUGINS}egldeviceintegrations/*",
    f"{_PLUGINS}generic/*",
    # The app opens no connection through Qt (remote proposers use Python's HTTP client).
    f"{_PLUGINS}tls/*",
    f"{_PLUGINS}networkinformation/*",
    # The GTK 3 theme: the build found no GTK to take along, so this plugin could only load the
    # system's GTK against the bundle's own GLib, cairo and pango. Qt uses the XDG portal theme.
    f"{_PLUGINS}platformthemes/libqgtk3.so",
)


def leave_out(
    binaries: Sequence[TocEntry], datas: Sequence[TocEntry], patterns: Iterable[str]
) -> tuple[list[TocEntry], list[TocEntry], list[TocEntry]]:
    """``binaries`` and ``datas`` without the entries whose bundle path matches one of
    ``patterns`` nor the libraries that only those needed; also returns what was dropped."""
    globs = tuple(patterns)

    def matches(entry: TocEntry) -> bool:
        return any(fnmatch.fnmatchcase(_posix(entry[0]), g) for g in globs)

    dropped = [e for e in [*binaries, *datas] if matches(e)]
    kept_binaries = [e for e in binaries if not matches(e)]
    kept_datas = [e for e in datas if not matches(e)]
    orphans = _only_needed_by(dropped, kept_binaries) if sys.platform == "linux" else set()
    dropped += [e for e in kept_binaries if PurePosixPath(_posix(e[0])).name in orphans]
    kept_binaries = [e for e in kept_binaries if PurePosixPath(_posix(e[0])).name not in orphans]
    return kept_binaries, kept_datas, dropped


def size_mb(entries: Iterable[TocEntry]) -> float:
    """What ``entries`` take on disk in MiB (links count nothing, as with ``du -m``)."""
    total = 0
    for _, source, code in entries:
        path = Path(source)
        if code != "SYMLINK" and path.is_file():
            total += path.stat().st_size
    return total / 2**20


def _only_needed_by(dropped: Sequence[TocEntry], kept: Sequence[TocEntry]) -> set[str]:
    """Names of the kept libraries that some dropped file links against and no other kept file
    does, directly or through others. ``ldd`` gives each file's whole closure, so a candidate
    counts as needed only when a file outside the candidates reaches it."""
    candidates: set[str] = set()
    for entry in dropped:
        candidates |= _linked(entry)
    names = {PurePosixPath(_posix(e[0])).name for e in kept}
    candidates &= names
    needed: set[str] = set()
    for entry in kept:
        name = PurePosixPath(_posix(entry[0])).name
        if name not in candidates:
            needed |= _linked(entry)
    return candidates - needed


def _linked(entry: TocEntry) -> set[str]:
    """The sonames ``ldd`` lists for a shared object (its whole link closure); none for other
    files and for links (their target is an entry of its own)."""
    _, source, code = entry
    if code == "SYMLINK" or ".so" not in PurePosixPath(source).name:
        return set()
    done = subprocess.run(["ldd", source], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return set()  # not a dynamic object (a static one, or data named *.so*)
    return {line.split()[0] for line in done.stdout.splitlines() if line.strip()}


def _posix(path: str) -> str:
    return path.replace("\\", "/")

"""Which Python modules the app imports from its start to the first record shown, and how the
desktop bundle should keep them: PyInstaller's ``module_collection_mode``, written as JSON.

The bundle's archive keeps every module zlib-compressed, and inflating the ~8 MB of bytecode
that the app's own and third-party modules hold at start was most of what the bundle's start
costs beyond a pip install's (docs/adr/0014). Those modules go in as loose ``.pyc`` files, read
as the pip install reads them; their packages' other modules stay compressed. The
standard library stays compressed too: part of it must sit in PyInstaller's base library for
the interpreter to start at all.

The start measured is a usual one: the command line parsed, the sample project, already in its
database, opened and its first record shown, with the icon cache warm (a first run made both).
Run by the spec with the full install's Python:

    python packaging/pyinstaller/start_modules.py OUT.json
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
import tempfile
from pathlib import Path

LOOSE, ARCHIVED = "pyc", "pyz"


def _first_run(db: Path) -> None:
    """The sample project imported into ``db`` and the app opened on it once (the icon cache)."""
    from annotator.services.install_check import sample_database

    sample_database(db.parent).rename(db)
    _open(db)


def _open(db: Path) -> set[str]:
    """The modules imported once the command line is parsed and the first record shown."""
    from annotator.cli import build_parser

    build_parser()
    from annotator.app import build_app

    parts = build_app(db, offer_sample=False, segmenter=None)
    parts.window.show()
    if parts.window.model.rowCount() > 0:
        parts.window.select_row(0)
    parts.qapp.processEvents()
    parts.store.close()
    return set(sys.modules)


def collection_modes(started: set[str]) -> dict[str, str]:
    """Loose for each started module outside the standard library; archived for the modules of
    those packages that did not start (a package's mode passes down to its modules)."""
    modes: dict[str, str] = {}
    for name in sorted(started):
        module = sys.modules.get(name)
        if name.partition(".")[0] in sys.stdlib_module_names or name == "__main__":
            continue
        if not str(getattr(module, "__file__", None) or "").endswith(".py"):
            continue  # built in, an extension module or a namespace package: no bytecode
        modes[name] = LOOSE
        path = getattr(module, "__path__", None)
        if path is None:
            continue
        for child in pkgutil.iter_modules(list(path), prefix=f"{name}."):
            if child.name not in started:
                modes[child.name] = ARCHIVED
    return modes


def main() -> int:
    if sys.argv[1:2] == ["--first-run"]:
        _first_run(Path(sys.argv[2]))
        return 0
    out = Path(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="start-modules-") as tmp:
        home = Path(tmp)
        # The builder's own settings, recent projects and caches stay untouched (Linux, macOS).
        env = {
            **os.environ,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "QT_QPA_PLATFORM": "offscreen",
        }
        db = home / "sample.sqlite3"
        subprocess.run([sys.executable, __file__, "--first-run", str(db)], env=env, check=True)
        os.environ.update(env)
        started = _open(db)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(collection_modes(started), indent=1, sort_keys=True), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

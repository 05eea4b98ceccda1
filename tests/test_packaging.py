"""Packaging: the wheel carries what the app needs and runs outside the checkout; the desktop
entry and AppStream metadata pass Debian's validators; the icon's PNGs are its SVG."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures_install import user_env

ROOT = Path(__file__).resolve().parents[1]
LINUX = ROOT / "packaging" / "linux"
APP_ID = "org.pristannotator.PristAnnotator"


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: scripts/setup.sh installs it (as root)"
    return found


def test_desktop_entry_and_metainfo_pass_debians_validators(tmp_path: Path) -> None:
    installed = _run(["bash", str(LINUX / "install.sh"), str(tmp_path)])
    assert installed.returncode == 0, installed.stderr
    share = tmp_path / "share"
    desktop = share / "applications" / f"{APP_ID}.desktop"
    metainfo = share / "metainfo" / f"{APP_ID}.metainfo.xml"
    checked = _run([_tool("desktop-file-validate"), str(desktop)])
    assert checked.returncode == 0 and checked.stdout == "", checked.stdout
    checked = _run([_tool("appstreamcli"), "validate", "--no-net", str(metainfo)])
    assert checked.returncode == 0, checked.stdout
    entry = desktop.read_text(encoding="utf-8")
    assert f"Icon={APP_ID}\n" in entry and "Exec=annotator gui\n" in entry
    assert f'<launchable type="desktop-id">{APP_ID}.desktop' in metainfo.read_text("utf-8")
    icons = share / "icons" / "hicolor"
    assert (icons / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert {p.parent.parent.name for p in icons.glob(f"*/apps/{APP_ID}.png")} >= {
        "16x16",
        "48x48",
        "256x256",
    }


def test_the_icon_pngs_are_the_svg_rendered(qapp: Any) -> None:
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        import render_icons
    finally:
        sys.path.pop(0)
    from PySide6.QtGui import QImage

    for size in render_icons.SIZES:
        stored = QImage(str(render_icons.png_path(size)))
        assert (stored.width(), stored.height()) == (size, size)
        fresh = _rgba(render_icons.render(size))
        old = _rgba(stored)
        assert np.abs(fresh - old).mean() < 2.0, f"{size} px: rerun packaging/render_icons.py"


def _rgba(image: Any) -> np.ndarray:
    from PySide6.QtGui import QImage

    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    h, w = rgba.height(), rgba.width()
    rows = np.frombuffer(rgba.constBits(), np.uint8).reshape(h, rgba.bytesPerLine())
    return rows[:, : 4 * w].reshape(h, w, 4).astype(int)


def test_the_window_uses_the_app_icon(qapp: Any) -> None:
    from PySide6.QtGui import QImage

    from annotator.ui.app_icon import app_icon

    icon = app_icon()
    small = icon.pixmap(16, 16).toImage()
    png = QImage(str(ROOT / "resources" / "icons" / "png" / "prist-annotator-16.png"))
    assert np.array_equal(_rgba(small), _rgba(png))  # the hand-sized PNG, not a scaled SVG
    odd = icon.pixmap(100, 100)  # no PNG of this size: drawn from the SVG
    assert (odd.width(), odd.height()) == (100, 100) and _rgba(odd.toImage())[..., 3].max() == 255


@pytest.mark.slow
def test_the_wheel_runs_outside_the_checkout(tmp_path: Path) -> None:
    """Built, listed, installed (not editable) into a fresh virtualenv, and run from another
    directory: the command line, the first run of the app on the sample, and stats."""
    dist = tmp_path / "dist"
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(ROOT),
        ]
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("prist_annotator-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for wanted in (
        "annotator/_resources/sample/dialogues.json",
        "annotator/_resources/sample/images/astronaut.png",
        "annotator/_resources/icons/prist-annotator.svg",
        "annotator/_resources/icons/png/prist-annotator-16.png",
        "annotator/storage/migrations/versions/0001_initial_schema.py",
        "annotator/storage/migrations/env.py",
    ):
        assert wanted in names, wanted
    assert not [n for n in names if n.startswith(("annotator_devtools/", "tests/"))]

    # A fresh environment: this wheel, the dependencies seen through a path file (not the
    # checkout's editable install, whose hook a path file does not run).
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    py = venv / "bin" / "python"
    site = Path(
        _run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    installed = _run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)]
    )
    assert installed.returncode == 0, installed.stderr[-2000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = user_env(tmp_path)
    helped = _run([str(venv / "bin" / "annotator"), "--help"], cwd=elsewhere, env=env)
    assert helped.returncode == 0 and "export" in helped.stdout
    first_run = _run(
        [
            str(py),
            "-c",
            "import json, annotator\n"
            "from annotator.app import build_app\n"
            "from annotator.core.appdirs import resources_dir\n"
            "parts = build_app(None, segmenter=None)\n"
            "print(json.dumps({'module': annotator.__file__, 'resources': str(resources_dir()),"
            " 'rows': parts.window.model.rowCount(),"
            " 'icon': not parts.window.windowIcon().isNull()}))\n"
            "parts.window.close()\n",
        ],
        cwd=elsewhere,
        env=env,
    )
    assert first_run.returncode == 0, first_run.stderr[-3000:]
    facts = json.loads(first_run.stdout.strip().splitlines()[-1])
    assert facts["module"].startswith(str(venv)) and facts["resources"].startswith(str(venv))
    assert facts["rows"] == 10 and facts["icon"]
    stats = _run([str(venv / "bin" / "annotator"), "stats", "--json"], cwd=elsewhere, env=env)
    assert stats.returncode == 0, stats.stderr[-2000:]
    assert json.loads(stats.stdout)["conversations"] == 10

"""The desktop bundle (packaging/build.sh), smoke-tested offscreen against this pip install: it
opens the sample, makes one SAM click per image, exports JSON lines and reads them back, with
the same masks as the pip install. Runs where ``ANNOTATOR_BUNDLE`` names the built folder
(``.ci/run`` builds it and sets it); elsewhere it is skipped with that reason."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from fixtures_install import run_self_test, user_env

from annotator.core.appdirs import models_dir

BUNDLE = os.environ.get("ANNOTATOR_BUNDLE", "")
ROOT = Path(__file__).resolve().parents[1]
# MiB, as du -m counts (448 measured; docs/adr/0014-packaging.md says what it is made of): the
# issue's target, kept as a ceiling against growth.
MAX_BUNDLE_MB = 450

pytestmark = [
    pytest.mark.bundle,
    pytest.mark.skipif(
        not BUNDLE,
        reason="no bundle: build it with packaging/build.sh and set "
        "ANNOTATOR_BUNDLE=dist/bundle/annotator",
    ),
]


def _size_mb(folder: Path) -> float:
    """In MiB, as ``du -m`` counts it (and build.sh prints it): links (the bundle links library
    versions) are not counted twice."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if not p.is_symlink()) / 2**20


def test_the_bundle_works_like_the_pip_install(tmp_path: Path) -> None:
    bundle = Path(BUNDLE)
    executable = bundle / "annotator"
    assert executable.is_file(), f"{executable}: not built"
    pip_executable = Path(sys.executable).with_name("annotator")
    bundled, bundle_window_s = run_self_test(
        executable, tmp_path / "b", tmp_path / "bhome", own_models=True
    )
    pip, pip_window_s = run_self_test(pip_executable, tmp_path / "p", tmp_path / "phome")
    # Start to window: single runs spread ±25 % on a shared host, so three alternating runs
    # of each are compared by their medians.
    bundle_times, pip_times = [bundle_window_s], [pip_window_s]
    for i in (1, 2):
        pip_times.append(run_self_test(pip_executable, tmp_path / f"p{i}", tmp_path / f"ph{i}")[1])
        bundle_times.append(
            run_self_test(executable, tmp_path / f"b{i}", tmp_path / f"bh{i}", own_models=True)[1]
        )
    bundle_window_s, pip_window_s = statistics.median(bundle_times), statistics.median(pip_times)

    assert bundled["problems"] == [] and bundled["records"] == 10
    assert bundled["export"]["read_back"] == 10
    assert bundled["sam_runtime"].startswith("onnxruntime")
    # The same click gives the same mask, pixel for pixel (RLE is canonical): on the sample and
    # on the SAM bench's shapes.
    assert [c["rle"] for c in bundled["sam_clicks"]] == [c["rle"] for c in pip["sam_clicks"]]
    assert bundled["bench_shapes"] == pip["bench_shapes"]
    size = _size_mb(bundle)
    figures = {
        "bundle_mb": round(size, 1),
        "bundle_window_s": round(bundle_window_s, 2),
        "pip_window_s": round(pip_window_s, 2),
        "sam_clicks_identical": len(bundled["sam_clicks"]) + len(bundled["bench_shapes"]),
    }
    (bundle.parent / "smoke.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(json.dumps(figures))
    assert size <= MAX_BUNDLE_MB, figures
    # The bundle unpacks nothing (one folder), so it is no slower; the margin is the host's
    # noise that medians of three runs still show.
    assert bundle_window_s <= pip_window_s * 1.25 + 0.5, figures


def test_the_bundle_has_no_model_stack() -> None:
    inside = Path(BUNDLE) / "_internal"
    for absent in ("torch", "transformers", "segment_anything", "mobile_sam", "timm"):
        assert not (inside / absent).exists(), absent
    assert (inside / "models" / "LICENSE-MobileSAM").is_file()
    assert not list((inside / "models").rglob("*.pt"))  # MobileSAM as its checked graphs only
    assert (inside / "linux" / "org.pristannotator.PristAnnotator.desktop").is_file()


def test_the_bundle_compiles_no_migration_at_start() -> None:
    """Each migration script Alembic imports has bytecode beside it that the bundle's Python
    accepts as is: checked by the source's hash (a copy loses the time a .pyc is matched by, and
    the bundle writes no bytecode of its own)."""
    import importlib.util

    migrations = Path(BUNDLE) / "_internal" / "annotator" / "storage" / "migrations"
    scripts = sorted(migrations.rglob("*.py"))
    assert len(scripts) >= 2  # env.py and the versions
    for script in scripts:
        cached = Path(importlib.util.cache_from_source(str(script)))
        header = cached.read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, script
        assert int.from_bytes(header[4:8], "little") == 0b11, script  # hash-based, checked
        assert header[8:16] == importlib.util.source_hash(script.read_bytes()), script


def test_the_bundle_keeps_the_modules_it_starts_with_loose_and_the_rest_archived() -> None:
    """packaging/pyinstaller/start_modules.py: what the app imports before its first record shows
    is read as bytecode files, the rest of those packages inflated from the archive."""
    readers = pytest.importorskip("PyInstaller.archive.readers")
    inside = Path(BUNDLE) / "_internal"
    archive = readers.CArchiveReader(str(Path(BUNDLE) / "annotator"))
    archived = set(archive.open_embedded_archive("PYZ.pyz").toc)
    for started in ("annotator.app", "sqlalchemy.engine.base", "PIL.Image"):
        assert (inside / (started.replace(".", "/") + ".pyc")).is_file(), started
        assert started not in archived, started
    for later in ("annotator.ui.dashboard.bar_chart", "sqlalchemy.orm.session"):
        assert later in archived, later
        assert not (inside / (later.replace(".", "/") + ".pyc")).exists(), later
    assert not any(name.startswith("pygments") for name in archived)  # Mako's optional colours


def test_the_bundle_leaves_out_what_it_never_loads() -> None:
    """scipy and scikit-image (the edge IoU says it needs them), Qt's translations, network and
    device-only platforms (packaging/pyinstaller/bundle_contents.py); the desktop platforms stay."""
    inside = Path(BUNDLE) / "_internal"
    for absent in ("scipy", "skimage", "scipy.libs", "PySide6/Qt/translations"):
        assert not (inside / absent).exists(), absent
    for absent in ("PySide6/QtNetwork*", "PySide6/Qt/plugins/tls", "PySide6/Qt/lib/libQt6Network*"):
        assert not list(inside.glob(absent)), absent
    platforms = inside / "PySide6" / "Qt" / "plugins" / "platforms"
    for kept in ("libqxcb.so", "libqwayland.so", "libqoffscreen.so"):
        assert (platforms / kept).is_file(), kept


def test_every_library_the_bundle_links_is_inside_or_missing_here_too() -> None:
    """What leaving out took no library that a kept file needs: each library that ``ldd`` cannot
    find for a bundled file (with the bundle's folder on the path, as its launcher sets it) is
    one this machine lacks too, not one the virtualenv had and the build could have taken."""
    inside = Path(BUNDLE) / "_internal"
    env = {**os.environ, "LD_LIBRARY_PATH": str(inside)}
    unresolved: dict[str, set[str]] = {}
    for lib in inside.rglob("*.so*"):
        if lib.is_symlink() or not lib.is_file():
            continue
        done = subprocess.run(
            ["ldd", str(lib)], capture_output=True, text=True, env=env, check=False
        )
        for line in done.stdout.splitlines():
            if "not found" in line:
                unresolved.setdefault(line.split()[0], set()).add(lib.name)
    site = Path(sysconfig.get_paths()["purelib"])
    in_venv = {name for _, _, files in os.walk(site) for name in files}
    takeable = {name: sorted(users) for name, users in unresolved.items() if name in in_venv}
    assert not takeable, takeable


def test_the_bundle_scores_answers_and_says_the_edge_iou_needs_the_pip_install(
    tmp_path: Path, tiny_miras_dir: Path
) -> None:
    """Proposals (from a remote server) for three sample records: the bundle's report, text
    scores included, equals the pip install's; ``--edge`` says it needs scikit-image."""
    from fixtures_miras import served

    from annotator.services.install_check import sample_database

    db = sample_database(tmp_path / "sample")
    bundled = str(Path(BUNDLE) / "annotator")
    pip = str(Path(sys.executable).with_name("annotator"))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path)}

    def run(executable: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [executable, "--db", str(db), *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )

    with served(tiny_miras_dir) as url:
        done = run(bundled, "propose", "--proposer", "remote", "--url", url, "--limit", "3")
        assert done.returncode == 0, done.stderr[-2000:]
    reports = []
    for executable in (bundled, pip):
        done = run(executable, "metrics", "--reference", "draft", "--json")
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout)
        report.pop("generated_at")
        reports.append(report)
    assert reports[0]["text"]["overall"]["n"] > 0
    assert reports[0]["counts"] == reports[1]["counts"]
    assert reports[0] == reports[1]

    done = run(bundled, "metrics", "--reference", "draft", "--edge", "--workers", "1")
    assert done.returncode == 2
    assert "needs scikit-image" in done.stderr and "Traceback" not in done.stderr


def test_the_bundle_computes_metrics_in_worker_processes(tmp_path: Path) -> None:
    """Above INLINE_BELOW pairs, mask metrics run in spawned worker processes, which start the
    bundle's executable again: they must do their task there, and give the pip install's
    figures."""
    from annotator.core.metrics_batch import INLINE_BELOW

    argv = [
        "bench", "metrics", "--json", "--records", str(INLINE_BELOW + 20), "--distinct", "30",
        "--height", "120", "--width", "160", "--workers", "2", "--naive-sample", "2",
        "--edge-sample", "0",
    ]  # fmt: skip
    summaries = []
    for executable in (Path(BUNDLE) / "annotator", Path(sys.executable).with_name("annotator")):
        done = subprocess.run(
            [str(executable), *argv],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "XDG_DATA_HOME": str(tmp_path)},
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        figures = json.loads(done.stdout)
        assert figures["workers"] == 2
        summaries.append(figures["summary"])
    assert summaries[0]["n"] == INLINE_BELOW + 20
    assert summaries[0] == summaries[1]


def test_the_bundle_works_in_team_mode_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """psycopg and the migrations inside the bundle, against a real PostgreSQL server: it makes
    the schema and the team roles, adds a member, and that member logs in and sees the records
    with the pip install's counts."""
    import sqlalchemy as sa

    bundled = str(Path(BUNDLE) / "annotator")
    pip = str(Path(sys.executable).with_name("annotator"))
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    sample = ROOT / "resources" / "sample"

    def run(executable: str, url: str, *args: str) -> str:
        done = subprocess.run(
            [executable, "--db", url, *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    run(bundled, postgres_url, "import", "prist", str(sample / "dialogues.json"),
        "--images", str(sample / "images"), "--masks", str(sample / "masks"))  # fmt: skip
    run(bundled, postgres_url, "team", "init")
    run(bundled, postgres_url, "team", "add", "ada", "--role", "annotator")
    members = {
        m["name"]: m["role"]
        for m in json.loads(run(bundled, postgres_url, "team", "list", "--json"))
    }
    assert members.get("ada") == "annotator"
    as_ada = (
        sa.engine.make_url(postgres_url).set(username="ada").render_as_string(hide_password=False)
    )
    stats = [json.loads(run(exe, as_ada, "stats", "--json")) for exe in (bundled, pip)]
    assert stats[0]["conversations"] > 0
    assert stats[0] == stats[1]


def test_the_bundle_says_miras_needs_the_full_install(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [
            str(Path(BUNDLE) / "annotator"),
            "--db",
            str(tmp_path / "x.sqlite3"),
            "propose",
            "--proposer",
            "miras",
            "--checkpoint",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode != 0
    assert "needs the full install" in done.stderr and "Traceback" not in done.stderr


def test_the_bundle_proposes_through_a_remote_server(
    tmp_path: Path, tiny_miras_dir: Path, prist_records: list[dict[str, Any]]
) -> None:
    """What the bundle offers instead of MIRAS in process: a server with torch (here the pip
    install serving the tiny test checkpoint) answers, and the bundle stores the proposals."""
    from fixtures_miras import fill_db, served

    from annotator.storage import open_store

    with served(tiny_miras_dir) as url:
        db = tmp_path / "db.sqlite3"
        ids = fill_db(db, prist_records, tmp_path / "images", 2)
        done = subprocess.run(
            [
                str(Path(BUNDLE) / "annotator"),
                "--db",
                str(db),
                "propose",
                "--proposer",
                "remote",
                "--url",
                url,
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout)["conversations"] == 2
        with open_store(db) as store:
            for cid in ids:
                turns = len(store.get_conversation(cid).turns)
                assert len(store.proposals(cid)) == turns


def test_the_bundle_says_what_a_models_directory_without_its_graphs_lacks(tmp_path: Path) -> None:
    """Pointed at a models directory with the checkpoint but no graphs checked for it, the
    bundle (no torch) says so in one line and how to adopt them, instead of a missing module."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "mobile_sam.pt").symlink_to(models_dir() / "mobile_sam.pt")
    env = {**user_env(tmp_path / "home"), "ANNOTATOR_MODELS_DIR": str(models)}
    done = subprocess.run(
        [str(Path(BUNDLE) / "annotator"), "self-test", "--workdir", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert "this installation has no torch" in done.stderr, done.stderr[-2000:]
    assert "annotator models adopt-graphs" in done.stderr
    assert "ModuleNotFoundError" not in done.stderr

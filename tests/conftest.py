"""Test-wide settings: Qt offscreen, one torch thread, no user data touched."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

from annotator.core.appdirs import models_dir

pytest_plugins = [
    "fixtures_storage",
    "fixtures_miras",
    "fixtures_metrics",
    "fixtures_sam",
    "fixtures_sam_official",
]

# Resolved before any test redirects the user directories: the installed weights are shared.
INSTALLED_MODELS_DIR = str(models_dir())


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings, caches and the default database go to a temp home, never the real one."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("ANNOTATOR_MODELS_DIR", INSTALLED_MODELS_DIR)
    monkeypatch.delenv("ANNOTATOR_CACHE_DIR", raising=False)
    monkeypatch.delenv("ANNOTATOR_DB", raising=False)

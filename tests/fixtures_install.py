"""Running an installation of the app as a user would, from the tests: its own user folders
(data, settings, caches) under a temp home, offscreen, nothing of the checkout on the path."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any


def user_env(home: Path, *, own_models: bool = False) -> dict[str, str]:
    """This process's environment with the user folders under ``home``; ``own_models``: the
    installation's own models directory rather than the installed one the tests share."""
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "PYTHONPATH": "",
    }
    if own_models:
        env.pop("ANNOTATOR_MODELS_DIR", None)
    return env


def run_self_test(
    executable: Path, workdir: Path, home: Path, *, own_models: bool = False
) -> tuple[dict[str, Any], float]:
    """``executable self-test --json``: its facts, and the seconds from the process start until
    its window was shown."""
    home.mkdir(parents=True, exist_ok=True)
    started = time.time()
    done = subprocess.run(
        [str(executable), "self-test", "--json", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=600,
        env=user_env(home, own_models=own_models),
        cwd=home,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout)
    return facts, facts["window_shown_epoch_s"] - started

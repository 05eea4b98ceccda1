"""Where the tool keeps its files (platformdirs), each overridable by an environment variable.

Functions, not constants: the environment is read at call time so tests and the CLI can redirect.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_config_dir, user_data_dir

APP_NAME = "prist-annotator"


def data_dir() -> Path:
    return Path(user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    return Path(user_config_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    return Path(os.environ.get("ANNOTATOR_CACHE_DIR") or user_cache_dir(APP_NAME, appauthor=False))


def models_dir() -> Path:
    """Installed model weights (``ANNOTATOR_MODELS_DIR`` overrides)."""
    return Path(os.environ.get("ANNOTATOR_MODELS_DIR") or data_dir() / "models")


def default_db_path() -> Path:
    return data_dir() / "annotator.sqlite3"


def resources_dir() -> Path:
    """Bundled resources (icons, styles, the sample project).

    A source checkout keeps them in ``resources/`` beside the package; an installed build
    (see ``packaging/``) places them in ``annotator/_resources``.
    """
    package = Path(__file__).resolve().parents[1]
    installed = package / "_resources"
    return installed if installed.is_dir() else package.parent / "resources"

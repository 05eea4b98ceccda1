"""User settings (reviewer name, models, paths, colours), stored as JSON in the config directory."""

from __future__ import annotations

import dataclasses
import getpass
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.core.appdirs import config_dir
from annotator.core.atomic_file import atomic_open
from annotator.core.seg_templates import (
    SEG_ANSWERS,
    SEG_REQUESTS,
    usable_answers,
    usable_requests,
)

DEFAULT_COLOURS: dict[str, str] = {
    "draft": "#f5a623",
    "proposal": "#4a90e2",
    "final": "#2ecc71",
    "diff_kept": "#2ecc71",
    "diff_added": "#3498db",
    "diff_removed": "#e74c3c",
}


# The vlm proposer's default key variable (the proposer's client has the same default).
VLM_KEY_ENV = "ANNOTATOR_VLM_API_KEY"


def _default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


@dataclass
class Settings:
    reviewer: str = field(default_factory=_default_reviewer)
    sam_model: str = "mobile-sam"  # name in the weights registry
    proposer: str = ""  # entry point name ("miras", "remote"); "" = none (or miras if a checkpoint)
    proposer_checkpoint: str = ""  # MIRAS checkpoint directory
    proposer_device: str = ""  # "" = the proposer's default (auto)
    proposer_url: str = ""  # remote proposer server, or the vlm proposer's chat server
    proposer_model: str = ""  # vlm: the model the server serves
    proposer_box_format: str = "pixels"  # vlm: pixels | norm1000 | norm1000-yx
    # vlm: the environment variable holding the API key (the key itself is never stored)
    proposer_key_env: str = VLM_KEY_ENV
    images_dir: str = ""  # default folder for import dialogs
    export_dir: str = ""
    colours: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_COLOURS))
    overlay_opacity: float = 0.5
    brush_radius: float = 12.0
    blind_first: bool = False  # hide the model's mask until the reviewer has judged the turn
    prefetch: int = 3  # SAM embeddings prepared ahead in the review queue
    # The final, segmentation turn of a new conversation: PRIST's wordings, editable.
    seg_requests: list[str] = field(default_factory=lambda: list(SEG_REQUESTS))
    seg_answers: list[str] = field(default_factory=lambda: list(SEG_ANSWERS))

    def colour(self, name: str) -> str:
        return self.colours.get(name) or DEFAULT_COLOURS.get(name, "#ff00ff")


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings(path: Path | None = None) -> Settings:
    """Read settings; a missing or unreadable file gives defaults (unknown keys are ignored)."""
    path = path or settings_path()
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Settings()
    if not isinstance(raw, dict):
        return Settings()
    known = {f.name for f in dataclasses.fields(Settings)}
    values = {k: v for k, v in raw.items() if k in known}
    settings = Settings()
    for key, value in values.items():
        default = getattr(settings, key)
        if isinstance(default, dict) and isinstance(value, dict):
            merged = dict(default)
            merged.update({str(k): str(v) for k, v in value.items()})
            value = merged
        elif isinstance(default, bool):
            value = bool(value)
        elif isinstance(default, float) and isinstance(value, int | float):
            value = float(value)
        elif isinstance(default, int) and isinstance(value, int):
            value = int(value)
        elif isinstance(default, list) and isinstance(value, list):
            texts = [v for v in value if isinstance(v, str)]
            value = (usable_answers if key == "seg_answers" else usable_requests)(texts)
            if not value:
                continue  # an emptied list would leave nothing to choose: keep PRIST's
        elif not isinstance(value, type(default)):
            continue
        setattr(settings, key, value)
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically (a crash never leaves half a settings file)."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(dataclasses.asdict(settings), indent=2, sort_keys=True)
    with atomic_open(path) as fh:
        fh.write(data)
    return path

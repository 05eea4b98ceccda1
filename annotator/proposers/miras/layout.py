"""The tensor names in checkpoint files, kept stable across transformers versions.

Files always name the CLIP tower ``vision_tower.vision_model.*`` (the long-standing Hugging Face
layout, and the one the authors' checkpoints use). Newer transformers releases build
``CLIPVisionModel`` without the ``vision_model`` level; names are translated when a file is read
into, or written from, such a network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

T = TypeVar("T")

FILE_CLIP = "vision_tower.vision_model."
FLAT_CLIP = "vision_tower."
_OTHER_TOWERS = ("vision_tower_aux.",)


def network_is_flat(network_names: Iterable[str]) -> bool:
    """True when the installed transformers builds the CLIP tower without ``vision_model``."""
    names = list(network_names)
    return not any(n.startswith(FILE_CLIP) for n in names) and any(
        n.startswith(FLAT_CLIP) and not n.startswith(_OTHER_TOWERS) for n in names
    )


def to_file_names(state: Mapping[str, T], *, flat: bool) -> dict[str, T]:
    if not flat:
        return dict(state)
    return {
        (FILE_CLIP + k[len(FLAT_CLIP) :] if _is_flat_clip(k) else k): v for k, v in state.items()
    }


def to_network_names(state: Mapping[str, T], *, flat: bool) -> dict[str, T]:
    if not flat:
        return dict(state)
    return {
        (FLAT_CLIP + k[len(FILE_CLIP) :] if k.startswith(FILE_CLIP) else k): v
        for k, v in state.items()
    }


def _is_flat_clip(name: str) -> bool:
    return name.startswith(FLAT_CLIP) and not name.startswith(_OTHER_TOWERS)

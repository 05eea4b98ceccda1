"""Checkpoint safety shared by every backend: the published hashes of the models the tool knows,
sha256 checks, and loading a checkpoint without running code from it.

The order is always: verify the file's sha256, then ``torch.load(weights_only=True)`` (which
refuses pickles that would construct arbitrary objects), then ``load_state_dict(strict=True)`` into
a model built without a checkpoint. Each step fails with a :class:`WeightsError` that names the
file, never with a raw pickle or torch traceback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from annotator.core.errors import Cancelled, WeightsError
from annotator.core.progress import Task

if TYPE_CHECKING:
    import torch

_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class KnownWeights:
    """A checkpoint whose bytes are published: its file name identifies it, its hash pins it."""

    model_id: str
    arch: str  # the builder's architecture name: vit_t (MobileSAM), vit_b, vit_l, vit_h
    file_name: str
    sha256: str
    size_bytes: int
    description: str


KNOWN_WEIGHTS: Mapping[str, KnownWeights] = MappingProxyType(
    {
        "mobile-sam": KnownWeights(
            "mobile-sam",
            "vit_t",
            "mobile_sam.pt",
            "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
            40_728_226,
            "MobileSAM (TinyViT encoder, SAM decoder), Apache-2.0",
        ),
        "sam-vit-b": KnownWeights(
            "sam-vit-b",
            "vit_b",
            "sam_vit_b_01ec64.pth",
            "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            375_042_383,
            "Segment Anything ViT-B, Apache-2.0",
        ),
        "sam-vit-l": KnownWeights(
            "sam-vit-l",
            "vit_l",
            "sam_vit_l_0b3195.pth",
            "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            1_249_524_607,
            "Segment Anything ViT-L, Apache-2.0",
        ),
        "sam-vit-h": KnownWeights(
            "sam-vit-h",
            "vit_h",
            "sam_vit_h_4b8939.pth",
            "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            2_564_550_879,
            "Segment Anything ViT-H (the mask decoder MIRAS builds on), Apache-2.0",
        ),
    }
)


def known_weights(model_id: str) -> KnownWeights:
    try:
        return KNOWN_WEIGHTS[model_id]
    except KeyError:
        known = ", ".join(sorted(KNOWN_WEIGHTS))
        raise WeightsError(f"unknown model {model_id!r}; known models: {known}") from None


def known_by_file_name(file_name: str) -> KnownWeights | None:
    for known in KNOWN_WEIGHTS.values():
        if known.file_name == file_name:
            return known
    return None


def sha256_file(path: Path, task: Task | None = None) -> str:
    """Hex sha256 of a file's bytes; cancellable between chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                if task is not None:
                    task.check()
    except FileNotFoundError:
        raise WeightsError(f"{path}: checkpoint file not found") from None
    except IsADirectoryError:
        raise WeightsError(f"{path}: is a directory, expected a checkpoint file") from None
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read checkpoint ({exc.strerror or exc})") from None
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str, task: Task | None = None) -> None:
    """Raise :class:`WeightsError` unless the file's sha256 is ``expected``."""
    actual = sha256_file(path, task)
    if actual != expected.lower():
        raise WeightsError(
            f"{path}: sha256 mismatch (expected {expected.lower()}, got {actual}); the file is "
            "corrupted, truncated or a different checkpoint — it was not loaded"
        )


def safe_torch_load(path: Path, expected_sha256: str, task: Task | None = None) -> dict[str, Any]:
    """Verify the hash, then load the checkpoint as plain tensors (no code runs from the file).

    Returns the state dict on the CPU. A checkpoint wrapped as ``{"model": state_dict}`` or
    ``{"state_dict": ...}`` is unwrapped.
    """
    verify_sha256(path, expected_sha256, task)
    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (Cancelled, KeyboardInterrupt):
        raise
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(
            f"{path}: not a plain-tensor checkpoint, refused to load it ({first_line})"
        ) from None
    return _state_dict_of(loaded, path)


def _state_dict_of(loaded: Any, path: Path) -> dict[str, Any]:
    import torch

    if isinstance(loaded, Mapping):
        for wrapper in ("state_dict", "model"):
            inner = loaded.get(wrapper)
            if isinstance(inner, Mapping) and inner and all(isinstance(k, str) for k in inner):
                loaded = inner
                break
    if not isinstance(loaded, Mapping) or not loaded:
        raise WeightsError(f"{path}: does not hold a state dict (got {type(loaded).__name__})")
    bad = [
        k for k, v in loaded.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)
    ]
    if bad:
        raise WeightsError(f"{path}: the state dict has non-tensor entries, e.g. {bad[0]!r}")
    return dict(loaded)


def load_state_dict_strict(
    module: torch.nn.Module, state_dict: Mapping[str, Any], source: Path | str
) -> None:
    """``module.load_state_dict(strict=True)`` with an error that says what did not fit."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong_shape:
            parts.append(f"{len(wrong_shape)} of the wrong shape (e.g. {wrong_shape[0]})")
        raise WeightsError(
            f"{source}: checkpoint does not fit the {type(module).__name__} architecture: "
            + "; ".join(parts)
        )
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{source}: checkpoint does not fit the model ({exc})") from None

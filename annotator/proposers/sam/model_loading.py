"""Build a SAM model without a checkpoint and load verified weights into it.

The builders of ``mobile_sam`` and ``segment_anything`` call a bare ``torch.load`` when given a
checkpoint, so they are always called with ``checkpoint=None`` and the weights go through
:func:`annotator.proposers.weights.safe_torch_load` instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from annotator.core.errors import WeightsError
from annotator.core.progress import Task
from annotator.proposers.weights import KNOWN_WEIGHTS, load_state_dict_strict, safe_torch_load
from annotator.proposers.weights_registry import InstalledWeights

if TYPE_CHECKING:
    import torch

SAM_ARCHS = ("vit_t", "vit_b", "vit_l", "vit_h")
# Width of the ViT image encoders (the last axis of ``image_encoder.pos_embed``); MobileSAM's
# TinyViT has no such tensor and is told apart by its ``image_encoder.layers``.
_VIT_WIDTHS = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}


def build_sam_model(arch: str) -> torch.nn.Module:
    """An untrained model of ``arch``: vit_t from ``mobile_sam``, the others from
    ``segment_anything``."""
    if arch == "vit_t":
        with warnings.catch_warnings():
            # mobile_sam imports deprecated timm paths and re-registers timm's TinyViT names.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message="Overwriting tiny_vit", category=UserWarning)
            from mobile_sam.build_sam import build_sam_vit_t

        return build_sam_vit_t(checkpoint=None)
    if arch in SAM_ARCHS:
        from segment_anything.build_sam import sam_model_registry

        model: Any = sam_model_registry[arch](checkpoint=None)
        return model
    raise WeightsError(f"unknown SAM architecture {arch!r}; expected one of {', '.join(SAM_ARCHS)}")


def load_sam_model(
    entry: InstalledWeights, *, device: str = "cpu", task: Task | None = None
) -> torch.nn.Module:
    """The model of ``entry`` with its verified weights, in eval mode on ``device``."""
    task = task or Task()
    task.start(3, f"verifying {entry.path.name}")
    state = safe_torch_load(entry.path, entry.sha256, task)
    task.step(message=f"building {entry.arch}")
    model = build_sam_model(entry.arch)
    task.step(message="loading weights")
    try:
        load_state_dict_strict(model, state, entry.path)
    except WeightsError as exc:
        raise WeightsError(f"{exc}{_other_arch_hint(state, entry)}") from None
    del state
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    task.step(message="model ready")
    return model.to(device)


def guess_sam_arch(state: Mapping[str, Any]) -> str | None:
    """The SAM architecture a state dict was saved from, judged by its encoder's tensors."""
    pos_embed = state.get("image_encoder.pos_embed")
    if pos_embed is not None and getattr(pos_embed, "ndim", 0) == 4:
        return _VIT_WIDTHS.get(int(pos_embed.shape[-1]))
    if any(key.startswith("image_encoder.layers.") for key in state):
        return "vit_t"
    return None


def _other_arch_hint(state: Mapping[str, Any], entry: InstalledWeights) -> str:
    """Names the model a mismatched checkpoint seems to belong to: a file added under the
    wrong model id is the likely mistake."""
    guess = guess_sam_arch(state)
    if guess is None or guess == entry.arch:
        return ""
    models = [k.model_id for k in KNOWN_WEIGHTS.values() if k.arch == guess]
    target = f" (add it as {' or '.join(models)})" if models else ""
    return (
        f"; {entry.model_id} needs a {entry.arch} checkpoint, this file looks like a {guess} "
        f"checkpoint{target}"
    )


def check_loadable(entry: InstalledWeights, task: Task | None = None) -> None:
    """Raise :class:`WeightsError` unless ``entry`` loads into its architecture."""
    load_sam_model(entry, task=task)

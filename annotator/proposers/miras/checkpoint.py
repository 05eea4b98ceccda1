"""Reading and writing MIRAS checkpoint directories.

A directory holds ``config.json`` (see :mod:`.config`), the weights as ``model.safetensors``
(or a legacy ``pytorch_model.bin`` read with ``weights_only=True``), and the tokenizer files
(``tokenizer.json`` / ``tokenizer.model`` + ``tokenizer_config.json``), which must define
``[SEG]`` as one token. Loading is strict: every tensor the network has must be present with
its shape, nothing extra may be present, and the weights' sha256 must match the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from annotator.core.errors import WeightsError
from annotator.core.progress import Task
from annotator.proposers.miras.config import (
    WEIGHTS_FILE,
    MirasConfig,
    read_config,
    write_config,
)
from annotator.proposers.miras.layout import network_is_flat, to_file_names, to_network_names
from annotator.proposers.miras.network import MirasNetwork
from annotator.proposers.miras.runtime import building_on
from annotator.proposers.weights import sha256_file

LEGACY_WEIGHTS_FILE = "pytorch_model.bin"


@dataclass
class LoadedMiras:
    config: MirasConfig
    network: MirasNetwork
    tokenizer: Any  # transformers PreTrainedTokenizerBase
    seg_token_id: int
    device: torch.device
    dtype: torch.dtype


def load_tokenizer(directory: Path, config: MirasConfig) -> tuple[Any, int]:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except Exception as exc:  # transformers raises many types for a missing/broken tokenizer
        raise WeightsError(f"{directory}: no usable tokenizer in the checkpoint ({exc})") from exc
    ids = tokenizer(config.tokens.seg, add_special_tokens=False).input_ids
    if len(ids) != 1:
        raise WeightsError(
            f"{directory}: the tokenizer does not hold {config.tokens.seg} as one token "
            f"(it splits it into {len(ids)})"
        )
    if tokenizer.eos_token_id is None:
        raise WeightsError(f"{directory}: the tokenizer has no end-of-sequence token")
    if len(tokenizer) > int(config.llm["vocab_size"]):
        raise WeightsError(
            f"{directory}: the tokenizer has {len(tokenizer)} tokens but the model only "
            f"{config.llm['vocab_size']}"
        )
    return tokenizer, int(ids[0])


def read_state_dict(
    directory: Path, config: MirasConfig, *, verify: bool, task: Task | None
) -> dict[str, torch.Tensor]:
    st = directory / WEIGHTS_FILE
    legacy = directory / LEGACY_WEIGHTS_FILE
    path = st if st.is_file() else legacy
    if not path.is_file():
        raise WeightsError(f"{directory}: no weights ({WEIGHTS_FILE} or {LEGACY_WEIGHTS_FILE})")
    if verify and config.weights_sha256:
        got = sha256_file(path, task)
        if got != config.weights_sha256:
            raise WeightsError(
                f"{path}: sha256 {got} does not match the config's {config.weights_sha256} "
                "(corrupt or replaced weights)"
            )
    try:
        if path is st:
            from safetensors.torch import load_file

            return load_file(str(path))
        loaded = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # unreadable bytes surface as many different exception types
        raise WeightsError(f"{path}: not a loadable weights file ({exc})") from exc
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise WeightsError(f"{path}: not a state dict of named tensors")
    return loaded


def check_state_dict(
    expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor], source: str
) -> None:
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    wrong = sorted(
        k for k in set(expected) & set(given) if tuple(expected[k].shape) != tuple(given[k].shape)
    )
    if missing or unexpected or wrong:
        parts = []
        for label, names in (("missing", missing), ("unexpected", unexpected)):
            if names:
                parts.append(f"{len(names)} {label} (e.g. {', '.join(names[:3])})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} with the wrong shape (e.g. {k}: "
                f"{tuple(given[k].shape)} instead of {tuple(expected[k].shape)})"
            )
        raise WeightsError(f"{source}: weights do not fit the config: " + "; ".join(parts))


def load_checkpoint(
    directory: str | Path,
    *,
    device: torch.device,
    dtype: torch.dtype,
    verify: bool = True,
    task: Task | None = None,
) -> LoadedMiras:
    directory = Path(directory)
    if not directory.is_dir():
        raise WeightsError(f"{directory}: checkpoint directory does not exist")
    config = read_config(directory)
    tokenizer, seg_id = load_tokenizer(directory, config)
    state = read_state_dict(directory, config, verify=verify, task=task)
    with building_on(device, dtype):
        network = MirasNetwork(config)
    own = network.state_dict()
    state = to_network_names(state, flat=network_is_flat(own))
    check_state_dict(own, state, str(directory))
    bad = [k for k, v in state.items() if not v.is_floating_point() and v.dtype != torch.bool]
    if bad:
        raise WeightsError(f"{directory}: non-float tensors in the weights (e.g. {bad[0]})")
    network.load_state_dict(state, strict=True)
    del state
    network.to_runtime(device, dtype)
    return LoadedMiras(config, network, tokenizer, seg_id, device, dtype)


def save_state(path: Path, state: dict[str, torch.Tensor]) -> str:
    """Write tensors as safetensors; return the file's sha256 (recorded in the config)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    save_file(tensors, str(path), metadata={"format": "pt"})
    return sha256_file(path)


def save_checkpoint(
    directory: str | Path, network: MirasNetwork, tokenizer: Any, config: MirasConfig
) -> MirasConfig:
    """Write weights, tokenizer and config (config last: a directory without it is unfinished)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(directory))
    own = network.state_dict()
    sha = save_state(directory / WEIGHTS_FILE, to_file_names(own, flat=network_is_flat(own)))
    final = config.with_weights_sha256(sha)
    write_config(directory, final)
    return final

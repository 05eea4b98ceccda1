"""``make-tiny-miras``: a few-MB random MIRAS checkpoint in the real layout.

It exercises the whole pipeline (tokenizer, prompt, vision towers, greedy decoding, [SEG] ->
SAM masks) without the 7B weights. Its weights are random, so its answers and masks are noise;
its config says so (``random_init``) and the app shows it.

A random network rarely picks any particular token, so the config carries a documented
``logit_bias``: small constants added to the ``[SEG]`` and ``</s>`` logits at every step
(``--seg-bias``, ``--eos-bias``; 0 turns them off) so that its answers end within the token
budget and often contain ``[SEG]``, which exercises the [SEG] -> mask path. The bias is part of
the checkpoint, not of the inference code; real checkpoints have none. Which turns get a
``[SEG]`` is still up to the random weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from annotator.core.errors import WeightsError
from annotator.core.progress import Task
from annotator.proposers.miras.config import MirasConfig, TokensConfig, tiny_config

DEFAULT_SEG_BIAS = 0.2
DEFAULT_EOS_BIAS = 0.2


def make_tiny_miras(
    directory: str | Path,
    *,
    corpus: Sequence[str] | None = None,
    seed: int = 0,
    with_aux: bool = True,
    seg_bias: float = DEFAULT_SEG_BIAS,
    eos_bias: float = DEFAULT_EOS_BIAS,
    vocab_size: int = 2000,
    force: bool = False,
    task: Task | None = None,
) -> MirasConfig:
    import torch

    from annotator.proposers.miras.checkpoint import save_checkpoint
    from annotator.proposers.miras.network import MirasNetwork
    from annotator.proposers.miras.tiny_tokenizer import EOS, build_tokenizer

    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()) and not force:
        raise WeightsError(f"{directory} exists and is not empty (use --force to overwrite)")
    task = task or Task()
    task.start(3, "tokenizer")
    tokenizer = build_tokenizer(corpus, TokensConfig(), vocab_size=vocab_size)
    task.step(message="network")
    tokens = TokensConfig()
    config = tiny_config(
        len(tokenizer), with_aux=with_aux, logit_bias={tokens.seg: seg_bias, EOS: eos_bias}
    )
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        network = MirasNetwork(config)
    finally:
        torch.random.set_rng_state(generator_state)
    task.step(message="writing")
    final = save_checkpoint(directory, network, tokenizer, config)
    task.step()
    return final

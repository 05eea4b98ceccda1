"""A small byte-level BPE tokenizer trained on the spot, for tiny test checkpoints.

Nothing is downloaded: the merges are learned from the given texts (e.g. the PRIST dialogues) or
from a built-in sample of the conversation template. Byte-level pre-tokenisation means every
text, in any script, encodes and decodes losslessly. The special tokens are those MIRAS uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from annotator.core.errors import InputError
from annotator.proposers.miras.config import LLAVA_V1_SYSTEM, TokensConfig

BOS, EOS, UNK, PAD = "<s>", "</s>", "<unk>", "<pad>"

_BUILTIN_CORPUS = (
    LLAVA_V1_SYSTEM,
    "USER: What is the object on the left side of the image? ASSISTANT: It is a bottle.",
    "USER: What colour is it and what is written on it? ASSISTANT: It is green with a label.",
    "USER: Please segment the object discussed above. ASSISTANT: Certainly, [SEG].",
    "USER: Please divide the conversation above into its target. ASSISTANT: Sure, [SEG].",
    "The sign near the door shows the opening hours of the shop in white letters.",
    "A person is holding a phone whose screen shows a map of the city centre.",
)


def corpus_from_file(path: Path) -> list[str]:
    """Texts of a PRIST-style JSON file (dialogue values and foci) or lines of a text file."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the tokenizer corpus: {exc}", file=str(path)) from exc
    if path.suffix.lower() != ".json":
        return [line for line in raw.splitlines() if line.strip()]
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", file=str(path), line=exc.lineno) from exc
    return list(_texts(data))


def _texts(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, list):
        for item in data:
            yield from _texts(item)
    elif isinstance(data, dict):
        for key in ("value", "focus"):
            if isinstance(data.get(key), str):
                yield data[key]
        if "dialogue" in data:
            yield from _texts(data["dialogue"])


def build_tokenizer(
    texts: Iterable[str] | None, tokens: TokensConfig, vocab_size: int = 2000
) -> Any:
    """A ``PreTrainedTokenizerFast`` with BOS/EOS/UNK/PAD and the MIRAS special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    extra = [tokens.seg, tokens.image, tokens.im_start, tokens.im_end]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[UNK, BOS, EOS, PAD, *extra],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = list(texts) if texts is not None else []
    core.train_from_iterator(corpus + list(_BUILTIN_CORPUS), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=PAD,
        additional_special_tokens=extra,
    )

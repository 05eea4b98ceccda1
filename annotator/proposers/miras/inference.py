"""One MIRAS turn: prompt -> greedy answer -> [SEG] hidden states -> SAM masks.

Steps, as in the paper's inference code:
1. the llava_v1 prompt with ``<image>`` in the first question; the image placeholder is replaced
   by the projected CLIP (+ aux) tokens;
2. greedy decoding, at most ``max_new_tokens`` tokens, stopping at ``</s>``;
3. for every generated ``[SEG]``, the last-layer (post-norm) hidden state of the position that
   produced it -- LISA's convention, the state whose logits chose ``[SEG]`` -- goes through
   ``text_hidden_fcs`` into SAM's prompt encoder as the single sparse prompt;
4. SAM's mask decoder (one mask per prompt), logits upsampled to the padded SAM input, cropped to
   the resized image, upsampled to the original size, thresholded at 0.

The image side (CLIP/aux tokens and SAM's image embedding) is computed once per image and kept
in a small LRU cache keyed by the image hash, so later turns of a conversation skip it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from annotator.core.errors import ProposerError
from annotator.core.mask import Mask
from annotator.core.progress import Task
from annotator.proposers.base import Exchange, TurnOutput
from annotator.proposers.miras.checkpoint import LoadedMiras
from annotator.proposers.miras.preprocess import prepare
from annotator.proposers.miras.prompt import build_prompt


@dataclass
class ImageState:
    tokens: torch.Tensor  # 1 x N x hidden, replaces <image>
    sam_embeddings: torch.Tensor  # 1 x D x g x g
    sam_input_size: tuple[int, int]
    original_size: tuple[int, int]


class MirasPipeline:
    def __init__(self, loaded: LoadedMiras, *, cache_images: int = 4) -> None:
        self.m = loaded
        self.cache_images = cache_images
        self._images: OrderedDict[str, ImageState] = OrderedDict()
        tok = loaded.tokenizer
        self._bias = self._logit_bias()
        self._eos = int(tok.eos_token_id)
        self._bos = tok.bos_token_id

    def _logit_bias(self) -> torch.Tensor | None:
        bias = self.m.config.generation.logit_bias
        if not bias:
            return None
        vec = torch.zeros(int(self.m.config.llm["vocab_size"]), device=self.m.device)
        for text, value in bias.items():
            ids = self.m.tokenizer(text, add_special_tokens=False).input_ids
            if len(ids) != 1:
                raise ProposerError(f"logit_bias names {text!r}, which is not one token")
            vec[ids[0]] = float(value)
        return vec

    def _sync(self) -> None:
        # GPU work is asynchronous: wait for it so that stage timings are true.
        if self.m.device.type == "cuda":
            torch.cuda.synchronize(self.m.device)

    def forget_images(self) -> None:
        self._images.clear()

    # -- image side --------------------------------------------------------------------------
    @torch.inference_mode()
    def image_state(self, image: np.ndarray, key: str) -> tuple[ImageState, bool]:
        if key in self._images:
            self._images.move_to_end(key)
            return self._images[key], True
        net, dev, dt = self.m.network, self.m.device, self.m.dtype
        prep = prepare(image, self.m.config)

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a)[None].to(device=dev, dtype=dt)

        tokens = net.image_tokens(tensor(prep.clip), None if prep.aux is None else tensor(prep.aux))
        emb = net.sam_embeddings(tensor(prep.sam))
        self._sync()
        state = ImageState(tokens, emb, prep.sam_input_size, prep.original_size)
        if self.cache_images > 0:
            self._images[key] = state
            while len(self._images) > self.cache_images:
                self._images.popitem(last=False)
        return state, False

    # -- text side ---------------------------------------------------------------------------
    def prompt_embeddings(
        self, prompt: str, image_tokens: torch.Tensor
    ) -> tuple[torch.Tensor, int]:
        placeholder = self.m.config.tokens.image
        if prompt.count(placeholder) != 1:
            raise ProposerError("the prompt must hold exactly one image placeholder")
        before, after = prompt.split(placeholder)
        tok = self.m.tokenizer
        ids_before = tok(before, add_special_tokens=False).input_ids
        if self._bos is not None:
            ids_before = [int(self._bos), *ids_before]
        ids_after = tok(after, add_special_tokens=False).input_ids
        embed = self.m.network.language_model.get_input_embeddings()
        dev = self.m.device
        parts = [
            embed(torch.tensor([ids_before], device=dev)),
            image_tokens.to(embed.weight.dtype),
            embed(torch.tensor([ids_after], device=dev)),
        ]
        n = len(ids_before) + image_tokens.shape[1] + len(ids_after)
        return torch.cat(parts, dim=1), n

    @torch.inference_mode()
    def generate(
        self, embeds: torch.Tensor, task: Task | None
    ) -> tuple[list[int], list[torch.Tensor], float, float]:
        """Greedy decoding. Returns the new token ids (without ``</s>``), the hidden states that
        produced each ``[SEG]``, and the prefill and decode times."""
        from transformers import DynamicCache

        lm = self.m.network.language_model
        body, head = lm.model, lm.lm_head
        cache = DynamicCache()
        t0 = time.perf_counter()
        out = body(inputs_embeds=embeds, past_key_values=cache, use_cache=True)
        hidden = out.last_hidden_state[:, -1]
        self._sync()
        prefill = time.perf_counter() - t0
        ids: list[int] = []
        seg_hidden: list[torch.Tensor] = []
        seg = self.m.seg_token_id
        max_new = self.m.config.generation.max_new_tokens
        t1 = time.perf_counter()
        for step in range(max_new):
            if task is not None:
                task.check()
            logits = head(hidden).float()[0]
            if self._bias is not None:
                logits = logits + self._bias
            token = int(torch.argmax(logits))
            if token == self._eos:
                break
            ids.append(token)
            if token == seg:
                seg_hidden.append(hidden[0].clone())
            if step + 1 == max_new:
                break  # the last token's own state is never needed
            out = body(
                input_ids=torch.tensor([[token]], device=self.m.device),
                past_key_values=cache,
                use_cache=True,
            )
            hidden = out.last_hidden_state[:, -1]
        return ids, seg_hidden, prefill, time.perf_counter() - t1

    def decode_text(self, ids: Sequence[int]) -> tuple[str, int]:
        """Answer text; ids the tokenizer does not know (a model wider than its tokenizer, as in
        the full-size random benchmark) are dropped and counted."""
        size = len(self.m.tokenizer)
        known = [i for i in ids if 0 <= i < size]
        text = self.m.tokenizer.decode(known, skip_special_tokens=False)
        return text.strip(), len(ids) - len(known)

    # -- masks -------------------------------------------------------------------------------
    @torch.inference_mode()
    def masks(
        self, seg_hidden: list[torch.Tensor], state: ImageState
    ) -> tuple[list[Mask], list[float]]:
        if not seg_hidden:
            return [], []
        net = self.m.network
        low, scores = net.decode_masks(
            torch.stack(seg_hidden).to(self.m.dtype), state.sam_embeddings
        )
        size = self.m.config.sam.image_size
        nh, nw = state.sam_input_size
        h, w = state.original_size
        up = F.interpolate(low.float(), (size, size), mode="bilinear", align_corners=False)
        up = up[..., :nh, :nw]
        full = F.interpolate(up, (h, w), mode="bilinear", align_corners=False)[:, 0] > 0
        arrays = full.cpu().numpy()
        return [Mask.from_array(a) for a in arrays], [float(s) for s in scores.float().cpu()]

    # -- one turn ----------------------------------------------------------------------------
    def propose(
        self,
        image: np.ndarray,
        key: str,
        history: Sequence[Exchange],
        question: str,
        task: Task | None = None,
    ) -> TurnOutput:
        t0 = time.perf_counter()
        state, cached = self.image_state(image, key)
        t_image = time.perf_counter() - t0
        prompt = build_prompt(self.m.config, history, question)
        with torch.inference_mode():
            embeds, n_prompt = self.prompt_embeddings(prompt, state.tokens)
        ids, seg_hidden, prefill, decode = self.generate(embeds, task)
        t2 = time.perf_counter()
        masks, scores = self.masks(seg_hidden, state)
        self._sync()
        t_masks = time.perf_counter() - t2
        text, unknown = self.decode_text(ids)
        total = time.perf_counter() - t0
        return TurnOutput(
            answer=text,
            masks=tuple(masks),
            scores=tuple(scores),
            timing={
                "image_s": t_image,
                "prefill_s": prefill,
                "decode_s": decode,
                "masks_s": t_masks,
                "total_s": total,
            },
            detail={
                "prompt_tokens": n_prompt,
                "new_tokens": len(ids),
                "seg_tokens": len(seg_hidden),
                "image_cached": cached,
                "unknown_tokens": unknown,
                "tokens_per_s": len(ids) / decode if decode > 0 else 0.0,
            },
        )

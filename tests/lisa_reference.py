"""A tiny LISA checkpoint in LISA's own naming and layout, and LISA's forward pass over it.

Everything here is written from LISA's code (``dvlab-research/LISA``: ``model/LISA.py``,
``model/llava/llava_arch.py``, ``model/llava/mm_utils.py``, ``chat.py``) on top of the library
modules LISA itself builds on (transformers' Llama and CLIP, segment_anything's SAM, CLIP's image
processor), without any of this project's code, so that the converted checkpoint run by our
MIRAS pipeline can be compared with what LISA would answer on the same weights.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

IMAGE, IM_START, IM_END, SEG = "<image>", "<im_start>", "<im_end>", "[SEG]"
IMAGE_TOKEN_INDEX = -200
SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
CLIP_SIZE, SAM_SIZE = 224, 1024  # LISA: openai/clip-vit-large-patch14, ResizeLongestSide(1024)


@dataclass
class TinyLisa:
    llm: nn.Module  # LlamaForCausalLM
    clip: nn.Module  # CLIPVisionModel
    mm_projector: nn.Linear
    text_hidden_fcs: nn.ModuleList
    sam: nn.Module  # segment_anything Sam
    tokenizer: object
    max_new_tokens: int = 512


def build_tokenizer() -> object:
    """A Llama-like tokenizer (adds <s>), with LISA's added tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", IMAGE, IM_START, IM_END, SEG]
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    corpus = [SYSTEM, "USER: what is on the table? ASSISTANT: a red cup, see [SEG]."] * 4
    core.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", core.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        additional_special_tokens=[IMAGE, IM_START, IM_END, SEG],
    )


def build(seed: int = 0) -> TinyLisa:
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )
    from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    hidden, vision, prompt = 64, 64, 32
    llm = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=2048,
            rms_norm_eps=1e-6,
        )
    )
    # Random weights rarely choose one token; make [SEG] and </s> likelier so that the answer
    # ends and segments (a property of these weights, not of any code under test).
    with torch.no_grad():
        for token, scale in ((SEG, 4.0), ("</s>", 2.5)):
            llm.lm_head.weight[tokenizer.convert_tokens_to_ids(token)] *= scale
    clip = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=vision,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=vision // 64,  # CLIP ViT-L's head width
            image_size=CLIP_SIZE,
            patch_size=14,
        )
    )
    grid = SAM_SIZE // 16
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=2,
            embed_dim=16,
            img_size=SAM_SIZE,
            mlp_ratio=4,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
            num_heads=2,
            patch_size=16,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=(1,),
            window_size=4,
            out_chans=prompt,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=prompt,
            image_embedding_size=(grid, grid),
            input_image_size=(SAM_SIZE, SAM_SIZE),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=prompt, mlp_dim=64, num_heads=8),
            transformer_dim=prompt,
            iou_head_depth=3,
            iou_head_hidden_dim=32,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    fcs = nn.ModuleList(
        [
            nn.Sequential(
                nn.Linear(hidden, hidden),
                nn.ReLU(inplace=True),
                nn.Linear(hidden, prompt),
                nn.Dropout(0.0),
            )
        ]
    )
    return TinyLisa(llm.eval(), clip.eval(), nn.Linear(vision, hidden), fcs, sam.eval(), tokenizer)


def lisa_state_dict(m: TinyLisa, *, with_clip: bool = True) -> dict[str, torch.Tensor]:
    """The tensors under the names ``LISAForCausalLM.save_pretrained`` gives them."""
    state = {k: v for k, v in m.llm.state_dict().items()}  # model.*, lm_head.*
    if with_clip:
        for k, v in m.clip.state_dict().items():
            k = k if k.startswith("vision_model.") else "vision_model." + k
            state["model.vision_tower.vision_tower." + k] = v
    state.update({"model.mm_projector." + k: v for k, v in m.mm_projector.state_dict().items()})
    state.update(
        {"model.text_hidden_fcs." + k: v for k, v in m.text_hidden_fcs.state_dict().items()}
    )
    state.update({"model.visual_model." + k: v for k, v in m.sam.state_dict().items()})
    state["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(8)  # old transformers
    return state


def write_checkpoint(m: TinyLisa, out: Path, *, with_clip: bool = True) -> None:
    """Two ``pytorch_model-*.bin`` shards with their index, LISA's config and tokenizer."""
    out.mkdir(parents=True)
    state = {k: v.clone() for k, v in lisa_state_dict(m, with_clip=with_clip).items()}
    names = sorted(state)
    shards = {1: names[: len(names) // 2], 2: names[len(names) // 2 :]}
    index = {}
    for i, part in shards.items():
        file = f"pytorch_model-0000{i}-of-00002.bin"
        torch.save({k: state[k] for k in part}, out / file)
        index.update({k: file for k in part})
    (out / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": index}))
    cfg = m.llm.config
    (out / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["LISAForCausalLM"],
                "model_type": "llava",
                "hidden_size": cfg.hidden_size,
                "intermediate_size": cfg.intermediate_size,
                "num_attention_heads": cfg.num_attention_heads,
                "num_hidden_layers": cfg.num_hidden_layers,
                "max_position_embeddings": cfg.max_position_embeddings,
                "rms_norm_eps": cfg.rms_norm_eps,
                "vocab_size": cfg.vocab_size,
                "image_aspect_ratio": "square",
                "mm_hidden_size": m.clip.config.hidden_size,
                "mm_use_im_start_end": True,
                "mm_vision_select_feature": "patch",
                "mm_vision_select_layer": -2,
                "mm_vision_tower": "openai/clip-vit-large-patch14",
                "out_dim": 32,
                "train_mask_decoder": True,
                "use_mm_proj": True,
            }
        )
    )
    m.tokenizer.save_pretrained(str(out))


# -- LISA's inference ---------------------------------------------------------------------------
def llava_v1_prompt(history: Sequence[tuple[str, str]], question: str) -> str:
    """chat.py: ``<image>\\n`` before the first question, replaced by the start/end form, in
    the llava_v1 template (SeparatorStyle.TWO: seps " " and "</s>")."""
    rounds = [*history, (question, "")]
    out = SYSTEM + " "
    for i, (q, a) in enumerate(rounds):
        if i == 0:
            q = (IMAGE + "\n" + q).replace(IMAGE, IM_START + IMAGE + IM_END)
        out += "USER: " + q + " "
        out += ("ASSISTANT: " + a + "</s>") if a else "ASSISTANT:"
    return out


def tokenizer_image_token(prompt: str, tokenizer: object) -> list[int]:
    chunks = [tokenizer(c).input_ids for c in prompt.split(IMAGE)]  # type: ignore[operator]
    ids: list[int] = []
    offset = 0
    if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id:  # type: ignore[attr-defined]
        offset = 1
        ids.append(chunks[0][0])
    for i, chunk in enumerate(chunks):
        if i:
            ids.append(IMAGE_TOKEN_INDEX)
        ids.extend(chunk[offset:])
    return ids


@torch.no_grad()
def evaluate(
    m: TinyLisa, image: np.ndarray, history: Sequence[tuple[str, str]], question: str
) -> tuple[list[int], np.ndarray]:
    """LISA's ``evaluate``: greedy ``generate`` (no cache: every step sees the whole sequence),
    [SEG] hidden states from the last step, SAM's decoder per image. Returns the new token ids
    (``</s>`` included when generated) and the boolean masks (k x H x W)."""
    from segment_anything.utils.transforms import ResizeLongestSide
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tok = m.tokenizer
    seg = tok.convert_tokens_to_ids(SEG)  # type: ignore[attr-defined]
    eos = tok.eos_token_id  # type: ignore[attr-defined]
    pixels = CLIPImageProcessorPil().preprocess(image, return_tensors="pt")["pixel_values"]
    feats = m.clip(pixels, output_hidden_states=True).hidden_states[-2][:, 1:]
    image_features = m.mm_projector(feats)[0]
    input_ids = tokenizer_image_token(llava_v1_prompt(history, question), tok)
    embed = m.llm.get_input_embeddings()

    def embeds_of(ids: list[int]) -> torch.Tensor:
        at = ids.index(IMAGE_TOKEN_INDEX)
        return torch.cat(
            [
                embed(torch.tensor(ids[:at])),
                image_features,
                embed(torch.tensor(ids[at + 1 :])),
            ]
        )[None]

    ids = list(input_ids)
    for _ in range(m.max_new_tokens):
        logits = m.llm(inputs_embeds=embeds_of(ids), use_cache=False).logits[0, -1]
        ids.append(int(torch.argmax(logits)))
        if ids[-1] == eos:
            break
    # The last step's hidden states (post-norm, last layer) cover all but the last token.
    last = m.llm.model(inputs_embeds=embeds_of(ids[:-1]), use_cache=False).last_hidden_state
    extra = image_features.shape[0] - 1  # LISA's "255": the image placeholder's expansion
    mask = torch.tensor([False] * extra + [t == seg for t in ids[1:]])
    pred = m.text_hidden_fcs[0](last)[0][mask]

    resized = ResizeLongestSide(SAM_SIZE).apply_image(image)
    sam_in = m.sam.preprocess(torch.from_numpy(resized).permute(2, 0, 1).contiguous()[None].float())
    embedding = m.sam.image_encoder(sam_in)
    new_ids = ids[len(input_ids) :]
    if pred.shape[0] == 0:
        return new_ids, np.zeros((0, *image.shape[:2]), dtype=bool)
    pe = m.sam.prompt_encoder
    k = pred.shape[0]
    sparse = torch.cat([torch.empty((k, 0, pe.embed_dim)), pred[:, None, :]], dim=1)
    dense = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(k, -1, *pe.image_embedding_size)
    low, _ = m.sam.mask_decoder(
        image_embeddings=embedding,
        image_pe=pe.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=False,
    )
    masks = m.sam.postprocess_masks(
        low, input_size=resized.shape[:2], original_size=image.shape[:2]
    )
    return new_ids, (masks[:, 0] > 0).numpy()

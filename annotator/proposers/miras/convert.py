"""``annotator models convert-miras|convert-lisa SRC DST``: the authors' checkpoint layout -> ours.

The authors' code (LISA on the Mini-Gemini code base, "MGMSA") saves one LLaVA-style state dict:

=============================================  ===========================================
authors' name                                   ours
=============================================  ===========================================
``model.embed_tokens.*``, ``model.layers.*``,  ``language_model.model.*``
``model.norm.*``
``lm_head.*``                                   ``language_model.lm_head.*``
``model.vision_tower.vision_tower.*``           ``vision_tower.*`` (CLIP, see ``layout``)
``model.vision_tower_aux.vision_tower.*``       ``vision_tower_aux.*`` (ConvNeXt stem/stages)
``model.vlm_uni_{query,aux,val}_projector.*``   ``aux_fusion.{query,key,value}.*``
``model.mm_projector.*``                        ``mm_projector.*``
``model.text_hidden_fcs.0.*``                   ``text_hidden_fcs.*``
``model.visual_model.*``                        ``sam.*``
=============================================  ===========================================

LISA (``dvlab-research/LISA``, the paper's baseline) saves the same names without the aux tower
and with LLaVA-1's single linear ``mm_projector`` (told apart by the tensors' names). Its chat
code, which ``convert-lisa`` follows, always writes ``<im_start><image><im_end>`` into the
prompt, feeds CLIP through CLIP's own image processor (short side resized, centre crop, no
padding: ``crop`` here) and allows 512 new tokens. A LISA directory without the CLIP tower takes
it from a local ``openai/clip-vit-large-patch14`` directory (``--clip``).

Dropped on purpose: rotary ``inv_freq`` and CLIP ``position_ids`` buffers (recomputed), and the
aux ConvNeXt classification head (unused). Anything else that does not map is an error, as is
anything our network needs and the source lacks. The network's dimensions are read from the
tensors' shapes (the authors' ``config.json`` supplies what shapes cannot tell: attention head
counts, norm epsilon, RoPE base, the image token settings; ``overrides`` fill in or correct
those: ``vision_num_attention_heads`` (default hidden/64, right for CLIP ViT-L),
``sam_decoder_num_heads`` (8), ``image_size_aux`` (768), ``aux_feature_stride`` (16),
``mm_vision_select_layer`` (-2)). SAM may come from the official
``sam_vit_h_4b8939.pth`` when the source has no ``model.visual_model.*`` tensors.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from annotator.core.errors import WeightsError
from annotator.core.progress import Task
from annotator.proposers.miras.config import (
    WEIGHTS_FILE,
    AuxConfig,
    GenerationConfig,
    MirasConfig,
    SamConfig,
    TokensConfig,
    write_config,
)

TOKENIZER_FILES = (
    "tokenizer.model",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)

# (authors' prefix, our prefix), first match wins: longer, more specific prefixes first.
PREFIXES: tuple[tuple[str, str], ...] = (
    ("model.vision_tower_aux.vision_tower.", "vision_tower_aux."),
    ("model.vision_tower_aux.vision_stem.", "vision_tower_aux.stem."),
    ("model.vision_tower_aux.vision_stages.", "vision_tower_aux.stages."),
    ("model.vision_tower.vision_tower.", "vision_tower."),
    ("model.vision_tower.", "vision_tower."),
    ("model.vlm_uni_query_projector.", "aux_fusion.query."),
    ("model.vlm_uni_aux_projector.", "aux_fusion.key."),
    ("model.vlm_uni_val_projector.", "aux_fusion.value."),
    ("model.mm_projector.", "mm_projector."),
    ("model.text_hidden_fcs.0.", "text_hidden_fcs."),
    ("model.visual_model.", "sam."),
    ("model.embed_tokens.", "language_model.model.embed_tokens."),
    ("model.layers.", "language_model.model.layers."),
    ("model.norm.", "language_model.model.norm."),
    ("lm_head.", "language_model.lm_head."),
)

_DROPPED = (
    re.compile(r".*\.rotary_emb\.inv_freq$"),
    re.compile(r".*vision_model\.embeddings\.position_ids$"),
    re.compile(r"^model\.vision_tower_aux\.(vision_tower\.)?(head|norm_pre)\..*"),
)


def map_name(name: str) -> str | None:
    """Our name for one of the authors' tensors; ``None`` for tensors dropped on purpose."""
    if any(p.match(name) for p in _DROPPED):
        return None
    for theirs, ours in PREFIXES:
        if name.startswith(theirs):
            return ours + name[len(theirs) :]
    raise KeyError(name)


def map_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for name, tensor in state.items():
        try:
            ours = map_name(name)
        except KeyError:
            unknown.append(name)
            continue
        if ours is not None:
            out[ours] = tensor
    if unknown:
        raise WeightsError(
            f"{len(unknown)} tensors have no place in MIRAS (e.g. {', '.join(sorted(unknown)[:3])})"
        )
    return out


# -- reading the source ---------------------------------------------------------------------
def read_source_tensors(src: Path, task: Task | None = None) -> dict[str, torch.Tensor]:
    files = sorted(src.glob("*.safetensors")) or sorted(src.glob("pytorch_model*.bin"))
    if not files:
        raise WeightsError(f"{src}: no *.safetensors or pytorch_model*.bin weights")
    state: dict[str, torch.Tensor] = {}
    for path in files:
        if task is not None:
            task.check()
        state.update(_read_tensor_file(path))
    return state


def _read_tensor_file(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        loaded = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # unreadable bytes surface as many exception types
        raise WeightsError(f"{path}: not a loadable weights file ({exc})") from exc
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise WeightsError(f"{path}: not a state dict of named tensors")
    return loaded


def read_sam_checkpoint(path: Path, task: Task | None = None) -> dict[str, torch.Tensor]:
    """The official SAM checkpoint (hash-checked when it is a known file), as ``sam.*``."""
    from annotator.proposers.weights import known_by_file_name, safe_torch_load, sha256_file

    known = known_by_file_name(path.name)
    expected = known.sha256 if known is not None else sha256_file(path, task)
    return {f"sam.{k}": v for k, v in safe_torch_load(path, expected, task).items()}


def read_clip_checkpoint(directory: Path, task: Task | None = None) -> dict[str, torch.Tensor]:
    """The vision half of a Hugging Face CLIP directory, as ``vision_tower.vision_model.*``:
    ``vision_model.*`` of a ``CLIPModel`` (the hub's files), or a ``CLIPVisionModel`` saved
    without that level by newer transformers. Text tower and projections are left out."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in read_source_tensors(directory, task).items():
        if name.startswith(_CLIP_VISION_PARTS):
            name = "vision_model." + name
        if name.startswith("vision_model.") and not name.endswith("embeddings.position_ids"):
            out["vision_tower." + name] = tensor
    if not out:
        raise WeightsError(f"{directory}: no CLIP vision tower tensors (vision_model.*)")
    return out


_CLIP_VISION_PARTS = ("embeddings.", "pre_layrnorm.", "encoder.", "post_layernorm.")


def _source_config(src: Path) -> dict[str, Any]:
    path = src / "config.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: unreadable config ({exc})") from exc
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: not a JSON object")
    return data


# -- dimensions from shapes -----------------------------------------------------------------
def _count(state: Mapping[str, Any], prefix: str) -> int:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in state if (m := pat.match(k))}
    return max(found) + 1 if found else 0


def _shape(state: Mapping[str, torch.Tensor], name: str) -> tuple[int, ...]:
    if name not in state:
        raise WeightsError(f"the source has no {name}; cannot tell the network's size")
    return tuple(state[name].shape)


def infer_config(
    state: Mapping[str, torch.Tensor], src_cfg: Mapping[str, Any], name: str
) -> MirasConfig:
    """Our config from our-named tensors plus the authors' config for what shapes cannot tell."""
    lm = "language_model.model."
    vocab, hidden = _shape(state, lm + "embed_tokens.weight")
    heads = int(src_cfg.get("num_attention_heads", max(1, hidden // 128)))
    head_dim = hidden // heads
    llm = {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": _shape(state, lm + "layers.0.mlp.gate_proj.weight")[0],
        "num_hidden_layers": _count(state, lm + "layers."),
        "num_attention_heads": heads,
        "num_key_value_heads": _shape(state, lm + "layers.0.self_attn.k_proj.weight")[0]
        // head_dim,
        "max_position_embeddings": int(src_cfg.get("max_position_embeddings", 4096)),
        "rms_norm_eps": float(src_cfg.get("rms_norm_eps", 1e-5)),
        "rope_theta": float(src_cfg.get("rope_theta", 10000.0)),
        "hidden_act": str(src_cfg.get("hidden_act", "silu")),
        "tie_word_embeddings": False,
    }
    vm = "vision_tower.vision_model."
    v_hidden, _, patch, _ = _shape(state, vm + "embeddings.patch_embedding.weight")
    positions = _shape(state, vm + "embeddings.position_embedding.weight")[0]
    grid = round((positions - 1) ** 0.5)
    vision = {
        "hidden_size": v_hidden,
        "intermediate_size": _shape(state, vm + "encoder.layers.0.mlp.fc1.weight")[0],
        "num_hidden_layers": _count(state, vm + "encoder.layers."),
        "num_attention_heads": int(
            src_cfg.get("vision_num_attention_heads", max(1, v_hidden // 64))
        ),
        "image_size": grid * patch,
        "patch_size": patch,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5,
    }
    aux = None
    if any(k.startswith("vision_tower_aux.") for k in state):
        dims = tuple(
            _shape(state, f"vision_tower_aux.stages.{i}.blocks.0.conv_dw.weight")[0]
            for i in range(4)
        )
        depths = tuple(_count(state, f"vision_tower_aux.stages.{i}.blocks.") for i in range(4))
        aux = AuxConfig(
            image_size=int(src_cfg.get("image_size_aux", 768)),
            depths=depths,
            dims=dims,
            feature_stride=int(src_cfg.get("aux_feature_stride", 16)),
        )
    return MirasConfig(
        name=name,
        llm=llm,
        mm_projector="linear" if "mm_projector.weight" in state else "mlp2x_gelu",
        generation=GenerationConfig(max_new_tokens=int(src_cfg.get("max_new_tokens", 128))),
        vision=vision,
        sam=_infer_sam(state, int(src_cfg.get("sam_decoder_num_heads", 8))),
        aux=aux,
        tokens=TokensConfig(),
        vision_select_layer=int(src_cfg.get("mm_vision_select_layer", -2)),
        image_aspect_ratio="pad" if src_cfg.get("image_aspect_ratio", "pad") == "pad" else "crop",
        mm_use_im_start_end=bool(src_cfg.get("mm_use_im_start_end", False)),
    )


def _infer_sam(state: Mapping[str, torch.Tensor], decoder_heads: int) -> SamConfig:
    enc = "sam.image_encoder."
    embed, _, patch, _ = _shape(state, enc + "patch_embed.proj.weight")
    grid = _shape(state, enc + "pos_embed")[1]
    depth = _count(state, enc + "blocks.")
    rel = [_shape(state, f"{enc}blocks.{i}.attn.rel_pos_h") for i in range(depth)]
    global_blocks = tuple(i for i, s in enumerate(rel) if s[0] == 2 * grid - 1)
    windowed = [s for i, s in enumerate(rel) if i not in global_blocks]
    dec = "sam.mask_decoder."
    return SamConfig(
        image_size=grid * patch,
        patch_size=patch,
        embed_dim=embed,
        depth=depth,
        num_heads=embed // rel[0][1],
        global_attn_indexes=global_blocks,
        window_size=(windowed[0][0] + 1) // 2 if windowed else 0,
        prompt_embed_dim=_shape(state, enc + "neck.0.weight")[0],
        decoder_depth=_count(state, dec + "transformer.layers."),
        decoder_mlp_dim=_shape(state, dec + "transformer.layers.0.mlp.lin1.weight")[0],
        decoder_num_heads=decoder_heads,
        iou_head_hidden_dim=_shape(state, dec + "iou_prediction_head.layers.0.weight")[0],
    )


# -- the commands ---------------------------------------------------------------------------
# What LISA's chat code does whatever its config says, and what it assumes where it says nothing.
LISA_FIXED: Mapping[str, Any] = {"image_aspect_ratio": "crop"}
LISA_DEFAULTS: Mapping[str, Any] = {"mm_use_im_start_end": True, "max_new_tokens": 512}


def convert_lisa(
    src: str | Path,
    dst: str | Path,
    *,
    sam_checkpoint: str | Path | None = None,
    clip_checkpoint: str | Path | None = None,
    name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    force: bool = False,
    task: Task | None = None,
) -> MirasConfig:
    """A LISA checkpoint (e.g. LISA-7B-v1-explanatory) into our layout, run by ``miras``."""
    return convert_miras(
        src,
        dst,
        sam_checkpoint=sam_checkpoint,
        clip_checkpoint=clip_checkpoint,
        name=name,
        defaults=LISA_DEFAULTS,
        overrides={**LISA_FIXED, **(overrides or {})},
        force=force,
        task=task,
    )


def convert_miras(
    src: str | Path,
    dst: str | Path,
    *,
    sam_checkpoint: str | Path | None = None,
    clip_checkpoint: str | Path | None = None,
    name: str | None = None,
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    force: bool = False,
    task: Task | None = None,
) -> MirasConfig:
    """Convert, write ``dst`` and check that it loads (strictly) before declaring success.
    Config values: ``defaults`` < the source's ``config.json`` < ``overrides``."""
    from annotator.proposers.miras.checkpoint import (
        check_state_dict,
        load_tokenizer,
        save_state,
    )
    from annotator.proposers.miras.layout import network_is_flat, to_file_names
    from annotator.proposers.miras.network import MirasNetwork

    src, dst = Path(src), Path(dst)
    task = task or Task()
    if not src.is_dir():
        raise WeightsError(f"{src}: source checkpoint directory does not exist")
    if dst.exists() and any(dst.iterdir()) and not force:
        raise WeightsError(f"{dst} exists and is not empty (use --force to overwrite)")
    task.start(4, "reading weights")
    state = map_state_dict(read_source_tensors(src, task))
    for what, prefix, path, read, option in (
        ("SAM", "sam.", sam_checkpoint, read_sam_checkpoint, "--sam"),
        ("CLIP", "vision_tower.", clip_checkpoint, read_clip_checkpoint, "--clip"),
    ):
        if path is None:
            continue
        # A part given separately (official SAM, CLIP) joins the state, never doubling one.
        if any(k.startswith(prefix) for k in state):
            raise WeightsError(f"{src} already holds {what} weights; do not pass {option} as well")
        state.update(read(Path(path), task))
    if not any(k.startswith("sam.") for k in state):
        raise WeightsError(
            f"{src} has no SAM weights (model.visual_model.*); pass the official SAM ViT-H "
            "checkpoint with --sam sam_vit_h_4b8939.pth"
        )
    if not any(k.startswith("vision_tower.") for k in state):
        raise WeightsError(
            f"{src} has no CLIP vision tower (model.vision_tower.*); pass the directory of "
            "openai/clip-vit-large-patch14 (LISA) with --clip DIR"
        )
    task.step(message="checking the layout")
    src_cfg = {**(defaults or {}), **_source_config(src), **(overrides or {})}
    config = infer_config(state, src_cfg, name or src.name)
    with torch.device("meta"):
        own = MirasNetwork(config).state_dict()
    check_state_dict(to_file_names(own, flat=network_is_flat(own)), state, str(src))
    task.step(message="writing")
    dst.mkdir(parents=True, exist_ok=True)
    copied = [f for f in TOKENIZER_FILES if (src / f).is_file()]
    if not copied:
        raise WeightsError(f"{src}: no tokenizer files ({', '.join(TOKENIZER_FILES)})")
    for f in copied:
        shutil.copyfile(src / f, dst / f)
    load_tokenizer(dst, config)  # [SEG] must be one token before anything else is written
    sha = save_state(dst / WEIGHTS_FILE, state)
    final = replace(config, weights_sha256=sha)
    write_config(dst, final)
    task.step()
    return final

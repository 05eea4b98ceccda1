"""The MIRAS checkpoint configuration (``config.json`` in a checkpoint directory), torch-free.

One JSON document describes every part of the network so that a checkpoint directory is
self-contained: the LLaMA language model and the CLIP vision tower as transformers config
dictionaries, the optional Mini-Gemini high-resolution ConvNeXt encoder, SAM's geometry, the
special tokens and the decoding settings. Nothing here is fetched from a model hub.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from annotator.core.errors import WeightsError

FORMAT = "prist-annotator.miras"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PROJECTORS = ("mlp2x_gelu", "linear")

# LLaVA-1.5 (llava_v1) system prompt, as the MIRAS conversations were trained with.
LLAVA_V1_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)


@dataclass(frozen=True)
class AuxConfig:
    """Mini-Gemini's auxiliary high-resolution encoder (ConvNeXt) and its patch-level fusion.

    Every ConvNeXt stage output is resized to one grid of ``image_size / feature_stride`` cells
    and concatenated (``sum(dims)`` channels); each CLIP token then attends over the aux cells of
    its own image patch, and the result is added to the CLIP token before the projector.
    """

    image_size: int = 768
    depths: tuple[int, ...] = (3, 3, 27, 3)
    dims: tuple[int, ...] = (192, 384, 768, 1536)
    feature_stride: int = 16

    @property
    def channels(self) -> int:
        return sum(self.dims)

    @property
    def grid(self) -> int:
        return self.image_size // self.feature_stride


@dataclass(frozen=True)
class SamConfig:
    image_size: int = 1024
    patch_size: int = 16
    embed_dim: int = 1280
    depth: int = 32
    num_heads: int = 16
    global_attn_indexes: tuple[int, ...] = (7, 15, 23, 31)
    window_size: int = 14
    prompt_embed_dim: int = 256
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    iou_head_hidden_dim: int = 256
    pixel_mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    pixel_std: tuple[float, float, float] = (58.395, 57.12, 57.375)

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


@dataclass(frozen=True)
class TokensConfig:
    seg: str = "[SEG]"
    image: str = "<image>"
    im_start: str = "<im_start>"
    im_end: str = "<im_end>"


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 128
    # Added to the logits of the named tokens at every step. Real checkpoints leave it empty;
    # the tiny random checkpoint sets it so that its noise still exercises [SEG] -> mask.
    logit_bias: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MirasConfig:
    name: str
    llm: Mapping[str, Any]  # transformers.LlamaConfig keyword arguments
    vision: Mapping[str, Any]  # transformers.CLIPVisionConfig keyword arguments
    sam: SamConfig = SamConfig()
    aux: AuxConfig | None = None
    tokens: TokensConfig = TokensConfig()
    generation: GenerationConfig = GenerationConfig()
    vision_select_layer: int = -2
    image_aspect_ratio: str = "pad"  # "pad" (LLaVA-1.5) or "crop" (CLIP's own resize + crop)
    mm_use_im_start_end: bool = False
    mm_projector: str = "mlp2x_gelu"  # LLaVA-1.5 / MIRAS; "linear" in LLaVA-1 and LISA
    clip_mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    clip_std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)
    conversation: str = "llava_v1"
    system_prompt: str = LLAVA_V1_SYSTEM
    random_init: bool = False  # weights are random: proposals are noise
    weights_sha256: str = ""  # of WEIGHTS_FILE, written with it

    # -- derived ----------------------------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        return int(self.llm["hidden_size"])

    @property
    def vision_hidden_size(self) -> int:
        return int(self.vision["hidden_size"])

    @property
    def clip_image_size(self) -> int:
        return int(self.vision["image_size"])

    @property
    def clip_grid(self) -> int:
        return int(self.vision["image_size"]) // int(self.vision["patch_size"])

    @property
    def image_token_count(self) -> int:
        return self.clip_grid**2

    @property
    def out_dim(self) -> int:
        return self.sam.prompt_embed_dim

    # -- JSON -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["generation"]["logit_bias"] = dict(self.generation.logit_bias)
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str = CONFIG_FILE) -> MirasConfig:
        if not isinstance(data, Mapping):
            raise WeightsError(f"{source}: not a JSON object")
        if data.get("format") != FORMAT:
            raise WeightsError(
                f"{source}: not a MIRAS checkpoint config (format {data.get('format')!r}, "
                f"expected {FORMAT!r}); convert the authors' checkpoint with "
                "`annotator models convert-miras SRC DST`"
            )
        if data.get("format_version") != FORMAT_VERSION:
            raise WeightsError(
                f"{source}: config format_version {data.get('format_version')!r} is not "
                f"supported (this version reads {FORMAT_VERSION})"
            )
        try:
            aux = data.get("aux")
            gen = data.get("generation", {})
            cfg = cls(
                name=str(data["name"]),
                llm=dict(data["llm"]),
                vision=dict(data["vision"]),
                sam=_tuples(SamConfig, data.get("sam", {})),
                aux=None if aux is None else _tuples(AuxConfig, aux),
                tokens=TokensConfig(**data.get("tokens", {})),
                generation=GenerationConfig(
                    max_new_tokens=int(gen.get("max_new_tokens", 128)),
                    logit_bias={str(k): float(v) for k, v in gen.get("logit_bias", {}).items()},
                ),
                **{
                    k: (tuple(v) if isinstance(v, list) else v)
                    for k, v in data.items()
                    if k in _SCALAR_FIELDS
                },
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise WeightsError(f"{source}: malformed MIRAS config: {exc!r}") from exc
        cfg.validate(source=source)
        return cfg

    def validate(self, *, source: str = CONFIG_FILE) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise WeightsError(f"{source}: {msg}")

        for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers"):
            need(isinstance(self.llm.get(key), int) and self.llm[key] > 0, f"llm.{key} must be > 0")
        for key in ("hidden_size", "image_size", "patch_size", "num_hidden_layers"):
            need(
                isinstance(self.vision.get(key), int) and self.vision[key] > 0,
                f"vision.{key} must be > 0",
            )
        need(
            self.clip_image_size % int(self.vision["patch_size"]) == 0,
            "vision.image_size must be a multiple of vision.patch_size",
        )
        n_layers = int(self.vision["num_hidden_layers"])
        need(
            -n_layers - 1 <= self.vision_select_layer <= n_layers,
            f"vision_select_layer {self.vision_select_layer} is outside the tower",
        )
        need(self.image_aspect_ratio in ("pad", "crop"), "image_aspect_ratio must be pad or crop")
        need(self.mm_projector in PROJECTORS, f"mm_projector must be one of {PROJECTORS}")
        need(self.conversation == "llava_v1", "only the llava_v1 conversation template exists")
        need(self.sam.image_size % self.sam.patch_size == 0, "sam.image_size % patch_size != 0")
        need(
            all(0 <= i < self.sam.depth for i in self.sam.global_attn_indexes),
            "sam.global_attn_indexes must lie inside sam.depth",
        )
        need(1 <= self.generation.max_new_tokens <= 4096, "generation.max_new_tokens out of range")
        if self.aux is not None:
            need(len(self.aux.depths) == len(self.aux.dims) == 4, "aux needs 4 ConvNeXt stages")
            need(self.aux.image_size % self.aux.feature_stride == 0, "aux grid is not whole")
            need(
                self.aux.grid % self.clip_grid == 0,
                f"aux grid {self.aux.grid} must be a multiple of the CLIP grid {self.clip_grid}",
            )

    def with_weights_sha256(self, sha256: str) -> MirasConfig:
        return replace(self, weights_sha256=sha256)


_SCALAR_FIELDS = (
    "vision_select_layer",
    "image_aspect_ratio",
    "mm_use_im_start_end",
    "mm_projector",
    "clip_mean",
    "clip_std",
    "conversation",
    "system_prompt",
    "random_init",
    "weights_sha256",
)


def _tuples(kind: type[Any], data: Mapping[str, Any]) -> Any:
    return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def read_config(directory: Path) -> MirasConfig:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise WeightsError(f"{directory}: not a MIRAS checkpoint directory (no {CONFIG_FILE})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: unreadable config: {exc}") from exc
    return MirasConfig.from_json(data, source=str(path))


def write_config(directory: Path, config: MirasConfig) -> None:
    (directory / CONFIG_FILE).write_text(
        json.dumps(config.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


# -- presets --------------------------------------------------------------------------------
def llama_7b(vocab_size: int) -> dict[str, Any]:
    """LLaVA-1.5-7B's language model (Vicuna-7B v1.5) dimensions."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
    }


def clip_vit_l_336() -> dict[str, Any]:
    """openai/clip-vit-large-patch14-336 vision tower dimensions."""
    return {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "image_size": 336,
        "patch_size": 14,
        "projection_dim": 768,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5,
    }


def full_size_config(
    vocab_size: int, *, with_aux: bool = True, name: str = "miras-7b"
) -> MirasConfig:
    """The paper's MIRAS: LLaVA-1.5-7B, CLIP ViT-L/336, ConvNeXt-L/768 aux encoder, SAM ViT-H."""
    return MirasConfig(
        name=name,
        llm=llama_7b(vocab_size),
        vision=clip_vit_l_336(),
        sam=SamConfig(),
        aux=AuxConfig() if with_aux else None,
    )


def tiny_config(
    vocab_size: int, *, with_aux: bool = True, logit_bias: Mapping[str, float] | None = None
) -> MirasConfig:
    """A few-MB random network with the real layout (see ``make-tiny-miras``)."""
    return MirasConfig(
        name="miras-tiny-random",
        llm={
            "vocab_size": vocab_size,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0,
            "hidden_act": "silu",
            "tie_word_embeddings": False,
        },
        vision={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 56,
            "patch_size": 14,
            "projection_dim": 32,
            "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5,
        },
        sam=SamConfig(
            image_size=128,
            patch_size=16,
            embed_dim=16,
            depth=2,
            num_heads=2,
            global_attn_indexes=(1,),
            window_size=4,
            prompt_embed_dim=32,
            decoder_depth=2,
            decoder_mlp_dim=64,
            decoder_num_heads=2,
            iou_head_hidden_dim=32,
        ),
        aux=AuxConfig(image_size=128, depths=(1, 1, 1, 1), dims=(8, 16, 32, 64), feature_stride=16)
        if with_aux
        else None,
        generation=GenerationConfig(
            max_new_tokens=128, logit_bias={k: v for k, v in (logit_bias or {}).items() if v}
        ),
        random_init=True,
    )

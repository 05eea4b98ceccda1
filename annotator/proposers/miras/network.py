"""The MIRAS network assembled from library building blocks (imported lazily by the proposer).

Parts and their state-dict prefixes (the checkpoint layout this project writes and reads):

==========================  ==========================================================
``language_model.*``        transformers ``LlamaForCausalLM`` (LLaVA-1.5's Vicuna)
``vision_tower.*``          transformers ``CLIPVisionModel`` (ViT-L/14-336)
``vision_tower_aux.*``      optional timm ConvNeXt stem + stages (Mini-Gemini's aux encoder)
``aux_fusion.*``            optional patch-level fusion of aux features into CLIP tokens
``mm_projector.*``          Linear -> GELU -> Linear (``mlp2x_gelu``) or one Linear (``linear``,
                            LISA) into the LLM width
``text_hidden_fcs.*``       Linear -> ReLU -> Linear: [SEG] hidden state -> SAM prompt
``sam.*``                   segment_anything ``Sam`` (image encoder, prompt encoder, decoder)
==========================  ==========================================================
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

from annotator.proposers.miras.config import AuxConfig, MirasConfig, SamConfig


class AuxEncoder(nn.Module):
    """ConvNeXt whose four stage outputs are resized to one grid and stacked on channels."""

    def __init__(self, cfg: AuxConfig) -> None:
        super().__init__()
        from timm.models.convnext import ConvNeXt

        trunk = ConvNeXt(depths=cfg.depths, dims=cfg.dims, num_classes=0)
        self.stem = trunk.stem
        self.stages = trunk.stages
        self.grid = cfg.grid

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.stem(pixels)
        resized = []
        for stage in self.stages:
            x = stage(x)
            # Interpolate in fp32: bilinear resize in bf16 loses visible precision.
            resized.append(
                F.interpolate(x.float(), size=(self.grid, self.grid), mode="bilinear").to(x.dtype)
            )
        return torch.cat(resized, dim=1)  # B x sum(dims) x grid x grid


class PatchFusion(nn.Module):
    """Mini-Gemini patch info mining: every CLIP token attends over the high-resolution cells
    inside its own patch; the attended value is added to the token."""

    def __init__(self, dim: int, aux_dim: int) -> None:
        super().__init__()
        self.query = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim))
        self.key = nn.Sequential(nn.LayerNorm(aux_dim), nn.Linear(aux_dim, dim))
        self.value = nn.Sequential(nn.LayerNorm(aux_dim), nn.Linear(aux_dim, dim))

    def forward(self, tokens: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        b, n, _ = tokens.shape
        g = math.isqrt(n)
        c, big = aux.shape[1], aux.shape[-1]
        p = big // g
        # (B, C, g*p, g*p) -> (B, g*g, p*p, C): the cells of each CLIP patch, row-major.
        cells = aux.reshape(b, c, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(b, n, p * p, c)
        q = self.query(tokens)
        k = self.key(cells)
        v = self.value(cells)
        att = torch.einsum("bnd,bnpd->bnp", q, k) / math.sqrt(k.shape[-1])
        att = att.nan_to_num()
        return tokens + torch.einsum("bnp,bnpd->bnd", att.softmax(-1), v)


def build_sam(cfg: SamConfig) -> Sam:
    grid = cfg.grid
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=cfg.depth,
            embed_dim=cfg.embed_dim,
            img_size=cfg.image_size,
            mlp_ratio=4,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
            num_heads=cfg.num_heads,
            patch_size=cfg.patch_size,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=cfg.global_attn_indexes,
            window_size=cfg.window_size,
            out_chans=cfg.prompt_embed_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=cfg.prompt_embed_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(cfg.image_size, cfg.image_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=cfg.decoder_depth,
                embedding_dim=cfg.prompt_embed_dim,
                mlp_dim=cfg.decoder_mlp_dim,
                num_heads=cfg.decoder_num_heads,
            ),
            transformer_dim=cfg.prompt_embed_dim,
            iou_head_depth=3,
            iou_head_hidden_dim=cfg.iou_head_hidden_dim,
        ),
        pixel_mean=list(cfg.pixel_mean),
        pixel_std=list(cfg.pixel_std),
    )


class MirasNetwork(nn.Module):
    def __init__(self, cfg: MirasConfig) -> None:
        super().__init__()
        self.cfg = cfg
        llm_cfg = LlamaConfig(**dict(cfg.llm))
        self.language_model = LlamaForCausalLM(llm_cfg)
        self.vision_tower = CLIPVisionModel(CLIPVisionConfig(**dict(cfg.vision)))
        vis, hid = cfg.vision_hidden_size, cfg.hidden_size
        self.vision_tower_aux: AuxEncoder | None = None
        self.aux_fusion: PatchFusion | None = None
        if cfg.aux is not None:
            self.vision_tower_aux = AuxEncoder(cfg.aux)
            self.aux_fusion = PatchFusion(vis, cfg.aux.channels)
        self.mm_projector: nn.Module = (
            nn.Linear(vis, hid)
            if cfg.mm_projector == "linear"
            else nn.Sequential(nn.Linear(vis, hid), nn.GELU(), nn.Linear(hid, hid))
        )
        self.text_hidden_fcs = nn.Sequential(
            nn.Linear(hid, hid), nn.ReLU(inplace=True), nn.Linear(hid, cfg.out_dim)
        )
        self.sam = build_sam(cfg.sam)

    def to_runtime(self, device: torch.device, dtype: torch.dtype) -> MirasNetwork:
        """Move to ``device``/``dtype`` for inference. SAM's random-Fourier positional encoding
        stays fp32: segment_anything builds its coordinate grid in fp32 whatever the weights."""
        self.to(device=device, dtype=dtype)
        self.sam.prompt_encoder.pe_layer.float()
        return self.eval()

    # -- image side (computed once per image, reused across turns) -------------------------
    def image_tokens(
        self, clip_pixels: torch.Tensor, aux_pixels: torch.Tensor | None
    ) -> torch.Tensor:
        """B x (grid*grid) x hidden: the embeddings that take the place of ``<image>``."""
        out = self.vision_tower(clip_pixels, output_hidden_states=True)
        tokens = out.hidden_states[self.cfg.vision_select_layer][:, 1:]  # drop CLS
        if self.vision_tower_aux is not None and self.aux_fusion is not None:
            if aux_pixels is None:
                raise ValueError("this network has an aux encoder: aux pixels are required")
            aux = self.vision_tower_aux(aux_pixels).to(tokens.dtype)
            tokens = self.aux_fusion(tokens, aux)
        return self.mm_projector(tokens)

    def sam_embeddings(self, sam_pixels: torch.Tensor) -> torch.Tensor:
        return self.sam.image_encoder(sam_pixels)

    # -- [SEG] -> masks ----------------------------------------------------------------------
    def decode_masks(
        self, seg_hidden: torch.Tensor, image_embeddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``seg_hidden`` k x hidden -> low-resolution mask logits k x 1 x h x w and scores k."""
        prompts = self.text_hidden_fcs(seg_hidden).to(image_embeddings.dtype)
        k = prompts.shape[0]
        pe = self.sam.prompt_encoder
        # The [SEG] embedding is the only sparse prompt; no mask prompt (SAM's "no mask" embed).
        sparse = prompts[:, None, :]
        gh, gw = pe.image_embedding_size
        dense = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(k, -1, gh, gw)
        low_res, iou = self.sam.mask_decoder(
            image_embeddings=image_embeddings,
            image_pe=pe.get_dense_pe().to(image_embeddings.dtype),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense.to(image_embeddings.dtype),
            multimask_output=False,
        )
        return low_res, iou[:, 0]

"""The two halves of SAM as plain tensor-in, tensor-out modules, run by torch and exported to ONNX.

This module imports torch at the top; only the engine imports it, inside functions, once a model
is being loaded.

Prompts arrive already in the encoder's 1024-pixel input frame, as SAM's prompt encoder wants
them: points with labels 1 (positive), 0 (negative), 2 and 3 (box corners) and -1 (padding, used
when there is no box). Both runtimes share this one prompt embedding, so they cannot disagree on
prompt semantics; the decoder always returns all four of SAM's outputs (index 0 is the
single-mask output, 1-3 the multimask ones) and the caller slices.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class EncoderGraph(nn.Module):
    """Normalised, padded ``(1, 3, 1024, 1024)`` image → ``(1, 256, 64, 64)`` embedding."""

    def __init__(self, sam: nn.Module) -> None:
        super().__init__()
        self.image_encoder = sam.image_encoder

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.image_encoder(image)


class PromptEmbedding(nn.Module):
    """SAM's prompt encoder as tensors in, tensors out: the one prompt embedding both decoders
    and both runtimes share."""

    def __init__(self, sam: nn.Module) -> None:
        super().__init__()
        prompt = sam.prompt_encoder
        self.mask_downscaling = prompt.mask_downscaling
        self.register_buffer("gaussian", prompt.pe_layer.positional_encoding_gaussian_matrix)
        self.register_buffer("dense_pe", prompt.get_dense_pe().detach().clone())
        # Rows: not-a-point, negative, positive, box top-left, box bottom-right.
        label_table = torch.cat(
            [prompt.not_a_point_embed.weight] + [e.weight for e in prompt.point_embeddings]
        )
        self.register_buffer("label_table", label_table.detach().clone())
        self.register_buffer("no_mask", prompt.no_mask_embed.weight.reshape(1, -1, 1, 1).clone())
        self.input_h, self.input_w = prompt.input_image_size

    def sparse(self, point_coords: torch.Tensor, point_labels: torch.Tensor) -> torch.Tensor:
        """``(1, N, 2)`` points in the 1024 input frame, ``(1, N)`` labels → ``(1, N, 256)``."""
        coords = (point_coords + 0.5) / torch.tensor(
            [self.input_w, self.input_h], dtype=point_coords.dtype
        )
        coords = (2 * coords - 1) @ self.gaussian * (2 * math.pi)
        point_pe = torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)
        labels = point_labels.unsqueeze(-1)
        is_point = (labels != -1).to(point_pe.dtype)
        one_hot = torch.cat(
            [(labels == value).to(point_pe.dtype) for value in (-1.0, 0.0, 1.0, 2.0, 3.0)], dim=-1
        )
        return point_pe * is_point + one_hot @ self.label_table

    def dense(self, mask_input: torch.Tensor, has_mask_input: torch.Tensor) -> torch.Tensor:
        """``(1, 1, 256, 256)`` earlier logits (used when ``has_mask_input`` is 1) →
        ``(1, 256, 64, 64)``."""
        use_mask = has_mask_input.reshape(1, 1, 1, 1)
        return self.mask_downscaling(mask_input) * use_mask + self.no_mask * (1 - use_mask)


class DecoderGraph(nn.Module):
    """Embedding + prompts → ``(low_res_logits (1, 4, 256, 256), scores (1, 4))``: SAM's own
    mask decoder, the reference the faster
    :class:`~annotator.proposers.sam.factored_decoder.ClickGraph` is checked against."""

    def __init__(self, sam: nn.Module) -> None:
        super().__init__()
        self.prompt = PromptEmbedding(sam)
        self.mask_decoder = sam.mask_decoder

    def forward(
        self,
        image_embeddings: torch.Tensor,  # (1, 256, 64, 64) float32
        point_coords: torch.Tensor,  # (1, N, 2) float32, x y in the 1024 input frame
        point_labels: torch.Tensor,  # (1, N) float32 in {-1, 0, 1, 2, 3}
        mask_input: torch.Tensor,  # (1, 1, 256, 256) float32 logits of an earlier answer
        has_mask_input: torch.Tensor,  # (1,) float32: 1 to use mask_input, 0 to ignore it
    ) -> tuple[torch.Tensor, torch.Tensor]:
        low_res, scores = self.mask_decoder.predict_masks(
            image_embeddings=image_embeddings,
            image_pe=self.prompt.dense_pe,
            sparse_prompt_embeddings=self.prompt.sparse(point_coords, point_labels),
            dense_prompt_embeddings=self.prompt.dense(mask_input, has_mask_input),
        )
        return low_res, scores

"""SAM's mask decoder rearranged for CPU clicks: the same function, half the arithmetic.

The reference decoder projects all 4,096 image tokens into queries, keys and values in every
cross-attention, although the other side of each attention is a handful of prompt tokens
(``T`` = 5 output tokens + the clicks, usually under 10). Attention is bilinear, so those
per-pixel projections fold into the token side:

* tokens → image: ``q·(W_k x + b_k)`` is ``(q W_k)·x`` plus a per-row constant that softmax over
  the image ignores, and ``softmax(·) (x W_vᵀ + b_v)`` is ``(softmax(·) x) W_vᵀ + b_v`` because
  every softmax row sums to one; the image side costs ``heads·T × 256`` per pixel instead of
  two ``256 × 128`` projections;
* image → tokens: ``(W_q x + b_q)·k`` is ``x·(W_qᵀ k) + b_q·k``, and the value and output
  projections multiply into one ``heads·T × 256`` matrix.

The two transposed convolutions of the upscaling have stride = kernel = 2, so they are
per-pixel matrix products; they run on pixel-major matrices (no layout changes between layers)
and the sub-pixels are put in place once, on the four final logit maps.

The decoder is split in two graphs. :class:`ImageStateGraph` does what no click changes: the
image tokens (embedding + dense prompt, pixel-major) and the first layer's keys and values of
them, once per image. :class:`ClickGraph` does the rest for each click. A refining click brings
its own ``mask_input``, which changes the dense prompt and so the state; for it, both graphs
have a variant without the first layer's projections, which would serve one click only.

Numerically the result differs from the reference by float rounding only (checked in the tests
and again whenever the ONNX graphs are exported). It wins while ``heads·T`` stays below the
projections' 128 columns, i.e. up to about 10 clicks; beyond, it is still correct, slower.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from annotator.proposers.sam.torch_graphs import PromptEmbedding


class ImageStateGraph(nn.Module):
    """``(embedding, mask_input, has_mask_input)`` → the click-independent decoder state:
    ``tokens (P, C)`` = embedding + dense prompt, one row per pixel, and (unless
    ``project_first_layer`` is off) the first layer's token→image ``keys``/``values``
    ``(heads, P, head_dim)``. Projecting pays off for a state that serves many clicks (one per
    image, without mask_input); a state made for one refining click skips it."""

    def __init__(self, sam: nn.Module, *, project_first_layer: bool = True) -> None:
        super().__init__()
        self.prompt = PromptEmbedding(sam)
        self.first_attn = sam.mask_decoder.transformer.layers[0].cross_attn_token_to_image
        self.project_first_layer = project_first_layer
        self.register_buffer("pos", _pixel_rows(self.prompt.dense_pe))

    def forward(
        self, image_embeddings: torch.Tensor, mask_input: torch.Tensor, has_mask_input: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        tokens = _pixel_rows(image_embeddings + self.prompt.dense(mask_input, has_mask_input))
        if not self.project_first_layer:
            return (tokens,)
        attn = self.first_attn
        keys = _split_heads(attn.k_proj(tokens + self.pos), attn.num_heads)
        values = _split_heads(attn.v_proj(tokens), attn.num_heads)
        return tokens, keys, values


class ClickGraph(nn.Module):
    """Decoder state + prompts → ``(low_res_logits (1, 4, 256, 256), scores (1, 4))``, equal
    (to float rounding) to :class:`~annotator.proposers.sam.torch_graphs.DecoderGraph` on the
    embedding and mask input the state was made from. Inputs: ``tokens, keys, values, coords,
    labels``, or without ``keys, values`` when ``first_layer_projected`` is off."""

    def __init__(self, sam: nn.Module, *, first_layer_projected: bool = True) -> None:
        super().__init__()
        self.first_layer_projected = first_layer_projected
        decoder = sam.mask_decoder
        transformer = decoder.transformer
        self.prompt = PromptEmbedding(sam)
        self.layers = transformer.layers
        self.final_attn = transformer.final_attn_token_to_image
        self.norm_final = transformer.norm_final_attn
        self.hypernetworks = decoder.output_hypernetworks_mlps
        self.iou_head = decoder.iou_prediction_head
        self.register_buffer(
            "output_tokens",
            torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight]).detach().clone(),
        )
        self.register_buffer("pos", _pixel_rows(self.prompt.dense_pe))
        self.side = int(self.prompt.dense_pe.shape[-1])

        up1, norm, _, up2, _ = decoder.output_upscaling
        self.up1_out = up1.out_channels
        self.up2_out = up2.out_channels
        self.register_buffer("up1_w", _subpixel_matrix(up1))
        self.register_buffer("up1_b", up1.bias.detach().repeat(4))
        self.register_buffer("up2_w", _subpixel_matrix(up2))
        self.register_buffer("up2_b", up2.bias.detach().repeat(4))
        self.register_buffer("norm_w", norm.weight.detach().clone())
        self.register_buffer("norm_b", norm.bias.detach().clone())
        self.norm_eps = float(norm.eps)

    def forward(
        self, tokens: torch.Tensor, *rest: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        keys, values, point_coords, point_labels = (
            rest if self.first_layer_projected else (None, None, *rest)
        )
        sparse = self.prompt.sparse(point_coords, point_labels)[0]
        prompt_pe = torch.cat([self.output_tokens, sparse])
        image = tokens
        queries = prompt_pe
        for index, layer in enumerate(self.layers):
            if layer.skip_first_layer_pe:
                queries = _attend(layer.self_attn, queries, queries, queries)
            else:
                q = queries + prompt_pe
                queries = queries + _attend(layer.self_attn, q, q, queries)
            queries = layer.norm1(queries)
            t2i = layer.cross_attn_token_to_image
            image_pe = image + self.pos  # the keys of both cross-attentions of this layer
            if index == 0 and keys is not None and values is not None:
                attn = _tokens_to_projected_image(t2i, queries + prompt_pe, keys, values)
            else:
                attn = _tokens_to_image(t2i, queries + prompt_pe, image, image_pe)
            queries = layer.norm2(queries + attn)
            queries = layer.norm3(queries + layer.mlp(queries))
            attn = _image_to_tokens(
                layer.cross_attn_image_to_token, image_pe, queries + prompt_pe, queries
            )
            image = layer.norm4(image + attn)
        attn = _tokens_to_image(self.final_attn, queries + prompt_pe, image, image + self.pos)
        queries = self.norm_final(queries + attn)

        n_masks = len(self.hypernetworks)
        hyper = torch.stack([mlp(queries[1 + i]) for i, mlp in enumerate(self.hypernetworks)])
        low_res = self._upscale(image, hyper)
        scores = self.iou_head(queries[0])
        return low_res[None], scores[None, :n_masks]

    def _upscale(self, image: torch.Tensor, hyper: torch.Tensor) -> torch.Tensor:
        """(pixels, C) tokens → (masks, 4·side, 4·side) logits. Rows stay pixel-major through both
        sub-pixel steps: row = ((pixel·4 + sub1)·4 + sub2)."""
        x = (image @ self.up1_w + self.up1_b).reshape(-1, self.up1_out)
        x = F.gelu(F.layer_norm(x, (self.up1_out,), self.norm_w, self.norm_b, self.norm_eps))
        x = F.gelu((x @ self.up2_w + self.up2_b).reshape(-1, self.up2_out))
        logits = hyper @ x.t()  # (masks, pixels·16)
        n, side = hyper.shape[0], self.side
        # (mask·y, x, i1, j1, i2, j2) → (mask·y, i1, i2, x, j1, j2): row 4y+2i1+i2, col 4x+2j1+j2
        grid = logits.reshape(n * side, side, 2, 2, 2, 2).permute(0, 2, 4, 1, 3, 5)
        return grid.reshape(n, 4 * side, 4 * side)


def _pixel_rows(maps: torch.Tensor) -> torch.Tensor:
    """``(1, C, H, W)`` → ``(H·W, C)``."""
    return maps[0].flatten(1).t().contiguous()


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``(N, heads·d)`` → ``(heads, N, d)``."""
    return x.reshape(x.shape[0], heads, -1).transpose(0, 1).contiguous()


def _subpixel_matrix(conv: nn.ConvTranspose2d) -> torch.Tensor:
    """A stride-2, kernel-2 transposed convolution as one (in, 4·out) matrix, columns ordered
    (sub-row, sub-column, out channel)."""
    if tuple(conv.kernel_size) != (2, 2) or tuple(conv.stride) != (2, 2) or conv.groups != 1:
        raise ValueError("expected SAM's 2x2, stride-2 upscaling convolutions")
    weight = conv.weight.detach()  # (in, out, 2, 2)
    return weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1).contiguous()


def _attend(attn: nn.Module, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The reference attention, for token-only attentions (cheap)."""
    return attn(q[None], k[None], v[None])[0]


def _tokens_to_image(
    attn: nn.Module, queries: torch.Tensor, image: torch.Tensor, image_pe: torch.Tensor
) -> torch.Tensor:
    """``attn(q=queries, k=image_pe, v=image)`` (``image_pe`` = image + positional encoding)
    without projecting the image tokens."""
    heads = attn.num_heads
    n = queries.shape[0]
    head_dim = attn.internal_dim // heads
    q = attn.q_proj(queries).reshape(n, heads, head_dim).transpose(0, 1)  # (h, T, d)
    w_k = attn.k_proj.weight.reshape(heads, head_dim, -1)  # (h, d, C)
    # k_proj's bias adds one constant per query row: softmax over the image drops it.
    g = (q @ w_k).reshape(heads * n, -1) / math.sqrt(head_dim)  # (h·T, C)
    weights = torch.softmax(g @ image_pe.t(), dim=-1)  # (h·T, pixels)
    mixed = (weights @ image).reshape(heads, n, -1)  # (h, T, C): rows sum to one
    w_v = attn.v_proj.weight.reshape(heads, head_dim, -1)
    values = mixed @ w_v.transpose(1, 2) + attn.v_proj.bias.reshape(heads, 1, head_dim)
    return attn.out_proj(values.transpose(0, 1).reshape(n, -1))


def _tokens_to_projected_image(
    attn: nn.Module, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor
) -> torch.Tensor:
    """``attn`` with the image side projected already (``keys``/``values`` of
    :class:`ImageStateGraph`): only the few token rows are computed."""
    heads = attn.num_heads
    n = queries.shape[0]
    q = _split_heads(attn.q_proj(queries), heads)  # (h, T, d)
    weights = torch.softmax(q @ keys.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)
    return attn.out_proj((weights @ values).transpose(0, 1).reshape(n, -1))


def _image_to_tokens(
    attn: nn.Module, image_q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor
) -> torch.Tensor:
    """``attn(q=image_q, k=keys, v=values)`` for image queries, without projecting them."""
    heads = attn.num_heads
    n = keys.shape[0]
    head_dim = attn.internal_dim // heads
    k = attn.k_proj(keys).reshape(n, heads, head_dim).permute(1, 2, 0)  # (h, d, T)
    w_q = attn.q_proj.weight.reshape(heads, head_dim, -1)  # (h, d, C)
    scale = 1.0 / math.sqrt(head_dim)
    h_mat = (w_q.transpose(1, 2) @ k).permute(1, 0, 2).reshape(w_q.shape[-1], -1) * scale
    bias = (attn.q_proj.bias.reshape(heads, head_dim, 1) * k).sum(1).reshape(-1) * scale
    logits = (image_q @ h_mat + bias).reshape(image_q.shape[0], heads, n)
    weights = torch.softmax(logits, dim=-1).reshape(image_q.shape[0], heads * n)
    v = attn.v_proj(values).reshape(n, heads, head_dim).transpose(0, 1)  # (h, T, d)
    w_o = attn.out_proj.weight.reshape(-1, heads, head_dim).permute(1, 2, 0)  # (h, d, C)
    mixed = (v @ w_o).reshape(heads * n, -1)  # (h·T, C): value and output projections
    return weights @ mixed + attn.out_proj.bias

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
  projections multiply into one ``heads·T × 256`` matrix. Per-pixel constants (the output
  projection's bias, a mask prompt's bias) join that matrix too: ``b / heads`` on every row
  adds ``b`` once, as each pixel's weights sum to one per head.

What no click changes is computed once per image by :class:`ImageStateGraph`: the image tokens
(embedding + the no-mask dense prompt, pixel-major) and the first layer's projections of them
(the token→image keys and values, and the image→token queries). A refining click brings a
``mask_input``, which changes the dense prompt. SAM's mask embedding ends in a per-pixel linear
map to 256 channels from 16, so the change of each of those projections is a 16-wide product
(:class:`MaskPromptDelta`), which the refining :class:`ClickGraph` folds into the few token
rows like the rest: a refining click reuses the image's state and costs about what a first
click does.

The image→token softmax runs over the few tokens of each pixel; it is computed in a
token-major layout, ``(heads, T, pixels)``, so that its reductions run along long rows.

The upscaling (:class:`UpscaleGraph`) is two transposed convolutions with stride = kernel = 2,
so each cell of the 64 × 64 token grid makes its 4 × 4 patch of logits alone: a click upscales
the cells the image covers and returns the image tokens of the others, which are upscaled only
when the whole map is needed (:mod:`annotator.proposers.sam.low_res`).

Numerically the result differs from the reference by float rounding only (checked in the tests
and again whenever the ONNX graphs are exported). It wins while ``heads·T`` stays below the
projections' 128 columns, i.e. up to about 10 clicks; beyond, it is still correct, slower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from annotator.proposers.sam.torch_graphs import PromptEmbedding


class ImageStateGraph(nn.Module):
    """``embedding (1, 256, 64, 64)`` → the click-independent decoder state of the image:
    ``tokens (P, C)`` = embedding + the no-mask dense prompt, one row per pixel; the first
    layer's token→image ``keys``/``values (heads, P, head_dim)``; its image→token ``queries
    (heads, head_dim, P)``, scaled for the dot product."""

    def __init__(self, sam: nn.Module) -> None:
        super().__init__()
        prompt = PromptEmbedding(sam)
        layer = sam.mask_decoder.transformer.layers[0]
        self.t2i = layer.cross_attn_token_to_image
        self.i2t = layer.cross_attn_image_to_token
        self.register_buffer("no_mask", prompt.no_mask.reshape(1, -1))
        self.register_buffer("pos", _pixel_rows(prompt.dense_pe))

    def forward(self, image_embeddings: torch.Tensor) -> tuple[torch.Tensor, ...]:
        tokens = _pixel_rows(image_embeddings) + self.no_mask
        with_pos = tokens + self.pos
        keys = _split_heads(self.t2i.k_proj(with_pos), self.t2i.num_heads)
        values = _split_heads(self.t2i.v_proj(tokens), self.t2i.num_heads)
        return tokens, keys, values, _image_queries(self.i2t, self.i2t.q_proj(with_pos))


class MaskPromptDelta(nn.Module):
    """How a ``mask_input`` changes the first layer's inputs, against the no-mask state of
    :class:`ImageStateGraph`. SAM's mask embedding ends in a per-pixel linear map from 16
    channels, and the first layer's projections are linear, so each change is the 16-channel
    mask features times one fixed matrix: the changes never need to be made at full width."""

    def __init__(self, sam: nn.Module) -> None:
        super().__init__()
        prompt = PromptEmbedding(sam)
        *features, last = prompt.mask_downscaling
        if not isinstance(last, nn.Conv2d) or tuple(last.kernel_size) != (1, 1):
            raise ValueError("expected SAM's mask embedding to end in a 1x1 convolution")
        self.features = nn.Sequential(*features)
        layer = sam.mask_decoder.transformer.layers[0]
        t2i, i2t = layer.cross_attn_token_to_image, layer.cross_attn_image_to_token
        w = last.weight.detach()[:, :, 0, 0].t()  # (16, C)
        b = last.bias.detach() - prompt.no_mask.reshape(-1)
        # tokens change by f·w + b, f the mask's 16 features per pixel; keys, values and queries
        # by that change through their projection weights (their own biases cancel).
        self.register_buffer("w_tokens", w.clone())
        self.register_buffer("b_tokens", b.clone())
        self.register_buffer("w_keys", w @ t2i.k_proj.weight.detach().t())
        self.register_buffer("w_values", w @ t2i.v_proj.weight.detach().t())
        self.register_buffer("b_values", b @ t2i.v_proj.weight.detach().t())
        scale = 1.0 / math.sqrt(i2t.internal_dim // i2t.num_heads)  # queries are kept scaled
        self.register_buffer("w_queries", w @ i2t.q_proj.weight.detach().t() * scale)
        self.register_buffer("b_queries", b @ i2t.q_proj.weight.detach().t() * scale)

    def forward(self, mask_input: torch.Tensor) -> torch.Tensor:
        """``(1, 1, 256, 256)`` logits → the 16 mask features of each pixel ``(16, P)``: the
        channel-major layout the convolutions give is the one every product below reads."""
        return self.features(mask_input)[0].flatten(1)


@dataclass(frozen=True)
class _MaskChange:
    """A refining click's mask prompt inside :class:`ClickGraph`: its ``features (16, P)``
    and the fixed matrices (``delta``) that turn them into the first layer's changes."""

    delta: MaskPromptDelta
    features: torch.Tensor


class ClickGraph(nn.Module):
    """Decoder state + prompts → the logits of the ``n`` wanted masks for the first ``R × W``
    cells of the token grid (the image's), and what the other cells' logits are made from.

    Inputs: the state's ``tokens, keys, values, queries``, then ``coords, labels``, the mask
    ``outputs`` wanted (indices into SAM's four), ``covered = (R, W)``, and with ``refining``
    on, the earlier logits ``mask_input``. Outputs: ``logits (n, R, W, 16)`` as
    :class:`UpscaleGraph` makes them; the image tokens after the two-way transformer of the
    cells below ``(64 − R, 64, C)`` and right of them ``(R, 64 − W, C)``; the masks'
    hypernetwork outputs ``(n, 32)``; all four ``scores (1, 4)``. Upscaled, the logits equal
    (to float rounding) :class:`~annotator.proposers.sam.torch_graphs.DecoderGraph`'s on the
    embedding the state was made from."""

    def __init__(self, sam: nn.Module, *, refining: bool = False) -> None:
        super().__init__()
        decoder = sam.mask_decoder
        transformer = decoder.transformer
        self.prompt = PromptEmbedding(sam)
        self.mask_delta = MaskPromptDelta(sam) if refining else None
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
        self.upscale = UpscaleGraph(sam)

    def forward(
        self,
        tokens: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        queries_0: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        outputs: torch.Tensor,
        covered: torch.Tensor,
        mask_input: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        mask = None
        if self.mask_delta is not None and mask_input is not None:
            mask = _MaskChange(self.mask_delta, self.mask_delta(mask_input))
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
            t2i, i2t = layer.cross_attn_token_to_image, layer.cross_attn_image_to_token
            if index == 0:
                attn = _tokens_to_projected_image(t2i, queries + prompt_pe, keys, values, mask)
            else:
                image_pe = image + self.pos  # the keys of both cross-attentions of this layer
                attn = _tokens_to_image(t2i, queries + prompt_pe, image, image_pe)
            queries = layer.norm2(queries + attn)
            queries = layer.norm3(queries + layer.mlp(queries))
            if index == 0:
                logits = _projected_image_to_tokens(i2t, queries_0, queries + prompt_pe, mask)
                update = _image_to_tokens_update(i2t, logits, image, queries, mask)
            else:
                logits = _image_to_tokens_logits(i2t, image_pe, queries + prompt_pe)
                update = _image_to_tokens_update(i2t, logits, image, queries)
            image = layer.norm4(update)
        # Only the IoU token and the wanted masks' tokens are read after the last attention;
        # the other rows would be computed for nothing (attention rows are independent).
        n_masks = len(self.hypernetworks)
        read = torch.cat([outputs.new_zeros(1), outputs + 1])
        out = queries[read]
        attn = _tokens_to_image(self.final_attn, out + prompt_pe[read], image, image + self.pos)
        queries = self.norm_final(out + attn)
        # Every mask's MLP on every wanted row (tiny), then each row's own MLP picked.
        every = torch.stack([mlp(queries[1:]) for mlp in self.hypernetworks])  # (4, n, 32)
        hyper = every.gather(0, outputs.reshape(1, -1, 1).expand(1, -1, every.shape[-1]))[0]
        scores = self.iou_head(queries[0])
        grid = image.reshape(self.side, self.side, -1)
        rows, cols = covered[0], covered[1]
        logits = self.upscale(grid[:rows, :cols], hyper)
        return logits, grid[rows:], grid[:rows, cols:], hyper, scores[None, :n_masks]


class UpscaleGraph(nn.Module):
    """A block of a click's image tokens ``cells (R, W, C)`` (rows and columns of the token
    grid) and the wanted masks' ``hyper (n, 32)`` (both from :class:`ClickGraph`) → the
    block's logits ``(n, R, W, 16)``. Each cell's 16 logits, in sub-pixel order (i1, j1, i2,
    j2), are the 4 × 4 patch at rows ``4y + 2·i1 + i2``, columns ``4x + 2·j1 + j2`` of the
    256 × 256 map. Rows stay cell-major through both sub-pixel steps: row = ((cell·4 + sub1)·4
    + sub2), so no layout changes between the layers."""

    def __init__(self, sam: nn.Module) -> None:
        super().__init__()
        up1, norm, _, up2, _ = sam.mask_decoder.output_upscaling
        self.up1_out = up1.out_channels
        self.up2_out = up2.out_channels
        self.register_buffer("up1_w", _subpixel_matrix(up1))
        self.register_buffer("up1_b", up1.bias.detach().repeat(4))
        self.register_buffer("up2_w", _subpixel_matrix(up2))
        self.register_buffer("up2_b", up2.bias.detach().repeat(4))
        self.register_buffer("norm_w", norm.weight.detach().clone())
        self.register_buffer("norm_b", norm.bias.detach().clone())
        self.norm_eps = float(norm.eps)

    def forward(self, cells: torch.Tensor, hyper: torch.Tensor) -> torch.Tensor:
        rows, cols, channels = cells.shape
        x = torch.addmm(self.up1_b, cells.reshape(-1, channels), self.up1_w)
        x = x.reshape(-1, self.up1_out)
        x = F.gelu(F.layer_norm(x, (self.up1_out,), self.norm_w, self.norm_b, self.norm_eps))
        x = F.gelu(torch.addmm(self.up2_b, x, self.up2_w).reshape(-1, self.up2_out))
        return (hyper @ x.t()).reshape(hyper.shape[0], rows, cols, 16)


def _pixel_rows(maps: torch.Tensor) -> torch.Tensor:
    """``(1, C, H, W)`` → ``(H·W, C)``."""
    return maps[0].flatten(1).t().contiguous()


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``(N, heads·d)`` → ``(heads, N, d)``."""
    return x.reshape(x.shape[0], heads, -1).transpose(0, 1).contiguous()


def _image_queries(attn: nn.Module, projected: torch.Tensor) -> torch.Tensor:
    """Image→token queries ``(P, heads·d)`` → ``(heads, d, P)``, scaled for the dot product."""
    heads = attn.num_heads
    scale = 1.0 / math.sqrt(attn.internal_dim // heads)
    return (projected * scale).reshape(projected.shape[0], heads, -1).permute(1, 2, 0).contiguous()


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
    attn: nn.Module,
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    mask: _MaskChange | None,
) -> torch.Tensor:
    """``attn`` with the image side projected already (``keys``/``values`` of
    :class:`ImageStateGraph`): only the few token rows are computed. With a ``mask``, the keys
    and values are those of the mask prompt's state."""
    heads = attn.num_heads
    n = queries.shape[0]
    q = _split_heads(attn.q_proj(queries), heads)  # (h, T, d)
    head_dim = q.shape[-1]
    logits = q @ keys.transpose(1, 2)  # (h, T, P)
    if mask is not None:
        # The keys' change has no bias term here: it would add one constant per query row.
        w_k = mask.delta.w_keys.reshape(-1, heads, head_dim).permute(1, 2, 0)  # (h, d, 16)
        logits = logits + (q @ w_k) @ mask.features
    weights = torch.softmax(logits / math.sqrt(head_dim), dim=-1)
    out = weights @ values  # (h, T, d)
    if mask is not None:
        w_v = mask.delta.w_values.reshape(-1, heads, head_dim).transpose(0, 1)  # (h, 16, d)
        b_v = mask.delta.b_values.reshape(heads, 1, head_dim)
        out = out + (weights @ mask.features.t()) @ w_v + b_v
    return attn.out_proj(out.transpose(0, 1).reshape(n, -1))


def _projected_image_to_tokens(
    attn: nn.Module,
    image_queries: torch.Tensor,
    keys: torch.Tensor,
    mask: _MaskChange | None,
) -> torch.Tensor:
    """Image→token attention logits ``(heads, T, P)`` from the image's projected, scaled
    ``image_queries (heads, d, P)`` of :class:`ImageStateGraph`, changed by a ``mask``."""
    heads = attn.num_heads
    k = _split_heads(attn.k_proj(keys), heads)  # (h, T, d)
    logits = k @ image_queries
    if mask is not None:
        head_dim = k.shape[-1]
        w_q = mask.delta.w_queries.reshape(-1, heads, head_dim).permute(1, 2, 0)  # (h, d, 16)
        b_q = mask.delta.b_queries.reshape(heads, 1, head_dim)
        logits = logits + (k @ w_q) @ mask.features + (k * b_q).sum(-1, keepdim=True)
    return logits


def _image_to_tokens_logits(
    attn: nn.Module, image_q: torch.Tensor, keys: torch.Tensor
) -> torch.Tensor:
    """Image→token attention logits ``(heads, T, P)`` for image queries ``image_q (P, C)``,
    without projecting them."""
    heads = attn.num_heads
    n = keys.shape[0]
    head_dim = attn.internal_dim // heads
    k = attn.k_proj(keys).reshape(n, heads, head_dim).transpose(0, 1)  # (h, T, d)
    w_q = attn.q_proj.weight.reshape(heads, head_dim, -1)  # (h, d, C)
    scale = 1.0 / math.sqrt(head_dim)
    h_mat = (k @ w_q).reshape(heads * n, -1) * scale  # (h·T, C)
    bias = (k * attn.q_proj.bias.reshape(heads, 1, head_dim)).sum(-1).reshape(-1, 1) * scale
    return (h_mat @ image_q.t() + bias).reshape(heads, n, -1)


def _image_to_tokens_update(
    attn: nn.Module,
    logits: torch.Tensor,
    image: torch.Tensor,
    values: torch.Tensor,
    mask: _MaskChange | None = None,
) -> torch.Tensor:
    """``image`` + the image→token attention's output, from its ``logits (heads, T, P)``; with
    a ``mask``, the image is the mask prompt's (its change joins the same product). The softmax
    over each pixel's few tokens runs along the long pixel rows."""
    heads, n, _ = logits.shape
    head_dim = attn.internal_dim // heads
    weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))
    weights = (weights / weights.sum(dim=1, keepdim=True)).reshape(heads * n, -1)  # (h·T, P)
    v = attn.v_proj(values).reshape(n, heads, head_dim).transpose(0, 1)  # (h, T, d)
    w_o = attn.out_proj.weight.reshape(-1, heads, head_dim).permute(1, 2, 0)  # (h, d, C)
    # Value and output projections in one (h·T, C) matrix; b_o/heads on every row adds b_o once,
    # as each pixel's weights sum to one per head.
    bias = attn.out_proj.bias if mask is None else attn.out_proj.bias + mask.delta.b_tokens
    mixed = (v @ w_o).reshape(heads * n, -1) + bias / heads
    if mask is not None:
        # The tokens' change f·w is 16 more rows of the same product: one pass over the image.
        weights = torch.cat([weights, mask.features])
        mixed = torch.cat([mixed, mask.delta.w_tokens])
    return torch.addmm(image, weights.t(), mixed)

"""Building blocks the stage models share."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def attend_heads(
    out: nn.Linear,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    dropout: float,
) -> torch.Tensor:
    """Scaled dot-product attention of per-head queries q (B, H, T, dh) over k/v (B, H, S, dh), mask
    broadcastable to (B, H, T, S) (True = may attend); heads merged and projected by `out`.
    K/V are cast to q's dtype first: autocast leaves cached K/V in another one."""
    if q.dtype != k.dtype:
        k, v = k.to(q.dtype), v.to(q.dtype)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)  # (B, H, T, dh)
    b, h, t, dh = y.shape
    return out(y.transpose(1, 2).reshape(b, t, h * dh))


def encode_frames(
    conv: nn.Module, pos: torch.Tensor, blocks: nn.ModuleList, ln: nn.LayerNorm, feats: torch.Tensor
) -> torch.Tensor:
    """The audio path the decoders share: `conv` (strided convs) takes feats (N, C, W) to (N, P, d),
    the positions `pos` (>= P, d) are added, then the encoder `blocks` and the final LayerNorm."""
    x = conv(feats).transpose(1, 2)  # (N, P, d)
    x = x + pos[: x.shape[1]].to(x.dtype)
    for block in blocks:
        x = block(x)
    return ln(x)

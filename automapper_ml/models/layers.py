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

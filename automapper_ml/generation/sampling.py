"""Nucleus (top-p) sampling, the one sampler of stage 2 and stage 3 decoding."""

from __future__ import annotations

import torch


def sample_top_p(probs: torch.Tensor, top_p: float, generator: torch.Generator | None) -> torch.Tensor:
    """One token id per row of `probs` (B, V), drawn from the smallest set of most likely tokens that
    holds `top_p` of the mass (the most likely token is always in it; a zero probability is never drawn).
    The draw runs on the CPU, so a seeded `generator` gives the same tokens on every device."""
    sorted_p, order = probs.sort(dim=-1, descending=True)
    keep = (sorted_p.cumsum(-1) - sorted_p) < top_p
    sorted_p = torch.where(keep, sorted_p, 0.0)
    pick = torch.multinomial(sorted_p.cpu(), 1, generator=generator).to(order.device)
    return order.gather(1, pick)[:, 0]

"""Cached inference for `models.sequence.SequenceModel`: the decoder KV cache and the context-group cache.

`SequenceModel.forward` (training) never sees a cache. Inference uses `audio_memory` ->
`start_cache(model, ...)` -> `step_model(model, tokens, cache)` with a `DecoderCache`: one
cross-attention memory per onset, read by `copies` consecutive rows (beams x CFG passes) whose
queries are folded into one attention call, so the memory is never duplicated or re-ordered; self
K/V live in preallocated buffers (no torch.cat per step). Context groups are encoded once per
distinct group and kept as projected K/V (`ContextCache`).

The caches own everything inference derives from the weights (as whisper's decoder owns its
kv-cache): a `ContextCache` computes the context tables and the pre-transposed step weights from the
model's weights when it is made and keeps them; the model itself keeps nothing. A cache therefore
holds the weights of the moment it was made: make a new one after training steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from automapper_ml.models.sequence import AudioMemory, DecoderBlock, SequenceInputs, SequenceModel
from automapper_ml.tokenizer import EOS, PAD


@dataclass
class DecoderCache:
    """Inference state for B = M x copies rows: M cross-attention memories (row r reads memory
    r // copies) and the self K/V of the tokens so far in preallocated (rows, H, capacity, dh) buffers."""

    cross_k: list[torch.Tensor]  # per layer (M, H, S, dh)
    cross_v: list[torch.Tensor]
    cross_mask: torch.Tensor | None  # (M, 1, 1, S) bool, None when every position is valid
    bias: torch.Tensor  # (B, 1, d): difficulty + onset-frame embedding added to each token
    self_k: list[torch.Tensor]  # per layer (B, H, capacity, dh); positions >= length are garbage
    self_v: list[torch.Tensor]
    length: int = 0
    copies: int = 1  # consecutive rows sharing one memory (beams x CFG passes)
    weights: list[tuple[torch.Tensor, ...]] = field(default_factory=list)  # `step_weights`
    hand_bias: torch.Tensor | None = None  # (B, 3, d): added per token by its hand (none, left, right)
    hand: torch.Tensor | None = None  # (B,) long: hand of the last coloured token so far (0 = none)

    def _rows(self, rows: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        pick = [None if t is None else t.index_select(0, rows) for t in (self.hand_bias, self.hand)]
        return pick[0], pick[1]

    def select(self, rows: torch.Tensor) -> DecoderCache:
        """Any re-indexing of rows (a new cache, one memory per row)."""
        mem = torch.div(rows, self.copies, rounding_mode="floor")
        mask = None if self.cross_mask is None else self.cross_mask.index_select(0, mem)
        return DecoderCache(
            [t.index_select(0, mem) for t in self.cross_k], [t.index_select(0, mem) for t in self.cross_v],
            mask, self.bias.index_select(0, rows), [t.index_select(0, rows) for t in self.self_k],
            [t.index_select(0, rows) for t in self.self_v], self.length, 1, self.weights, *self._rows(rows),
        )  # fmt: skip

    def keep(self, memories: torch.Tensor) -> None:
        """In place: keep only these memories (indices) and their rows, e.g. drop finished onsets."""
        rows = (memories[:, None] * self.copies + torch.arange(self.copies, device=memories.device)).reshape(
            -1
        )
        self.cross_k = [t.index_select(0, memories) for t in self.cross_k]
        self.cross_v = [t.index_select(0, memories) for t in self.cross_v]
        self.cross_mask = None if self.cross_mask is None else self.cross_mask.index_select(0, memories)
        self.self_k = [t.index_select(0, rows) for t in self.self_k]
        self.self_v = [t.index_select(0, rows) for t in self.self_v]
        self.bias = self.bias.index_select(0, rows)
        self.hand_bias, self.hand = self._rows(rows)

    def reorder(self, rows: torch.Tensor) -> None:
        """In place: row i takes row rows[i]'s tokens, which must read the same memory (beam re-ordering
        stays inside an onset), so only the self K/V up to `length` move."""
        n = self.length
        for t in (*self.self_k, *self.self_v):
            t[:, :, :n] = t[rows, :, :n]
        self.bias = self.bias.index_select(0, rows)
        self.hand_bias, self.hand = self._rows(rows)


class ContextCache:
    """Each distinct context group encoded once and projected to every decoder layer's cross K/V.

    Keyed by the group's tokens (its encoding depends on nothing else), so a song's repeated
    patterns and the groups every onset shares with its neighbours cost one encoding. The age and
    frame embeddings are added after the encoder, i.e. linearly to K/V: their projections are
    tables (`context_tables`). Holds encodings, tables and step weights of the model's weights at
    construction: make a new one after training."""

    def __init__(self, model: SequenceModel, dtype: torch.dtype = torch.float32) -> None:
        self.model, self.dtype = model, dtype
        self.weight, self.bias, self.age_table, self.frame_table, start = context_tables(model, dtype)
        self.step_weights = step_weights(model, dtype)  # what every DecoderCache started from it reads
        zero = start.new_zeros(1, start.shape[1])
        # row 0: zeros, read by PAD; row 1: the start slot's K/V
        self.buffer = torch.cat([zero, start, zero.expand(254, -1)])
        self.slots: dict[tuple[int, ...], int] = {}  # group tokens -> first buffer row
        self.used = 2
        self.encoded = 0  # groups encoded so far (a measure of reuse)

    def age_frame_table(self) -> torch.Tensor:
        """(ages x frame buckets, 2 L d): every projected age row plus every projected frame row, built
        once per cache, so `memory` adds both with one gather (a step's memory is ~330 MB at 125 rows)."""
        if getattr(self, "_age_frame", None) is None:
            a, f = self.age_table, self.frame_table
            self._age_frame = (a.float()[:, None] + f.float()[None]).reshape(-1, a.shape[1]).to(a.dtype)
        return self._age_frame

    def _store(self, keys: list[tuple[int, ...]], keep: set[tuple[int, ...]]) -> None:
        need = sum(len(k) for k in keys)
        if self.used + need > self.buffer.shape[0]:  # compact to what this call reads, then grow
            old, self.slots, self.used = self.slots, {}, 2
            live = [(k, old[k]) for k in keep if k in old]
            rows = [0, 1] + [s + i for k, s in live for i in range(len(k))]
            size = max(self.buffer.shape[0], 2 * (len(rows) + need))
            fresh = self.buffer.new_zeros(size, self.buffer.shape[1])
            fresh[: len(rows)] = self.buffer[rows]
            for k, _ in live:
                self.slots[k] = self.used
                self.used += len(k)
            self.buffer = fresh
        length = max(len(k) for k in keys)
        tokens = torch.tensor([list(k) + [PAD] * (length - len(k)) for k in keys], device=self.buffer.device)
        enc = self.model.encode_groups(tokens)[tokens != PAD].to(self.dtype)  # (need, d), group after group
        torch.addmm(self.bias, enc, self.weight, out=self.buffer[self.used : self.used + need])
        for k in keys:
            self.slots[k] = self.used
            self.used += len(k)
        self.encoded += len(keys)

    def memory(
        self, context: torch.Tensor, age: torch.Tensor, frame: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """context/age/frame (B, C) as in SequenceInputs -> K/V (B, 1 + C', 2 L d) of the start slot and
        the last C' <= max_context_tokens tokens (layer l: K at [.., 2l d:(2l+1) d], V after it),
        and the valid mask (B, 1 + C')."""
        n = self.model.config.max_context_tokens
        ctx, age, frame = context[:, -n:], age[:, -n:], frame[:, -n:]
        rows = _segments(ctx.tolist(), age.tolist())
        keys = [k for row in rows for _, k in row]
        missing = list(dict.fromkeys(k for k in keys if k not in self.slots))
        if missing:
            self._store(missing, set(keys))
        index = []
        for row in rows:
            line = [1] + [0] * ctx.shape[1]  # column 0: the start slot
            for begin, k in row:
                s = self.slots[k]
                line[1 + begin : 1 + begin + len(k)] = range(s, s + len(k))
            index.append(line)
        device = self.buffer.device
        kv = self.buffer[torch.tensor(index, device=device)]  # (B, 1 + C', 2 L d)
        cfg = self.model.config
        first = torch.full_like(age[:, :1], -1)  # the tables' zero row (their last)
        a = torch.cat([first, age.clamp(0, cfg.context_onsets)], dim=1).remainder(self.age_table.shape[0])
        f = torch.cat([first, self.model.frame_bucket(frame)], dim=1).remainder(self.frame_table.shape[0])
        kv += self.age_frame_table()[a * self.frame_table.shape[0] + f]  # one gather-add, not two
        valid = torch.cat([torch.ones_like(ctx[:, :1], dtype=torch.bool), ctx != PAD], dim=1)
        return kv, valid


def _segments(ctx: list[list[int]], age: list[list[int]]) -> list[list[tuple[int, tuple[int, ...]]]]:
    """Per row: (first column, tokens) of each group, the same split as `_group_layout`."""
    out = []
    for toks, ages in zip(ctx, age, strict=True):
        row: list[tuple[int, tuple[int, ...]]] = []
        begin = -1
        for j, t in enumerate(toks + [PAD]):
            new = t == PAD or begin < 0 or ages[j] != ages[j - 1] or toks[j - 1] == EOS
            if new and begin >= 0:
                row.append((begin, tuple(toks[begin:j])))
                begin = -1
            if t != PAD and begin < 0:
                begin = j
        out.append(row)
    return out


def step_block(
    block: DecoderBlock, x: torch.Tensor, cache: DecoderCache, layer: int, mask: torch.Tensor | None
) -> torch.Tensor:
    """Inference: x (B*R, T, d) new positions after `cache.length` cached ones; writes their self K/V
    into the cache buffers. The R rows of one memory attend to it as one (B, R*T) query block."""
    # functional calls on pre-transposed weights (`SequenceModel.step_weights`), not modules: at a
    # few rows per step the per-call overhead and MKL's transposed-weight path are what count
    b, t, d = x.shape
    qkv_w, qkv_b, so_w, so_b, cq_w, cq_b, co_w, co_b, up_w, up_b, down_w, down_b = cache.weights[layer]
    heads = block.self_attn.heads
    dt = qkv_w.dtype  # matmuls and attention in the weights' dtype, the residual stream in x's
    h = F.layer_norm(x, (d,), block.ln1.weight, block.ln1.bias, block.ln1.eps).view(b * t, d).to(dt)
    qkv = torch.addmm(qkv_b, h, qkv_w).view(b, t, 3, heads, -1).permute(0, 2, 3, 1, 4)  # (B*R,3,H,T,dh)
    end = cache.length + t
    sk, sv = cache.self_k[layer], cache.self_v[layer]
    sk[:, :, cache.length : end] = qkv[:, 1]
    sv[:, :, cache.length : end] = qkv[:, 2]
    out = F.scaled_dot_product_attention(qkv[:, 0], sk[:, :, :end], sv[:, :, :end], attn_mask=mask)
    x = x + torch.addmm(so_b, out.transpose(1, 2).reshape(b * t, d), so_w).view(b, t, d)
    bo = cache.cross_k[layer].shape[0]  # rows of one memory are consecutive: (B, R*T) queries
    h = F.layer_norm(x, (d,), block.ln2.weight, block.ln2.bias, block.ln2.eps).view(b * t, d).to(dt)
    q = torch.addmm(cq_b, h, cq_w).view(bo, -1, heads, d // heads).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, cache.cross_k[layer], cache.cross_v[layer], cache.cross_mask)
    x = x + torch.addmm(co_b, out.transpose(1, 2).reshape(b * t, d), co_w).view(b, t, d)
    h = F.layer_norm(x, (d,), block.ln3.weight, block.ln3.bias, block.ln3.eps).view(b * t, d).to(dt)
    h = torch.addmm(down_b, F.gelu(torch.addmm(up_b, h, up_w)), down_w)
    return x + h.view(b, t, d)


@torch.no_grad()
def start_cache(
    model: SequenceModel,
    inputs: SequenceInputs,
    audio: AudioMemory | None = None,
    copies: int = 1,
    capacity: int | None = None,
    context: ContextCache | None = None,
    dtype: torch.dtype = torch.float32,
) -> DecoderCache:
    """An empty cache for inputs' B rows, each repeated `copies` times (consecutive rows, one shared
    memory). `audio` (from `audio_memory`) and `context` reuse encoded windows and groups;
    `capacity` is the longest group the cache will hold (default max_group_tokens). `dtype`
    bfloat16 keeps weights, memories and self K/V in bf16 (the residual stream, layer norms and
    logits stay fp32): about half the memory traffic, not bit-identical to the fp32 path."""
    if audio is None:
        with torch.autocast(inputs.mel.device.type, dtype=dtype, enabled=dtype != torch.float32):
            audio = model.audio_memory(inputs.mel, inputs.structure)
    context = context if context is not None else ContextCache(model, dtype)
    kv, valid = context.memory(inputs.context, inputs.context_age, inputs.context_frame)
    b, c = valid.shape
    h, n = model.config.heads, len(model.blocks)
    kv = kv.view(b, c, 2 * n, h, -1)
    ks, vs = [], []
    for i in range(n):  # audio windows then context; one contiguous (B, H, P + C, dh) per layer
        ks.append(torch.cat([audio.k[i][inputs.window].to(dtype), kv[:, :, 2 * i].transpose(1, 2)], dim=2))
        vs.append(torch.cat([audio.v[i][inputs.window].to(dtype), kv[:, :, 2 * i + 1].transpose(1, 2)], 2))
    mask = None
    if not bool(valid.all()):
        audio_valid = valid.new_ones(b, audio.encoded.shape[1])
        mask = torch.cat([audio_valid, valid], dim=1)[:, None, None, :]
    rows, cap = b * copies, capacity or model.config.max_group_tokens
    dh = model.config.d_model // h
    empty = [ks[0].new_empty(rows, h, cap, dh) for _ in range(2 * n)]
    bias = model.condition(inputs.difficulty, inputs, audio).float().repeat_interleave(copies, 0)
    hand_bias = hand = None
    if model.config.flow_state:
        hand_bias = model.flow_embedding(inputs)[1].float().repeat_interleave(copies, dim=0)
        hand = torch.zeros(rows, dtype=torch.long, device=bias.device)
    return DecoderCache(
        ks, vs, mask, bias, empty[:n], empty[n:], 0, copies, context.step_weights, hand_bias, hand
    )


@torch.no_grad()
def context_tables(model: SequenceModel, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    """For `ContextCache`: every layer's cross K/V projection stacked, weight (d, 2 L d) and bias
    (2 L d,) (layer l: K at [2l d, (2l+1) d), V after it), the projected age and frame embeddings
    (ages + 1, 2 L d) and (P + 3, 2 L d), each with a last zero row, and the start slot's K/V;
    computed in fp32, stored in `dtype`."""
    ca = [b.cross_attn for b in model.blocks]
    weight = torch.cat([w for a in ca for w in (a.k.weight, a.v.weight)]).T.contiguous()
    bias = torch.cat([b for a in ca for b in (a.k.bias, a.v.bias)])
    zero = bias.new_zeros(1, bias.shape[0])
    tables = (
        weight, bias, torch.cat([model.context_age.weight @ weight, zero]),
        torch.cat([model.frame.weight @ weight, zero]), model.context_start[0] @ weight + bias,
    )  # fmt: skip
    return tuple(t.to(dtype) for t in tables)


@torch.no_grad()
def step_weights(model: SequenceModel, dtype: torch.dtype = torch.float32) -> list[tuple[torch.Tensor, ...]]:
    """Per decoder layer: (weight (in, out) contiguous, bias) of the fused self q/k/v, self out, cross q,
    cross out, MLP up and down, for `step_block`. MKL multiplies a few rows by a
    pre-transposed weight ~2x faster than through nn.Linear's (out, in) one, and q/k/v fused is one
    call instead of three. In `dtype` (bfloat16 halves the bytes a step reads: it is memory-bound)."""
    out = []
    for block in model.blocks:
        a, c, (up, _, down, _) = block.self_attn, block.cross_attn, block.mlp.net
        qkv = torch.cat([a.q.weight, a.k.weight, a.v.weight]).T.to(dtype).contiguous()
        layer = [qkv, torch.cat([a.q.bias, a.k.bias, a.v.bias]).to(dtype)]
        for lin in (a.o, c.q, c.o, up, down):
            layer += [lin.weight.T.to(dtype).contiguous(), lin.bias.detach().to(dtype, copy=True)]
        out.append(tuple(layer))
    return out


@torch.no_grad()
def step_model(model: SequenceModel, tokens: torch.Tensor, cache: DecoderCache) -> torch.Tensor:
    """Feed tokens (B, T) after the cached ones; returns their logits (B, T, vocab); extends `cache`."""
    t, start = tokens.shape[1], cache.length
    if start + t > min(model.config.max_group_tokens, cache.self_k[0].shape[2]):
        raise ValueError(f"group longer than max_group_tokens={model.config.max_group_tokens}")
    x = model.token(tokens) + model.position.weight[start : start + t] + cache.bias
    if cache.hand_bias is not None and cache.hand is not None:
        hands = model.token_hands(tokens, cache.hand)
        x = x + cache.hand_bias.gather(1, hands[..., None].expand(-1, -1, x.shape[-1]))
        cache.hand = hands[:, -1]
    mask = None  # one new token sees every cached one; a chunk is causal after them
    if t > 1:
        mask = torch.ones(t, start + t, dtype=torch.bool, device=tokens.device).tril(diagonal=start)
    for i, block in enumerate(model.blocks):
        x = step_block(block, x, cache, i, mask)
    cache.length += t
    return model.head(model.ln_f(x))

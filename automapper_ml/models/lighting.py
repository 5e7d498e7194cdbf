"""Stage 3: lighting. One light token group per beat-grid step (half a beat by default), from the
audio around the step, the notes near it, the lighting of the previous steps and the difficulty.

Design, chosen for speed (a 3-minute song is ~360 steps and must light in about a second on 2 CPU
cores) and because lighting lives on the beat grid:

- CELLS. The song is cut into beat-synchronous cells of `step / cells_per_step` beats (1/8 beat by
  default). Each cell pools the frames around its start beat (from half a cell before to half a
  cell after: the STFT is centred, so a hit's energy sits at its beat): mean and max of the
  song-normalised log-mel and of the structure features, plus a bag of the notes that start in the
  cell (counts of left/right notes, bombs, walls, arc starts/ends, chains, and a group flag) and a
  "cell is inside the song" flag. Tempo is factored out: every step sees the same number of cells.
- AUDIO ENCODER. Dilated 1-D convolutions without padding over the cells: the output for a cell
  depends on exactly `receptive` cells each side. Training feeds a window of W + 2R cells per step
  and gets W encoded cells; generation runs the same convolutions once over the whole song and
  slices every step's W cells from the result, so both paths compute the same numbers and the
  song is encoded once, not once per step.
- MEMORY of a step (cross-attended by the decoder): one condition slot (difficulty + position in a
  4/4 bar), the W encoded cells (from `cells_before` before the step start to `cells_after` after
  it), and up to `max_context_events` lighting events of the previous `context_steps` steps, each
  the sum of its token embeddings (OFFSET, LTYPE, LVALUE, BRIGHT, COLOR: disjoint id ranges, so
  the sum is unambiguous) plus an age embedding (steps ago). Events, not tokens: 5x shorter.
- DECODER. A small Transformer decoder over the step's own tokens `[BOS, t1 .. EOS]` only (a
  group is a few tokens): shallow autoregression per step with a KV cache, the LightGrammar mask
  at every token, so every output decodes.
- GENERATION. Steps depend on earlier steps only through the context events, so the song is cut
  into chunks of `chunk_steps` decoded side by side as batch rows; each chunk first decodes
  `burn_in` steps before its start (thrown away) so its first steps have real context. Sequential
  work is (chunk_steps + burn_in) steps instead of the whole song, and rows whose group has ended
  leave the batch (most steps are short or empty). `chunk_steps=0` decodes the
  song as one row. Training drops the whole context with probability `context_dropout`, so the
  first steps of a song (no context) are in distribution too.

Loss: token cross-entropy in fp32 (also under bf16 autocast), label smoothing, PAD ignored.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from automapper_ml.audio import N_MELS, N_STRUCTURE
from automapper_ml.models.checkpoint import read_stage_checkpoint
from automapper_ml.models.layers import attend_heads
from automapper_ml.models.onset import N_DIFFICULTIES
from automapper_ml.tokenizer import (
    ARC_END,
    ARC_START,
    BOMB,
    CHAIN,
    DEFAULT_LIGHT_STEP,
    LIGHT_EVENT_TOKENS,
    LIGHT_PAD,
    LIGHT_VOCAB_SIZE,
    NOTE_L,
    NOTE_R,
    WALL,
    step_ticks,
)

NOTE_FEATURE_TOKENS = ((NOTE_L,), (NOTE_R,), (BOMB,), (WALL,), ARC_START, ARC_END, CHAIN)
N_NOTE_FEATURES = len(NOTE_FEATURE_TOKENS) + 1  # + "a note group starts in this cell"


@dataclass(frozen=True)
class LightingConfig:
    vocab_size: int = LIGHT_VOCAB_SIZE  # lighting tokens (tokenizer.LIGHT_VOCAB)
    n_mels: int = N_MELS  # log-mel bands in
    n_structure: int = N_STRUCTURE  # structure features in
    step: float = DEFAULT_LIGHT_STEP  # beats per grid step: one token group each
    cells_per_step: int = 4  # audio/note cells per step (1/8 beat at the default step)
    cells_before: int = 8  # memory cells before the step start (1 beat)
    cells_after: int = 12  # memory cells from the step start on (the step and 1 beat after it)
    audio_blocks: int = 4  # dilated conv blocks over the cells, dilations 1, 2, 4, ...
    context_steps: int = 16  # previous steps whose events are in memory (8 beats: two 4/4 bars)
    max_context_events: int = 32  # the most recent events kept
    bar_steps: int = 8  # steps per bar for the bar-position embedding (4/4 from beat 0)
    max_group_tokens: int = 48  # longest group incl. EOS; longer ones are cut at an event boundary
    d_model: int = 192  # CPU-feasible: the whole song must light in ~1-2 s on 2 cores
    layers: int = 3  # decoder layers
    heads: int = 6
    dropout: float = 0.1
    cond_dropout: float = 0.1  # probability of dropping the difficulty in training
    context_dropout: float = 0.1  # probability of dropping a step's whole context in training
    label_smoothing: float = 0.05

    @classmethod
    def preset(cls, name: str) -> LightingConfig:
        if name == "tiny":
            return cls(d_model=64, layers=2, heads=4, audio_blocks=3)
        if name == "full":
            return cls()
        raise ValueError(f"unknown lighting config preset {name!r} (tiny, full)")

    def __post_init__(self) -> None:
        step_ticks(self.step)
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by heads {self.heads}")
        if self.max_group_tokens < LIGHT_EVENT_TOKENS + 1 or self.cells_per_step < 1 or self.cells_after < 1:
            raise ValueError("max_group_tokens must be >= 6, cells_per_step and cells_after >= 1")

    @property
    def window(self) -> int:
        """Encoded cells in a step's memory."""
        return self.cells_before + self.cells_after

    @property
    def receptive(self) -> int:
        """Cells each side that the conv encoder reads beyond a window."""
        return sum(2**i for i in range(self.audio_blocks))

    @property
    def n_cell_features(self) -> int:
        return 2 * (self.n_mels + self.n_structure) + N_NOTE_FEATURES + 1

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------- cell features


def mel_stats(mel: np.ndarray) -> tuple[float, float]:
    """(mean, std) of a song's log-mel, std floored at 0.5 (silence stays quiet, not amplified)."""
    m = np.asarray(mel, dtype=np.float32)
    return (float(m.mean()), max(float(m.std()), 0.5)) if m.size else (0.0, 1.0)


def interp_frames(step_frames: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Frames (float) at fractional step positions, linear between the steps' frames and extrapolated
    with the end slopes outside them (one step alone: 120 BPM half beats)."""
    f = np.asarray(step_frames, dtype=np.float64)
    p = np.asarray(positions, dtype=np.float64)
    if len(f) == 0:
        raise ValueError("need at least one step frame")
    if len(f) == 1:
        return f[0] + p * (0.25 * 22050 / 256)
    out = np.interp(p, np.arange(len(f)), f)
    lo, hi = p < 0, p > len(f) - 1
    out[lo] = f[0] + p[lo] * (f[1] - f[0])
    out[hi] = f[-1] + (p[hi] - (len(f) - 1)) * (f[-1] - f[-2])
    return out


def note_group_features(groups: Sequence[Sequence[int]]) -> np.ndarray:
    """(n_groups, N_NOTE_FEATURES) float32: object counts per kind, and 1 for the group itself."""
    out = np.zeros((len(groups), N_NOTE_FEATURES), dtype=np.float32)
    for i, tokens in enumerate(groups):
        t = np.asarray(tokens)
        for j, ids in enumerate(NOTE_FEATURE_TOKENS):
            out[i, j] = np.isin(t, ids).sum()
        out[i, -1] = 1.0
    return out


def cell_features(
    mel: np.ndarray,
    structure: np.ndarray,
    step_frames: np.ndarray,
    note_cells: np.ndarray,
    note_feats: np.ndarray,
    first_cell: int,
    n_cells: int,
    cells_per_step: int,
    stats: tuple[float, float],
) -> np.ndarray:
    """Features of cells [first_cell, first_cell + n_cells) -> (n_cell_features, n_cells) float32.

    mel (n_mels, T) log-mel (normalised here with the song's `mel_stats`), structure (n_structure, T);
    step_frames (n_steps,)
    frame of each step start; note_cells (n,) int global cell of each note group, note_feats (n, 8).
    Rows: mel mean, mel max, structure mean, structure max, note features, inside-the-song flag."""
    n_audio = mel.shape[0] + structure.shape[0]
    out = np.zeros((2 * n_audio + N_NOTE_FEATURES + 1, n_cells), dtype=np.float32)
    t = mel.shape[1]
    cells = np.arange(first_cell, first_cell + n_cells)
    bounds = np.floor(interp_frames(step_frames, (np.append(cells, cells[-1] + 1) - 0.5) / cells_per_step))
    lo, hi = bounds[:-1].astype(np.int64), bounds[1:].astype(np.int64)
    hi = np.maximum(hi, lo + 1)
    valid = (hi > 0) & (lo < t)
    if valid.any() and t > 0:
        idx = np.flatnonzero(valid)
        starts = np.clip(lo[idx], 0, t - 1)
        a, b = int(starts[0]), int(min(max(hi[idx[-1]], starts[-1] + 1), t))
        x = np.concatenate([mel[:, a:b], structure[:, a:b]], axis=0).astype(np.float32)
        x[: mel.shape[0]] = (x[: mel.shape[0]] - stats[0]) / stats[1]
        rel = starts - a
        counts = np.maximum(np.diff(np.append(rel, b - a)), 1)
        out[:n_audio, idx] = np.add.reduceat(x, rel, axis=1) / counts
        out[n_audio : 2 * n_audio, idx] = np.maximum.reduceat(x, rel, axis=1)
    out[-1] = valid
    if len(note_cells):
        sel = (note_cells >= first_cell) & (note_cells < first_cell + n_cells)
        block = np.zeros((n_cells, N_NOTE_FEATURES), dtype=np.float32)
        np.add.at(block, note_cells[sel] - first_cell, note_feats[sel])
        out[2 * n_audio : 2 * n_audio + N_NOTE_FEATURES] = block.T
    return out


def context_arrays(
    history: Sequence[Sequence[list[int]] | None], context_steps: int, max_events: int
) -> tuple[np.ndarray, np.ndarray]:
    """history: events of the previous steps, oldest first (None = before the context starts).
    -> tokens (max_events, LIGHT_EVENT_TOKENS) int64 PAD-filled, age (max_events,) int64 (0 = empty);
    the most recent events are kept, placed first to last in time order."""
    rows: list[tuple[list[int], int]] = []
    recent = list(history)[-context_steps:] if context_steps > 0 else []
    for age, events in zip(range(len(recent), 0, -1), recent, strict=True):
        rows += [(e, age) for e in events or ()]
    rows = rows[-max_events:] if max_events > 0 else []
    tokens = np.full((max_events, LIGHT_EVENT_TOKENS), LIGHT_PAD, dtype=np.int64)
    ages = np.zeros(max_events, dtype=np.int64)
    for i, (event, age) in enumerate(rows):
        tokens[i, : len(event)] = event
        ages[i] = age
    return tokens, ages


def note_cells_of(beats: np.ndarray, step: float, cells_per_step: int) -> np.ndarray:
    """Global cell index (int64) of each note group beat."""
    return np.floor(np.asarray(beats, dtype=np.float64) * cells_per_step / step + 1e-6).astype(np.int64)


def step_cells(
    config: LightingConfig,
    mel: np.ndarray,
    structure: np.ndarray,
    step_frames: np.ndarray,
    note_cells: np.ndarray,
    note_feats: np.ndarray,
    first_step: int,
    n_steps: int,
    stats: tuple[float, float],
) -> np.ndarray:
    """Encoder input for steps [first_step, first_step + n_steps): (n_cell_features, L) with
    L = (n_steps - 1) * cells_per_step + window + 2 * receptive; one step alone is one training input."""
    c = config
    first = first_step * c.cells_per_step - c.cells_before - c.receptive
    length = (n_steps - 1) * c.cells_per_step + c.window + 2 * c.receptive
    return cell_features(
        mel, structure, step_frames, note_cells, note_feats, first, length, c.cells_per_step, stats
    )


# ---------------------------------------------------------------------------------- modules


class ConvBlock(nn.Module):
    """Dilated conv (kernel 3, no padding: the sequence shrinks by 2 * dilation) + 1x1, residual.

    Normalised per cell over channels (LayerNorm), never over the sequence, so a window and the
    whole song give the same numbers for the same cells."""

    def __init__(self, d: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.dilation = dilation
        self.norm = nn.LayerNorm(d)
        self.conv = nn.Conv1d(d, d, 3, dilation=dilation)
        self.proj = nn.Conv1d(d, d, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, d, L) -> (B, d, L - 2 * dilation)
        h = self.norm(x.transpose(1, 2)).transpose(1, 2)
        h = self.proj(self.drop(F.gelu(self.conv(h))))
        return x[:, :, self.dilation : -self.dilation] + h


class Attention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q, self.kv, self.o = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # (B, H, T, dh)

    def project_kv(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.kv(src).chunk(2, dim=-1)
        return self._split(k), self._split(v)  # (B, H, S, dh) each

    def attend(
        self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """x (B, T, d), k/v (B, H, S, dh), mask broadcastable to (B, H, T, S), True = may attend."""
        return attend_heads(
            self.o, self._split(self.q(x)), k, v, mask, self.dropout if self.training else 0.0
        )


class DecoderBlock(nn.Module):
    """Pre-norm causal self-attention, cross-attention to the step's memory, MLP."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn, self.cross_attn = Attention(d, heads, dropout), Attention(d, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(dropout))
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,  # (B, T, d) new positions
        self_mask: torch.Tensor | None,  # (T, S_past + T) bool, None = attend to all
        cross: tuple[torch.Tensor, torch.Tensor, torch.Tensor],  # K, V (B, H, M, dh), mask (B, 1, 1, M)
        past: tuple[torch.Tensor, torch.Tensor] | None = None,  # cached self K, V (B, H, S_past, dh)
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.ln1(x)
        k, v = self.self_attn.project_kv(h)
        if past is not None:
            k, v = torch.cat([past[0].to(k.dtype), k], dim=2), torch.cat([past[1].to(v.dtype), v], dim=2)
        x = x + self.drop(self.self_attn.attend(h, k, v, self_mask))
        x = x + self.drop(self.cross_attn.attend(self.ln2(x), *cross))
        return x + self.mlp(self.ln3(x)), k, v


@dataclass
class LightCache:
    """Decoding state of B rows (one step each): cross K/V of their memories, self K/V so far."""

    cross: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # per layer K, V (B, H, M, dh), mask
    self_kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer (B, H, S, dh)
    length: int = 0

    def select(self, rows: torch.Tensor) -> None:
        """Keep only `rows` (in that order), in place."""
        self.cross = [tuple(t.index_select(0, rows) for t in layer) for layer in self.cross]
        self.self_kv = [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in self.self_kv]


class LightingModel(nn.Module):
    def __init__(self, config: LightingConfig) -> None:
        super().__init__()
        self.config = c = config
        d = c.d_model
        self.cell_in = nn.Conv1d(c.n_cell_features, d, 1)
        self.cells = nn.ModuleList(ConvBlock(d, 2**i, c.dropout) for i in range(c.audio_blocks))
        self.cell_pos = nn.Embedding(c.window, d)
        self.difficulty = nn.Embedding(N_DIFFICULTIES + 1, d)
        self.bar = nn.Embedding(c.bar_steps, d)
        self.event_token = nn.Embedding(c.vocab_size, d, padding_idx=LIGHT_PAD)
        self.event_age = nn.Embedding(c.context_steps + 1, d)
        self.memory_ln = nn.LayerNorm(d)
        self.token = nn.Embedding(c.vocab_size, d)
        self.position = nn.Embedding(c.max_group_tokens, d)
        self.blocks = nn.ModuleList(DecoderBlock(d, c.heads, c.dropout) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, c.vocab_size, bias=False)
        self.head.weight = self.token.weight  # tied: small vocabulary
        self.apply(_init)

    # ------------------------------------------------------------------ memory
    def encode_cells(self, cells: torch.Tensor) -> torch.Tensor:
        """cells (N, n_cell_features, L) -> (N, L - 2 * receptive, d): each output cell reads
        exactly `receptive` input cells each side (no padding anywhere)."""
        x = self.cell_in(cells)
        for block in self.cells:
            x = block(x)
        return x.transpose(1, 2)

    def memory(
        self,
        audio: torch.Tensor,  # (B, W, d) encoded cells of each step's window
        difficulty: torch.Tensor,  # (B,) long, N_DIFFICULTIES = unconditional
        bar: torch.Tensor,  # (B,) long step position in the bar
        ctx_tokens: torch.Tensor,  # (B, E, LIGHT_EVENT_TOKENS) long, PAD-filled
        ctx_age: torch.Tensor,  # (B, E) long, 0 = empty slot
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> memory (B, 1 + W + E, d) and valid mask (B, 1 + W + E) bool."""
        if self.training:
            if self.config.cond_dropout > 0:
                drop = torch.rand(difficulty.shape, device=difficulty.device) < self.config.cond_dropout
                difficulty = torch.where(drop, torch.full_like(difficulty, N_DIFFICULTIES), difficulty)
            if self.config.context_dropout > 0:
                keep = torch.rand(ctx_age.shape[0], device=ctx_age.device) >= self.config.context_dropout
                ctx_age = ctx_age * keep[:, None]
        cond = (self.difficulty(difficulty) + self.bar(bar % self.config.bar_steps))[:, None]  # (B, 1, d)
        pos = self.cell_pos(torch.arange(audio.shape[1], device=audio.device))[None]
        events = self.event_token(ctx_tokens).sum(dim=2) + self.event_age(
            ctx_age.clamp(0, self.config.context_steps)
        )
        x = torch.cat([cond.to(audio.dtype), audio + pos.to(audio.dtype), events.to(audio.dtype)], dim=1)
        valid = torch.cat(
            [torch.ones_like(ctx_age[:, : 1 + audio.shape[1]], dtype=torch.bool), ctx_age > 0], 1
        )
        return self.memory_ln(x), valid

    def cross_kv(self, memory: torch.Tensor, valid: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        mask = valid[:, None, None, :]
        return [(*block.cross_attn.project_kv(memory), mask) for block in self.blocks]

    # ------------------------------------------------------------------ decoder
    def decode(self, tokens: torch.Tensor, memory: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) decoder inputs `[BOS, t1 ..]` -> logits (B, T, vocab). No cache."""
        t = tokens.shape[1]
        x = self.token(tokens) + self.position(torch.arange(t, device=tokens.device))[None]
        causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).tril()
        for block, cross in zip(self.blocks, self.cross_kv(memory, valid), strict=True):
            x, _, _ = block(x, causal, cross)
        return self.head(self.ln_f(x))

    def forward(
        self,
        cells: torch.Tensor,  # (B, n_cell_features, W + 2 * receptive)
        difficulty: torch.Tensor,
        bar: torch.Tensor,
        ctx_tokens: torch.Tensor,
        ctx_age: torch.Tensor,
        tokens: torch.Tensor,  # (B, T) decoder inputs
    ) -> torch.Tensor:
        """Teacher-forced logits (B, T, vocab) for B steps."""
        memory, valid = self.memory(self.encode_cells(cells), difficulty, bar, ctx_tokens, ctx_age)
        return self.decode(tokens, memory, valid)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean token cross-entropy in fp32; logits (B, T, V), targets (B, T) with PAD ignored."""
        return F.cross_entropy(
            logits.float().flatten(0, 1),
            targets.flatten(),
            ignore_index=LIGHT_PAD,
            label_smoothing=self.config.label_smoothing if self.training else 0.0,
        )

    def start(self, memory: torch.Tensor, valid: torch.Tensor) -> LightCache:
        return LightCache(self.cross_kv(memory, valid), [])

    def step(self, tokens: torch.Tensor, cache: LightCache) -> torch.Tensor:
        """One token per row (B,) at position `cache.length` -> logits (B, vocab); cache extended."""
        pos = torch.full((1,), cache.length, device=tokens.device)
        x = self.token(tokens)[:, None] + self.position(pos)[None]  # (B, 1, d)
        new = []
        for i, block in enumerate(self.blocks):
            x, k, v = block(x, None, cache.cross[i], cache.self_kv[i] if cache.self_kv else None)
            new.append((k, v))
        cache.self_kv, cache.length = new, cache.length + 1
        return self.head(self.ln_f(x[:, 0]))


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear | nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.Embedding) and m.padding_idx is not None:
            m.weight.data[m.padding_idx].zero_()


def load_lighting_model(ckpt_path: str | os.PathLike, device: str | torch.device = "cpu") -> LightingModel:
    """The model (eval mode) of a stage-3 checkpoint, loaded with weights_only=True."""
    state, config = read_stage_checkpoint(ckpt_path, "lighting", device)
    model = LightingModel(LightingConfig(**config))
    model.load_state_dict(state["model"])
    return model.to(device).eval()

"""Stage 2: which objects at each onset? One note token group per onset, from audio and recent groups.

Layout (why it differs from a plain prefix LM): the decoder only ever self-attends over the CURRENT
group `[BOS, t1 .. tn]` (n is ~5-15 tokens, EOS last). Everything it is conditioned on sits in its
cross-attention memory:

    memory = [ audio window: P = audio_window / audio_stride positions | context: start slot + C tokens ]

- Audio: a 512-frame window of 80 log-mel bands (normalised per window: mastering loudness varies)
  with the 6 structure features concatenated, two strided convs (stride `audio_stride`, 4 -> 128
  positions) and a small Transformer encoder. The encoding does not depend on the onset or the
  difficulty, so one window is encoded once and reused by every onset inside it, by beams and by the
  classifier-free-guidance pass (`audio_memory` also projects it to per-layer cross K/V once).
- Context: the tokens of the previous `context_onsets` groups (teacher-forced in training, the
  model's own output at inference), truncated from the left to `max_context_tokens`. The context
  encoder (`context_layers`) sees each GROUP on its own: a token attends only to the tokens of its
  own group, with its position inside the group, so a group's encoding depends on its tokens alone
  and inference encodes each group once (`ContextCache`, keyed by the tokens) and reuses it for the
  next `context_onsets` onsets. What changes from onset to onset (the group's age in onsets,
  1 = previous, and its onset frame relative to the window, bucketed by `audio_stride` so it lines
  up with audio positions, outside the window in its own bucket) is ADDED after the encoder. The
  cross-attention K/V are linear in the memory, so inference keeps each group's projected K/V and
  adds projected age/frame tables: the previous author measured that re-encoding and re-projecting
  8 groups per onset cost more than decoding the group itself. A group is a maximal run of context
  tokens with one age that does not run past an EOS (build_context and the training data both give
  each group its own age). Putting the context in memory rather than in the decoder prefix keeps
  it out of every decoder layer's self-attention, and it is shared by beams and CFG rows.
- Each decoder token gets the current onset's frame bucket and the difficulty embedding added. The
  difficulty is replaced by the "unconditional" index `N_DIFFICULTIES` with probability
  `cond_dropout` in training, so inference can mix cond/uncond logits (classifier-free guidance).
  Training must show onsets anywhere in the middle half of the window (inference places each onset
  in the window whose centre is nearest, see generation.decoding.decode_song).

Loss (`loss_terms`, always fp32): token cross-entropy with label smoothing, per-target weights from
`tokenizer.class_weights` (timing 3x, EOS 0.3x, arcs/chains up-weighted: they are rare), plus
`parity_weight` x a differentiable flow term: for each hand's first note in the group, the
probability mass the model puts (softmax over the 9 DIR tokens, at the teacher-forced DIR position)
on directions that repeat the vertical parity of that hand's last note in the context (a down-ish
swing 1/6/7 after a down-ish one, an up-ish 0/4/5 after an up-ish one). Horizontal and dot notes
are neutral. It is a simplification of evaluation.parity (no swing gap, no bomb resets), chosen
because it is smooth and cheap; its expectation is what is penalised, so gradients flow (the seed
computed it on argmax: zero gradient).

KV cache: `forward` (training) never sees a cache. Cached inference (`start_cache` -> `step_model`
with a `DecoderCache`, context groups in a `ContextCache`) lives in generation.sequence_cache, which
owns everything it derives from the weights; the model keeps no inference state.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from automapper_ml.audio import N_MELS, N_STRUCTURE
from automapper_ml.models.checkpoint import read_stage_checkpoint
from automapper_ml.models.layers import attend_heads, encode_frames
from automapper_ml.models.onset import N_DIFFICULTIES
from automapper_ml.tokenizer import (
    BOS,
    CELL0,
    DIR_TOKENS,
    EOS,
    N_CELLS,
    NOTE,
    NOTE_VOCAB_SIZE,
    PAD,
    TOKEN_COLOR,
    TOKEN_DIRECTION,
    class_weights,
)

# Vertical parity of each cut direction 0..8 (up, down, left, right, UL, UR, DL, DR, any):
# +1 up-ish (a backhand), -1 down-ish (a forehand), 0 neutral (horizontal or dot).
DIRECTION_PARITY = (1, -1, 0, 0, 1, 1, -1, -1, 0)

# Flow state (`SequenceModel.flow_state`): per hand the last note's direction (9 + none), cell
# (12 + none), age in onsets (0 = none, 1..context_onsets) and frame gap to the current onset
# (log buckets, 0 = none), then the gap to the previous group. Gaps in frames are bucketed as
# 1 + floor(2 log2(1 + gap)): half-octave steps, ~9 % apart, 0.1 s = 9 frames -> 7, 6 s -> 19.
GAP_BUCKETS = 24


@dataclass(frozen=True)
class SequenceConfig:
    vocab_size: int = NOTE_VOCAB_SIZE  # note tokens (tokenizer.NOTE_VOCAB)
    n_mels: int = N_MELS  # log-mel bands in
    n_structure: int = N_STRUCTURE  # structure features in
    audio_window: int = 512  # frames of audio around the onset
    audio_stride: int = 4  # conv downsampling (power of 2): memory has audio_window / stride positions
    audio_layers: int = 4  # Transformer encoder layers over the audio positions
    context_onsets: int = 8  # previous groups seen
    max_context_tokens: int = 160  # context truncated from the left to this many tokens
    context_layers: int = 2  # encoder layers over the context tokens
    max_group_tokens: int = 64  # longest current group (BOS + tokens + EOS)
    d_model: int = 512
    layers: int = 8  # decoder layers
    heads: int = 8
    dropout: float = 0.1
    cond_dropout: float = 0.2  # probability of dropping the difficulty in training (for CFG)
    label_smoothing: float = 0.1
    timing_weight: float = 3.0  # loss weight of DBEATS/DFRAC targets
    eos_weight: float = 0.3
    arc_weight: float = 3.0
    chain_weight: float = 3.0
    parity_weight: float = 0.1  # weight of the differentiable flow (parity) term
    flow_state: bool = (
        True  # add the explicit flow state (each hand's last note, gaps) to every decoder token
    )
    # the window-normalised mel + structure frames at the onset ([onset - onset_frames // 4, onset +
    # onset_frames - onset_frames // 4)), through an MLP, added to every decoder token; 0 = off. Which
    # drum (kick, snare, hat) sits under the onset is a local, exact-frame fact: a linear probe on these
    # frames predicts a demo note's row at 0.62 (majority 0.45), a model that had to find the onset in
    # its 128 stride-4 audio positions by attention got 0.44 (its accuracy matched the zeroed-audio one)
    onset_frames: int = 8
    # auxiliary loss weight: from the onset embedding alone (a linear head), which cells the group's
    # notes take (12 independent sigmoids). It gives the audio path its own gradient: without it the
    # decoder found the drum under the onset in 1 of 2 runs (demo corpus, tiny, 4 and 8 epochs), so
    # the zeroed-audio ablation scored the same; with it, in every run. 0 = off (and no head).
    onset_aux_weight: float = 0.2

    @classmethod
    def preset(cls, name: str) -> SequenceConfig:
        if name == "tiny":
            return cls(
                d_model=64, layers=2, heads=4, audio_layers=1, context_layers=1, max_context_tokens=96,
                timing_weight=1.0,  # generation forces timing tokens from onsets; 3x bought nothing here
            )  # fmt: skip
        if name == "full":
            return cls()
        raise ValueError(f"unknown sequence config preset {name!r} (tiny, full)")

    def __post_init__(self) -> None:
        if self.audio_stride < 1 or self.audio_stride & (self.audio_stride - 1):
            raise ValueError(f"audio_stride must be a power of 2, got {self.audio_stride}")
        if self.onset_frames < 0 or self.onset_frames > self.audio_window:
            raise ValueError(f"onset_frames must be in 0..audio_window, got {self.onset_frames}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by heads {self.heads}")

    @property
    def audio_positions(self) -> int:
        return -(-self.audio_window // self.audio_stride)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SequenceInputs:
    """Everything a group is conditioned on, for B rows. Audio windows may be shared by rows.

    mel (N, n_mels, W) and structure (N, n_structure, W): N audio windows, W <= audio_window frames
    window (B,) long: which window each row reads; onset (B,) long: the onset's frame in that window
    context (B, C) long: previous groups' tokens, oldest first, PAD where empty (any side)
    context_age (B, C) long: onsets ago (1..context_onsets) of each context token, 0 on PAD
    context_frame (B, C) long: each context token's onset frame relative to the row's window start
    difficulty (B,) long: 0..N_DIFFICULTIES-1, or N_DIFFICULTIES for "unconditional"
    """

    mel: torch.Tensor
    structure: torch.Tensor
    window: torch.Tensor
    onset: torch.Tensor
    context: torch.Tensor
    context_age: torch.Tensor
    context_frame: torch.Tensor
    difficulty: torch.Tensor

    @classmethod
    def from_dict(cls, batch: dict[str, torch.Tensor]) -> SequenceInputs:
        return cls(**{f.name: batch[f.name] for f in fields(cls)})

    def to(self, device: torch.device | str) -> SequenceInputs:
        return SequenceInputs(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def select(self, rows: torch.Tensor) -> SequenceInputs:
        """The same audio windows, rows re-indexed (beams, CFG copies)."""
        return replace(
            self,
            window=self.window[rows],
            onset=self.onset[rows],
            context=self.context[rows],
            context_age=self.context_age[rows],
            context_frame=self.context_frame[rows],
            difficulty=self.difficulty[rows],
        )


class Attention(nn.Module):
    """Multi-head attention split into `project_kv` (cacheable) and `attend`."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # (B, H, T, dh)

    def project_kv(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._split(self.k(src)), self._split(self.v(src))  # (B, H, S, dh) each

    def attend(
        self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """x (B, T, d), k/v (B, H, S, dh), mask broadcastable to (B, H, T, S), True = may attend."""
        return self.attend_q(self._split(self.q(x)), k, v, mask)

    def attend_q(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """`attend` from projected queries q (B, H, T, dh)."""
        return attend_heads(self.o, q, k, v, mask, self.dropout if self.training else 0.0)


class MLP(nn.Module):
    def __init__(self, d: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EncoderBlock(nn.Module):
    """Pre-norm self-attention block (audio and context encoders)."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn, self.mlp, self.drop = Attention(d, heads, dropout), MLP(d, dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.ln1(x)
        k, v = self.attn.project_kv(h)
        x = x + self.drop(self.attn.attend(h, k, v, mask))
        return x + self.mlp(self.ln2(x))


class DecoderBlock(nn.Module):
    """Pre-norm causal self-attention, cross-attention to the memory, MLP."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn, self.cross_attn = Attention(d, heads, dropout), Attention(d, heads, dropout)
        self.mlp, self.drop = MLP(d, dropout), nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,  # (B, T, d)
        self_mask: torch.Tensor,  # (T, T) bool
        cross: tuple[torch.Tensor, torch.Tensor, torch.Tensor],  # K, V (B, H, M, dh), mask (B, 1, 1, M)
    ) -> torch.Tensor:
        """Training path (whole group at once, no cache)."""
        h = self.ln1(x)
        k, v = self.self_attn.project_kv(h)
        x = x + self.drop(self.self_attn.attend(h, k, v, self_mask))
        x = x + self.drop(self.cross_attn.attend(self.ln2(x), cross[0], cross[1], cross[2]))
        return x + self.mlp(self.ln3(x))


@dataclass
class AudioMemory:
    """Encoded audio windows and their per-decoder-layer cross-attention K/V (N windows)."""

    encoded: torch.Tensor  # (N, P, d)
    k: list[torch.Tensor]  # per layer (N, H, P, dh)
    v: list[torch.Tensor]
    frames: torch.Tensor | None = None  # (N, C, W) normalised input, kept when config.onset_frames


class SequenceModel(nn.Module):
    def __init__(self, config: SequenceConfig) -> None:
        super().__init__()
        self.config = c = config
        d = c.d_model
        layers = [nn.Conv1d(c.n_mels + c.n_structure, d, 3, padding=1), nn.GELU()]
        for _ in range(int(math.log2(c.audio_stride))):
            layers += [nn.Conv1d(d, d, 3, stride=2, padding=1), nn.GELU()]
        self.audio_conv = nn.Sequential(*layers)
        self.register_buffer("audio_pos", _sinusoids(c.audio_positions, d), persistent=False)
        self.audio_blocks = nn.ModuleList(EncoderBlock(d, c.heads, c.dropout) for _ in range(c.audio_layers))
        self.audio_ln = nn.LayerNorm(d)

        self.token = nn.Embedding(c.vocab_size, d)
        self.frame = nn.Embedding(c.audio_positions + 2, d)  # 0 = before the window, P + 1 = after
        self.group_pos = nn.Embedding(c.max_group_tokens, d)  # a context token's place in its group
        self.context_age = nn.Embedding(c.context_onsets + 1, d)
        self.context_start = nn.Parameter(torch.zeros(1, 1, d))  # always-present slot: memory never empty
        self.context_blocks = nn.ModuleList(
            EncoderBlock(d, c.heads, c.dropout) for _ in range(c.context_layers)
        )
        self.context_ln = nn.LayerNorm(d)

        self.difficulty = nn.Embedding(N_DIFFICULTIES + 1, d)
        self.position = nn.Embedding(c.max_group_tokens, d)
        if c.flow_state:  # one table, each feature at its offset; concatenated, then an MLP
            e = max(8, d // 4)
            self.flow_embed = nn.Embedding(int(self._flow_sizes().sum()), e)
            self.flow_mlp = nn.Sequential(nn.Linear(9 * e, d), nn.GELU(), nn.Linear(d, d))
            self.register_buffer(
                "flow_offsets", torch.cumsum(F.pad(self._flow_sizes(), (1, 0))[:-1], 0), persistent=False
            )
            # per hand: its own last note, added to the tokens of that hand's objects in the group (a
            # DIR after NOTE_L reads the left hand's parity directly, no interaction left to learn)
            self.hand_mlp = nn.Sequential(nn.Linear(4 * e, d), nn.GELU(), nn.Linear(d, d))
            self.register_buffer("token_color", torch.tensor(TOKEN_COLOR.tolist()), persistent=False)
        if c.onset_frames:
            n_in = c.onset_frames * (c.n_mels + c.n_structure)
            self.onset_mlp = nn.Sequential(nn.Linear(n_in, d), nn.GELU(), nn.Linear(d, d))
            if c.onset_aux_weight > 0:
                self.onset_aux = nn.Linear(d, N_CELLS)
        self.blocks = nn.ModuleList(DecoderBlock(d, c.heads, c.dropout) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, c.vocab_size, bias=False)
        self.head.weight = self.token.weight  # tied: the vocabulary is small, the embedding learns faster
        self.apply(_init)
        # the added conditioning starts at zero: the layer-normed audio (~1 per unit) through a fresh
        # projection would otherwise swamp the 0.02-scale token embeddings (measured: the click task
        # went from 1.0 to 0.17 accuracy)
        for lin in ([self.flow_mlp[-1], self.hand_mlp[-1]] if c.flow_state else []) + (
            [self.onset_mlp[-1]] if c.onset_frames else []
        ):
            nn.init.zeros_(lin.weight)
        self.register_buffer("class_weight", torch.from_numpy(class_weights(
            c.timing_weight, c.eos_weight, c.arc_weight, c.chain_weight)), persistent=False)  # fmt: skip
        self.register_buffer("dir_tokens", torch.tensor(DIR_TOKENS.tolist()), persistent=False)
        self.register_buffer("token_dir", torch.tensor(TOKEN_DIRECTION.tolist()), persistent=False)
        self.register_buffer(
            "dir_parity", torch.tensor((*DIRECTION_PARITY, 0)), persistent=False
        )  # [-1] = none

    # ------------------------------------------------------------------ flow state
    def _flow_sizes(self) -> torch.Tensor:
        """Classes of each flow feature: per hand (direction, cell, age, gap), then the last group's gap."""
        hand = [10, N_CELLS + 1, self.config.context_onsets + 1, GAP_BUCKETS]
        return torch.tensor(hand + hand + [GAP_BUCKETS])

    @staticmethod
    def gap_bucket(gap: torch.Tensor) -> torch.Tensor:
        """Frame gaps (any shape, >= 0) -> 1 + floor(2 log2(1 + gap)), clamped to GAP_BUCKETS - 1."""
        b = 1 + torch.floor(2 * torch.log2(1 + gap.clamp_min(0).float())).long()
        return b.clamp(1, GAP_BUCKETS - 1)

    def flow_state(
        self, context: torch.Tensor, age: torch.Tensor, frame: torch.Tensor, onset: torch.Tensor
    ) -> torch.Tensor:
        """(B, 9) long flow features from the context (B, C) as in SequenceInputs (the last
        max_context_tokens, like the memory): per hand [direction 0..8 / 9 none, cell 0..11 / 12 none,
        age 1..context_onsets / 0 none, frame-gap bucket / 0 none] of its last NOTE in the context,
        then the gap bucket to the newest context group (0 when there is none). What the parity rule
        and hand alternation depend on, given directly instead of left to attention to find."""
        n = self.config.max_context_tokens
        ctx, age, frame = context[:, -n:], age[:, -n:], frame[:, -n:]
        b, c = ctx.shape
        rows = torch.arange(b, device=ctx.device)
        cols = torch.arange(c, device=ctx.device)
        feats = []
        for hand in (0, 1):
            if c >= 3:
                is_note = (ctx[:, :-2] == NOTE[hand]) & (self.token_dir[ctx[:, 2:]] >= 0)
                idx = torch.where(is_note, cols[: c - 2], -1).amax(1)
            else:
                idx = torch.full((b,), -1, dtype=torch.long, device=ctx.device)
            has, i = idx >= 0, idx.clamp_min(0)
            direction = torch.where(has, self.token_dir[ctx[rows, (i + 2).clamp_max(c - 1)]], 9)
            cell = ctx[rows, (i + 1).clamp_max(c - 1)] - CELL0
            cell = torch.where(has & (cell >= 0) & (cell < N_CELLS), cell, N_CELLS)
            ages = torch.where(has, age[rows, i].clamp(0, self.config.context_onsets), 0)
            gap = torch.where(has, self.gap_bucket(onset - frame[rows, i]), 0)
            feats += [direction, cell, ages, gap]
        last = torch.where(ctx != PAD, cols, -1).amax(1) if c else torch.full((b,), -1, device=ctx.device)
        feats.append(torch.where(last >= 0, self.gap_bucket(onset - frame[rows, last.clamp_min(0)]), 0))
        return torch.stack(feats, dim=1)

    def flow_embedding(self, inputs: SequenceInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """`flow_state` embedded: (B, d) for every token and the per-hand table (B, 3, d) (row 0 zeros:
        tokens before the group's first coloured object; rows 1, 2: left, right)."""
        state = self.flow_state(inputs.context, inputs.context_age, inputs.context_frame, inputs.onset)
        e = self.flow_embed(state + self.flow_offsets)  # (B, 9, e)
        hands = self.hand_mlp(torch.stack([e[:, :4].flatten(1), e[:, 4:8].flatten(1)], dim=1))  # (B, 2, d)
        return self.flow_mlp(e.flatten(1)), F.pad(hands, (0, 0, 1, 0))

    def token_hands(self, tokens: torch.Tensor, carry: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) hand index (0 none, 1 left, 2 right) of the last coloured token at or before each
        position; `carry` (B,) is the hand before the first position (cached decoding)."""
        colour = self.token_color[tokens]  # (B, T): 0/1 on coloured object tokens, else -1
        idx = torch.where(colour >= 0, torch.arange(tokens.shape[1], device=tokens.device), -1)
        last = idx.cummax(dim=1).values
        hand = torch.where(last >= 0, colour.gather(1, last.clamp_min(0)) + 1, 0)
        if carry is not None:
            hand = torch.where(last >= 0, hand, carry[:, None])
        return hand

    def onset_embedding(
        self, frames: torch.Tensor, window: torch.Tensor, onset: torch.Tensor
    ) -> torch.Tensor:
        """(B, d): the normalised input frames (N, C, W) around each row's onset in its window, through
        `onset_mlp` (frames outside the window read as zeros). Where the onset is, and what is heard
        exactly there, need not be searched for by attention."""
        c = self.config
        n, _, w = frames.shape
        pos = onset[:, None] + torch.arange(-(c.onset_frames // 4), c.onset_frames - c.onset_frames // 4,
                                            device=onset.device)[None]  # fmt: skip
        inside = (pos >= 0) & (pos < w)
        x = frames.transpose(1, 2)[window[:, None], pos.clamp(0, w - 1)]  # (B, F, C)
        x = torch.where(inside[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        x = x.flatten(1).to(self.onset_mlp[0].weight.dtype)
        # normalised across the whole patch: the bands' average levels (the same in every window) would
        # otherwise dominate it (measured: without it the model read the audio in 0 of 7 runs)
        return self.onset_mlp(F.layer_norm(x, x.shape[-1:]))

    # ------------------------------------------------------------------ memory
    @staticmethod
    def audio_input(mel: torch.Tensor, structure: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, W) normalised per window (mastering loudness varies) and the structure
        features (N, n_structure, W) -> (N, n_mels + n_structure, W), what the audio path reads."""
        mel = (mel - mel.mean(dim=(1, 2), keepdim=True)) / mel.std(dim=(1, 2), keepdim=True).clamp_min(0.5)
        return torch.cat([mel, structure], dim=1)

    def encode_audio(self, mel: torch.Tensor, structure: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, W), structure (N, n_structure, W), W <= audio_window -> (N, ceil(W/stride), d)."""
        return self.encode_input(self.audio_input(mel, structure))

    def encode_input(self, feats: torch.Tensor) -> torch.Tensor:
        """`audio_input` (N, C, W) -> (N, ceil(W/stride), d)."""
        return encode_frames(self.audio_conv, self.audio_pos, self.audio_blocks, self.audio_ln, feats)

    def frame_bucket(self, frames: torch.Tensor) -> torch.Tensor:
        """Window-relative frames -> embedding index: 0 before, 1 + frame // stride inside, P + 1 after."""
        p = self.config.audio_positions
        return (torch.div(frames, self.config.audio_stride, rounding_mode="floor").clamp(-1, p) + 1).long()

    def encode_groups(self, tokens: torch.Tensor) -> torch.Tensor:
        """Context groups on their own: tokens (G, L), PAD on the right -> encodings (G, L, d), before the
        age/frame embeddings (what `ContextCache` keeps; PAD positions are garbage)."""
        pos = torch.arange(tokens.shape[1], device=tokens.device).clamp_max(self.config.max_group_tokens - 1)
        x = self.token(tokens) + self.group_pos(pos)[None]
        mask = (tokens != PAD)[:, None, None, :]
        for block in self.context_blocks:
            x = block(x, mask)
        return self.context_ln(x)

    def encode_context(self, inputs: SequenceInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """-> memory (B, 1 + C', d) and valid mask (B, 1 + C') for the last C' <= max_context_tokens tokens.
        Training path: all groups of a row in one pass, attention kept inside each group."""
        n = self.config.max_context_tokens
        ctx, age, frame = inputs.context[:, -n:], inputs.context_age[:, -n:], inputs.context_frame[:, -n:]
        valid = ctx != PAD
        pos, group = _group_layout(ctx, age)
        x = self.token(ctx) + self.group_pos(pos.clamp_max(self.config.max_group_tokens - 1))
        same = (group[:, :, None] == group[:, None, :])[:, None]  # (B, 1, C, C): own group only
        for block in self.context_blocks:
            x = block(x, same)
        x = self.context_ln(x) + self.context_age(age.clamp(0, self.config.context_onsets))
        x = x + self.frame(self.frame_bucket(frame))
        x = torch.cat([self.context_start.expand(x.shape[0], 1, -1).to(x.dtype), x], dim=1)
        return x, torch.cat([torch.ones_like(valid[:, :1]), valid], dim=1)  # (B, 1 + C)

    def audio_memory(self, mel: torch.Tensor, structure: torch.Tensor) -> AudioMemory:
        """Encode N windows once and project them to every decoder layer's cross K/V."""
        feats = self.audio_input(mel, structure)
        enc = self.encode_input(feats)
        kv = [block.cross_attn.project_kv(enc) for block in self.blocks]
        return AudioMemory(
            enc, [k for k, _ in kv], [v for _, v in kv], feats if self.config.onset_frames else None
        )

    def _cross(self, audio: AudioMemory, inputs: SequenceInputs) -> tuple[list, list, torch.Tensor]:
        ctx, valid = self.encode_context(inputs)
        ks, vs = [], []
        for i, block in enumerate(self.blocks):
            ck, cv = block.cross_attn.project_kv(ctx)
            ks.append(torch.cat([audio.k[i][inputs.window].to(ck.dtype), ck], dim=2))
            vs.append(torch.cat([audio.v[i][inputs.window].to(cv.dtype), cv], dim=2))
        audio_valid = torch.ones(
            valid.shape[0], audio.encoded.shape[1], dtype=torch.bool, device=valid.device
        )
        return ks, vs, torch.cat([audio_valid, valid], dim=1)[:, None, None, :]

    def condition(
        self,
        difficulty: torch.Tensor,
        inputs: SequenceInputs,
        audio: AudioMemory | None = None,
        onset: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, 1, d) added to every decoder token: the difficulty (given separately: CFG drops it), the
        onset's place in the window, the flow state and the audio frames at the onset (`onset`: their
        `onset_embedding` when the caller already has it, else computed from `audio`)."""
        x = self.difficulty(difficulty) + self.frame(self.frame_bucket(inputs.onset))
        if self.config.flow_state:
            x = x + self.flow_embedding(inputs)[0]
        if self.config.onset_frames:
            if onset is None:
                if audio is None or audio.frames is None:
                    raise ValueError("this model reads the audio frames at the onset: pass its AudioMemory")
                onset = self.onset_embedding(audio.frames, inputs.window, inputs.onset)
            x = x + onset.to(x.dtype)
        return x[:, None, :]

    # ------------------------------------------------------------------ decoder
    def forward(self, inputs: SequenceInputs, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, vocab) for tokens (B, T) = [BOS, t1 .., EOS, PAD ..]:
        logits[:, i] predict tokens[:, i + 1]. No cache: this is the training path."""
        return self.forward_aux(inputs, tokens)[0]

    def forward_aux(
        self, inputs: SequenceInputs, tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`forward`'s logits and the auxiliary cell logits (B, N_CELLS) from the onset audio alone
        (None without `onset_aux_weight`); `loss_terms(..., aux=)` scores them."""
        difficulty = inputs.difficulty
        if self.training and self.config.cond_dropout > 0:
            drop = torch.rand(difficulty.shape, device=difficulty.device) < self.config.cond_dropout
            difficulty = torch.where(drop, torch.full_like(difficulty, N_DIFFICULTIES), difficulty)
        audio = self.audio_memory(inputs.mel, inputs.structure)
        ks, vs, mask = self._cross(audio, inputs)
        t = tokens.shape[1]
        if t > self.config.max_group_tokens:
            raise ValueError(f"group longer than max_group_tokens={self.config.max_group_tokens}")
        pos = torch.arange(t, device=tokens.device)
        onset = aux = None
        if self.config.onset_frames:  # computed once: the condition and the auxiliary head read it
            onset = self.onset_embedding(audio.frames, inputs.window, inputs.onset)
            if self.config.onset_aux_weight > 0:
                aux = self.onset_aux(onset)
        x = self.token(tokens) + self.position(pos)[None] + self.condition(difficulty, inputs, audio, onset)
        if self.config.flow_state:
            table = self.flow_embedding(inputs)[1]  # (B, 3, d)
            x = x + table.gather(1, self.token_hands(tokens)[..., None].expand(-1, -1, table.shape[-1]))
        causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).tril()
        for i, block in enumerate(self.blocks):
            x = block(x, causal, (ks[i], vs[i], mask))
        return self.head(self.ln_f(x)), aux

    # ------------------------------------------------------------------ loss
    def loss(
        self,
        logits: torch.Tensor,
        tokens: torch.Tensor,
        context: torch.Tensor,
        aux: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.loss_terms(logits, tokens, context, aux)["loss"]

    def loss_terms(
        self,
        logits: torch.Tensor,
        tokens: torch.Tensor,
        context: torch.Tensor,
        aux: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """fp32 loss of logits (B, T, V) for tokens (B, T) (targets tokens[:, 1:], PAD ignored) and
        the row's context (B, C) (for the parity term), plus `onset_aux_weight` x the auxiliary cell
        loss when `aux` (from `forward_aux`) is given. Keys: loss, ce, parity, aux."""
        c = self.config
        logp = F.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, T-1, V)
        target = tokens[:, 1:]
        nll = -logp.gather(-1, target[..., None])[..., 0]
        ce_tok = (1 - c.label_smoothing) * nll - c.label_smoothing * logp.mean(dim=-1)
        w = self.class_weight[target] * (target != PAD)
        ce = (ce_tok * w).sum() / w.sum().clamp_min(1e-6)
        parity = self.parity_penalty(logits, tokens, context)
        loss = ce + c.parity_weight * parity
        aux_loss = logits.new_zeros((), dtype=torch.float32)
        if aux is not None:
            aux_loss = F.binary_cross_entropy_with_logits(aux.float(), note_cells(tokens))
            loss = loss + c.onset_aux_weight * aux_loss
        return {"loss": loss, "ce": ce.detach(), "parity": parity.detach(), "aux": aux_loss.detach()}

    def parity_penalty(
        self, logits: torch.Tensor, tokens: torch.Tensor, context: torch.Tensor
    ) -> torch.Tensor:
        """Expected parity repeats, averaged over (row, hand) pairs that have a previous note and a note
        now: sum over d of p(DIR_d | teacher-forced prefix) * [parity(d) == parity(previous)] != 0."""
        b, t = tokens.shape
        rows = torch.arange(b, device=tokens.device)
        total = logits.new_zeros((), dtype=torch.float32)
        count = logits.new_zeros((), dtype=torch.float32)
        for hand in (0, 1):
            prev = torch.full((b,), -1, dtype=torch.long, device=tokens.device)
            if context.shape[1] >= 3:
                is_note = (context[:, :-2] == NOTE[hand]) & (self.token_dir[context[:, 2:]] >= 0)
                idx = torch.where(
                    is_note, torch.arange(context.shape[1] - 2, device=context.device), -1
                ).amax(1)
                prev = torch.where(idx >= 0, self.token_dir[context[rows, idx.clamp_min(0) + 2]], -1)
            prev_parity = self.dir_parity[prev]  # index -1 is the trailing 0 ("none")
            if t < 3:
                continue
            is_cur = (tokens[:, :-2] == NOTE[hand]) & (self.token_dir[tokens[:, 2:]] >= 0)
            first = torch.where(is_cur, torch.arange(t - 2, device=tokens.device), t).amin(1)  # (B,)
            use = (first < t - 2) & (prev_parity != 0)
            dir_logits = logits[rows, (first + 1).clamp_max(t - 1)][:, self.dir_tokens].float()  # (B, 9)
            repeats = (self.dir_parity[:9][None, :] == prev_parity[:, None]).float()
            expected = (dir_logits.softmax(-1) * repeats).sum(-1)
            total = total + (expected * use).sum()
            count = count + use.sum()
        return total / count.clamp_min(1.0)


def note_cells(tokens: torch.Tensor) -> torch.Tensor:
    """(B, N_CELLS) float multi-hot of the cells that the notes of each group (B, T) take."""
    is_note = (tokens[:, :-1] == NOTE[0]) | (tokens[:, :-1] == NOTE[1])
    cell = tokens[:, 1:] - CELL0
    hit = is_note & (cell >= 0) & (cell < N_CELLS)
    out = tokens.new_zeros((tokens.shape[0], N_CELLS + 1), dtype=torch.float32)
    out.scatter_(1, torch.where(hit, cell, N_CELLS), 1.0)
    return out[:, :N_CELLS]


def _group_layout(ctx: torch.Tensor, age: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ctx/age (B, C) -> each token's position in its group and a group id (B, C) (PAD: group 0).
    A group starts at a valid token after PAD, an age change or an EOS (same split as `_segments`)."""
    valid = ctx != PAD
    prev_valid = F.pad(valid[:, :-1], (1, 0), value=False)
    prev_age = F.pad(age[:, :-1], (1, 0), value=-1)
    prev_eos = F.pad(ctx[:, :-1] == EOS, (1, 0), value=False)
    new = valid & (~prev_valid | (age != prev_age) | prev_eos)
    idx = torch.arange(ctx.shape[1], device=ctx.device).expand_as(ctx)
    start = torch.where(new, idx, 0).cummax(dim=1).values
    group = torch.where(valid, new.long().cumsum(dim=1), 0)
    return torch.where(valid, idx - start, 0), group


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear | nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)


def _sinusoids(length: int, channels: int) -> torch.Tensor:
    """(length, channels) sinusoidal positions."""
    half = channels // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half) / max(half - 1, 1))
    angles = torch.arange(length)[:, None] * freqs[None, :]
    pe = torch.cat([angles.sin(), angles.cos()], dim=1)
    return F.pad(pe, (0, channels - pe.shape[1])) if pe.shape[1] < channels else pe


def build_context(
    groups: list[list[list[int]]], frames: list[list[int]], max_tokens: int, context_onsets: int = 8
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Context tensors for B rows from each row's previous groups (oldest first, token lists) and their
    window-relative onset frames: (context, context_age, context_frame), each (B, C) long, left-padded
    with PAD so the newest token is last; only the last `context_onsets` groups and `max_tokens` tokens."""
    rows = []
    for gs, fs in zip(groups, frames, strict=True):
        gs, fs = (
            gs[-context_onsets:] if context_onsets else [],
            fs[-context_onsets:] if context_onsets else [],
        )
        toks, ages, frs = [], [], []
        for age, (g, f) in enumerate(zip(gs, fs, strict=True)):
            toks += list(g)
            ages += [len(gs) - age] * len(g)
            frs += [int(f)] * len(g)
        rows.append((toks[-max_tokens:], ages[-max_tokens:], frs[-max_tokens:]))
    width = max(1, max(len(r[0]) for r in rows)) if rows else 1
    out = torch.zeros(3, len(rows), width, dtype=torch.long)
    out[0] = PAD
    for i, (toks, ages, frs) in enumerate(rows):
        if toks:
            out[0, i, -len(toks) :] = torch.tensor(toks)
            out[1, i, -len(toks) :] = torch.tensor(ages)
            out[2, i, -len(toks) :] = torch.tensor(frs)
    return out[0], out[1], out[2]


def group_tensor(groups: list[list[int]], length: int | None = None) -> torch.Tensor:
    """(B, T) long decoder tokens [BOS, group.., PAD..] from group token lists (EOS included)."""
    width = length or 1 + max((len(g) for g in groups), default=0)
    out = torch.full((len(groups), width), PAD, dtype=torch.long)
    out[:, 0] = BOS
    for i, g in enumerate(groups):
        out[i, 1 : 1 + len(g)] = torch.tensor(g[: width - 1], dtype=torch.long)
    return out


def load_sequence_model(ckpt_path: str | os.PathLike, device: str | torch.device = "cpu") -> SequenceModel:
    """The model (eval mode) of a stage-2 checkpoint, loaded with weights_only=True and rebuilt from
    the config saved in it. ValueError with a one-line reason for anything else."""
    state, config = read_stage_checkpoint(ckpt_path, "sequence", device)
    try:
        model = SequenceModel(SequenceConfig(**config))
        model.load_state_dict(state["model"])
    except (TypeError, ValueError, RuntimeError) as err:  # another config schema or weight layout
        raise ValueError(
            f"{Path(ckpt_path)}: weights do not fit the sequence model: {str(err).splitlines()[0][:200]}"
        ) from err
    return model.to(device).eval()

"""osu!standard: one model from the song's log-mel and a difficulty request to the map's token stream.

Layout (a Whisper-like encoder-decoder over windows of audio):

- Audio: a window of `audio_window` frames (1024 = 11.9 s) of the 80 log-mel bands (normalised per
  window, as stage 2 does: `SequenceModel.audio_input`) with the 6 structure features, a 1-D CNN that
  downsamples time by `audio_stride` (8: three stride-2 convs, so 128 positions of 93 ms), sinusoidal
  positions and `audio_layers` Transformer encoder layers. The decoder cross-attends to it.
- Decoder: pre-norm Transformer (causal self-attention, cross-attention, MLP: models.sequence's
  DecoderBlock, attention through models.layers.attend_heads) over tokenizer_osu tokens. A window's
  sequence is `SOS, up to context_tokens tokens that came before the window's first new token (the
  map so far), the window's own tokens`, at most `max_tokens` positions (learned). Every token also
  gets the time cursor after it (tokenizer_osu's cursor: where the next object would be placed),
  as a frame relative to the window start: a coarse embedding per audio position (0 before the
  window, P + 1 after it) plus a fine one for the frame inside the position, so the decoder knows
  which audio it is placing objects on. `OsuCursor` computes the cursor for any token stream.
  With `beat_phase` (the default) the token also gets the cursor's place in the bar: its tick of
  the beat grid modulo `PHASES` (48 = four beats of 12 ticks, counted from the timing point in
  force), or `OFF_GRID` when the cursor is not on a tick (after a TIME_SHIFT). Without it the model
  cannot tell a downbeat from an off-beat (frames do not say where the beat is), and a map sampled
  one tick off the beat stays off it.
- Condition: AR, CS, OD, HP and a star-rating target, each normalised (`COND_CENTRE`/`COND_SCALE`)
  and embedded as value x weight + shift; a field that is unknown (NaN) takes its own learned
  "unknown" embedding, so `--stars` alone or `--ar --cs --od --hp` alone are both inputs the model
  knows. In training, each row's whole condition is replaced by the unknown embeddings with
  probability `cond_dropout`, and each field on its own with probability `field_dropout`
  (conditioning dropout: the model also learns the unconditional map, which classifier-free
  guidance can mix in later). Never in eval mode. The result, through a small MLP, is added to
  every decoder token.

Inference (KV-cached, grammar-masked, window after window) is generation.osu; the model keeps no
inference state.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from automapper_ml.audio import FRAME_SECONDS, N_MELS, N_STRUCTURE
from automapper_ml.formats.osu.model import Difficulty, TimingPoint
from automapper_ml.models.checkpoint import read_stage_checkpoint
from automapper_ml.models.layers import encode_frames
from automapper_ml.models.sequence import (
    AudioMemory,
    DecoderBlock,
    EncoderBlock,
    SequenceModel,
    _init,
    _sinusoids,
)
from automapper_ml.tokenizer_osu import (
    BEAT_SHIFT0,
    DEFAULT_BEAT_LENGTH,
    MAX_BEAT_SHIFT,
    OSU_VOCAB_SIZE,
    TIME_SHIFT0,
    TIME_SHIFT_MS,
    BeatGrid,
)

PHASES = 48  # ticks in a bar of four beats (tokenizer_osu.TICKS_PER_BEAT = 12)
OFF_GRID = PHASES  # the phase of a cursor between ticks; also "unknown"
COND_FIELDS = ("ar", "cs", "od", "hp", "stars")
COND_CENTRE = (5.0, 5.0, 5.0, 5.0, 5.0)
COND_SCALE = (5.0, 5.0, 5.0, 5.0, 3.0)  # AR/CS/OD/HP 0..10 -> -1..1; stars 2..8 -> -1..1
N_COND = len(COND_FIELDS)

PRESETS = {  # OsuConfig fields that differ from the defaults (the full model)
    "tiny": {
        "d_model": 64,
        "layers": 2,
        "heads": 4,
        "audio_layers": 1,
        "max_tokens": 384,
        "context_tokens": 64,
    },
    "full": {},
}


@dataclass(frozen=True)
class OsuConfig:
    vocab_size: int = OSU_VOCAB_SIZE  # tokenizer_osu.OSU_VOCAB
    n_mels: int = N_MELS
    n_structure: int = N_STRUCTURE
    audio_window: int = 1024  # frames per window (11.9 s)
    audio_stride: int = 8  # time downsampling of the CNN (power of 2)
    audio_layers: int = 4  # Transformer encoder layers over the audio positions
    d_model: int = 384
    layers: int = 6  # decoder layers
    heads: int = 6
    max_tokens: int = 768  # decoder positions per window: SOS + context + the window's tokens
    context_tokens: int = 128  # tokens of the map so far carried into a window
    dropout: float = 0.1
    cond_dropout: float = 0.2  # training: probability that a row's whole condition becomes "unknown"
    field_dropout: float = 0.1  # training: probability that one field on its own becomes "unknown"
    beat_phase: bool = True  # embed the cursor's tick in the bar (PHASES, OFF_GRID)

    @classmethod
    def preset(cls, name: str) -> OsuConfig:
        if name not in PRESETS:
            raise ValueError(f"unknown osu config preset {name!r} ({', '.join(PRESETS)})")
        return cls(**PRESETS[name])

    def __post_init__(self) -> None:
        s = self.audio_stride
        for bad, reason in (
            (s < 1 or s & (s - 1), f"audio_stride must be a power of 2, got {s}"),
            (self.d_model % self.heads, f"d_model {self.d_model} is not divisible by heads {self.heads}"),
            (
                not 0 <= self.context_tokens < self.max_tokens - 1,
                "context_tokens must be in 0..max_tokens - 2",
            ),
        ):
            if bad:
                raise ValueError(reason)

    @property
    def audio_positions(self) -> int:
        return -(-self.audio_window // self.audio_stride)

    @property
    def max_group_tokens(self) -> int:
        """What sequence_cache.step_model bounds a cached sequence by: a window's positions."""
        return self.max_tokens

    def to_dict(self) -> dict:
        return asdict(self)


def condition_vector(
    *,
    ar: float | None = None,
    cs: float | None = None,
    od: float | None = None,
    hp: float | None = None,
    stars: float | None = None,
) -> torch.Tensor:
    """(N_COND,) float32 normalised condition, NaN for each field not given ("unknown")."""
    values = (ar, cs, od, hp, stars)
    out = [math.nan if v is None else (float(v) - c) / s for v, c, s in zip(values, COND_CENTRE, COND_SCALE)]
    return torch.tensor(out, dtype=torch.float32)


def difficulty_condition(difficulty: Difficulty, stars: float | None = None) -> torch.Tensor:
    """The condition of a map's [Difficulty] section (and its star rating when known)."""
    d = difficulty
    return condition_vector(ar=d.ar, cs=d.cs, od=d.od, hp=d.hp, stars=stars)


class OsuCursor:
    """tokenizer_osu's time cursor (ms) over a grammatical token stream, one token at a time: a
    TIME_SHIFT adds its ms, a BEAT_SHIFT moves to the k-th tick of the timing points' grid after
    the cursor; every other token leaves it (decode_osu's rule for the tokens the grammar allows)."""

    def __init__(self, timing_points: Sequence[TimingPoint] = ()) -> None:
        self.grid = BeatGrid(tuple(timing_points) or (TimingPoint(0.0, DEFAULT_BEAT_LENGTH),))
        self.ms = 0.0

    @property
    def phase(self) -> int:
        """The cursor's tick in the bar: (tick - its section's first tick) mod PHASES, or OFF_GRID
        when it is not on a tick."""
        g = self.grid
        i = max(0, bisect_right(g.times, self.ms) - 1)
        at = (self.ms - g.times[i]) / g.tick_ms[i]
        tick = round(at)
        return tick % PHASES if abs(at - tick) < 1e-3 else OFF_GRID

    def advance(self, token: int) -> float:
        """The cursor after `token`."""
        if TIME_SHIFT0 <= token < TIME_SHIFT0 + len(TIME_SHIFT_MS):
            self.ms += TIME_SHIFT_MS[token - TIME_SHIFT0]
        elif BEAT_SHIFT0 < token <= BEAT_SHIFT0 + MAX_BEAT_SHIFT:
            self.ms = self.grid.time(self.grid.base(self.ms) + token - BEAT_SHIFT0)
        return self.ms


def cursor_frames(tokens: Iterable[int], timing_points: Sequence[TimingPoint] = ()) -> np.ndarray:
    """(T,) int64: the cursor after each token as an audio frame (its nearest frame centre): what
    the decoder's cursor embedding reads, minus the window's first frame."""
    cursor = OsuCursor(timing_points)
    ms = np.array([cursor.advance(int(t)) for t in tokens], dtype=np.float64)
    return np.rint(ms / (1000.0 * FRAME_SECONDS)).astype(np.int64)


class AudioEncoder(nn.Module):
    """The window's normalised features (N, n_mels + n_structure, W) -> (N, ceil(W / stride), d): a 1-D
    CNN (a wide input conv, then one stride-2 conv per halving of time), sinusoidal positions and
    `audio_layers` pre-norm Transformer encoder layers."""

    def __init__(self, c: OsuConfig) -> None:
        super().__init__()
        d, halvings = c.d_model, int(math.log2(c.audio_stride))
        self.conv = nn.Sequential(
            nn.Conv1d(c.n_mels + c.n_structure, d, 5, padding=2),
            nn.GELU(),
            *(m for _ in range(halvings) for m in (nn.Conv1d(d, d, 3, stride=2, padding=1), nn.GELU())),
        )
        self.register_buffer("pos", _sinusoids(c.audio_positions, d), persistent=False)
        self.blocks = nn.ModuleList(EncoderBlock(d, c.heads, c.dropout) for _ in range(c.audio_layers))
        self.ln = nn.LayerNorm(d)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return encode_frames(self.conv, self.pos, self.blocks, self.ln, feats)


class OsuModel(nn.Module):
    def __init__(self, config: OsuConfig) -> None:
        super().__init__()
        self.config = c = config
        d = c.d_model
        self.audio = AudioEncoder(c)
        self.token = nn.Embedding(c.vocab_size, d)
        self.position = nn.Embedding(c.max_tokens, d)
        self.cursor = nn.Embedding(c.audio_positions + 2, d)  # 0 = before the window, P + 1 = after it
        self.cursor_fine = nn.Embedding(c.audio_stride, d)  # the frame inside its audio position
        self.beat = nn.Embedding(PHASES + 1, d) if c.beat_phase else None  # tick in the bar, OFF_GRID
        self.cond_weight = nn.Parameter(torch.zeros(N_COND, d))
        self.cond_shift = nn.Parameter(torch.zeros(N_COND, d))
        self.cond_unknown = nn.Parameter(torch.zeros(N_COND, d))
        self.cond_mlp = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(DecoderBlock(d, c.heads, c.dropout) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, c.vocab_size)
        self.apply(_init)
        for p in (self.cond_weight, self.cond_shift, self.cond_unknown):
            nn.init.normal_(p, std=0.02)

    # ------------------------------------------------------------------ audio
    def encode_audio(self, mel: torch.Tensor, structure: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, W), structure (N, n_structure, W), W <= audio_window -> (N, ceil(W/stride), d)."""
        return self.audio(SequenceModel.audio_input(mel, structure))

    def audio_memory(self, mel: torch.Tensor, structure: torch.Tensor) -> AudioMemory:
        """Encode N windows once and project them to every decoder layer's cross K/V."""
        enc = self.encode_audio(mel, structure)
        kv = [block.cross_attn.project_kv(enc) for block in self.blocks]
        return AudioMemory(enc, [k for k, _ in kv], [v for _, v in kv])

    # ------------------------------------------------------------------ condition
    def condition(self, cond: torch.Tensor) -> torch.Tensor:
        """cond (B, N_COND) normalised, NaN = unknown -> (B, d) added to every decoder token. In
        training mode rows and fields are dropped to "unknown" (`cond_dropout`, `field_dropout`)."""
        c = self.config
        known = ~torch.isnan(cond)
        if self.training and (c.cond_dropout > 0 or c.field_dropout > 0):
            row = torch.rand(cond.shape[0], 1, device=cond.device) < c.cond_dropout
            field = torch.rand(cond.shape, device=cond.device) < c.field_dropout
            known = known & ~row & ~field
        value = torch.nan_to_num(cond, nan=0.0)[..., None]  # (B, N_COND, 1)
        x = torch.where(known[..., None], value * self.cond_weight + self.cond_shift, self.cond_unknown)
        return self.cond_mlp(x.sum(dim=1))

    def cursor_embedding(self, frames: torch.Tensor, phases: torch.Tensor | None = None) -> torch.Tensor:
        """Window-relative cursor frames (B, T) long -> (B, T, d): coarse position + frame inside it
        (+ the beat phase (B, T) in 0..OFF_GRID with `beat_phase`; None: OFF_GRID everywhere)."""
        stride, p = self.config.audio_stride, self.config.audio_positions
        coarse = torch.div(frames, stride, rounding_mode="floor").clamp(-1, p)
        fine = torch.where((coarse >= 0) & (coarse < p), frames.remainder(stride), 0)
        out = self.cursor(coarse + 1) + self.cursor_fine(fine)
        if self.beat is not None:
            phases = torch.full_like(frames, OFF_GRID) if phases is None else phases.clamp(0, OFF_GRID)
            out = out + self.beat(phases)
        return out

    def embed(
        self, tokens: torch.Tensor, start: int, frames: torch.Tensor, phases: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Decoder input of tokens (B, T) at positions start.. with their cursor frames (B, T) (and
        beat phases), before the condition (the cached path adds it once per window)."""
        t = tokens.shape[1]
        if start + t > self.config.max_tokens:
            raise ValueError(f"window longer than max_tokens={self.config.max_tokens}")
        pos = self.position.weight[start : start + t]
        return self.token(tokens) + pos + self.cursor_embedding(frames, phases)

    # ------------------------------------------------------------------ decoder
    def forward(
        self,
        mel: torch.Tensor,  # (B, n_mels, W): one window per row
        structure: torch.Tensor,  # (B, n_structure, W)
        cond: torch.Tensor,  # (B, N_COND), NaN = unknown
        tokens: torch.Tensor,  # (B, T): SOS, context, the window's tokens (PAD after the end)
        frames: torch.Tensor,  # (B, T): each token's cursor frame relative to the window start
        phases: torch.Tensor | None = None,  # (B, T): each token's cursor beat phase (OsuCursor.phase)
    ) -> torch.Tensor:
        """Teacher-forced logits (B, T, vocab): logits[:, i] predict tokens[:, i + 1]. No cache."""
        audio = self.audio_memory(mel, structure)
        x = self.embed(tokens, 0, frames, phases) + self.condition(cond)[:, None]
        t = tokens.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).tril()
        for i, block in enumerate(self.blocks):
            x = block(x, causal, (audio.k[i], audio.v[i], None))
        return self.head(self.ln_f(x))


@contextmanager
def _fitting(path: str | os.PathLike) -> Iterator[None]:
    """Turns a config or state dict that does not fit the model into a one-line ValueError."""
    try:
        yield
    except (TypeError, ValueError, RuntimeError) as err:  # another config schema or weight layout
        reason = str(err).splitlines()[0][:200]
        raise ValueError(f"{Path(path)}: weights do not fit the osu model: {reason}") from err


def load_osu_model(ckpt_path: str | os.PathLike, device: str | torch.device = "cpu") -> OsuModel:
    """The model (eval mode) of an osu checkpoint, loaded with weights_only=True and rebuilt from the
    config saved in it. ValueError with a one-line reason for anything else."""
    state, config = read_stage_checkpoint(ckpt_path, "osu", device)
    with _fitting(ckpt_path):
        model = OsuModel(OsuConfig(**config))
        model.load_state_dict(state["model"])
    return model.to(device).eval()

"""osu!standard inference: KV-cached, grammar-masked sampling of a whole song, window after window.

`generate_osu(model, mel, structure, timing_points, cond)` samples one token stream for the song:

- Grammar: every step samples under `OsuGrammar`'s mask, so the stream decodes (tokenizer_osu's
  `decode_osu`, given the same timing points) to a valid map without skipping a token. On top of it,
  geometry masks keep every slider valid for the judge (evaluation.osu.slider_problems): anchors stay
  in the playfield less a margin (`MARGIN_X`/`MARGIN_Y`: a Bezier or linear path lies in the hull of
  its points, and the judge runs a path a little past its last point when its sampled length falls
  short of the pixel length), a perfect-circle slider's second anchor only where its arc (as the
  judge draws it) stays inside, and a slider may only end where the judge accepts it.
  Slider curve types are `OsuSampling.kinds`: L, B and P by default; C (legacy catmull, which the
  editor no longer makes) only on request, since its spline overshoots its points, and at
  MAX_ANCHORS anchors no further anchor could repair it.
- Windows: the decoder sees `config.audio_window` frames of audio (11.9 s) at a time. A window is
  placed so the time cursor sits at `lead` of it; when the cursor passes `switch` of the window (or the
  window's positions run out), the next window starts there: its audio is encoded, and its cache is
  prefilled with SOS and the last `config.context_tokens` tokens of the stream (their cursor frames
  relative to the new window). A 3-minute song is ~30 windows, one audio encoding and one prefill
  each. The song ends when the cursor reaches the end of the audio (or `max_tokens_per_second`).
- Timing prior (optional, `prior`): a per-frame log score of where objects belong, from an onset
  model (generation.osu_song.onset_prior: the Beat Saber onset model's note probability). At every
  timing decision each choice is scored by where it puts the next object: an object started now
  at the cursor's frame, BEAT_SHIFT_k at the k-th tick after the cursor; `OsuSampling.onset_weight`
  times that score is added to its logit (a product of the model's distribution and the prior's).
- Sampling: temperature, then nucleus (`sampling.sample_top_p`) with a seeded torch.Generator: the
  same seed gives the same tokens.
- The cache: `OsuCache` computes the pre-transposed step weights (`sequence_cache.step_weights`) from
  the model's weights when it is made and holds the current window's `DecoderCache`; a step is
  `sequence_cache.step_model` (the same DecoderBlocks; the cursor embedding rides in the cache's bias). The model keeps nothing: make a new cache after
  changing the weights.

Timing points are the caller's: a human map's, or `tempo_timing_points` of an estimated tempo
(generation.tempo.detect_tempo) for one constant-BPM point.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from automapper_ml.audio import FRAME_SECONDS, seconds_to_frame
from automapper_ml.evaluation.osu import slider_problems
from automapper_ml.formats.osu.model import (
    PLAYFIELD_HEIGHT,
    PLAYFIELD_WIDTH,
    Difficulty,
    OsuMap,
    Slider,
    TimingPoint,
)
from automapper_ml.generation.sampling import sample_top_p
from automapper_ml.generation.sequence_cache import DecoderCache, step_model, step_weights
from automapper_ml.generation.tempo import TempoEstimate
from automapper_ml.models.osu import OFF_GRID, OsuCursor, OsuModel
from automapper_ml.tokenizer_osu import (
    _ANCHORS,
    _BOUNDARY,
    _DX,
    _DY,
    _OBJECT,
    ADD_SLIDER_ANCHOR,
    BEAT_SHIFT0,
    CELL_X,
    CELL_Y,
    COORD_BINS,
    COORD_X0,
    COORD_Y0,
    DX0,
    DY0,
    END_SLIDER0,
    EOS,
    MAX_BEAT_SHIFT,
    MAX_DX,
    MAX_DY,
    MAX_REPEATS,
    NEW_COMBO,
    PLACE_CIRCLE,
    PLACE_SPINNER,
    SLIDER_KINDS,
    SOS,
    START_SLIDER,
    STEP,
    TIME_SHIFT0,
    TIME_SHIFT_MS,
    OsuGrammar,
    OsuState,
    OsuTokenizerConfig,
    decode_osu,
)

MARGIN_X, MARGIN_Y = 8.0, 6.0  # px: slider anchors stay this far inside the playfield
ARC_SAMPLES = 32  # points the judge draws per circular arc (evaluation.osu.SAMPLES_PER_SEGMENT)
ARC_SLACK = 0.5  # px: an arc point must be this far inside (float noise between the two drawings)
_END_SLIDER = np.arange(END_SLIDER0, END_SLIDER0 + MAX_REPEATS + 1)
_STEPS_X = np.arange(-MAX_DX, MAX_DX + 1)
_STEPS_Y = np.arange(-MAX_DY, MAX_DY + 1)
_STARTS = [NEW_COMBO, PLACE_CIRCLE, *START_SLIDER, PLACE_SPINNER]  # what starts an object at the cursor


@dataclass(frozen=True)
class OsuSampling:
    temperature: float = 1.0
    top_p: float = 0.95
    seed: int = 0
    kinds: tuple[str, ...] = ("L", "B", "P")  # slider curve types that may be sampled
    lead: float = 0.25  # a new window puts the cursor at this share of it
    switch: float = 0.75  # the next window starts when the cursor passes this share
    max_tokens_per_second: float = 60.0  # of audio: a stop for a model that never moves the cursor
    grid_only: bool = True  # beat encoding: no TIME_SHIFT (ms) tokens, so every object is on the grid
    end_share: float = 0.85  # EOS only once the cursor has passed this share of the song
    # temperature where an object ends (shift, place, end): None = `temperature`
    time_temperature: float | None = None
    place_bias: float = 0.0  # added to the logits of starting an object there (> 0: denser maps)
    # weight of the timing prior (`generate_osu(prior=...)`): a timing choice's logit gains
    # onset_weight * the prior where it puts the next object
    onset_weight: float = 0.0
    # the prior scores only ticks that are multiples of this (3: the 1/4 beats); the others get 0
    prior_every: int = 3

    def __post_init__(self) -> None:
        if not self.temperature > 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be > 0 and top_p in (0, 1]")
        if self.time_temperature is not None and not self.time_temperature > 0:
            raise ValueError("time_temperature must be > 0")
        if not 0 <= self.end_share <= 1:
            raise ValueError("end_share must be in [0, 1]")
        if not set(self.kinds) <= set(SLIDER_KINDS):
            raise ValueError(f"slider kinds {self.kinds!r} are not among {SLIDER_KINDS}")
        if not 0 <= self.lead < self.switch <= 1:
            raise ValueError("need 0 <= lead < switch <= 1")
        if not (math.isfinite(self.onset_weight) and self.onset_weight >= 0):
            raise ValueError("onset_weight must be finite and >= 0")
        if self.prior_every < 1:
            raise ValueError("prior_every must be >= 1")


@dataclass
class OsuGeneration:
    tokens: list[int]  # SOS ... (EOS when the stream could end)
    map: OsuMap  # decode_osu of the tokens with the timing points given
    windows: int = 0  # audio windows encoded
    stats: dict[str, int] = field(default_factory=dict)  # judge checks of slider ends, ends refused


def tempo_timing_points(tempo: TempoEstimate) -> tuple[TimingPoint, ...]:
    """One uninherited point for a constant tempo: beat length 60000 / bpm, at the first beat."""
    return (TimingPoint(round(tempo.first_beat_seconds * 1000.0, 3), 60_000.0 / tempo.bpm),)


class OsuCache:
    """What cached inference derives from the weights (the step weights, made once) and the current
    window's DecoderCache (`start`); nothing of it is stored on the model. `dtype` bfloat16 keeps the
    step weights, the audio K/V and the self K/V in bf16 (the residual stream, layer norms and logits
    stay fp32), as sequence_cache does: about half the bytes a step reads, not bit-identical."""

    def __init__(self, model: OsuModel, dtype: torch.dtype = torch.float32) -> None:
        self.model, self.dtype = model, dtype
        self.weights = step_weights(model, dtype)  # type: ignore[arg-type]  # the same DecoderBlocks
        self.window: DecoderCache | None = None
        self.condition: torch.Tensor | None = None  # (B, 1, d) of the current window

    @torch.no_grad()
    def start(self, mel: torch.Tensor, structure: torch.Tensor, cond: torch.Tensor) -> DecoderCache:
        """A fresh cache for B windows: mel (B, n_mels, W), structure (B, n_structure, W), cond (B, N_COND)."""
        model, c = self.model, self.model.config
        audio = model.audio_memory(mel, structure)
        ks, vs = [k.to(self.dtype) for k in audio.k], [v.to(self.dtype) for v in audio.v]
        self.condition = bias = model.condition(cond)[:, None].float()  # (B, 1, d)
        b, h = mel.shape[0], c.heads
        empty = [ks[0].new_empty(b, h, c.max_tokens, c.d_model // h) for _ in range(2 * c.layers)]
        self.window = DecoderCache(
            ks, vs, None, bias, empty[: c.layers], empty[c.layers :], 0, 1, self.weights
        )
        return self.window

    @torch.no_grad()
    def step(
        self, tokens: torch.Tensor, frames: torch.Tensor, phases: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Feed tokens (B, T) with their window-relative cursor frames (B, T) (and beat phases) after
        the cached ones; their logits (B, T, vocab). sequence_cache.step_model does the step: token +
        position + the cache's bias, which here is the condition plus each token's cursor embedding."""
        if self.window is None or self.condition is None:
            raise ValueError("start a window first")
        self.window.bias = self.condition + self.model.cursor_embedding(frames, phases)
        return step_model(self.model, tokens, self.window)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- geometry


class _Shape:
    """The object being written, as decode_osu builds it: its tokens, head and anchors (px)."""

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.head = (0.0, 0.0)
        self.anchors: list[tuple[float, float]] = []

    def advance(self, t: int, state: OsuState) -> None:
        if t in START_SLIDER or state.phase in (_BOUNDARY, _OBJECT):  # a new object (or a boundary token)
            self.tokens, self.anchors = [], []
        self.tokens.append(t)
        if COORD_X0 <= t < COORD_X0 + COORD_BINS:
            self.head = ((t - COORD_X0 + 0.5) * CELL_X, self.head[1])
        elif COORD_Y0 <= t < COORD_Y0 + COORD_BINS:
            self.head = (self.head[0], (t - COORD_Y0 + 0.5) * CELL_Y)
        elif DX0 - MAX_DX <= t <= DX0 + MAX_DX:
            self.anchors.append((self.last[0] + (t - DX0) * STEP, self.last[1]))
        elif DY0 - MAX_DY <= t <= DY0 + MAX_DY:
            x, _ = self.anchors[-1]
            y = self.anchors[-2][1] if len(self.anchors) > 1 else self.head[1]
            self.anchors[-1] = (x, y + (t - DY0) * STEP)

    @property
    def last(self) -> tuple[float, float]:
        return self.anchors[-1] if self.anchors else self.head

    def slider(self, timing_points: Sequence[TimingPoint]) -> Slider:
        """The slider so far, ended with no repeat (repeats do not change its path)."""
        m = decode_osu([SOS, *self.tokens, END_SLIDER0], timing_points=timing_points)
        return m.hit_objects[-1]  # type: ignore[return-value]


def _arc_inside(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Whether the perfect-circle slider from a through b to each c (N, 2) stays inside the playfield
    as the judge draws it: ARC_SAMPLES points on the arc (bounded here by the whole arc: its ends and
    the axis extremes it passes), then straight on along the last chord by what their polyline falls
    short of the arc's length (the decoded pixel length). Collinear points draw a line: inside."""
    c = np.asarray(c, dtype=np.float64).reshape(-1, 2)
    ux, uy = b - a
    vx, vy = c[:, 0] - a[0], c[:, 1] - a[1]
    cross = ux * vy - uy * vx  # (N,)
    line = np.abs(cross) < 1e-6
    det = np.where(line, 1.0, 2 * cross)
    bb, cc = ux * ux + uy * uy, vx * vx + vy * vy
    ox, oy = a[0] + (vy * bb - uy * cc) / det, a[1] + (ux * cc - vx * bb) / det  # the circle's centre
    r = np.hypot(a[0] - ox, a[1] - oy)
    a0 = np.arctan2(a[1] - oy, a[0] - ox)
    turn = (np.arctan2(c[:, 1] - oy, c[:, 0] - ox) - a0) % (2 * np.pi)
    sweep = np.where(cross < 0, turn - 2 * np.pi, turn)  # signed, as the judge draws it
    half = np.abs(sweep) / (2 * (ARC_SAMPLES - 1))  # half the angle of one chord
    chord = 2 * r * np.sin(half)
    short = np.maximum(r * np.abs(sweep) - (ARC_SAMPLES - 1) * chord, 0.0)
    end, prev = a0 + sweep, a0 + sweep * (ARC_SAMPLES - 2) / (ARC_SAMPLES - 1)
    grow = short / np.maximum(chord, 1e-9)
    ex = ox + r * (np.cos(end) + (np.cos(end) - np.cos(prev)) * grow)
    ey = oy + r * (np.sin(end) + (np.sin(end) - np.sin(prev)) * grow)
    lo_x, hi_x = np.minimum.reduce([c[:, 0], ex, np.full_like(ex, a[0])]), np.maximum.reduce([c[:, 0], ex])
    lo_y, hi_y = np.minimum.reduce([c[:, 1], ey, np.full_like(ey, a[1])]), np.maximum.reduce([c[:, 1], ey])
    hi_x, hi_y = np.maximum(hi_x, a[0]), np.maximum(hi_y, a[1])
    for k, (dx, dy) in enumerate(((1, 0), (0, 1), (-1, 0), (0, -1))):  # the arc passes angle k pi / 2?
        ccw_in = ((k * np.pi / 2 - a0) % (2 * np.pi)) <= sweep
        cw_in = ((a0 - k * np.pi / 2) % (2 * np.pi)) <= -sweep
        on = ccw_in | cw_in
        hi_x = np.where(on & (dx > 0), np.maximum(hi_x, ox + r), hi_x)
        lo_x = np.where(on & (dx < 0), np.minimum(lo_x, ox - r), lo_x)
        hi_y = np.where(on & (dy > 0), np.maximum(hi_y, oy + r), hi_y)
        lo_y = np.where(on & (dy < 0), np.minimum(lo_y, oy - r), lo_y)
    s = ARC_SLACK
    ok = (lo_x >= s) & (hi_x <= PLAYFIELD_WIDTH - s) & (lo_y >= s) & (hi_y <= PLAYFIELD_HEIGHT - s)
    return ok | line


def _inside_steps(at: float, size: float, margin: float, steps: np.ndarray) -> np.ndarray:
    new = at + steps * STEP
    return (new >= margin) & (new <= size - margin)


class _Masks:
    """Grammar mask (OsuGrammar) and the geometry masks on top of it, per step."""

    def __init__(self, kinds: Sequence[str], timing_points: Sequence[TimingPoint]) -> None:
        self.banned = [START_SLIDER[SLIDER_KINDS.index(k)] for k in SLIDER_KINDS if k not in kinds]
        self.timing_points = timing_points
        self.checks = 0  # judge checks of finished sliders (what the geometry masks left to it)
        self.refused = 0  # slider ends it refused

    def __call__(self, state: OsuState, shape: _Shape) -> np.ndarray:
        mask = state.allowed().copy()
        if (
            state.phase in (_BOUNDARY, _OBJECT) and self.banned
        ):  # boundary / object: the curve types to sample
            mask[self.banned] = False
        if state.phase == _DX:
            x = shape.last[0]
            mask[DX0 + _STEPS_X] = _inside_steps(x, PLAYFIELD_WIDTH, MARGIN_X, _STEPS_X)
            if state.kind == "P" and state.anchors == 1:
                mask[DX0 + _STEPS_X] &= self._arc_columns(shape)
        elif state.phase == _DY:
            x, _ = shape.anchors[-1]
            y = shape.anchors[-2][1] if len(shape.anchors) > 1 else shape.head[1]
            ok = _inside_steps(y, PLAYFIELD_HEIGHT, MARGIN_Y, _STEPS_Y)
            if state.kind == "P" and state.anchors == 1:
                c = np.stack([np.full(len(_STEPS_Y), x), y + _STEPS_Y * STEP], axis=1)
                ok &= _arc_inside(np.asarray(shape.head), np.asarray(shape.anchors[0]), c)
            mask[DY0 + _STEPS_Y] = ok
        elif state.phase == _ANCHORS and mask[END_SLIDER0]:  # a slider that may end here
            self.checks += 1
            if slider_problems(shape.slider(self.timing_points)) and mask[ADD_SLIDER_ANCHOR]:
                self.refused += 1
                mask[_END_SLIDER] = False
        return mask

    def _arc_columns(self, shape: _Shape) -> np.ndarray:
        """For each DX of a P slider's second anchor: whether some inside DY then makes a valid arc."""
        a, b = np.asarray(shape.head), np.asarray(shape.anchors[0])
        xs, ys = b[0] + _STEPS_X * STEP, b[1] + _STEPS_Y * STEP
        grid = np.stack(np.broadcast_arrays(xs[:, None], ys[None, :]), axis=-1).reshape(-1, 2)
        ok = _arc_inside(a, b, grid).reshape(len(_STEPS_X), len(_STEPS_Y))
        return (ok & _inside_steps(b[1], PLAYFIELD_HEIGHT, MARGIN_Y, _STEPS_Y)[None]).any(axis=1)


# ---------------------------------------------------------------------------------- sampling


def _window_input(mel: torch.Tensor, structure: torch.Tensor, start: int, width: int) -> tuple:
    """(1, n_mels, width) and (1, n_structure, width) from frame `start`; past the end: silence."""
    m, s = mel[:, start : start + width], structure[:, start : start + width]
    pad = width - m.shape[1]
    if pad:
        m = torch.cat([m, m.new_full((m.shape[0], pad), -10.0)], dim=1)  # log10 of the 1e-10 floor
        s = torch.cat([s, s.new_zeros((s.shape[0], pad))], dim=1)
    return m[None], s[None]


@torch.no_grad()
def generate_osu(
    model: OsuModel,
    mel: np.ndarray | torch.Tensor,
    structure: np.ndarray | torch.Tensor,
    timing_points: Sequence[TimingPoint],
    cond: torch.Tensor,
    *,
    sampling: OsuSampling | None = None,
    cache: OsuCache | None = None,
    difficulty: Difficulty | None = None,
    tokenizer: OsuTokenizerConfig | None = None,
    progress: Callable[[float], None] | None = None,
    prior: np.ndarray | None = None,
) -> OsuGeneration:
    """Sample a map for a whole song: mel (n_mels, T) and structure (n_structure, T) of audio.py's
    features, the song's timing points, the condition (N_COND,) from models.osu.condition_vector.
    `prior` (T,): the timing prior's log score per frame (see the module docstring), used when
    `sampling.onset_weight` > 0. `progress` is called with the share of the song done after each
    window. Puts the model in eval mode (no dropout, no conditioning dropout)."""
    opt = sampling or OsuSampling()
    model.eval()
    c = model.config
    device = next(model.parameters()).device
    mel_t = torch.as_tensor(mel, dtype=torch.float32, device=device)
    structure_t = torch.as_tensor(structure, dtype=torch.float32, device=device)
    cond_t = torch.as_tensor(cond, dtype=torch.float32, device=device).reshape(1, -1)
    points = tuple(timing_points) or (TimingPoint(0.0, 500.0),)
    cache = cache if cache is not None else OsuCache(model)
    generator = torch.Generator().manual_seed(opt.seed)
    masks, shape, cursor = _Masks(opt.kinds, points), _Shape(), OsuCursor(points)
    state = OsuGrammar.start(tokenizer)
    n_frames = int(mel_t.shape[1])
    end_ms = n_frames * FRAME_SECONDS * 1000.0
    budget = int(opt.max_tokens_per_second * n_frames * FRAME_SECONDS) + c.context_tokens
    tokens, frames = [SOS], [0]  # frames: the cursor's frame after each token (absolute)
    phases = [cursor.phase]  # and its beat phase
    timing = np.zeros(len(state.allowed()), dtype=bool)
    timing[TIME_SHIFT0 : TIME_SHIFT0 + len(TIME_SHIFT_MS)] = True
    time_t = opt.time_temperature or opt.temperature
    start_ids = torch.tensor(_STARTS, device=device)  # the tokens that start an object at the cursor
    starts = torch.zeros(len(timing), device=device)
    starts[start_ids] = 1.0
    use_prior = prior is not None and opt.onset_weight > 0
    if use_prior:
        prior_t = torch.as_tensor(np.asarray(prior, dtype=np.float32), device=device)
        if prior_t.ndim != 1 or not len(prior_t) or not bool(torch.isfinite(prior_t).all()):
            raise ValueError("prior must be a non-empty finite (T,) array")
        shift_ids = torch.arange(BEAT_SHIFT0 + 1, BEAT_SHIFT0 + MAX_BEAT_SHIFT + 1, device=device)
    window_start, windows, logits = -1, 0, None
    while len(tokens) < budget and cursor.ms < end_ms:
        frame = frames[-1]
        if (
            window_start < 0
            or frame - window_start >= opt.switch * c.audio_window
            or (cache.window is not None and cache.window.length >= c.max_tokens)
        ):
            window_start = max(0, frame - int(opt.lead * c.audio_window))
            cache.start(*_window_input(mel_t, structure_t, window_start, c.audio_window), cond_t)
            ctx = tokens[max(1, len(tokens) - c.context_tokens) :]
            prefix = [SOS, *ctx]
            pf = [frames[len(tokens) - len(prefix)], *frames[len(tokens) - len(ctx) :]]
            pp = [phases[len(tokens) - len(prefix)], *phases[len(tokens) - len(ctx) :]]
            logits = _step(cache, prefix, pf, window_start, device, pp)
            windows += 1
            if progress is not None:
                progress(min(1.0, frame / max(n_frames, 1)))
        allowed = masks(state, shape)
        if opt.grid_only and state.beat and allowed[BEAT_SHIFT0 + 1]:
            allowed = allowed & ~timing
        if cursor.ms < opt.end_share * end_ms and allowed.sum() > 1:
            allowed = allowed.copy()
            allowed[EOS] = False
        mask = torch.from_numpy(allowed).to(device)
        temperature = time_t if state.phase == _BOUNDARY else opt.temperature  # a timing decision
        scores = logits.float()
        if opt.place_bias and state.phase == _BOUNDARY:
            scores = scores + opt.place_bias * starts
        if use_prior and state.phase == _BOUNDARY:
            land = _landing_scores(prior_t, cursor, start_ids, shift_ids, len(scores), opt.prior_every)
            scores = scores + opt.onset_weight * land
        probs = torch.softmax(scores.masked_fill(~mask, -math.inf) / temperature, dim=-1)
        t = int(sample_top_p(probs[None], opt.top_p, generator)[0])
        state_before, state = state, state.advance(t)
        if t == EOS:
            tokens.append(t)
            break
        shape.advance(t, state_before)
        tokens.append(t)
        frames.append(int(seconds_to_frame(cursor.advance(t) / 1000.0)))
        phases.append(cursor.phase)
        logits = _step(cache, [t], frames[-1:], window_start, device, phases[-1:])
    if tokens[-1] != EOS and state.can_end:
        tokens.append(EOS)
    out = decode_osu(tokens, timing_points=points, difficulty=difficulty, config=tokenizer)
    if progress is not None:
        progress(1.0)
    return OsuGeneration(tokens, out, windows, {"judge_checks": masks.checks, "ends_refused": masks.refused})


def _landing_scores(
    prior: torch.Tensor,
    cursor: OsuCursor,
    start_ids: torch.Tensor,
    shift_ids: torch.Tensor,
    vocab: int,
    every: int = 1,
) -> torch.Tensor:
    """(vocab,): the prior where each timing choice puts the next object (0 for the other tokens):
    the cursor's frame for the tokens that start an object now, the k-th tick's for BEAT_SHIFT_k.
    Only ticks whose index in the bar is a multiple of `every` are scored (the others 0): an onset
    curve's peak spans more than one 1/12-beat tick, and its neighbours must not take it over."""
    grid, ms = cursor.grid, cursor.ms
    base = grid.base(ms)
    times = np.array([ms] + [grid.time(base + k) for k in range(1, len(shift_ids) + 1)])
    at = np.clip(np.rint(times / (1000.0 * FRAME_SECONDS)).astype(np.int64), 0, len(prior) - 1)
    landing = prior[torch.from_numpy(at).to(prior.device)]
    if every > 1:
        phase = cursor.phase
        ticks = np.arange(len(times)) + (phase if phase != OFF_GRID else 0)
        keep = (ticks % every == 0) & (phase != OFF_GRID)
        landing = landing * torch.from_numpy(keep).to(landing)
    out = torch.zeros(vocab, device=prior.device)
    out[start_ids] = landing[0]
    out[shift_ids] = landing[1:]
    return out


def _step(
    cache: OsuCache, tokens: list[int], frames: list[int], start: int, device, phases: list[int] | None = None
) -> torch.Tensor:
    """The logits (vocab,) after feeding `tokens` at absolute cursor `frames` (and beat `phases`) to
    the window at `start`."""
    tok = torch.tensor([tokens], dtype=torch.long, device=device)
    fr = torch.tensor([frames], dtype=torch.long, device=device) - start
    ph = None if phases is None else torch.tensor([phases], dtype=torch.long, device=device)
    return cache.step(tok, fr, ph)[0, -1]

"""Stage-2 decoding: one note group per onset, grammar-constrained, KV-cached, batched.

`decode_groups` decodes one group for each of B rows (onsets) at once; `decode_song` walks a song's
onsets. What makes it fast, and why it is organised this way (figures: bench/decoding.py):

- Rows are decoded in lock-step: every row of the batch is (onset x CFG pass x beam), so one
  `SequenceModel.step` per token serves all of them. The passes x beams rows of an onset share ONE
  cross-attention memory (`DecoderCache.copies`): their queries are folded into one attention call,
  so CFG and beams neither copy nor re-order the memory. The cache also holds the self-attention
  K/V of the tokens so far in preallocated buffers; `use_cache=False` recomputes the whole forward
  every step (benchmark baseline and the test that both give the same tokens).
- On CPU a step is bound by memory traffic, not arithmetic: at a few rows it reads every decoder
  weight (8 layers x 14 d^2 floats = 112 MB for `full`), and each row reads its memory (audio 128 +
  context positions, K and V, 8 layers: 5-7 MB). Hence: batch many onsets (`streams`), drop rows
  whose group has ended once a quarter of them have (`_single`), pre-transposed weights
  (`SequenceModel.step_weights`: MKL's small-batch path is ~2x faster on them), and optionally
  `precision="bfloat16"` (half the bytes; ~2x on CPUs with AMX/AVX512-BF16, outputs close to fp32
  but not identical, so tests and the identity benchmark use fp32).
- Each context group is encoded once per song (`ContextCache`, passed across decode_groups calls)
  instead of re-encoding 8 groups for every onset; every audio window once per song.
- Classifier-free guidance runs the unconditional rows (difficulty = `N_DIFFICULTIES`) in the
  same batch and mixes raw logits `uncond + s * (cond - uncond)`; s = 1 skips those rows entirely.
- Grammar: each hypothesis carries an incremental grammar state (`tokenizer.NoteState`); its
  `allowed()` mask is applied as -inf before softmax, so every sampled/searched token keeps the
  sequence decodable. `min_length` masks EOS until that many tokens came before it (when the
  grammar has another choice); near `max_length` objects that could not finish in the remaining
  budget are masked too; a group still cut by max_length (e.g. many open arcs in a closing group)
  is shortened to its longest prefix that may end, plus EOS (`complete=False` only if none). The
  combined mask per (grammar state, position) is computed once and gathered from a table.
- `decode_song` splits the onsets into `streams` contiguous runs decoded side by side (the
  autoregressive dependency is only within a run; each run's last group closes its arcs, so the
  concatenation is grammatical). A run cannot see the run before it (decoded at the same time), so
  with `seam_prompts` (default) every run after the first is decoded once per hand-state prompt and
  the variant that flows on from the chosen previous run is kept (generation.seams: raw parity
  errors 20.8 -> 1.9 per 100 swings with 16 runs on ~70-onset maps). That costs 4x the rows of those
  runs: bench/generation.py, `full`, 3-minute song, 32 streams, stage 2 in one thread 15 s -> 51 s
  fp32, 7.5 s -> 24 s bf16. More streams = bigger batches (faster per onset), and with prompts no
  blind onsets; bench/decoding.py measures the speed side.
  Audio windows sit on a half-window grid, each encoded once for the whole song;
  each onset reads the window whose centre is nearest, so it lies in the middle half of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import torch

from automapper_ml.generation.options import DecodingOptions
from automapper_ml.generation.sampling import sample_top_p
from automapper_ml.generation.seams import choose_lanes, make_lanes
from automapper_ml.generation.sequence_cache import ContextCache, start_cache, step_model
from automapper_ml.models.onset import N_DIFFICULTIES
from automapper_ml.models.sequence import (
    AudioMemory,
    SequenceInputs,
    SequenceModel,
    build_context,
)
from automapper_ml.tokenizer import (
    ANGLE0,
    ANGLE_VALUES,
    ATTRIBUTES,
    BOS,
    DBEATS0,
    DFRAC0,
    DIR0,
    EOS,
    MAX_DBEATS,
    TICKS_PER_BEAT,
    NoteGrammar,
)


def _min_tail(vocab: int) -> np.ndarray:
    """Fewest tokens (EOS included) a group needs after choosing each token: objects must finish."""
    tail = np.ones(vocab, dtype=np.int64)
    for token, spec in ATTRIBUTES.items():
        tail[token] = 1 + len(spec) + 1
    tail[ANGLE0 : ANGLE0 + len(ANGLE_VALUES)] = 2
    shortest = min(len(spec) for spec in ATTRIBUTES.values()) + 1  # BOMB CELL
    tail[DFRAC0 : DFRAC0 + TICKS_PER_BEAT] = 1 + shortest + 1
    tail[DBEATS0 + 1 : DBEATS0 + MAX_DBEATS + 1] = 2 + shortest + 1
    return tail


def _repair(tokens: list[int], state: GrammarState, closing: bool) -> tuple[list[int], GrammarState]:
    """A group cut by max_length, shortened to its longest prefix that may end, plus EOS (unchanged
    when it has none: then it stays incomplete)."""
    states, best = [state], -1
    for t in tokens:
        if states[-1].allowed(closing)[EOS]:
            best = len(states) - 1
        states.append(states[-1].advance(t, closing))
    if states[-1].allowed(closing)[EOS]:
        best = len(tokens)
    if best < 0:
        return tokens, states[-1]
    return tokens[:best] + [EOS], states[best].advance(EOS, closing)


class GrammarState(Protocol):
    """The incremental grammar decoding needs (tokenizer.NoteState satisfies it)."""

    def allowed(self, closing: bool = False) -> np.ndarray: ...
    def advance(self, token: int, closing: bool = False) -> GrammarState: ...


@dataclass(frozen=True)
class DecodingResult:
    tokens: list[list[int]]  # per row: the group's tokens, EOS last when complete
    log_prob: list[float]  # per row: sum of log p of the chosen tokens (guided, masked distribution)
    score: list[float]  # per row: the ranking score (beam: length-normalised; else = log_prob)
    states: list[GrammarState]  # per row: grammar state after the group (carries open arcs onward)
    complete: list[bool]  # per row: False when max_length cut the group before EOS
    beams: list[list[tuple[list[int], float]]] | None = None  # "beam": finished hypotheses, best first


class _Rows:
    """Next-token logits for R = B * passes * K rows (passes = 2 with CFG), cached or recomputed.

    Row layout (onset, pass, beam): the passes x beams rows of one onset are consecutive, so with the
    cache they share one cross-attention memory (`DecoderCache.copies`) that is never duplicated."""

    def __init__(self, model: SequenceModel, inputs: SequenceInputs, audio: AudioMemory | None, k: int,
                 opt: DecodingOptions, context: ContextCache | None) -> None:  # fmt: skip
        b = int(inputs.window.shape[0])
        self.model, self.b, self.k, self.scale = model, b, k, opt.cfg_scale
        self.passes = 2 if opt.cfg_scale != 1.0 else 1
        r = self.passes * k
        device = inputs.window.device
        uncond = (torch.arange(b * r, device=device) // k) % self.passes == 1
        self.use_cache, self.dtype = opt.use_cache, opt.dtype
        self.bias = None
        if opt.up_down_bias:  # None or 0: no bias
            self.bias = torch.zeros(model.config.vocab_size, device=device)
            self.bias[DIR0 : DIR0 + 2] = opt.up_down_bias  # DIR_0 up, DIR_1 down
        if opt.use_cache:
            self.cache = start_cache(model, inputs, audio, r, opt.max_length + 1, context, opt.dtype)
            if self.passes == 2:
                diff = torch.where(uncond, N_DIFFICULTIES, inputs.difficulty.repeat_interleave(r))
                # swap the difficulty term of the bias (the rest: onset frame, flow, onset audio)
                swap = model.difficulty(diff) - model.difficulty(inputs.difficulty.repeat_interleave(r))
                self.cache.bias = self.cache.bias + swap[:, None, :].to(self.cache.bias.dtype)
        else:  # the forward pass over only the windows these rows read
            used, window = torch.unique(inputs.window, return_inverse=True)
            rows = replace(inputs, mel=inputs.mel[used], structure=inputs.structure[used], window=window)
            rows = rows.select(torch.arange(b, device=device).repeat_interleave(r))
            self.inputs = replace(rows, difficulty=torch.where(uncond, N_DIFFICULTIES, rows.difficulty))

    def logits(self, seq: torch.Tensor) -> torch.Tensor:
        """seq (B*K, t) tokens so far -> guided logits (B*K, V) of the next token, fp32."""
        new = seq[:, self.cache.length :] if self.use_cache else seq
        if self.passes == 2:
            t = new.shape[1]
            new = new.view(self.b, 1, self.k, t).expand(self.b, 2, self.k, t).reshape(-1, t)
        if self.use_cache:
            out = step_model(self.model, new, self.cache)[:, -1].float()
        else:
            with torch.autocast(new.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
                out = self.model(self.inputs, new)[:, -1].float()
        if self.passes == 2:
            out = out.view(self.b, 2, self.k, -1)
            cond, uncond = out[:, 0].reshape(self.b * self.k, -1), out[:, 1].reshape(self.b * self.k, -1)
            out = uncond + self.scale * (cond - uncond)
        return out if self.bias is None else out + self.bias

    def keep(self, onsets: torch.Tensor) -> None:
        """Only these onsets (indices into the current ones) are decoded from now on."""
        if self.use_cache:
            self.cache.keep(onsets)
        else:
            r = self.passes * self.k
            self.inputs = self.inputs.select((onsets[:, None] * r + torch.arange(r)).reshape(-1))
        self.b = len(onsets)

    def reorder(self, src: torch.Tensor) -> None:
        """src (B*K,): the beam each new hypothesis extends (always one of its own onset's)."""
        if not self.use_cache:
            return
        if self.passes == 2:
            s = src.view(self.b, 1, self.k)
            src = (s // self.k * 2 * self.k + torch.arange(2, device=src.device)[None, :, None] * self.k
                   + s % self.k).reshape(-1)  # fmt: skip
        self.cache.reorder(src)


class _Masks:
    """Forbidden-token masks for a batch of hypotheses, as one boolean tensor (True = masked out).

    The grammar's masks (`state.allowed()` returns one cached read-only array per grammar situation)
    combined with the rules that depend only on the position t (the max_length budget, min_length)
    are computed once per (grammar mask, t) with numpy and kept as rows of a device table, so a step
    costs one gather instead of per-row numpy work and a numpy -> torch copy; forced prefixes (and
    dead beam slots) are patched in afterwards."""

    def __init__(self, vocab: int, opt: DecodingOptions, device: torch.device) -> None:
        self.opt, self.device, self.tail = opt, device, _min_tail(vocab)
        self.rows: dict[tuple[int, int], int] = {}
        self.arrays: list[np.ndarray] = []  # grammar arrays, kept alive so their ids stay unique
        self.forbidden: list[np.ndarray] = []
        self.table = torch.zeros(0, vocab, dtype=torch.bool, device=device)

    def _rule(self, allowed: np.ndarray, t: int) -> np.ndarray:
        m = allowed & (self.tail <= self.opt.max_length - t)  # what could still finish inside the budget
        if t < self.opt.min_length and m[EOS] and m.sum() > 1:
            m[EOS] = False
        if not m.any():  # nothing finishes in time: stay grammatical, the group will be cut
            m = allowed
        return ~m

    def __call__(self, states: list, closing: list[bool], prefixes: list[list[int]], t: int,
                 live: list[bool] | None = None) -> torch.Tensor:  # fmt: skip
        """(N, V) bool, True = forbidden, for N hypotheses with t tokens so far (dead ones, live False:
        nothing forbidden)."""
        idx, grown = [], False
        for s, c in zip(states, closing, strict=True):
            allowed = s.allowed(c)
            i = self.rows.get((id(allowed), t))
            if i is None:
                i = self.rows[id(allowed), t] = len(self.forbidden)
                self.arrays.append(allowed)
                self.forbidden.append(self._rule(allowed, t))
                grown = True
            idx.append(i)
        if grown:
            self.table = torch.from_numpy(np.stack(self.forbidden)).to(self.device)
        m = self.table[idx]
        forced = [(i, p[t]) for i, p in enumerate(prefixes) if t < len(p) and (live is None or live[i])]
        if forced:
            for i, tok in forced:
                if not states[i].allowed(closing[i])[tok]:
                    raise ValueError(f"forced prefix token {tok} is not grammatical at position {t}")
            rows, toks = (list(x) for x in zip(*forced, strict=True))
            m[rows] = True
            m[rows, toks] = False
        if live is not None and not all(live):
            m[[i for i, v in enumerate(live) if not v]] = False
        return m


def decode_groups(
    model: SequenceModel,
    inputs: SequenceInputs,
    options: DecodingOptions = DecodingOptions(),
    states: Sequence[GrammarState] | None = None,
    closing: Sequence[bool] | None = None,
    prefixes: Sequence[Sequence[int]] | None = None,
    audio: AudioMemory | None = None,
    generator: torch.Generator | None = None,
    context: ContextCache | None = None,
) -> DecodingResult:
    """Decode one group for each of the B rows of `inputs`.

    states: grammar state per row before its group (default `NoteGrammar.start()`); closing: rows
    whose group ends the sequence (no arc may stay open); prefixes: tokens forced at the start of a
    row's group (e.g. the timing tokens of a known onset), each must be grammatical; audio: the
    pre-encoded windows of `inputs.mel` (`model.audio_memory`) to skip re-encoding; context: a
    `ContextCache` of `model` kept across calls, so each context group is encoded once."""
    if model.training:  # eval() walks every module: ~1 ms a call, per onset batch
        model.eval()
    b = int(inputs.window.shape[0])
    if options.max_length >= model.config.max_group_tokens:
        raise ValueError(f"max_length must be < max_group_tokens ({model.config.max_group_tokens})")
    states = list(states) if states is not None else [NoteGrammar.start() for _ in range(b)]
    closing = list(closing) if closing is not None else [False] * b
    prefixes = [list(p) for p in prefixes] if prefixes is not None else [[] for _ in range(b)]
    if not (len(states) == len(closing) == len(prefixes) == b):
        raise ValueError("states, closing and prefixes need one entry per row")
    k = options.beam_size if options.strategy == "beam" else 1
    with torch.inference_mode():
        rows = _Rows(model, inputs, audio, k, options, context)
        masks = _Masks(model.config.vocab_size, options, model.head.weight.device)
        if options.strategy == "beam":
            return _beam(rows, masks, b, k, states, closing, prefixes, options, model.config.vocab_size)
        gen = generator
        if options.strategy == "sample" and gen is None:
            gen = torch.Generator().manual_seed(options.seed)
        return _single(rows, masks, b, states, closing, prefixes, options, gen)


def _single(rows: _Rows, masks: _Masks, b: int, states: list, closing: list, prefixes: list,
            opt: DecodingOptions, gen: torch.Generator | None) -> DecodingResult:  # fmt: skip
    start_states = list(states)
    seq = torch.full((b, opt.max_length + 1), BOS, dtype=torch.long, device=rows.model.head.weight.device)
    out: list[list[int]] = [[] for _ in range(b)]
    logp_sum = [0.0] * b
    done = [False] * b
    active = list(range(b))  # rows still decoding, in the order the model's batch holds them
    for t in range(opt.max_length):
        act = torch.tensor(active, device=seq.device) if len(active) < b else slice(None)
        logits = rows.logits(seq[act, : t + 1])
        forbid = masks([states[i] for i in active], [closing[i] for i in active],
                       [prefixes[i] for i in active], t)  # fmt: skip
        masked = logits.masked_fill(forbid, float("-inf"))
        logp = torch.log_softmax(masked, dim=-1)
        if opt.strategy == "greedy":
            best, tok = logp.max(-1)
            chosen = best.tolist()
        else:
            tok = sample_top_p(torch.softmax(masked / opt.temperature, dim=-1), opt.top_p, gen)
            chosen = logp.gather(1, tok[:, None])[:, 0].tolist()
        tok_list = tok.tolist()
        for j, i in enumerate(active):
            if done[i]:
                tok_list[j] = EOS
                continue
            out[i].append(tok_list[j])
            logp_sum[i] += chosen[j]
            states[i] = states[i].advance(tok_list[j], closing[i])
            done[i] = tok_list[j] == EOS
        if all(done):
            break
        seq[act, t + 1] = torch.tensor(tok_list, device=seq.device)
        left = [j for j, i in enumerate(active) if not done[i]]
        if 4 * (len(active) - len(left)) >= len(active):  # drop finished rows once a quarter is done:
            rows.keep(torch.tensor(left, device=seq.device))  # the copy costs less than decoding them on
            active = [active[j] for j in left]
    for i in range(b):
        if out[i][-1:] != [EOS]:
            out[i], states[i] = _repair(out[i], start_states[i], closing[i])
    return DecodingResult(out, logp_sum, list(logp_sum), states, [g[-1:] == [EOS] for g in out])


def _beam(rows: _Rows, masks: _Masks, b: int, k: int, states: list, closing: list, prefixes: list,
          opt: DecodingOptions, vocab: int) -> DecodingResult:  # fmt: skip
    device = rows.model.head.weight.device
    seq = torch.full((b * k, opt.max_length + 1), BOS, dtype=torch.long, device=device)
    hyp_states = [s for s in states for _ in range(k)]
    hyp_tokens: list[list[int]] = [[] for _ in range(b * k)]
    scores = torch.full((b, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first
    finished: list[list[tuple[float, float, list[int], GrammarState]]] = [[] for _ in range(b)]
    done = [False] * b
    for t in range(opt.max_length):
        logits = rows.logits(seq[:, : t + 1])
        live = (scores.view(-1) > float("-inf")).tolist()
        # dead slots (score -inf) are never expanded: their mask allows everything
        forbid = masks(hyp_states, [closing[r // k] for r in range(b * k)],
                       [prefixes[r // k] for r in range(b * k)], t, live)  # fmt: skip
        logp = torch.log_softmax(logits.masked_fill(forbid, float("-inf")), dim=-1)  # (B*K, V)
        cand = (scores.view(-1, 1) + logp).view(b, k * vocab)
        top_v, top_i = cand.topk(min(2 * k, k * vocab), dim=1)
        top_v, top_i = top_v.tolist(), top_i.tolist()
        src, new_tok, new_scores = [], [], []
        for i in range(b):
            picked: list[tuple[int, int, float]] = []
            if not done[i]:
                for val, idx in zip(top_v[i], top_i[i], strict=True):
                    if val == float("-inf") or len(picked) == k:
                        break
                    beam, tok = divmod(idx, vocab)
                    r = i * k + beam
                    if tok == EOS:
                        n = len(hyp_tokens[r]) + 1
                        norm = val / n**opt.length_penalty
                        state = hyp_states[r].advance(EOS, closing[i])
                        finished[i].append((norm, val, hyp_tokens[r] + [EOS], state))
                    else:
                        picked.append((beam, tok, val))
                done[i] = len(finished[i]) >= k or not picked
            while len(picked) < k:  # dead slots keep shapes: score -inf, never expanded
                picked.append((picked[0][0] if picked else 0, EOS, float("-inf")))
            for beam, tok, val in picked:
                src.append(i * k + beam)
                new_tok.append(tok)
                new_scores.append(val)
        if all(done):
            break
        hyp_tokens = [hyp_tokens[s] + [tok] for s, tok in zip(src, new_tok, strict=True)]
        hyp_states = [
            hyp_states[s].advance(tok, closing[s // k]) if v > float("-inf") else hyp_states[s]
            for s, tok, v in zip(src, new_tok, new_scores, strict=True)
        ]
        src_t = torch.tensor(src, device=device)
        rows.reorder(src_t)
        scores = torch.tensor(new_scores, device=device).view(b, k)
        seq = seq[src_t]
        seq[:, t + 1] = torch.tensor(new_tok, device=device)
    out_tokens, out_logp, out_score, out_states, complete, beams = [], [], [], [], [], []
    for i in range(b):
        hyps = sorted(finished[i], key=lambda h: -h[0])
        if not hyps:  # cut by max_length: keep the best live beam, shortened to where it may end
            r = i * k + int(scores[i].argmax())
            tokens, state = _repair(hyp_tokens[r], states[i], closing[i])
            hyps = [(float(scores[i].max()), float(scores[i].max()), tokens, state)]
        out_tokens.append(hyps[0][2])
        out_score.append(hyps[0][0])
        out_logp.append(hyps[0][1])
        out_states.append(hyps[0][3])
        complete.append(hyps[0][2][-1:] == [EOS])
        beams.append([(h[2], h[0]) for h in hyps])
    return DecodingResult(out_tokens, out_logp, out_score, out_states, complete, beams)


@dataclass(frozen=True)
class SongDecoding:
    groups: list[list[int]]  # per onset: its group's tokens (EOS last)
    complete: list[bool]  # per onset: False when max_length cut the group
    windows: int  # audio windows encoded (once each)
    context_groups: int = 0  # distinct context groups encoded (once each, `ContextCache`)
    runs: int = 1  # runs of consecutive onsets decoded side by side
    lanes: int = 1  # rows those runs took (runs after the first x 4 prompts with `seam_prompts`)
    seam_errors: int = 0  # parity errors left where chosen runs meet (generation.seams)


def window_grid(n_frames: int, window: int) -> tuple[int, int]:
    """(hop, count): windows start every hop = window // 2 frames and cover the song."""
    hop = max(1, window // 2)
    return hop, max(1, math.ceil(max(n_frames - window, 0) / hop) + 1)


@torch.inference_mode()
def decode_song(
    model: SequenceModel,
    mel: np.ndarray | torch.Tensor,
    structure: np.ndarray | torch.Tensor,
    onset_frames: Sequence[int] | np.ndarray,
    difficulty: int,
    options: DecodingOptions = DecodingOptions(),
    streams: int = 8,
    prefixes: Sequence[Sequence[int]] | None = None,
    window_batch: int = 16,
) -> SongDecoding:
    """One group per onset of a song: mel (n_mels, T), structure (n_structure, T), sorted onset frames.

    `streams` runs of consecutive onsets are decoded side by side (see module docstring);
    prefixes (one per onset) force each group's first tokens, e.g. timing tokens from the beat grid."""
    device = model.head.weight.device
    cfg = model.config
    onsets = np.asarray(onset_frames, dtype=np.int64)
    if onsets.ndim != 1 or (len(onsets) > 1 and np.any(np.diff(onsets) < 0)):
        raise ValueError("onset_frames must be a sorted 1-D sequence of frame indices")
    if prefixes is not None and len(prefixes) != len(onsets):
        raise ValueError("prefixes needs one entry per onset")
    feats = torch.cat(
        [torch.as_tensor(mel, dtype=torch.float32), torch.as_tensor(structure, dtype=torch.float32)]
    )
    n_frames, w = feats.shape[1], cfg.audio_window
    hop, n_win = window_grid(n_frames, w)
    windows = torch.zeros(n_win, feats.shape[0], w)
    for j in range(n_win):
        part = feats[:, j * hop : j * hop + w]
        windows[j, :, : part.shape[1]] = part
    windows = windows.to(device)
    mel_w, struct_w = windows[:, : cfg.n_mels], windows[:, cfg.n_mels :]
    model.eval()
    bf16 = options.dtype != torch.float32 and options.use_cache
    with torch.autocast(device.type, dtype=options.dtype, enabled=bf16):
        parts = [model.audio_memory(mel_w[i : i + window_batch], struct_w[i : i + window_batch])
                 for i in range(0, n_win, window_batch)]  # fmt: skip
    audio = AudioMemory(
        torch.cat([p.encoded for p in parts]),
        [torch.cat([p.k[layer] for p in parts]) for layer in range(cfg.layers)],
        [torch.cat([p.v[layer] for p in parts]) for layer in range(cfg.layers)],
        torch.cat([p.frames for p in parts]) if parts[0].frames is not None else None,
    )
    win_of = np.clip(np.rint((onsets - w / 2) / hop), 0, n_win - 1).astype(np.int64)
    runs = [r.tolist() for r in np.array_split(np.arange(len(onsets)), max(1, min(streams, len(onsets))))]
    runs = [r for r in runs if r]
    lanes = make_lanes(runs, prefixes, options.seam_prompts)
    states = [NoteGrammar.start(first=lane.onsets[0] == 0) for lane in lanes]
    gen = torch.Generator().manual_seed(options.seed)
    # each context group encoded once per song
    context = ContextCache(model, options.dtype) if options.use_cache else None
    for step in range(max((len(r) for r in runs), default=0)):
        active = [s for s, lane in enumerate(lanes) if step < len(lane.onsets)]
        idx = [lanes[s].onsets[step] for s in active]
        ctx_groups, ctx_frames = [], []
        k = cfg.context_onsets
        for s in active:
            lane = lanes[s]
            lo = max(0, step - k)  # only the last k groups (prompt first) are ever read
            prev = (
                [*lane.prompt, *zip(lane.onsets[lo:step], lane.groups[lo:step], strict=True)][-k:]
                if k
                else []
            )
            start = win_of[lane.onsets[step]] * hop
            ctx_groups.append([g for _, g in prev])
            ctx_frames.append([int(onsets[i] - start) for i, _ in prev])
        ctx, age, frame = build_context(ctx_groups, ctx_frames, cfg.max_context_tokens, cfg.context_onsets)
        inputs = SequenceInputs(
            mel_w, struct_w, torch.as_tensor(win_of[idx], device=device),
            torch.as_tensor(onsets[idx] - win_of[idx] * hop, device=device),
            ctx.to(device), age.to(device), frame.to(device),
            torch.full((len(idx),), int(difficulty), dtype=torch.long, device=device),
        )  # fmt: skip
        res = decode_groups(
            model, inputs, options, [states[s] for s in active],
            [step == len(lanes[s].onsets) - 1 for s in active],
            [prefixes[i] for i in idx] if prefixes is not None else None, audio, gen, context,
        )  # fmt: skip
        for j, s in enumerate(active):
            lanes[s].groups.append(res.tokens[j])
            lanes[s].complete.append(res.complete[j])
            states[s] = res.states[j]
    chosen, seam_errors = choose_lanes(lanes, onsets)
    groups: list[list[int]] = [[] for _ in onsets]
    complete = [True] * len(onsets)
    for lane in chosen:
        for i, g, ok in zip(lane.onsets, lane.groups, lane.complete, strict=True):
            groups[i], complete[i] = g, ok
    return SongDecoding(
        groups,
        complete,
        n_win,
        context.encoded if context is not None else 0,
        len(runs),
        len(lanes),
        seam_errors,
    )

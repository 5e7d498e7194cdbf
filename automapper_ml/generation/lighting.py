"""Stage 3 generation: light a song with a `models.lighting.LightingModel` (see its module docstring,
GENERATION): the song is encoded once, cut into chunks of `chunk_steps` decoded side by side with
`burn_in` steps of real context before each, one light group per beat-grid step under the
LightGrammar mask, with a KV cache per step (`LightCache`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from automapper_ml.generation.options import LightingOptions
from automapper_ml.generation.sampling import sample_top_p
from automapper_ml.models.lighting import (
    LightCache,
    LightingConfig,
    LightingModel,
    context_arrays,
    mel_stats,
    note_cells_of,
    note_group_features,
    step_cells,
)
from automapper_ml.models.onset import N_DIFFICULTIES
from automapper_ml.tokenizer import (
    LIGHT_BOOST_IDS,
    LIGHT_BOS,
    LIGHT_COLOR_IDS,
    LIGHT_EOS,
    LIGHT_EVENT_TOKENS,
    LIGHT_OFFSET_IDS,
    LightGrammar,
    LightGroup,
    NoteGroup,
    split_light_events,
    truncate_light_group,
)


def _notes(
    notes: Sequence[NoteGroup | tuple[NoteGroup, int]], config: LightingConfig
) -> tuple[np.ndarray, ...]:
    groups = [n[0] if isinstance(n, tuple) else n for n in notes]
    if not all(isinstance(g, NoteGroup) for g in groups):
        raise TypeError("notes must be NoteGroups or (NoteGroup, frame) pairs")
    beats = np.array([float(g.beat) for g in groups], dtype=np.float64)
    keep = np.isfinite(beats)
    feats = note_group_features([g.tokens for g, k in zip(groups, keep, strict=True) if k])
    return note_cells_of(beats[keep], config.step, config.cells_per_step), feats


@torch.no_grad()
def generate_lights(
    model: LightingModel,
    mel: np.ndarray,
    structure: np.ndarray,
    notes: Sequence[NoteGroup | tuple[NoteGroup, int]],
    step_beats_frames: np.ndarray | Sequence[tuple[float, float]],
    options: LightingOptions | None = None,
) -> list[LightGroup]:
    """One LightGroup per grid step, every one valid under LightGrammar (so it decodes).

    mel (n_mels, T) log-mel as audio.compute_features gives it (normalised here), structure
    (n_structure, T); notes: the song's note groups (or (group, frame) pairs), placed by beat;
    step_beats_frames (n_steps, 2): beat and frame (float ok) of each step start, steps
    `config.step` beats apart from beat 0. See the module docstring for chunked decoding."""
    opts = options or LightingOptions()
    c = model.config
    sbf = np.asarray(step_beats_frames, dtype=np.float64)
    if sbf.size == 0:
        return []
    if sbf.ndim != 2 or sbf.shape[1] != 2 or not np.isfinite(sbf).all():
        raise ValueError(f"step_beats_frames must be finite (n_steps, 2), got shape {sbf.shape}")
    if mel.ndim != 2 or mel.shape[0] != c.n_mels or structure.shape != (c.n_structure, mel.shape[1]):
        raise ValueError(f"need mel ({c.n_mels}, T) and structure ({c.n_structure}, T)")
    device = torch.device(opts.device)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        # Decoding runs thousands of tiny ops (a few rows x d_model): intra-op threads only add
        # synchronisation, and on a busy machine they spin (measured 10-50x slower with 2 threads).
        torch.set_num_threads(1)
    try:
        return _generate(model, mel, structure, notes, sbf, opts, device)
    finally:
        torch.set_num_threads(threads)


def _generate(
    model: LightingModel,
    mel: np.ndarray,
    structure: np.ndarray,
    notes: Sequence[NoteGroup | tuple[NoteGroup, int]],
    sbf: np.ndarray,
    opts: LightingOptions,
    device: torch.device,
) -> list[LightGroup]:
    c = model.config
    n = len(sbf)
    model.eval()
    note_cells, note_feats = _notes(notes, c)
    stats = mel_stats(mel)
    cells = step_cells(c, mel, structure, sbf[:, 1], note_cells, note_feats, 0, n, stats)
    encoded = model.encode_cells(torch.from_numpy(cells)[None].to(device))[0]  # (L - 2R, d)
    windows = encoded.unfold(0, c.window, c.cells_per_step).permute(0, 2, 1)  # (n, W, d)

    chunk = opts.chunk_steps if opts.chunk_steps > 0 else n
    rows = [(max(0, s - max(opts.burn_in, 0)), s, min(s + chunk, n)) for s in range(0, n, chunk)]
    difficulty = N_DIFFICULTIES if opts.difficulty is None else int(opts.difficulty)
    if not 0 <= difficulty <= N_DIFFICULTIES:
        raise ValueError(f"difficulty must be 0..{N_DIFFICULTIES - 1} or None, got {opts.difficulty}")
    cap = min(opts.max_group_tokens or c.max_group_tokens, c.max_group_tokens)
    keep = np.ones(c.vocab_size, dtype=bool)
    keep[LIGHT_COLOR_IDS] = opts.chroma
    keep[LIGHT_BOOST_IDS] = opts.boosts
    no_offset = keep.copy()
    no_offset[LIGHT_OFFSET_IDS] = False
    generator = torch.Generator().manual_seed(opts.seed)
    grammar = LightGrammar(c.step)
    history: list[list[list[list[int]]]] = [[] for _ in rows]  # per row, events of each decoded step
    out: list[list[int] | None] = [None] * n
    for t in range(max(end - first for first, _, end in rows)):
        active = [r for r, (first, _, end) in enumerate(rows) if first + t < end]
        steps = [rows[r][0] + t for r in active]
        ctx = [context_arrays(history[r], c.context_steps, c.max_context_events) for r in active]
        memory, valid = model.memory(
            windows[torch.tensor(steps, device=device)],
            torch.full((len(active),), difficulty, dtype=torch.long, device=device),
            torch.tensor(steps, device=device) % c.bar_steps,
            torch.from_numpy(np.stack([x[0] for x in ctx])).to(device),
            torch.from_numpy(np.stack([x[1] for x in ctx])).to(device),
        )
        groups = _decode_step(
            model, model.start(memory, valid), grammar, keep, no_offset, cap, opts, generator
        )
        for r, k, tokens in zip(active, steps, groups, strict=True):
            history[r].append(split_light_events(tokens))
            if k >= rows[r][1]:
                out[k] = tokens
    return [LightGroup(float(sbf[k, 0]), out[k] or [LIGHT_EOS]) for k in range(n)]


def _decode_step(
    model: LightingModel,
    cache: LightCache,
    grammar: LightGrammar,
    keep: np.ndarray,
    no_offset: np.ndarray,
    cap: int,
    opts: LightingOptions,
    generator: torch.Generator,
) -> list[list[int]]:
    """Grammar-constrained decoding of one group per cache row; new events stop in time for EOS.
    Rows that have ended are dropped from the cache (most steps are short or empty)."""
    b = cache.cross[0][0].shape[0]
    device = cache.cross[0][0].device
    states = [grammar.start() for _ in range(b)]
    tokens: list[list[int]] = [[] for _ in range(b)]
    alive = list(range(b))  # original row of each cache row
    current = torch.full((b,), LIGHT_BOS, dtype=torch.long, device=device)
    for pos in range(cap):
        logits = model.step(current, cache).float()  # (alive, V)
        extra = keep if pos + LIGHT_EVENT_TOKENS + 1 <= cap else no_offset  # room for a whole event + EOS
        mask = np.stack([states[i].allowed() & extra for i in alive])
        logits = logits.masked_fill(~torch.from_numpy(mask).to(device), float("-inf"))
        chosen = _choose(logits, opts, generator).tolist()
        going = []
        for j, i in enumerate(alive):
            states[i] = states[i].advance(chosen[j])
            tokens[i].append(chosen[j])
            if chosen[j] != LIGHT_EOS:
                going.append(j)
        if not going:
            break
        if len(going) < len(alive):
            cache.select(torch.tensor(going, device=device))
        alive = [alive[j] for j in going]
        current = torch.tensor([chosen[j] for j in going], dtype=torch.long, device=device)
    return [tk if tk[-1] == LIGHT_EOS else truncate_light_group(tk + [LIGHT_EOS], cap) for tk in tokens]


def _choose(logits: torch.Tensor, opts: LightingOptions, generator: torch.Generator) -> torch.Tensor:
    """Masked logits (B, V) -> token ids (B,): argmax, or nucleus sampling at a temperature."""
    if opts.temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / opts.temperature, dim=-1).cpu()
    return sample_top_p(probs, opts.top_p, generator).to(logits.device)

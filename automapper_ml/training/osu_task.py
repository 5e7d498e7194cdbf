"""osu! training data: one sample per decoding window of a difficulty, cut exactly as
`generation.osu.generate_osu` walks a song, and the task the loop runs.

Why not `StageData`/`StageTask`: those read a frame index (parquet rows, feature snapshots) that
osu! does not have yet. The source here is a list of `.osz` paths or a small table of
`(osz path, difficulty name or None, split)`; `OsuData` and `OsuTask` keep the stage classes' method
names and roles (`_load(rows)`, `prepare`, `name`, `metric`, `model_class`, `task_config_class`,
`data_class`, `build_model`, `model_config`) so the loop and `training.stage.run_stage` run them.

A set is read once (`read_osz`), its song decoded once (`audio.load_audio`: soundfile, MP3 through
libsndfile) and its features computed once (`audio.compute_features`), shared by all its
difficulties and both splits. A set that cannot be used (unreadable archive, no osu!standard
difficulty, no audio member, audio that does not decode) is quarantined with a one-line reason.

A difficulty's tokens are `tokenizer_osu.encode_osu` of the map (beat-grid time over its own timing
points); the cursor after every token is `models.osu.OsuCursor` over those points, as an audio frame
(`audio.seconds_to_frame`, generation's rounding). The windows replay generate_osu's loop with the
human tokens in place of sampled ones: before token i a new window opens when none is open, when the
cursor frame after token i - 1 is `switch` x audio_window past the window start, or when the window
holds `max_tokens` positions; it starts `lead` x audio_window before that cursor (not before 0) and
its decoder input is `SOS, tokens[max(1, i - context_tokens):i], tokens of the window`, the SOS at the
cursor frame of the token before the context, every frame relative to the window start. No token is
predicted once the cursor passes the song's end (generation stops there). A sample's targets are the
tokens the window predicts (its own tokens, EOS included); context positions and PAD are masked
(IGNORE). Audio is generation's `_window_input` (silence past the end), zeros under `zero_audio`.

Condition: the map's AR/CS/OD/HP and its star rating from rosu-pp-py when importable (else NaN, the
model's "unknown" embedding), normalised by `models.osu.difficulty_condition`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from automapper_ml.audio import (
    FRAME_SECONDS,
    AudioError,
    compute_features,
    load_audio,
    seconds_to_frame,
)
from automapper_ml.evaluation.osu_stars import StarRatingUnavailable, osu_stars, stars_available
from automapper_ml.formats.errors import MapError
from automapper_ml.formats.osu.model import OsuMap
from automapper_ml.formats.osu.osz import read_osz
from automapper_ml.generation.osu import OsuSampling, _window_input
from automapper_ml.models.osu import OFF_GRID, OsuConfig, OsuCursor, OsuModel, difficulty_condition
from automapper_ml.tokenizer_osu import PAD, SOS, OsuTokenizerConfig, encode_osu

_BYTES_IO = re.compile(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>")
IGNORE = -100  # target of a position that is not trained (context, PAD)
_SAMPLING = OsuSampling()


@dataclass(frozen=True)
class OsuTaskConfig:
    epoch_scale: float = 1.0  # samples per epoch per window (an even spread of the fraction)
    zero_audio: bool = False  # ablation: mel and structure zeroed in training and validation
    val_max_samples: int = 2048  # validation windows (an even spread of the split when it has more)
    val_batch_size: int = 32
    val_every: int = 5  # a plain list of sets: every val_every-th set (by name) is validation
    lead: float = _SAMPLING.lead  # generate_osu's window placement (OsuSampling)
    switch: float = _SAMPLING.switch
    stars: bool = True  # condition on rosu-pp-py's star rating when importable

    def __post_init__(self) -> None:
        if self.epoch_scale <= 0 or self.val_max_samples < 1 or self.val_batch_size < 1 or self.val_every < 2:
            raise ValueError("epoch_scale must be > 0, val_max_samples, val_batch_size >= 1, val_every >= 2")
        if not 0 <= self.lead < self.switch <= 1:
            raise ValueError("need 0 <= lead < switch <= 1")

    def to_dict(self) -> dict:
        return asdict(self)


class OsuDataError(ValueError):
    """The sets cannot be used for osu! training (no train windows, a bad table)."""


SetRow = tuple[str, str | None, str]  # (osz path, difficulty name or None = all, split)


def set_table(sets: Sequence[str | os.PathLike | Sequence], val_every: int = 5) -> list[SetRow]:
    """The (path, difficulty, split) table of `sets`: rows are kept; plain paths are sorted by name and
    every `val_every`-th one (from the second) is "val", the rest "train"."""
    rows: list[SetRow] = []
    plain = sorted((Path(s) for s in sets if isinstance(s, str | os.PathLike)), key=lambda p: p.name)
    for i, p in enumerate(plain):
        rows.append((str(p), None, "val" if len(plain) > 1 and i % val_every == 1 else "train"))
    for s in sets:
        if not isinstance(s, str | os.PathLike):
            if len(s) != 3:
                raise OsuDataError(f"a set row is (osz path, difficulty name or None, split), got {s!r}")
            rows.append((str(s[0]), None if s[1] is None else str(s[1]), str(s[2])))
    return rows


TEST_EVERY, TEST_FROM = 10, 3  # `set_splits`: every 10th set by name from the 4th is held out
VAL_EVERY, VAL_FROM = 5, 1  # every 5th from the 2nd validates


def set_splits(names: Sequence[str]) -> dict[str, str]:
    """name -> "test" | "val" | "train" for a corpus of sets, by their sorted names: the held-out
    ("test": never trained on, never used to stop) every TEST_EVERY-th from TEST_FROM, validation
    every VAL_EVERY-th from VAL_FROM, the rest train. The shipped model and the asset graph split alike."""
    out = {}
    for i, name in enumerate(sorted(names)):
        out[name] = "test" if i % TEST_EVERY == TEST_FROM else "val" if i % VAL_EVERY == VAL_FROM else "train"
    return out


@dataclass
class OsuSet:
    """One `.osz`: its osu!standard maps and the song's features (None when quarantined)."""

    path: Path
    maps: tuple[tuple[str, OsuMap], ...] = ()
    mel: torch.Tensor | None = None  # (n_mels, T)
    structure: torch.Tensor | None = None  # (n_structure, T)
    reason: str = ""  # why it is quarantined ("" when usable)


def open_set(path: str | os.PathLike) -> OsuSet:
    """Read an `.osz`, decode its song and compute its features; never raises for a bad set."""
    p = Path(path)
    try:
        osz = read_osz(p, with_files=True)
    except (MapError, OSError, ValueError) as err:
        return OsuSet(p, reason=f"unreadable set: {_line(err)}")
    if not osz.beatmaps:
        first = _line(osz.refused[0][1]).removeprefix(f"{osz.refused[0][0]}: ") if osz.refused else ""
        why = f"{len(osz.refused)} .osu refused, the first: {first}" if osz.refused else "no .osu member"
        return OsuSet(p, reason=f"no osu!standard difficulty ({why})")
    audio, wanted = osz.audio(), osz.beatmaps[0][1].general.audio_filename
    if audio is None:
        return OsuSet(p, reason=f"audio {wanted!r} is not in the set")
    try:
        feats = compute_features(load_audio(audio))
    except AudioError as err:
        why = _BYTES_IO.sub("it", _line(err)).removeprefix("audio cannot be decoded: ")
        return OsuSet(p, reason=f"audio {wanted!r} cannot be decoded (soundfile/libsndfile: {why})")
    mel, structure = torch.from_numpy(feats.mel), torch.from_numpy(feats.structure)
    return OsuSet(p, osz.beatmaps, mel, structure)


def _line(err: BaseException) -> str:
    return " ".join(str(err).split())[:200] or type(err).__name__


def map_stars(m: OsuMap, enabled: bool = True) -> float | None:
    """rosu-pp-py's star rating of a map (None when off, not installed or it cannot read the map)."""
    if not enabled or not stars_available():
        return None
    try:
        return osu_stars(m).stars
    except (StarRatingUnavailable, MapError):
        return None


def stream_frames(tokens: Sequence[int], m: OsuMap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ms, frame, beat phase) of the cursor after each token, as generate_osu computes them (SOS:
    the cursor at 0 ms)."""
    cursor = OsuCursor(tuple(m.timing_points) or ())
    ms, phases = [0.0], [cursor.phase]
    for t in tokens[1:]:
        ms.append(cursor.advance(int(t)))
        phases.append(cursor.phase)
    ms_a = np.asarray(ms, dtype=np.float64)
    frames = np.array([0] + [int(seconds_to_frame(v / 1000.0)) for v in ms_a[1:]], dtype=np.int64)
    return ms_a, frames, np.asarray(phases, dtype=np.int64)


def window_plan(
    ms: np.ndarray, frames: np.ndarray, n_frames: int, config: OsuConfig, lead: float, switch: float
) -> list[tuple[int, int, int, int]]:
    """(window start frame, context start, first window token, end) per window of a token stream,
    replaying generate_osu's loop with the stream's own tokens."""
    w, limit = config.audio_window, config.max_tokens
    end_ms = n_frames * FRAME_SECONDS * 1000.0
    out: list[list[int]] = []
    length, ws = 0, -1
    for i in range(1, len(frames)):
        if ms[i - 1] >= end_ms:
            break
        frame = int(frames[i - 1])
        if ws < 0 or frame - ws >= switch * w or length >= limit:
            ws = max(0, frame - int(lead * w))
            c0 = max(1, i - config.context_tokens)
            out.append([ws, c0, i, i])
            length = 1 + i - c0
        out[-1][3] = i + 1
        length += 1
    return [(a, b, c, d) for a, b, c, d in out]


@dataclass
class OsuItem:
    """One difficulty: its token stream, cursor frames, condition and set."""

    key: str  # "<set name>/<difficulty name>"
    set_index: int
    tokens: np.ndarray  # (N,) int64, SOS ... EOS
    frames: np.ndarray  # (N,) int64 absolute cursor frames
    cond: torch.Tensor  # (N_COND,)
    changes: dict[str, int] = field(default_factory=dict)
    phases: np.ndarray | None = None  # (N,) int64 cursor beat phases (models.osu.OsuCursor.phase)


class OsuData:
    """The windows of one split of a set table (see the module docstring).

    rows: (path, difficulty, split) of `set_table`; config: the model config; sets: a cache of opened
    sets shared between a task's splits; options: `OsuTaskConfig` fields used here (lead, switch, stars).
    Samples are (item, window start, context start, first window token, end) rows of `self.windows`."""

    error: ClassVar[type[ValueError]] = OsuDataError

    def __init__(
        self,
        rows: Sequence[SetRow],
        split: str,
        config: OsuConfig,
        *,
        sets: dict[str, OsuSet] | None = None,
        **options: Any,
    ) -> None:
        self.config = config
        self._sets = sets if sets is not None else {}
        self._load([r for r in rows if r[2] == split], **options)

    def _load(self, rows: list[SetRow], lead: float = 0.25, switch: float = 0.75, stars: bool = True) -> None:
        self.sets: list[OsuSet] = []
        self.items: list[OsuItem] = []
        self.quarantined: dict[str, str] = {}  # set or difficulty key -> one-line reason
        windows = []
        for path, wanted, _ in rows:
            s = self._sets.get(path) or self._sets.setdefault(path, open_set(path))
            if s.reason:
                self.quarantined[s.path.name] = s.reason
                continue
            if s not in self.sets:
                self.sets.append(s)
            si = self.sets.index(s)
            maps = [(n, m) for n, m in s.maps if wanted is None or m.metadata.version == wanted]
            if not maps:
                self.quarantined[f"{s.path.name}/{wanted}"] = f"no osu!standard difficulty named {wanted!r}"
            for name, m in maps:
                enc = encode_osu(m, OsuTokenizerConfig())
                tokens = np.asarray(enc.tokens, dtype=np.int64)
                ms, frames, phases = stream_frames(tokens, m)
                cond = difficulty_condition(m.difficulty, map_stars(m, stars))
                key = f"{s.path.name}/{m.metadata.version or name}"
                item = OsuItem(key, si, tokens, frames, cond, enc.changes, phases)
                plan = window_plan(ms, frames, int(s.mel.shape[1]), self.config, lead, switch)  # type: ignore[union-attr]
                windows += [(len(self.items), *p) for p in plan]
                self.items.append(item)
        self.windows = np.asarray(windows, dtype=np.int64).reshape(-1, 5)

    def __len__(self) -> int:
        return len(self.windows)

    def target_tokens(self) -> np.ndarray:
        """Every token a window predicts, over the split (the majority baseline's counts)."""
        parts = [self.items[int(it)].tokens[i0:i1] for it, _, _, i0, i1 in self.windows]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def sample(self, k: int) -> tuple[list[int], list[int], int, int]:
        """(decoder tokens, their window-relative frames, window start, first target position) of window k."""
        it, ws, c0, i0, i1 = (int(v) for v in self.windows[k])
        item = self.items[it]
        tokens = [SOS, *item.tokens[c0:i1].tolist()]
        frames = [int(item.frames[c0 - 1]), *item.frames[c0:i1].tolist()]
        return tokens, [f - ws for f in frames], ws, i0 - c0

    def sample_phases(self, k: int) -> list[int]:
        """The beat phases of window k's decoder positions (the SOS takes the cursor's before the context)."""
        it, _, c0, _, i1 = (int(v) for v in self.windows[k])
        phases = self.items[it].phases
        assert phases is not None
        return [int(phases[c0 - 1]), *phases[c0:i1].tolist()]

    def batch(self, ks: Sequence[int], zero_audio: bool = False) -> dict[str, torch.Tensor]:
        """mel (B, n_mels, W), structure (B, n_structure, W), cond (B, N_COND), tokens and frames (B, T)
        (PAD / 0 after a window's end), targets (B, T) = the next token where the window predicts it,
        else IGNORE."""
        c = self.config
        rows = [self.sample(int(k)) for k in ks]
        width = max(len(r[0]) for r in rows)
        b = len(rows)
        tokens = torch.full((b, width), PAD, dtype=torch.long)
        frames = torch.zeros((b, width), dtype=torch.long)
        phases = torch.full((b, width), OFF_GRID, dtype=torch.long)
        targets = torch.full((b, width), IGNORE, dtype=torch.long)
        mels, structures, conds = [], [], []
        for r, (tok, fr, ws, first) in enumerate(rows):
            n = len(tok)
            tokens[r, :n] = torch.tensor(tok)
            frames[r, :n] = torch.tensor(fr)
            phases[r, :n] = torch.tensor(self.sample_phases(int(ks[r])))
            targets[r, first : n - 1] = torch.tensor(tok[first + 1 :])
            item = self.items[int(self.windows[int(ks[r])][0])]
            s = self.sets[item.set_index]
            m, st = _window_input(s.mel, s.structure, ws, c.audio_window)  # type: ignore[arg-type]
            mels.append(m[0])
            structures.append(st[0])
            conds.append(item.cond)
        mel, structure = torch.stack(mels), torch.stack(structures)
        if zero_audio:
            mel, structure = torch.zeros_like(mel), torch.zeros_like(structure)
        return {
            "mel": mel,
            "structure": structure,
            "cond": torch.stack(conds),
            "tokens": tokens,
            "frames": frames,
            "phases": phases,
            "targets": targets,
        }


def spread(n: int, count: float) -> np.ndarray:
    """`count` indices of range(n) evenly spread (floor(count / n) full passes and a spread share)."""
    whole, frac = int(count // max(n, 1)), count / max(n, 1) - int(count // max(n, 1))
    out = [np.arange(n)] * whole
    extra = int(round(frac * n))
    if extra:
        out.append(np.linspace(0, n - 1, extra).round().astype(np.int64))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


class OsuTask:
    """The osu! `TrainingTask`: train on one split of a set table, validate on another
    (teacher-forced). Same constructor steps as `training.stage.StageTask`, over sets instead of a
    frame index (see the module docstring)."""

    name: ClassVar[str] = "osu"
    metric: ClassVar[str] = "token_accuracy"
    higher_is_better: ClassVar[bool] = True
    model_class: ClassVar[type[OsuModel]] = OsuModel
    task_config_class: ClassVar[type[OsuTaskConfig]] = OsuTaskConfig
    data_class: ClassVar[type[OsuData]] = OsuData

    def __init__(
        self,
        sets: Sequence[str | os.PathLike | Sequence],
        model_config: OsuConfig,
        task_config: OsuTaskConfig | None = None,
        *,
        train_split: str = "train",
        val_split: str = "val",
    ) -> None:
        self.config = model_config
        self.task_config = task_config or self.task_config_class()
        rows = set_table(sets, self.task_config.val_every)
        cache: dict[str, OsuSet] = {}
        self.train_data = self.open_data(rows, train_split, cache)
        self.val_data = self.open_data(rows, val_split, cache)
        self.quarantined = {**self.train_data.quarantined, **self.val_data.quarantined}
        self.prepare(train_split)

    def open_data(self, rows: list[SetRow], split: str, cache: dict[str, OsuSet]) -> OsuData:
        return self.data_class(rows, split, self.config, sets=cache, **self.data_options())

    def data_options(self) -> dict[str, Any]:
        tc = self.task_config
        return {"lead": tc.lead, "switch": tc.switch, "stars": tc.stars}

    def prepare(self, train_split: str) -> None:
        tc = self.task_config
        n = len(self.train_data)
        if not n:
            raise OsuDataError(f"no {train_split!r} windows (quarantined: {self.quarantined or 'none'})")
        self._samples = spread(n, n * tc.epoch_scale)
        self._val = spread(len(self.val_data), min(len(self.val_data), tc.val_max_samples))
        counts = np.bincount(self.train_data.target_tokens(), minlength=self.config.vocab_size)
        self.majority_token = int(counts.argmax())
        self.batch_seconds = 0.0
        self.validate_seconds = 0.0

    # --- TrainingTask protocol ---------------------------------------------------------------
    def build_model(self) -> nn.Module:
        return self.model_class(self.config)

    def model_config(self) -> dict:
        return {"model": self.config.to_dict(), "task": self.task_config.to_dict()}

    def train_size(self) -> int:
        return len(self._samples)

    def make_batch(self, indices: list[int], generator: torch.Generator) -> dict[str, torch.Tensor]:
        started = time.perf_counter()
        batch = self.train_data.batch(
            self._samples[np.asarray(indices, dtype=np.int64)], self.task_config.zero_audio
        )
        self.batch_seconds += time.perf_counter() - started
        return batch

    @staticmethod
    def logits(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(
            batch["mel"],
            batch["structure"],
            batch["cond"],
            batch["tokens"],
            batch["frames"],
            batch.get("phases"),
        )

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.logits(model, batch)
        return F.cross_entropy(logits.float().transpose(1, 2), batch["targets"], ignore_index=IGNORE)

    @torch.no_grad()
    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Teacher-forced figures on the validation windows: token_accuracy (argmax == target over
        the predicted positions), val_loss (mean token cross-entropy) and majority_accuracy (the
        train split's most common target token, on the same positions)."""
        started = time.perf_counter()
        model.eval()
        correct = majority = targets = nll = 0.0
        bs = self.task_config.val_batch_size
        for i in range(0, len(self._val), bs):
            batch = self.val_data.batch(self._val[i : i + bs], self.task_config.zero_audio)
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = self.logits(model, batch).float()
            target = batch["targets"]
            real = target != IGNORE
            nll += float(
                F.cross_entropy(logits.transpose(1, 2), target, ignore_index=IGNORE, reduction="sum")
            )
            correct += float(((logits.argmax(-1) == target) & real).sum())
            majority += float(((target == self.majority_token) & real).sum())
            targets += float(real.sum())
        self.validate_seconds += time.perf_counter() - started
        n = max(targets, 1.0)
        return {
            "token_accuracy": correct / n,
            "val_loss": nll / n if targets else float("nan"),
            "majority_accuracy": majority / n,
            "val_targets": targets,
        }


__all__ = [
    "IGNORE",
    "OsuData",
    "OsuDataError",
    "OsuSet",
    "OsuTask",
    "OsuTaskConfig",
    "set_splits",
    "set_table",
]

"""Stage 2 data: one sample per note group (onset) of a frame index split, and the task the loop runs.

A sample is what `models.sequence.SequenceModel` sees for one onset, teacher-forced:

- target: the group's tokens `[BOS, timing.., objects.., EOS]` (padded with PAD in a batch);
- context: the tokens of the previous `context_onsets` groups of the same difficulty (never across
  songs), truncated from the left to `max_context_tokens`, each with its age in onsets and its
  onset frame relative to the window start, exactly as `build_context` lays them out at inference;
- audio: a `audio_window`-frame slice of the song's mel and structure features, placed so the
  onset lies at a random position of the window's middle half (drawn from the batch generator).
  That is where `generation.decoding.decode_song` puts it: windows on a half-window grid, each
  onset read from the window whose centre is nearest. Two edge cases copy inference on purpose:
  a window never starts before frame 0 (so early onsets sit in the first quarter, like in the
  song's first window), and frames past the song's end are zeros (decode_song pads with zeros);
- difficulty: the row's difficulty index.

Throughput (bench/training_input.py, goal >= 5,000 samples/s per core): every group's tokens of
the split are copied once into one flat array (uint8 while the vocabulary fits) with per-group
offsets, frames and item ids, so targets and contexts are built for the whole batch with numpy
fancy indexing (no per-sample Python); the audio stays memory-mapped and is the only per-sample
loop: two slice copies into a preallocated float16 buffer, converted to float32 once per batch.

An epoch is every train group, repeated by its map's weight (x `epoch_scale`): floor(w) copies of
each group plus an evenly spread share of (w - floor(w)) of them, deterministic. Groups longer than
the model's `max_group_tokens` cannot be trained on and are left out (counted in `skipped`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from automapper_ml.models.sequence import SequenceConfig, SequenceInputs, SequenceModel
from automapper_ml.tokenizer import BOS, EOS, NOTE_VOCAB_SIZE, PAD, TIMING_TOKENS
from automapper_ml.training.stage import REQUIRED_COLUMNS as REQUIRED_COLUMNS
from automapper_ml.training.stage import StageData, StageItem, StageTask


@dataclass(frozen=True)
class SequenceTaskConfig:
    epoch_scale: float = 1.0  # samples per epoch per (note group x map weight)
    onset_low: float = 0.25  # the onset sits uniformly in [onset_low, onset_high) x window: the
    onset_high: float = 0.75  # middle half, where inference places it
    zero_audio: bool = False  # ablation: mel and structure zeroed in training, validation and generation
    val_max_samples: int = 4096  # validation groups (an even spread of the split when it has more)
    val_batch_size: int = 64
    eval_songs: int = 4  # validation songs decoded after training for the generated-map metrics

    def __post_init__(self) -> None:
        if not 0.0 <= self.onset_low < self.onset_high <= 1.0:
            raise ValueError(
                f"need 0 <= onset_low < onset_high <= 1, got {self.onset_low}, {self.onset_high}"
            )
        if self.epoch_scale <= 0 or self.val_max_samples < 1 or self.val_batch_size < 1:
            raise ValueError("epoch_scale must be > 0, val_max_samples and val_batch_size >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


class SequenceDataError(ValueError):
    """The frame index cannot be used for stage 2 (missing columns, no rows, missing store)."""


TOKEN_ARRAYS = ("note_tokens", "note_offsets", "note_frames", "note_beats")
TOKEN_DTYPE = np.uint8 if NOTE_VOCAB_SIZE <= 256 else np.int16  # the flat token array stays small


@dataclass
class SequenceItem(StageItem):
    """One row of the index (a map's difficulty): its groups are [first_group, first_group + n_groups)."""

    song_id: str
    n_frames: int
    first_group: int
    n_groups: int
    mel: np.ndarray  # (n_mels, T) memory-mapped view of the song
    structure: np.ndarray  # (n_structure, T) memory-mapped view


class SequenceData(StageData):
    """The note groups of one split of a frame index, flattened for vectorised batch building.

    index: the frame index DataFrame (or a parquet path); root: folder that relative snapshot paths
    are relative to (the data home). Arrays (G = groups of the split, N = their tokens):
    tokens (N,) uint8, group_start (G + 1,) int64, group_frame (G,) int64, group_beat (G,) float64,
    group_item (G,) int64, group_first (G,) int64 = first group of the same item."""

    error = SequenceDataError
    config: SequenceConfig

    def _load(self, rows: list[dict]) -> None:
        config = self.config
        self.items: list[SequenceItem] = []
        tokens, lengths, frames, beats = [], [], [], []
        for row in rows:
            _, token_snap = self.snapshot_paths(row)
            arrays = self.reader(token_snap).get(row["key"], TOKEN_ARRAYS)
            offsets = np.asarray(arrays["note_offsets"], dtype=np.int64)
            if len(offsets) < 2:
                continue  # a difficulty without groups gives no sample
            self.items.append(self._item(row, sum(len(f) for f in frames), len(offsets) - 1))
            tokens.append(np.asarray(arrays["note_tokens"]))
            lengths.append(np.diff(offsets))
            frames.append(np.asarray(arrays["note_frames"], dtype=np.int64))
            beats.append(np.asarray(arrays["note_beats"], dtype=np.float64))
        self.tokens = np.concatenate(tokens).astype(TOKEN_DTYPE) if tokens else np.zeros(0, TOKEN_DTYPE)
        lengths_all = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
        self.group_start = np.concatenate([[0], np.cumsum(lengths_all)]).astype(np.int64)
        self.group_frame = np.concatenate(frames) if frames else np.zeros(0, np.int64)
        self.group_beat = np.concatenate(beats) if beats else np.zeros(0, np.float64)
        counts = [it.n_groups for it in self.items]
        self.group_item = np.repeat(np.arange(len(self.items)), counts).astype(np.int64)
        self.group_first = np.repeat([it.first_group for it in self.items], counts).astype(np.int64)
        # groups the model cannot hold (BOS + tokens > max_group_tokens) are never samples
        self.trainable = lengths_all + 1 <= config.max_group_tokens
        self.skipped = int((~self.trainable).sum())

    # --- store access (reader: StageData) -------------------------------------------------
    def _item(self, row: dict, first_group: int, n_groups: int) -> SequenceItem:
        audio_snap, _ = self.snapshot_paths(row)
        reader = self.reader(audio_snap)
        if row["map_key"] not in reader:
            raise SequenceDataError(f"audio snapshot {audio_snap} has no record {row['map_key']!r}")
        arrays = reader.get(row["map_key"], ["mel", "structure"])  # memory-mapped views, nothing copied
        return SequenceItem(
            **self.item_fields(row),
            song_id=str(row.get("song_id") or row["map_key"]),
            n_frames=int(arrays["mel"].shape[-1]),
            first_group=first_group,
            n_groups=n_groups,
            mel=arrays["mel"],
            structure=arrays["structure"],
        )

    def __len__(self) -> int:
        return len(self.group_frame)

    def group_tokens(self, g: int) -> list[int]:
        return self.tokens[self.group_start[g] : self.group_start[g + 1]].astype(np.int64).tolist()

    def beat_grid(self, item: SequenceItem) -> np.ndarray:
        """(n_beats,) seconds of every whole beat of the item's song (audio store)."""
        return np.asarray(self.reader(item.audio_snapshot).get(item.map_key, ["beats"])["beats"])

    def features(self, item: SequenceItem) -> tuple[np.ndarray, np.ndarray]:
        """The whole song's (n_mels, T) and (n_structure, T) float32 features."""
        return np.asarray(item.mel, dtype=np.float32), np.asarray(item.structure, dtype=np.float32)

    # --- samples ---------------------------------------------------------------------------
    def epoch_groups(self, epoch_scale: float = 1.0) -> np.ndarray:
        """Global group ids of one epoch's samples (weighted by map weight, see module docstring)."""
        out = []
        for it in self.items:
            groups = np.arange(it.first_group, it.first_group + it.n_groups)
            groups = groups[self.trainable[groups]]
            w = max(0.0, it.weight * epoch_scale)
            whole, frac = int(w), w - int(w)
            out += [groups] * whole
            extra = int(round(frac * len(groups)))
            if extra:
                out.append(groups[np.linspace(0, len(groups) - 1, extra).round().astype(np.int64)])
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def spread(self, limit: int) -> np.ndarray:
        """At most `limit` trainable groups, evenly spread over the split (validation)."""
        groups = np.flatnonzero(self.trainable)
        if len(groups) > limit:
            groups = groups[np.linspace(0, len(groups) - 1, limit).round().astype(np.int64)]
        return groups

    def batch(
        self, groups: np.ndarray, offsets: np.ndarray, zero_audio: bool = False
    ) -> dict[str, torch.Tensor]:
        """The batch for global group ids (B,) with the onset at `offsets` (B,) frames into its window.

        Returns the `SequenceInputs` fields (one window per row: window = arange(B)) and
        tokens (B, T) long = [BOS, group.., EOS, PAD..]."""
        c = self.config
        g = np.asarray(groups, dtype=np.int64)
        b, w = len(g), c.audio_window
        frame = self.group_frame[g]
        wstart = np.maximum(frame - np.asarray(offsets, dtype=np.int64), 0)

        # target tokens: one gather for the whole batch
        start, length = self.group_start[g], self.group_start[g + 1] - self.group_start[g]
        width = int(length.max()) if b else 0
        pos = np.arange(width)
        valid = pos[None, :] < length[:, None]
        tok = self.tokens[np.minimum(start[:, None] + pos[None, :], len(self.tokens) - 1)]
        target = np.full((b, width + 1), PAD, dtype=np.int64)
        target[:, 0] = BOS
        target[:, 1:] = np.where(valid, tok, PAD)

        # context: the previous groups of the same item are one contiguous token run ending at start
        first_ctx = np.maximum(g - c.context_onsets, self.group_first[g]) if c.context_onsets else g
        n_ctx = np.minimum(start - self.group_start[first_ctx], c.max_context_tokens)
        cw = max(1, int(n_ctx.max()) if b else 1)
        idx = start[:, None] - cw + np.arange(cw)[None, :]
        cvalid = idx >= (start - n_ctx)[:, None]
        idx = np.maximum(idx, 0)
        owner = np.searchsorted(self.group_start, idx, side="right") - 1  # group of each context token
        context = np.where(cvalid, self.tokens[np.minimum(idx, max(len(self.tokens) - 1, 0))], PAD)
        age = np.where(cvalid, g[:, None] - owner, 0)
        cframe = np.where(
            cvalid, self.group_frame[np.minimum(owner, len(self.group_frame) - 1)] - wstart[:, None], 0
        )

        # audio: the only per-row loop, slices of the memory-mapped store into one float16 buffer
        feats = np.zeros((b, c.n_mels + c.n_structure, w), dtype=np.float16)
        if not zero_audio:
            items = self.group_item[g]
            for r in range(b):
                it = self.items[items[r]]
                s0 = int(wstart[r])
                s1 = min(s0 + w, it.n_frames)
                if s1 > s0:
                    feats[r, : c.n_mels, : s1 - s0] = it.mel[:, s0:s1]
                    feats[r, c.n_mels :, : s1 - s0] = it.structure[:, s0:s1]
        feats32 = torch.from_numpy(feats).float()  # float16 -> float32 once per batch
        return {
            "mel": feats32[:, : c.n_mels],
            "structure": feats32[:, c.n_mels :],
            "window": torch.arange(b, dtype=torch.long),
            "onset": torch.from_numpy(frame - wstart),
            "context": torch.from_numpy(context.astype(np.int64)),
            "context_age": torch.from_numpy(age.astype(np.int64)),
            "context_frame": torch.from_numpy(cframe.astype(np.int64)),
            "difficulty": torch.from_numpy(
                np.fromiter((self.items[i].difficulty for i in self.group_item[g]), np.int64, b)
            ),
            "tokens": torch.from_numpy(target),
        }


class SequenceTask(StageTask[SequenceConfig, SequenceTaskConfig, SequenceData]):
    """Stage 2 `TrainingTask`: train on one split of the index, validate on another (teacher-forced)."""

    name = "sequence"
    # what generation samples: timing tokens are forced from stage-1 onsets, so the best checkpoint is
    # the one that places notes best (token_accuracy, over every token, is reported beside it)
    metric = "note_accuracy"
    model_class = SequenceModel
    task_config_class = SequenceTaskConfig
    data_class = SequenceData

    def prepare(self, train_split: str) -> None:
        tc = self.task_config
        self._samples = self.train_data.epoch_groups(tc.epoch_scale)
        if not len(self._samples):
            raise SequenceDataError(f"the frame index has no {train_split!r} note groups")
        self._val_groups = self.val_data.spread(tc.val_max_samples)
        # the majority-class baseline: the most common target token of the train split (EOS included)
        counts = np.bincount(self.train_data.tokens, minlength=self.config.vocab_size)
        self.majority_token = int(counts.argmax())
        self.batch_seconds = 0.0  # wall time spent in make_batch
        self.validate_seconds = 0.0

    # --- TrainingTask protocol (build_model, model_config: StageTask) ---------------------
    def train_size(self) -> int:
        return len(self._samples)

    def offsets(self, n: int, generator: torch.Generator) -> np.ndarray:
        """(n,) onset positions in the window, uniform in the configured middle band."""
        tc, w = self.task_config, self.config.audio_window
        lo, hi = int(tc.onset_low * w), max(int(tc.onset_low * w) + 1, int(tc.onset_high * w))
        return torch.randint(lo, hi, (n,), generator=generator).numpy().astype(np.int64)

    def make_batch(self, indices: list[int], generator: torch.Generator) -> dict[str, torch.Tensor]:
        started = time.perf_counter()
        groups = self._samples[np.asarray(indices, dtype=np.int64)]
        batch = self.train_data.batch(
            groups, self.offsets(len(groups), generator), self.task_config.zero_audio
        )
        self.batch_seconds += time.perf_counter() - started
        return batch

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits, aux = model.forward_aux(SequenceInputs.from_dict(batch), batch["tokens"])
        return model.loss(logits, batch["tokens"], batch["context"], aux)

    @torch.no_grad()
    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Teacher-forced metrics on the validation groups (same onset positions every epoch).

        token_accuracy: argmax == target over non-PAD targets; eos_accuracy: share of group ends
        predicted as EOS; eos_false_rate: share of other positions predicted as EOS;
        group_accuracy: whole groups right; majority_accuracy: the majority-class baseline."""
        started = time.perf_counter()
        model.eval()
        sums = dict.fromkeys(
            ("loss", "ce", "correct", "targets", "eos_hit", "eos", "eos_false", "groups_ok",
             "note_correct", "notes", "note_nll"), 0.0,
        )  # fmt: skip
        timing = torch.zeros(model.config.vocab_size, dtype=torch.bool, device=device)
        timing[sorted(TIMING_TOKENS)] = True
        sums["majority"] = 0.0
        n_rows = 0
        bs = self.task_config.val_batch_size
        gen = torch.Generator().manual_seed(12345)  # fixed: every epoch sees the same windows
        for i in range(0, len(self._val_groups), bs):
            groups = self._val_groups[i : i + bs]
            batch = self.val_data.batch(groups, self.offsets(len(groups), gen), self.task_config.zero_audio)
            batch = {k: v.to(device) for k, v in batch.items()}
            tokens = batch["tokens"]
            logits = model(SequenceInputs.from_dict(batch), tokens)
            terms = model.loss_terms(logits, tokens, batch["context"])
            pred, target = logits[:, :-1].argmax(-1), tokens[:, 1:]
            real = target != PAD
            right = (pred == target) & real
            is_eos = target == EOS
            sums["loss"] += float(terms["loss"]) * len(groups)
            sums["ce"] += float(terms["ce"]) * len(groups)
            sums["correct"] += float(right.sum())
            sums["targets"] += float(real.sum())
            sums["eos_hit"] += float((right & is_eos).sum())
            sums["eos"] += float(is_eos.sum())
            sums["eos_false"] += float(((pred == EOS) & real & ~is_eos).sum())
            sums["groups_ok"] += float((right | ~real).all(dim=1).sum())
            sums["majority"] += float(((target == self.majority_token) & real).sum())
            note = real & ~timing[target.clamp(0, model.config.vocab_size - 1)]  # placement tokens, EOS too
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            nll = -logp.gather(-1, target.clamp(min=0)[..., None])[..., 0]
            sums["note_correct"] += float((right & note).sum())
            sums["notes"] += float(note.sum())
            sums["note_nll"] += float((nll * note).sum())
            n_rows += len(groups)
        self.validate_seconds += time.perf_counter() - started
        if not n_rows:
            nan = float("nan")
            return {"token_accuracy": 0.0, "val_loss": nan, "val_ce": nan, "eos_accuracy": 0.0,
                    "eos_false_rate": 0.0, "group_accuracy": 0.0, "majority_accuracy": 0.0,
                    "note_accuracy": 0.0, "note_ce": nan}  # fmt: skip
        targets = max(sums["targets"], 1.0)
        return {
            "token_accuracy": sums["correct"] / targets,
            "val_loss": sums["loss"] / n_rows,
            "val_ce": sums["ce"] / n_rows,
            "eos_accuracy": sums["eos_hit"] / max(sums["eos"], 1.0),
            "eos_false_rate": sums["eos_false"] / max(targets - sums["eos"], 1.0),
            "group_accuracy": sums["groups_ok"] / n_rows,
            "majority_accuracy": sums["majority"] / targets,
            "note_accuracy": sums["note_correct"] / max(sums["notes"], 1.0),  # non-timing tokens
            "note_ce": sums["note_nll"] / max(sums["notes"], 1.0),  # their mean negative log-likelihood
        }

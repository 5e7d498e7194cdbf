"""Stage 1 data: random windows of the feature stores with Gaussian onset targets, and the task
the training loop runs.

`OnsetData` reads a frame index (one row per map x Standard difficulty, see data.frame_index)
and opens the stores' snapshots lazily, one `SnapshotReader` per path, so a batch is a handful
of memory-mapped slices (no per-sample files). An epoch is a deterministic list of samples:
each row gets ceil(epoch_scale * n_frames * weight / window) slots, so long songs and heavily
weighted maps are seen more, and one slot is one random crop whose position comes from the
batch generator (the loop seeds one per batch: a resumed run sees the same data).

`OnsetTask` is the `training.loop.TrainingTask` of stage 1: augmentation (SpecAugment-style
frequency and time masks from torchaudio, random gain), the masked BCE loss, and validation
by whole-song windowed inference + peak picking, with the peak threshold tuned on the
validation songs and reported (it is saved in each checkpoint's history, see
training.onset.load_onset_model).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch import nn

from automapper_ml.audio import N_MELS, N_STRUCTURE, frame_to_seconds
from automapper_ml.data.store import SnapshotReader
from automapper_ml.evaluation.onsets import OnsetScore, pooled_scores
from automapper_ml.generation.peaks import pick_peaks
from automapper_ml.models.onset import OnsetConfig, OnsetModel, gaussian_targets, predict_song
from automapper_ml.training.stage import REQUIRED_COLUMNS as REQUIRED_COLUMNS
from automapper_ml.training.stage import StageData, StageItem, StageTask

THRESHOLDS = tuple(round(0.1 + 0.05 * i, 2) for i in range(15))  # 0.10 ... 0.80, tuned on validation


@dataclass(frozen=True)
class OnsetTaskConfig:
    epoch_scale: float = 1.0  # crops per epoch per (window of song x map weight)
    augment: bool = True  # frequency/time masks and gain on training batches
    freq_mask: int = 10  # max mel bands masked (torchaudio FrequencyMasking)
    time_mask: int = 24  # max frames masked (torchaudio TimeMasking)
    n_masks: int = 2  # masks of each kind per crop
    gain_db: float = 6.0  # random gain, uniform in +-gain_db
    zero_audio: bool = False  # ablation: mel and structure zeroed in training and inference
    min_peak_distance: int = 3  # frames between picked onsets (35 ms)
    val_hop: int = 0  # inference window hop in validation; 0 = half a window

    def to_dict(self) -> dict:
        return asdict(self)


class OnsetDataError(ValueError):
    """The frame index cannot be used for stage 1 (missing columns, no rows, missing store)."""


@dataclass
class _Item(StageItem):
    n_frames: int
    token_snapshot: Path
    onsets: np.ndarray = field(repr=False)  # (n_onsets,) int64 onset frames


class OnsetData(StageData):
    """The rows of one split of a frame index, with lazy store access.

    index: the frame index DataFrame (or a parquet path); root: folder that relative snapshot
    paths are relative to (the data home)."""

    error = OnsetDataError

    def _load(self, rows: list[dict]) -> None:
        self.window = int(self.config.window)
        self.items = [self._item(r) for r in rows]

    def _item(self, row: dict) -> _Item:
        audio_snap, token_snap = self.snapshot_paths(row)
        onsets = self.reader(token_snap).get(row["key"], ["onset_frames"])["onset_frames"]
        n_frames = row.get("n_frames")
        if n_frames is None:
            n_frames = int(self.reader(audio_snap).meta(row["map_key"])["n_frames"])
        return _Item(
            **self.item_fields(row),
            n_frames=int(n_frames),
            token_snapshot=token_snap,
            onsets=np.asarray(onsets, dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.items)

    def features(self, item: _Item, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N_MELS, t) and (N_STRUCTURE, t) float32 features of frames [start, stop) of a song."""
        arrays = self.reader(item.audio_snapshot).get(item.map_key, ["mel", "structure"])
        stop = item.n_frames if stop is None else stop
        return (
            np.asarray(arrays["mel"][:, start:stop], dtype=np.float32),
            np.asarray(arrays["structure"][:, start:stop], dtype=np.float32),
        )

    def epoch_items(self, epoch_scale: float) -> list[int]:
        """Item index of each sample slot of an epoch: proportional to song length x weight."""
        slots: list[int] = []
        for i, item in enumerate(self.items):
            slots += [i] * max(1, math.ceil(epoch_scale * item.n_frames * item.weight / self.window))
        return slots

    def crop(self, item: _Item, generator: torch.Generator, sigma: float) -> dict[str, np.ndarray]:
        """One random `window`-frame crop: mel (80, W), structure (6, W), target (W,), mask (W,)."""
        w = self.window
        start = int(torch.randint(0, max(item.n_frames - w, 0) + 1, (1,), generator=generator))
        stop = min(start + w, item.n_frames)
        mel = np.zeros((N_MELS, w), dtype=np.float32)
        structure = np.zeros((N_STRUCTURE, w), dtype=np.float32)
        m, s = self.features(item, start, stop)
        mel[:, : stop - start], structure[:, : stop - start] = m, s
        mel[:, stop - start :] = m.min() if m.size else 0.0  # padding reads as silence
        # onsets just outside the crop still put their Gaussian shoulders inside it
        pad = int(math.ceil(3 * sigma)) + 1
        near = item.onsets[(item.onsets >= start - pad) & (item.onsets < start + w + pad)] - start
        target = gaussian_targets(near + pad, w + 2 * pad, sigma)[pad : pad + w]
        mask = np.zeros(w, dtype=np.float32)
        mask[: stop - start] = 1.0
        target *= mask
        return {"mel": mel, "structure": structure, "target": target, "mask": mask}


class OnsetTask(StageTask[OnsetConfig, OnsetTaskConfig, OnsetData]):
    """Stage 1 `TrainingTask`: train on one split of the index, validate on another."""

    name = "onset"
    metric = "f1"
    model_class = OnsetModel
    task_config_class = OnsetTaskConfig
    data_class = OnsetData

    def prepare(self, train_split: str) -> None:
        if not self.train_data.items:
            raise OnsetDataError(f"the frame index has no {train_split!r} rows")
        self._slots = self.train_data.epoch_items(self.task_config.epoch_scale)
        self.threshold = 0.5  # updated by validate()
        self.batch_seconds = 0.0  # wall time spent in make_batch (the bench's data-wait share)
        self.validate_seconds = 0.0

    # --- TrainingTask protocol (build_model, model_config: StageTask) ---------------------
    def train_size(self) -> int:
        return len(self._slots)

    def make_batch(self, indices: list[int], generator: torch.Generator) -> dict[str, torch.Tensor]:
        """mel (B, 80, W) float32, structure (B, 6, W), target (B, W), mask (B, W), difficulty (B,)."""
        started = time.perf_counter()
        crops = [
            self.train_data.crop(self.train_data.items[self._slots[i]], generator, self.config.target_sigma)
            for i in indices
        ]
        batch = {k: torch.from_numpy(np.stack([c[k] for c in crops])) for k in crops[0]}
        batch["difficulty"] = torch.tensor(
            [self.train_data.items[self._slots[i]].difficulty for i in indices], dtype=torch.long
        )
        if self.task_config.augment:
            batch["mel"] = augment_mel(batch["mel"], self.task_config, generator)
        if self.task_config.zero_audio:
            batch["mel"].zero_()
            batch["structure"].zero_()
        self.batch_seconds += time.perf_counter() - started
        return batch

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(batch["mel"], batch["structure"], batch["difficulty"])
        return model.loss(logits, batch["target"], batch["mask"])

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Pooled F1/precision/recall at the best threshold on the validation songs, + val loss."""
        started = time.perf_counter()
        curves = self.curves(model, self.val_data, device)
        self.validate_seconds += time.perf_counter() - started
        if not curves:
            return {"f1": 0.0, "precision": 0.0, "recall": 0.0, "val_loss": float("nan"), "threshold": 0.5}
        best_t, best = 0.5, None
        for t in THRESHOLDS:
            score = self.score(curves, t)
            if best is None or score.f1 > best.f1:
                best_t, best = t, score
        self.threshold = best_t
        return {
            "f1": best.f1,
            "precision": best.precision,
            "recall": best.recall,
            "val_loss": _curve_loss(curves, self.config.target_sigma),
            "threshold": best_t,
        }

    # --- evaluation helpers ---------------------------------------------------------------
    def curves(
        self, model: nn.Module, data: OnsetData, device: torch.device | str = "cpu"
    ) -> list[tuple[_Item, np.ndarray]]:
        """(item, onset probability (T,)) for every row of `data`: whole-song windowed inference."""
        out = []
        for item in data.items:
            mel, structure = self.features_for_model(data, item)
            hop = self.task_config.val_hop or None
            out.append((item, predict_song(model, mel, structure, item.difficulty, hop=hop, device=device)))
        return out

    def features_for_model(self, data: OnsetData, item: _Item) -> tuple[np.ndarray, np.ndarray]:
        mel, structure = data.features(item)
        if self.task_config.zero_audio:
            return np.zeros_like(mel), np.zeros_like(structure)
        return mel, structure

    def score(self, curves: list[tuple[_Item, np.ndarray]], threshold: float) -> OnsetScore:
        """Pooled onset scores (+-50 ms) of the curves' peaks against the true onset times."""
        pairs = [
            (
                np.asarray(frame_to_seconds(item.onsets)),
                pick_peaks(curve, threshold, self.task_config.min_peak_distance),
            )
            for item, curve in curves
        ]
        return pooled_scores(pairs)


def augment_mel(mel: torch.Tensor, config: OnsetTaskConfig, generator: torch.Generator) -> torch.Tensor:
    """Frequency/time masks and random gain on a (B, n_mels, W) log10-power mel batch.

    torchaudio's masks draw from the global torch RNG, so they run inside `fork_rng` seeded from
    the batch generator: the same batch gets the same masks, and the global stream (dropout) is
    untouched. Masked cells take each crop's mean level, not 0 (which is loud in log10 power)."""
    from torchaudio.transforms import FrequencyMasking, TimeMasking

    b = mel.shape[0]
    gain = (torch.rand(b, generator=generator) * 2 - 1) * config.gain_db / 10.0  # dB -> log10 power
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    mean = mel.mean(dim=(1, 2), keepdim=True)
    x = (mel - mean).unsqueeze(1)  # (B, 1, n_mels, W): iid masks need a channel axis
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(config.n_masks):
            if config.freq_mask > 0:
                x = FrequencyMasking(config.freq_mask, iid_masks=True)(x)
            if config.time_mask > 0:
                x = TimeMasking(config.time_mask, iid_masks=True)(x)
    return x.squeeze(1) + mean + gain[:, None, None]


def _curve_loss(curves: list[tuple[_Item, np.ndarray]], sigma: float) -> float:
    """Frame-weighted BCE of whole-song probabilities against the Gaussian targets."""
    total = count = 0.0
    for item, curve in curves:
        target = gaussian_targets(item.onsets, len(curve), sigma)
        p = np.clip(curve.astype(np.float64), 1e-6, 1 - 1e-6)
        total += float(-(target * np.log(p) + (1 - target) * np.log(1 - p)).sum())
        count += len(curve)
    return total / max(count, 1.0)


def index_zips(
    zips: list[Path],
    root: str | os.PathLike,
    *,
    song_ids: dict[str, str] | None = None,
    splits: dict[str, str] | None = None,
    shard: str = "quick",
) -> pl.DataFrame:
    """Process map zips into <root>/features/{audio,tokens} and return a frame index for them,
    without the ingest manifest or blacklist (for the bench, tests and quick experiments; the
    asset graph builds the real index with data.frame_index).

    song_ids: zip stem -> song id (default: the stem); splits: song id -> split (default:
    data.frame_index.split_of). Snapshot paths in the index are relative to `root`."""
    import hashlib

    from automapper_ml.data.features import MapZip, audio_records, process_shard, token_records
    from automapper_ml.data.frame_index import split_of

    root = Path(root)
    entries = [MapZip(p.stem, p, hashlib.sha256(p.read_bytes()).hexdigest()) for p in sorted(zips)]
    audio = process_shard(entries, root / "features" / "audio", shard, audio_records)
    tokens = process_shard(entries, root / "features" / "tokens", shard, token_records)
    if audio.snapshot is None or tokens.snapshot is None:
        raise OnsetDataError(f"no readable map among {len(entries)} zips")
    a_rel, t_rel = str(audio.snapshot.relative_to(root)), str(tokens.snapshot.relative_to(root))
    audio_rows = SnapshotReader(audio.snapshot).table.select("key", "n_frames")
    token_rows = SnapshotReader(tokens.snapshot).table.select(
        "key", "map_id", "difficulty", "difficulty_index", "n_groups", "onsets_sha"
    )
    index = token_rows.join(audio_rows.rename({"key": "map_id"}), on="map_id", how="inner")
    song_ids = song_ids or {}
    splits = splits or {}
    songs = [song_ids.get(m, m) for m in index["map_id"].to_list()]
    return (
        index.rename({"map_id": "map_key"})
        .with_columns(
            pl.Series("song_id", songs),
            pl.Series("split", [splits.get(s) or split_of(s) for s in songs]),
            pl.lit(1.0).alias("weight"),
            pl.lit(a_rel).alias("audio_snapshot"),
            pl.lit(t_rel).alias("token_snapshot"),
        )
        .sort("key")
    )

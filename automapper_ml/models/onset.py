"""Stage 1: where do notes go? A per-frame onset probability from audio and a difficulty.

TCN (dilations 1..32, residual, non-causal) for local rhythm, then a small Transformer encoder
over the 1024-frame window for phrase-level context; a difficulty embedding is added to every
frame and replaced by the "unconditional" embedding with probability `cond_dropout` during
training (so inference can use classifier-free guidance and unknown difficulties).

Loss: BCE on Gaussian-smoothed targets (sigma 2 frames, pos_weight 1 by default), computed in
fp32 even under bf16 autocast (the seed crashed there). Inference over a whole song uses the
same window length as training, with overlapping windows averaged (`predict_song`).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from automapper_ml.audio import N_MELS, N_STRUCTURE
from automapper_ml.models.checkpoint import best_entry, read_stage_checkpoint

N_DIFFICULTIES = 5  # Easy, Normal, Hard, Expert, ExpertPlus; index N_DIFFICULTIES = unconditional


@dataclass(frozen=True)
class OnsetConfig:
    n_mels: int = N_MELS  # log-mel bands in
    n_structure: int = N_STRUCTURE  # structure features in
    channels: int = 128  # TCN width
    tcn_blocks: int = 6  # dilations 1, 2, 4, ... 2**(blocks-1)
    kernel_size: int = 3
    transformer_layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    cond_dropout: float = 0.2  # probability of dropping the difficulty in training
    window: int = 1024  # frames per training window and per inference window
    target_sigma: float = 2.0  # frames, Gaussian smoothing of onset targets
    pos_weight: float = 1.0

    @classmethod
    def preset(cls, name: str) -> OnsetConfig:
        if name == "tiny":
            return cls(channels=32, tcn_blocks=6, transformer_layers=1, heads=2, window=512)
        if name == "full":
            return cls()
        raise ValueError(f"unknown onset config preset {name!r} (tiny, full)")

    def to_dict(self) -> dict:
        return asdict(self)


class TCNBlock(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilation: int, dropout: float) -> None:
        super().__init__()
        pad = dilation * (kernel_size - 1) // 2
        self.conv1 = nn.Conv1d(channels, channels, kernel_size, padding=pad, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, 1)
        self.norm = nn.GroupNorm(1, channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        h = self.conv2(self.drop(F.gelu(self.conv1(self.norm(x)))))
        return x + h


class OnsetModel(nn.Module):
    def __init__(self, config: OnsetConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.inp = nn.Conv1d(config.n_mels + config.n_structure, c, 1)
        self.tcn = nn.ModuleList(
            TCNBlock(c, config.kernel_size, 2**i, config.dropout) for i in range(config.tcn_blocks)
        )
        self.difficulty = nn.Embedding(N_DIFFICULTIES + 1, c)
        layer = nn.TransformerEncoderLayer(
            c, config.heads, 4 * c, config.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, config.transformer_layers, enable_nested_tensor=False)
        self.register_buffer("positions", _sinusoids(config.window, c), persistent=False)
        self.out = nn.Linear(c, 1)

    def forward(self, mel: torch.Tensor, structure: torch.Tensor, difficulty: torch.Tensor) -> torch.Tensor:
        """mel (B, n_mels, T), structure (B, n_structure, T), difficulty (B,) long -> logits (B, T).

        T may be anything up to `config.window` (positions repeat past it)."""
        # per-window level normalisation: mastering loudness differs wildly between songs
        mel = (mel - mel.mean(dim=(1, 2), keepdim=True)) / mel.std(dim=(1, 2), keepdim=True).clamp_min(0.5)
        x = self.inp(torch.cat([mel, structure], dim=1))  # (B, C, T)
        for block in self.tcn:
            x = block(x)
        x = x.transpose(1, 2)  # (B, T, C)
        if self.training and self.config.cond_dropout > 0:
            drop = torch.rand(difficulty.shape, device=difficulty.device) < self.config.cond_dropout
            difficulty = torch.where(drop, torch.full_like(difficulty, N_DIFFICULTIES), difficulty)
        t = x.shape[1]
        pos = self.positions[torch.arange(t, device=x.device) % self.positions.shape[0]]
        x = x + self.difficulty(difficulty)[:, None, :] + pos[None].to(x.dtype)
        x = self.transformer(x)
        return self.out(x).squeeze(-1)  # (B, T)

    def loss(
        self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Masked BCE in fp32: logits, targets, mask (B, T)."""
        pos_weight = torch.tensor(self.config.pos_weight, device=logits.device)
        per_frame = F.binary_cross_entropy_with_logits(
            logits.float(), targets.float(), pos_weight=pos_weight, reduction="none"
        )
        if mask is None:
            return per_frame.mean()
        mask = mask.float()
        return (per_frame * mask).sum() / mask.sum().clamp_min(1.0)


def _sinusoids(length: int, channels: int) -> torch.Tensor:
    """(length, channels) sinusoidal positions, scaled small so they do not swamp the audio."""
    half = channels // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half) / max(half - 1, 1))
    angles = torch.arange(length)[:, None] * freqs[None, :]
    pe = torch.cat([angles.sin(), angles.cos()], dim=1)
    if pe.shape[1] < channels:
        pe = F.pad(pe, (0, channels - pe.shape[1]))
    return 0.1 * pe


def gaussian_targets(onset_frames: np.ndarray, n_frames: int, sigma: float) -> np.ndarray:
    """(n_frames,) float32 targets: 1 at each onset frame, Gaussian shoulders, max-combined."""
    targets = np.zeros(n_frames, dtype=np.float32)
    if n_frames == 0 or len(onset_frames) == 0:
        return targets
    radius = max(1, int(math.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    shape = (
        np.exp(-0.5 * (offsets / sigma) ** 2).astype(np.float32)
        if sigma > 0
        else (offsets == 0).astype(np.float32)
    )
    for f in np.asarray(onset_frames, dtype=np.int64):
        lo, hi = max(0, f - radius), min(n_frames, f + radius + 1)
        if lo < hi:
            seg = shape[lo - (f - radius) : hi - (f - radius)]
            np.maximum(targets[lo:hi], seg, out=targets[lo:hi])
    return targets


@torch.no_grad()
def predict_song(
    model: OnsetModel,
    mel: np.ndarray,
    structure: np.ndarray,
    difficulty: int,
    hop: int | None = None,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Onset probability (T,) over a whole song from (n_mels, T) and (n_structure, T) features.

    Windows of exactly `config.window` frames (the training length; the last one is padded and
    its padding ignored) start every `hop` frames (default half a window); overlapping
    predictions are averaged, so every frame sees the same context length as in training."""
    model.eval()
    window = model.config.window
    hop = hop or window // 2
    n = mel.shape[1]
    starts = list(range(0, max(n - window, 0) + 1, hop))
    if starts[-1] + window < n:
        starts.append(n - window)
    total = np.zeros(n, dtype=np.float64)
    count = np.zeros(n, dtype=np.float64)
    feats = np.concatenate([mel, structure], axis=0).astype(np.float32)
    for i in range(0, len(starts), batch_size):
        chunk = starts[i : i + batch_size]
        batch = np.zeros((len(chunk), feats.shape[0], window), dtype=np.float32)
        for j, s in enumerate(chunk):
            part = feats[:, s : s + window]
            batch[j, :, : part.shape[1]] = part
        x = torch.from_numpy(batch).to(device)
        diff = torch.full((len(chunk),), int(difficulty), dtype=torch.long, device=device)
        probs = torch.sigmoid(model(x[:, : model.config.n_mels], x[:, model.config.n_mels :], diff).float())
        probs = probs.cpu().numpy()
        for j, s in enumerate(chunk):
            valid = min(window, n - s)
            total[s : s + valid] += probs[j, :valid]
            count[s : s + valid] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


def load_onset_model(ckpt_path: str | os.PathLike, device: str | torch.device = "cpu") -> OnsetModel:
    """The model in eval mode from a stage-1 checkpoint, loaded with weights_only=True."""
    state, config = read_stage_checkpoint(ckpt_path, "onset", device)
    model = OnsetModel(OnsetConfig(**config))
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def onset_threshold(ckpt_path: str | os.PathLike) -> float:
    """The peak threshold a stage-1 checkpoint was tuned to on validation at its best epoch (0.5 if
    it never was): what inference picks peaks with, so it measures what the reported F1 measured."""
    state, _ = read_stage_checkpoint(ckpt_path, "onset", "cpu")
    entry = best_entry(list(state.get("history", [])), int(state.get("best_epoch", -1)))
    return float(entry.get("threshold", 0.5))

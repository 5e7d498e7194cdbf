"""A tiny TrainingTask for loop tests: noisy linear regression with dropout (uses the RNG)."""

from __future__ import annotations

import torch
from torch import nn


class ToyTask:
    name = "toy"
    metric = "val_loss"
    higher_is_better = False

    def __init__(self, n: int = 96, dim: int = 8, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(dim, 1, generator=g)
        self.x = torch.randn(n, dim, generator=g)
        self.y = self.x @ self.w + 0.05 * torch.randn(n, 1, generator=g)
        self.vx = torch.randn(32, dim, generator=g)
        self.vy = self.vx @ self.w
        self.dim = dim

    def build_model(self) -> nn.Module:
        return nn.Sequential(nn.Linear(self.dim, 32), nn.Dropout(0.1), nn.ReLU(), nn.Linear(32, 1))

    def model_config(self) -> dict:
        return {"dim": self.dim, "hidden": 32}

    def train_size(self) -> int:
        return len(self.x)

    def make_batch(self, indices, generator):
        noise = 0.01 * torch.randn(len(indices), self.dim, generator=generator)  # per-batch augmentation
        return {"x": self.x[indices] + noise, "y": self.y[indices]}

    def loss(self, model, batch):
        return nn.functional.mse_loss(model(batch["x"]), batch["y"])

    def validate(self, model, device):
        return {"val_loss": float(nn.functional.mse_loss(model(self.vx.to(device)), self.vy.to(device)))}

"""osu! training throughput on CPU: samples (decoding windows) per second of `OsuTask` training
steps (make_batch + forward + backward + AdamW) for the presets' models on the real corpus.

    .venv/bin/python bench/osu_training.py                        # /work/osu_build, tiny and cpu
    .venv/bin/python bench/osu_training.py --corpus DIR --sets 20 --presets cpu --threads 1 2

The corpus is a folder of `.osz` sets (built outside the repository from ../shared/osu_corpus; never
copied in). The bench reads `--sets` of them (every 5th validates), prints the read time, the windows
an epoch holds and the quarantined sets, then times `--steps` training steps per preset and thread
count after one warm-up step, and says how long an epoch at the preset's `epoch_scale` takes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from automapper_ml.training.osu import load_osu_preset
from automapper_ml.training.osu_task import OsuTask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="/work/osu_build")
    ap.add_argument("--sets", type=int, default=0, help="sets to read (0: all)")
    ap.add_argument("--presets", nargs="+", default=["demo", "cpu"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    paths = sorted(Path(args.corpus).glob("*.osz"))
    paths = paths[: args.sets] if args.sets else paths
    for name in args.presets:
        preset = load_osu_preset(name)
        started = time.perf_counter()
        task = OsuTask([str(p) for p in paths], preset.model, preset.task)
        windows = task.train_data.windows
        print(f"{name} ({preset.model_name}): {len(paths)} sets read in {time.perf_counter() - started:.1f} s, "
              f"{len(task.train_data.items)} train difficulties, {task.train_size()} windows per epoch "
              f"(epoch_scale {preset.task.epoch_scale}), {len(task._val)} val windows, "
              f"{np.mean(windows[:, 4] - windows[:, 2] + 1):.0f} decoder positions a window, "
              f"{len(task.quarantined)} quarantined")  # fmt: skip
        for key, reason in task.quarantined.items():
            print(f"  quarantined {key}: {reason}")
        bs = preset.train.batch_size
        for threads in args.threads:
            torch.set_num_threads(threads)
            model = task.build_model()
            model.train()
            opt = torch.optim.AdamW(model.parameters(), lr=preset.train.lr)
            order = torch.randperm(task.train_size(), generator=torch.Generator().manual_seed(0)).tolist()
            times = []
            for step in range(args.steps + 1):
                t0 = time.perf_counter()
                batch = task.make_batch(order[step * bs : (step + 1) * bs], torch.Generator())
                task.loss(model, batch).backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                times.append(time.perf_counter() - t0)
            rate = bs / float(np.median(times[1:]))
            epoch = task.train_size() / rate
            print(f"  {threads} thread(s): {rate:.1f} samples/s (batch {bs}), an epoch {epoch / 60:.1f} min, "
                  f"{preset.train.max_minutes or 'no'} min budget -> "
                  f"{(preset.train.max_minutes or 0) * 60 / epoch:.1f} epochs")  # fmt: skip


if __name__ == "__main__":
    main()

"""Each stage's training step on a GPU: steps/s, samples/s and peak memory, bf16 autocast.

    python bench/gpu_training.py                                   # the GPU check: `gpu` presets, CUDA
    python bench/gpu_training.py --device cpu --size demo --steps 3 --songs 2   # a smoke run on CPU

Needs nothing but the checkout (a device machine gets no ../shared): it renders a small demo corpus
(automapper_ml.synth) into a temp folder, indexes it (training.onset_task.index_zips), and builds each
stage's real task (OnsetTask, SequenceTask, LightingTask: their own make_batch and loss) with the
profile's presets, so batches have the shapes and contents of training. Then `--warmup` + `--steps`
optimizer steps per stage as training.loop runs them: AdamW, bf16 autocast on CUDA, gradient
clipping. Prints per stage: parameters, batch size, steps/s, samples/s (crops, note groups or
half-beat steps), peak GPU memory, and the time spent building batches (CPU side).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from automapper_ml.training.profiles import load_profile  # noqa: E402


def build_tasks(root: Path, songs: int, profile: str):
    """(name, task, batch size, train config) per stage on a fresh demo corpus under `root`."""
    from automapper_ml.synth import DemoConfig, generate_demo_corpus
    from automapper_ml.training.lighting import load_lighting_preset
    from automapper_ml.training.lighting_task import LightingTask
    from automapper_ml.training.onset_task import OnsetTask, index_zips
    from automapper_ml.training.presets import load_preset
    from automapper_ml.training.sequence import load_sequence_preset
    from automapper_ml.training.sequence_task import SequenceTask

    report = generate_demo_corpus(root, DemoConfig(n_songs=songs, n_reference=0, include_broken=False))
    zips = [m.path for m in report.maps]
    index = index_zips(zips, root, splits={p.stem: "train" for p in zips})
    prof = load_profile(profile)
    onset = load_preset(prof.onset)
    seq = load_sequence_preset(prof.sequence)
    light = load_lighting_preset(prof.lighting)
    return [
        ("onset", OnsetTask(index, root, onset.model, onset.task, val_split="train"), onset.train),
        ("sequence", SequenceTask(index, root, seq.model, seq.task, val_split="train"), seq.train),
        ("lighting", LightingTask(index, root, light.model, light.task, val_split="train"), light.train),
    ]


def bench_stage(task, train, device: torch.device, warmup: int, steps: int) -> dict[str, float]:
    model = task.build_model().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    gen = torch.Generator().manual_seed(0)
    n = task.train_size()
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else torch.autocast("cpu", enabled=False))  # fmt: skip
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    batch_s = 0.0
    started = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started, batch_s = time.perf_counter(), 0.0
        t0 = time.perf_counter()
        idx = torch.randint(0, n, (train.batch_size,), generator=gen).tolist()
        batch = {k: v.to(device, non_blocking=True) for k, v in task.make_batch(idx, gen).items()}
        batch_s += time.perf_counter() - t0
        with autocast:
            loss = task.loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall = time.perf_counter() - started
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch": train.batch_size,
        "steps_per_s": steps / wall,
        "samples_per_s": steps * train.batch_size / wall,
        "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30
        if device.type == "cuda"
        else float("nan"),
        "batch_share": batch_s / wall,
        "loss": float(loss.detach()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", default="gpu", help="profile whose presets to use (configs/profiles.toml)")
    parser.add_argument("--songs", type=int, default=6, help="demo songs to render and index")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        tasks = build_tasks(Path(tmp), args.songs, args.size)
        print(f"demo corpus of {args.songs} songs rendered and indexed in {time.perf_counter() - t0:.0f} s")
        print("stage     params   batch  steps/s  samples/s  peak GiB  batch-building share  last loss")
        for name, task, train in tasks:
            r = bench_stage(task, train, device, args.warmup, args.steps)
            print(f"{name:<9} {r['parameters'] / 1e6:6.2f}M {r['batch']:6d} {r['steps_per_s']:8.2f} "
                  f"{r['samples_per_s']:10.0f} {r['peak_gib']:9.2f} {r['batch_share']:21.0%} {r['loss']:10.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

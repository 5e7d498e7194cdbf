"""Training input throughput: samples per second per core of each stage's dataset, in one run.

    .venv/bin/python bench/training_input.py [--songs 10] [--batch 32] [--seconds 8] [--work DIR]

Generates a demo corpus (automapper_ml.synth) into a work folder (kept and reused when the folder
already holds one), processes it into the feature stores, then, with ONE torch thread, times
`make_batch` of every stage dataset that exists (onset, sequence, lighting; a missing module is
reported and skipped) over shuffled batches for a fixed time. Printed per stage:

- samples/s per core = samples / CPU seconds of this process (one thread, so this is one core's
  rate, and it stays meaningful on a loaded machine where wall time is shared with others);
- samples/s wall, for reference;
- the goal where the issue sets one (note sequences: >= 5,000 samples/s per core).

What a "sample" is differs per stage: onset = one audio crop of the model's window, sequence =
one note group (onset) with its audio window and context, lighting = one lighting grid step.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOALS = {"sequence": 5000.0}  # samples/s per core the issues ask for


def demo_index(work: Path, n_songs: int, seed: int = 0) -> pl.DataFrame:
    """Demo corpus -> feature stores -> frame index (cached as work/index.parquet)."""
    cached = work / "index.parquet"
    if cached.exists():
        return pl.read_parquet(cached)
    from automapper_ml.synth import DemoConfig, generate_demo_corpus
    from automapper_ml.training.onset_task import index_zips

    report = generate_demo_corpus(
        work, DemoConfig(seed=seed, n_songs=n_songs, n_reference=0, include_broken=False)
    )
    song_of = {m.path.stem: m.song_key for m in report.maps}
    index = index_zips([m.path for m in report.maps], work, song_ids=song_of)
    index = index.with_columns(pl.lit("train").alias("split"))  # every row feeds the bench
    index.write_parquet(cached)
    return index


def stage_tasks(index: pl.DataFrame, root: Path) -> dict[str, object]:
    """name -> TrainingTask for every stage whose dataset module exists (in the demo settings)."""
    tasks: dict[str, object] = {}
    val = index.head(1).with_columns(pl.lit("val").alias("split"))  # tasks want a val split
    frame = pl.concat([index, val])
    try:
        from automapper_ml.training.onset_task import OnsetTask
        from automapper_ml.training.presets import load_preset

        preset = load_preset("demo")
        tasks["onset"] = OnsetTask(frame, root, preset.model, preset.task)
    except ImportError as err:
        print(f"onset: skipped ({err})")
    try:
        from automapper_ml.training.sequence import load_sequence_preset
        from automapper_ml.training.sequence_task import SequenceTask

        seq = load_sequence_preset("demo")
        tasks["sequence"] = SequenceTask(frame, root, seq.model, seq.task)
    except ImportError as err:
        print(f"sequence: skipped ({err})")
    try:
        lighting = importlib.import_module("automapper_ml.training.lighting_task")
        from automapper_ml.models.lighting import LightingConfig

        tasks["lighting"] = lighting.LightingTask(frame, root, LightingConfig.preset("tiny"))
    except ImportError as err:
        print(f"lighting: skipped ({err})")
    return tasks


def measure(task, batch_size: int, seconds: float, seed: int = 0) -> tuple[float, float, int]:
    """(samples per CPU second, samples per wall second, samples) of make_batch over shuffled batches."""
    n = task.train_size()
    order = np.random.default_rng(seed).permutation(n)
    task.make_batch(order[:batch_size].tolist(), torch.Generator().manual_seed(0))  # warm the page cache
    samples, b = 0, 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        start = (b * batch_size) % max(n - batch_size, 1)
        indices = order[start : start + batch_size].tolist()
        task.make_batch(indices, torch.Generator().manual_seed(b))
        samples += len(indices)
        b += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return samples / max(cpu, 1e-9), samples / max(wall, 1e-9), samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=10, help="demo songs to generate")
    parser.add_argument("--batch", type=int, default=32, help="samples per batch")
    parser.add_argument("--seconds", type=float, default=8.0, help="timing budget per stage")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = args.work or Path(tempfile.mkdtemp(prefix="automapper-input-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    index = demo_index(work, args.songs)
    print(f"corpus: {index.height} difficulties of {index['map_key'].n_unique()} maps in {work} "
          f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
    tasks = stage_tasks(index, work)
    print(f"{'stage':<10} {'samples':>8} {'per core/s':>11} {'wall/s':>9}  goal")
    for name, task in tasks.items():
        per_core, per_wall, samples = measure(task, args.batch, args.seconds)
        goal = GOALS.get(name)
        verdict = "" if goal is None else f">= {goal:,.0f} {'met' if per_core >= goal else 'NOT met'}"
        print(f"{name:<10} {samples:>8} {per_core:>11,.0f} {per_wall:>9,.0f}  {verdict}")


if __name__ == "__main__":
    main()

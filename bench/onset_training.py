"""Stage 1 on the demo corpus, on CPU: F1 after training, wall time, samples/s, data-wait share.

    .venv/bin/python bench/onset_training.py [--songs 12] [--preset demo] [--work DIR] [--ablation]
                                             [--threads 1] [--epochs N]

Generates a small demo corpus (automapper_ml.synth) into a work folder, processes it into the
feature stores, holds out songs for validation and test, trains the preset's model, then prints:
- validation and test F1 (+-50 ms, pooled) of the model, and of librosa.onset.onset_detect on
  the same audio, raw and with the best constant shift in [-60, +20] ms (librosa's onsets tend
  to land late; the shift is chosen on the test songs themselves, so it flatters librosa);
- with --ablation, the same model trained with its audio input zeroed;
- wall time, training crops per second and frames per second, and the share of training time
  spent building batches (the loop builds them in the main process, so this is the time a
  DataLoader with workers could hide).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from automapper_ml.audio import SAMPLE_RATE, frame_to_seconds, load_audio  # noqa: E402
from automapper_ml.evaluation.onsets import pooled_scores  # noqa: E402
from automapper_ml.formats import open_map_source, read_map  # noqa: E402
from automapper_ml.models.onset import load_onset_model, onset_threshold  # noqa: E402
from automapper_ml.training.onset import train_onset_model  # noqa: E402
from automapper_ml.training.onset_task import OnsetData, OnsetTask, index_zips  # noqa: E402
from automapper_ml.training.presets import load_preset  # noqa: E402


def demo_index(work: Path, n_songs: int, seed: int = 0, n_val: int = 2, n_test: int = 3):
    """Demo corpus -> feature stores -> frame index with the first songs held out (val, test)."""
    from automapper_ml.synth import DemoConfig, generate_demo_corpus

    report = generate_demo_corpus(
        work,
        DemoConfig(
            seed=seed, n_songs=n_songs, min_seconds=20, max_seconds=30, include_broken=False,
            n_reference=0, share_twice_mapped=0.0,
        ),
    )  # fmt: skip
    song_of = {m.path.stem: m.song_key for m in report.maps}
    keys = sorted({s.key for s in report.songs})
    splits = {
        k: "val" if i < n_val else "test" if i < n_val + n_test else "train" for i, k in enumerate(keys)
    }
    return index_zips([m.path for m in report.maps], work, song_ids=song_of, splits=splits)


def librosa_pairs(data: OnsetData, raw: Path, shift: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(reference, librosa onset times + shift) per row, librosa run once per song."""
    import librosa

    cache: dict[str, np.ndarray] = {}
    pairs = []
    for item in data.items:
        if item.map_key not in cache:
            source = open_map_source(raw / f"{item.map_key}.zip")
            y = load_audio(source.read_bytes(read_map(source).audio_filename))
            cache[item.map_key] = librosa.onset.onset_detect(
                y=y, sr=SAMPLE_RATE, backtrack=False, units="time"
            )
        pairs.append((np.asarray(frame_to_seconds(item.onsets)), cache[item.map_key] + shift))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=12)
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder)")
    parser.add_argument("--ablation", action="store_true", help="also train with audio zeroed")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1 is fastest on a busy 2-core box: OpenMP spins)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="onset-bench-"))
    t0 = time.monotonic()
    index = demo_index(work, args.songs)
    print(f"corpus + features: {time.monotonic() - t0:.1f} s, {index.height} rows, work folder {work}")
    preset = load_preset(args.preset)
    train_cfg = preset.train if args.epochs is None else _replace(preset.train, epochs=args.epochs)
    train_cfg = _replace(train_cfg, progress=False, device="cpu")
    runs = [("model", preset.task)] + (
        [("audio zeroed", _replace(preset.task, zero_audio=True))] if args.ablation else []
    )
    for label, task_cfg in runs:
        out = work / f"run-{label.replace(' ', '_')}"
        cpu = time.process_time()
        result = train_onset_model(index, work, out, preset.model, train_cfg, task_config=task_cfg)
        cpu = time.process_time() - cpu
        task = OnsetTask(index, work, preset.model, task_cfg, val_split="test")
        model, threshold = load_onset_model(result.best_path), onset_threshold(result.best_path)
        test = task.score(task.curves(model, task.val_data), threshold)
        train_seconds = result.seconds - result.validate_seconds
        print(
            f"[{label}] preset {preset.name} ({preset.model_name}): {result.n_params:,} params, "
            f"{result.epochs} epochs in {result.seconds:.0f} s wall, {cpu:.0f} s CPU "
            f"(validation {result.validate_seconds:.0f} s wall); "
            f"val F1 {result.metrics['f1']:.3f} at threshold {threshold:.2f}; "
            f"test F1 {test.f1:.3f} P {test.precision:.3f} R {test.recall:.3f}; "
            f"{result.samples_per_second:.1f} crops/s = "
            f"{result.samples_per_second * preset.model.window:,.0f} frames/s; "
            f"data {100 * result.data_seconds / max(train_seconds, 1e-9):.1f}% of training time"
        )
    test_data = OnsetData(index, work, "test", preset.model)
    raw = pooled_scores(librosa_pairs(test_data, work / "raw"))
    shifts = {
        s: pooled_scores(librosa_pairs(test_data, work / "raw", s / 1000)).f1 for s in range(-60, 21, 10)
    }
    best = max(shifts, key=shifts.get)
    print(
        f"[librosa onset_detect] test F1 raw {raw.f1:.3f} (P {raw.precision:.3f} R {raw.recall:.3f}); "
        f"best shift {best:+d} ms -> F1 {shifts[best]:.3f}"
    )
    print(f"total wall time {time.monotonic() - t0:.0f} s")


def _replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


if __name__ == "__main__":
    main()

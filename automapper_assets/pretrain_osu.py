"""Retrain and rewrite the shipped osu! model: `python -m automapper_assets.pretrain_osu --corpus DIR`.

DIR is a folder of real `.osz` sets built outside the repository from ../shared/osu_corpus (its
README: fetch the two repositories, run build.py); it is read in place, never copied in.

1. The sets are split by name (training.osu_task.set_splits): every 10th from the fourth is held out
   ("test": never trained on, never used to stop), every 5th from the second validates, the rest train.
2. configs/osu.toml's `cpu` preset trains the model on one torch thread (<= 60 minutes on 2 cores).
3. The checkpoint, stripped to its weights, goes to automapper_ml/pretrained/osu/best.pt; the held-out
   sets are mapped as `automapper osu generate` maps a song and judged against their human maps
   (evaluation.osu_songs); the figures go into automapper_ml/pretrained/osu/card.json and MODEL_CARD.md.

`--skip-training` packages and judges what `--out` already holds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def osu_split(paths: list[Path]) -> list[tuple[str, None, str]]:
    """(path, None, split) rows: sets sorted by name, split by training.osu_task.set_splits."""
    from automapper_ml.training.osu_task import set_splits

    splits = set_splits([p.name for p in paths])
    return [(str(p), None, splits[p.name]) for p in sorted(paths, key=lambda p: p.name)]


def train(corpus: Path, out: Path, preset_name: str = "cpu", log=print) -> Path:
    """Train the preset on the corpus's train split; returns best.pt."""
    import torch

    from automapper_ml.training.osu import load_osu_preset, train_osu_model

    torch.set_num_threads(1)  # a second thread spins on a 2-core box (configs/osu.toml)
    preset = load_osu_preset(preset_name)
    rows = osu_split(sorted(corpus.glob("*.osz")))
    log(f"osu: {sum(r[2] == 'train' for r in rows)} train, {sum(r[2] == 'val' for r in rows)} val, "
        f"{sum(r[2] == 'test' for r in rows)} held-out sets; preset {preset_name}")  # fmt: skip
    result = train_osu_model(
        rows, out, preset.model, preset.train, task_config=preset.task,
        extra_state={"preset": preset_name}, log=log,
    )  # fmt: skip
    log(f"osu: token accuracy {result.token_accuracy:.4f} (majority {result.majority_accuracy:.4f}), "
        f"best epoch {result.best_epoch} of {result.epochs}, {result.seconds / 60:.1f} min")  # fmt: skip
    if result.best_path is None:
        raise SystemExit("training left no checkpoint")
    return result.best_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m automapper_assets.pretrain_osu",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("--corpus", required=True, help="folder of real .osz sets")
    parser.add_argument("--out", default=str(REPO / "data" / "pretrain_osu"), help="training folder")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args(argv)
    corpus, out = Path(args.corpus).resolve(), Path(args.out).resolve()
    if not any(corpus.glob("*.osz")):
        raise SystemExit(f"{corpus}: no .osz sets (build them from ../shared/osu_corpus)")
    started = time.monotonic()
    best = out / "best.pt" if args.skip_training else train(corpus, out, args.preset)
    print(f"trained in {(time.monotonic() - started) / 60:.1f} minutes: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

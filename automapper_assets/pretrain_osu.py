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


def teacher_forced(model, rows: list, split: str) -> dict[str, dict[str, float]]:
    """Teacher-forced token accuracy on every window of `split`, with the audio and with it zeroed,
    beside the majority token (of that split itself: the baseline's best case)."""
    from dataclasses import replace

    import torch

    from automapper_ml.training.osu_task import OsuTask, OsuTaskConfig

    task = OsuTask(
        rows, model.config, OsuTaskConfig(val_max_samples=10**9), train_split=split, val_split=split
    )
    cpu = torch.device("cpu")
    out = {"audio": task.validate(model, cpu)}
    task.task_config = replace(task.task_config, zero_audio=True)
    out["zero_audio"] = task.validate(model, cpu)
    return out


def held_out_figures(model_path: Path, rows: list, split: str, sampling: dict, per_set: int = 3) -> dict:
    """The model, the model with its audio zeroed and the two baselines on `split`'s songs
    (evaluation.osu_songs), as the card records them."""
    from automapper_ml.evaluation.osu_songs import evaluate_osu_songs, osu_cases
    from automapper_ml.generation.osu_baselines import beat_circles, onset_circles
    from automapper_ml.generation.osu_song import stars_mapper
    from automapper_ml.models.osu import load_osu_model
    from automapper_ml.pretrained.osu import default_sampling

    model = load_osu_model(model_path)
    opts = default_sampling(card={"sampling": sampling})
    cases, skipped = osu_cases([r[0] for r in rows if r[2] == split], per_set=per_set)
    mappers = {"model": stars_mapper(model, opts), "model, audio zeroed": stars_mapper(model, opts, zero_audio=True),
               "beat circles": beat_circles, "onset circles": onset_circles}  # fmt: skip
    report = evaluate_osu_songs(cases, mappers, log=print)
    return {
        "cases": len(cases),
        "skipped": skipped,
        "summary": {name: {k: round(v, 4) for k, v in report.summary(name).items()} for name in report.rows},
        "errors": report.errors,
        "markdown": report.markdown(),
    }


def card_markdown(card: dict) -> str:
    figs = card["figures"]
    tf = figs["teacher_forced_test"]
    lines = [
        "# Shipped osu! model",
        "",
        f"Trained by `python -m automapper_assets.pretrain_osu` on the real osu! corpus "
        f"({len(card['corpus']['sets'])} sets built from ../shared/osu_corpus, listed with sha256 in card.json): "
        f"{card['splits']['train']} train, {card['splits']['val']} validation and {card['splits']['test']} "
        f"held-out sets (never trained on). Preset `{card['preset']}` (configs/osu.toml hash "
        f"`{card['config_hash']}`), {card['training']['parameters']:,} parameters, OSU_TOKENIZER_VERSION "
        f"{card['tokenizer_version']}, AUDIO_FEATURES_VERSION {card['audio_features_version']}, "
        f"{card['training']['epochs']} epochs ({card['training']['minutes']:.1f} minutes on {card['device']}, "
        "one torch thread).",
        "",
        f"Sampling (chosen on the validation sets): {card['sampling']}.",
        "",
        f"## Held-out sets, teacher-forced ({int(tf['audio']['val_targets'])} predicted tokens)",
        "",
        "| | token accuracy | token CE |",
        "|---|---|---|",
        f"| model | {tf['audio']['token_accuracy']:.4f} | {tf['audio']['val_loss']:.4f} |",
        f"| model, audio zeroed | {tf['zero_audio']['token_accuracy']:.4f} | {tf['zero_audio']['val_loss']:.4f} |",
        f"| majority token | {tf['audio']['majority_accuracy']:.4f} | |",
        "",
        f"## Held-out songs, generated ({figs['held_out']['cases']} human difficulties, up to 3 a set)",
        "",
        "Each song mapped as `automapper osu generate SONG --stars S` maps it, S the human difficulty's rating,",
        "and judged against that difficulty (evaluation.osu_songs; rhythm pooled over all cases):",
        "",
        figs["held_out"]["markdown"],
        "",
    ]
    return "\n".join(lines)


def package(best: Path, corpus: Path, rows: list, sampling: dict, minutes: float) -> dict:
    """Strip best.pt into automapper_ml/pretrained/osu/, measure it, write card.json and MODEL_CARD.md."""
    import json

    import torch

    from automapper_ml.atomic import write_text_atomic
    from automapper_ml.audio import AUDIO_FEATURES_VERSION
    from automapper_ml.data.rawzips import sha256_file
    from automapper_ml.models.checkpoint import load_checkpoint
    from automapper_ml.models.osu import load_osu_model
    from automapper_ml.pretrained.build import strip_checkpoint
    from automapper_ml.pretrained.osu import OSU_CARD_FILE, OSU_DIR, OSU_MODEL_FILE
    from automapper_ml.tokenizer_osu import OSU_TOKENIZER_VERSION
    from automapper_ml.training.osu import osu_config_hash

    torch.set_num_threads(1)
    strip_checkpoint(best, OSU_MODEL_FILE)
    state = load_checkpoint(OSU_MODEL_FILE)
    model = load_osu_model(OSU_MODEL_FILE)
    card = {
        "preset": (state.get("extra_state") or {}).get("preset", ""),
        "config_hash": osu_config_hash(),
        "tokenizer_version": OSU_TOKENIZER_VERSION,
        "audio_features_version": AUDIO_FEATURES_VERSION,
        "model_config": state["model_config"],
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "corpus": {
            "folder": str(corpus),
            "sets": [
                {"osz": Path(r[0]).name, "sha256": sha256_file(Path(r[0])), "split": r[2]} for r in rows
            ],
        },  # fmt: skip
        "splits": {k: sum(r[2] == k for r in rows) for k in ("train", "val", "test")},
        "sampling": sampling,
        "files": {"best.pt": sha256_file(OSU_MODEL_FILE)},
        "training": {
            "best_epoch": int(state.get("best_epoch", -1)),
            "epochs": len(state.get("history", [])),
            "minutes": round(minutes, 1),
            "parameters": sum(int(v.numel()) for v in state["model"].values()),
            "history": state.get("history", []),
        },
    }
    card["figures"] = {
        "teacher_forced_test": teacher_forced(model, rows, "test"),
        "held_out": held_out_figures(OSU_MODEL_FILE, rows, "test", sampling),
    }
    write_text_atomic(OSU_CARD_FILE, json.dumps(card, indent=2, sort_keys=True) + "\n")
    write_text_atomic(OSU_DIR / "MODEL_CARD.md", card_markdown(card) + "\n")
    return card


# what the card records, chosen on the val sets with bench/osu_songs.py (place_bias 1.0 against 0, 2.0
# and time temperature 0.8: rhythm F1 +-50 ms 0.530 vs 0.517-0.537, +-10 ms 0.415 vs 0.381-0.392)
SAMPLING = {"temperature": 1.0, "top_p": 0.95, "place_bias": 1.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m automapper_assets.pretrain_osu",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("--corpus", required=True, help="folder of real .osz sets")
    parser.add_argument("--out", default=str(REPO / "data" / "pretrain_osu"), help="training folder")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--skip-training", action="store_true", help="package and judge what --out holds")
    parser.add_argument("--temperature", type=float, default=SAMPLING["temperature"])
    parser.add_argument("--time-temperature", type=float, default=None)
    parser.add_argument("--place-bias", type=float, default=SAMPLING["place_bias"])
    parser.add_argument(
        "--minutes", type=float, default=0.0, help="with --skip-training: the training time to record"
    )
    args = parser.parse_args(argv)
    corpus, out = Path(args.corpus).resolve(), Path(args.out).resolve()
    if not any(corpus.glob("*.osz")):
        raise SystemExit(f"{corpus}: no .osz sets (build them from ../shared/osu_corpus)")
    started = time.monotonic()
    best = out / "best.pt" if args.skip_training else train(corpus, out, args.preset)
    minutes = args.minutes if args.skip_training else (time.monotonic() - started) / 60
    sampling = {**SAMPLING, "temperature": args.temperature, "place_bias": args.place_bias}
    if args.time_temperature is not None:
        sampling["time_temperature"] = args.time_temperature
    card = package(best, corpus, osu_split(sorted(corpus.glob("*.osz"))), sampling, minutes)
    print(card_markdown(card))
    print("wrote automapper_ml/pretrained/osu: commit it")
    return 0


if __name__ == "__main__":
    sys.exit(main())

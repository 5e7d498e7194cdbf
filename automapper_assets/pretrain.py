"""Retrain and rewrite the shipped models: `python -m automapper_assets.pretrain [--raw DIR] [--home DIR]`.

1. The main job on the real zips in DIR (default ../shared/corpus), read in place, with profile `cpu`
   (configs/profiles.toml): ingest, features, the three stages (under an hour on 2 CPU cores).
2. Stage 2 once more with its audio zeroed: same preset, same frame index, same seed. It ships too
   (pretrained/ablation/), so the tests can show on held-out songs that stage 2 listens.
3. The checkpoints, stripped to their weights, go to automapper_ml/pretrained/; stage 1 carries the
   corpus's onsets per second per difficulty (generation.density) measured from the frame index.
4. The held-out songs (configs/ingest.toml [split] test_zips, never trained on) are mapped with the
   shipped models as `automapper generate` does and judged against their human maps
   (training.real_songs); the figures go into card.json and MODEL_CARD.md.

`--figures-only` redoes step 4 alone, for the models already shipped (after a change to generation,
not to the models): the teacher-forced stage-2 figures, which need the training home, are kept.

Commit what it writes under automapper_ml/pretrained/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RAW = REPO.parent / "shared" / "corpus"


def train_ablation(home: Path, log=print) -> Path:
    """Stage 2 of the cpu profile with audio zeroed, on the home's frame index; returns its best.pt."""
    from automapper_ml.pretrained.build import PROFILE
    from automapper_ml.tokenizer import TOKENIZER_VERSION
    from automapper_ml.training.profiles import load_profile
    from automapper_ml.training.sequence import load_sequence_preset, train_sequence_model

    preset = load_sequence_preset(load_profile(PROFILE).sequence)
    index = home / "features" / "frame_index.parquet"
    import polars as pl

    from automapper_ml.data.frame_index import index_version

    extra = {"frame_index_version": index_version(pl.read_parquet(index)), "tokenizer_version": TOKENIZER_VERSION,
             "preset": preset.name, "ablation": "zero_audio"}  # fmt: skip
    result = train_sequence_model(
        index, home, home / "models" / "sequence_zero_audio", preset.model, preset.train,
        task_config=preset.task, decoding=preset.decoding, extra_state=extra, zero_audio=True, log=log,
    )  # fmt: skip
    if result.best_path is None:
        raise SystemExit("the audio-zeroed stage 2 left no checkpoint")
    return result.best_path


def held_out_zips(raw: Path) -> list[Path]:
    from automapper_assets.defs.ingest.config import ingest_config

    return [raw / name for name in ingest_config().split.test_zips if (raw / name).is_file()]


def card_markdown(card: dict) -> str:
    """MODEL_CARD.md from the card."""
    figs = card.get("figures", {})
    seq = figs.get("sequence_test", {})
    abl = figs.get("sequence_test_zero_audio", {})
    lines = [
        "# Shipped models",
        "",
        f"Trained by `python -m automapper_assets.pretrain` on {len(card['corpus']['zips'])} real map zips "
        f"({card['corpus']['folder']}, listed with sha256 in card.json), profile `{card['profile']}` "
        f"(presets {card['presets']}), TOKENIZER_VERSION {card['tokenizer_version']}, "
        f"AUDIO_FEATURES_VERSION {card['audio_features_version']}, on {card.get('device', 'cpu')} in "
        f"{card.get('train_minutes', 0):.1f} minutes.",
        "",
        *([card["note"], ""] if card.get("note") else []),
        "Preset hashes (resolved config dataclasses): "
        + ", ".join(f"{k} `{v}`" for k, v in card["settings_hash"].items()),
        "",
        f"## Held-out songs ({len(card.get('held_out', []))}, never trained on)",
        "",
        *[f"- {name}" for name in card.get("held_out", [])],
        "",
        "Each song mapped as `automapper generate SONG -d Expert ExpertPlus` does (seed 0) and compared with",
        "its human map of the same difficulty:",
        "",
        figs.get("real_songs_markdown", ""),
        "",
        f"Spectral flux threshold (oracle, best on these songs): {figs.get('flux_threshold', float('nan')):.2f}. "
        f"Mean generate time per song on this machine: {figs.get('seconds_per_song', float('nan')):.1f} s.",
        "",
        "## Stage 2 on the held-out split (teacher-forced)",
        "",
        "Placement tokens are what generation samples (colour, cell, arrow, EOS; timing is forced from",
        "stage 1's onsets at generation).",
        "",
        "| | placement accuracy | placement CE | all-token accuracy |",
        "|---|---|---|---|",
        *[
            f"| {label} | {m.get('note_accuracy', float('nan')):.4f} | {m.get('note_ce', float('nan')):.4f} | "
            f"{m.get('token_accuracy', float('nan')):.4f} |"
            for label, m in (("stage 2", seq), ("same, trained and run with audio zeroed", abl))
        ],
        f"| majority token | | | {seq.get('majority_accuracy', float('nan')):.4f} |",
        "",
    ]
    return "\n".join(lines)


def real_song_figures(zips: list[Path]) -> dict:
    """The shipped models judged on the held-out songs (training.real_songs), rounded, with the table."""
    from automapper_ml.generation.models import load_models
    from automapper_ml.pretrained import PRETRAINED_DIR
    from automapper_ml.training.real_songs import evaluate_real_songs, load_case

    print(f"evaluating the shipped models on {len(zips)} held-out songs")
    report = evaluate_real_songs([load_case(p) for p in zips], load_models(PRETRAINED_DIR))
    figures = {k: round(v, 4) for k, v in report.summary().items()}
    figures["real_songs_markdown"] = report.markdown()
    return figures


def refresh_figures(raw: Path) -> int:
    """Rewrite card.json's held-out figures (and MODEL_CARD.md) for the models already shipped."""
    import json

    import torch

    from automapper_ml.pretrained import CARD_FILE
    from automapper_ml.pretrained.build import write_card

    card = json.loads(CARD_FILE.read_text())
    zips = held_out_zips(raw)
    if [p.name for p in zips] != card.get("held_out"):
        raise SystemExit(f"{raw} does not hold the card's held-out songs: {card.get('held_out')}")
    torch.set_num_threads(1)
    kept = {k: v for k, v in card.get("figures", {}).items() if k.startswith("sequence_test")}
    card["figures"] = {**real_song_figures(zips), **kept}
    write_card(card, card_markdown(card))
    print(card_markdown(card))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m automapper_assets.pretrain", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--raw", default=str(DEFAULT_RAW), help="folder of real map zips (default ../shared/corpus)"
    )
    parser.add_argument("--home", default=str(REPO / "data" / "pretrain"), help="data root for the run")
    parser.add_argument("--skip-training", action="store_true",
                        help="package and evaluate what <home> already holds (no pipeline run)")  # fmt: skip
    parser.add_argument("--note", default="", help="a line for the card on how the checkpoints were made")
    parser.add_argument("--figures-only", action="store_true",
                        help="re-judge the shipped models on the held-out songs; rewrite the card's figures")  # fmt: skip
    args = parser.parse_args(argv)
    raw, home = Path(args.raw).resolve(), Path(args.home).resolve()
    if args.figures_only:
        return refresh_figures(raw)
    started = time.monotonic()
    if not args.skip_training:
        from automapper_assets.pipeline import run_pipeline

        run_pipeline(home, groups=("ingest", "features", "training"), raw_dir=raw, profile="cpu")
    ablation = home / "models" / "sequence_zero_audio" / "best.pt"
    if not args.skip_training or not ablation.exists():
        ablation = train_ablation(home)
    train_minutes = (time.monotonic() - started) / 60

    import polars as pl

    from automapper_ml.generation.density import index_targets
    from automapper_ml.models.sequence import load_sequence_model
    from automapper_ml.pretrained import ABLATION_FILE, PRETRAINED_DIR
    from automapper_ml.pretrained.build import package, write_card
    from automapper_ml.training.real_songs import sequence_split_metrics

    index_path = home / "features" / "frame_index.parquet"
    index = pl.read_parquet(index_path)
    checkpoints = {s: home / "models" / s / "best.pt" for s in ("onset", "sequence", "lighting")}
    from automapper_ml.data.frame_index import index_version

    version = {"frame_index_version": index_version(index)}  # the index every stage trained on
    card = package(checkpoints, ablation, raw, extra={"onset": {"density": index_targets(index).to_dict(), **version},
                                                      "sequence": version, "lighting": version})  # fmt: skip
    card["train_minutes"] = round(train_minutes, 1)
    if args.note:
        card["note"] = args.note
    import torch

    card["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(1)
    zips = held_out_zips(raw)
    card["held_out"] = [p.name for p in zips]
    figures = real_song_figures(zips)
    figures["sequence_test"] = sequence_split_metrics(
        load_sequence_model(PRETRAINED_DIR / "sequence" / "best.pt"), index, home
    )
    figures["sequence_test_zero_audio"] = sequence_split_metrics(
        load_sequence_model(ABLATION_FILE), index, home, zero_audio=True
    )
    card["figures"] = figures
    write_card(card, card_markdown(card))
    print(card_markdown(card))
    print(f"\nwrote {PRETRAINED_DIR} in {(time.monotonic() - started) / 60:.1f} minutes: commit it")
    return 0


if __name__ == "__main__":
    sys.exit(main())

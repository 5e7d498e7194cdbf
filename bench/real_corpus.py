"""The shipped models on real held-out songs, beside the baselines, and the time a 3-minute song takes.

    .venv/bin/python bench/real_corpus.py                  # the held-out songs of configs/ingest.toml
    .venv/bin/python bench/real_corpus.py --threads 1,2 --seconds 180

1. Quality: each held-out song of ../shared/corpus (never trained on) is mapped as
   `automapper generate SONG -d Expert ExpertPlus` maps it, with the shipped models, and compared with
   its human map (automapper_ml.training.real_songs): onset F1 at +-50 ms of the generated notes
   beside stage 1 at its tuned threshold, librosa's onset_detect and a spectral flux at its best
   (oracle) threshold; map-quality figures raw, exported and human.
2. Stage 2 teacher-forced on the same songs: token accuracy and cross-entropy of the shipped model,
   of the same model trained and run with its audio zeroed (pretrained/ablation), and the majority token.
3. Speed: the first held-out song cut (or looped) to `--seconds`, generated with Expert and ExpertPlus
   and exported to a zip in float32 (what a CPU without native bf16 runs), per torch thread count,
   after one untimed warm-up; wall time per stage.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from automapper_assets.defs.ingest.config import ingest_config  # noqa: E402
from automapper_ml.generation.level import DEFAULT_DECODING, SongAudio, generate_level  # noqa: E402
from automapper_ml.generation.models import default_models_dir, load_models  # noqa: E402
from automapper_ml.models.sequence import load_sequence_model  # noqa: E402
from automapper_ml.pretrained import ABLATION_FILE, PRETRAINED_DIR  # noqa: E402
from automapper_ml.training.onset_task import index_zips  # noqa: E402
from automapper_ml.training.real_songs import evaluate_real_songs, load_case, sequence_split_metrics  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus"))
    parser.add_argument("--threads", default="1,2", help="torch thread counts for the speed run")
    parser.add_argument("--seconds", type=float, default=180.0, help="song length of the speed run")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    corpus = Path(args.corpus)
    zips = [corpus / z for z in ingest_config().split.test_zips if (corpus / z).is_file()]
    if not zips:
        print(f"no held-out zips in {corpus}: nothing to measure")
        return 1
    models = load_models(default_models_dir())
    torch.set_num_threads(1)
    cases = [load_case(p) for p in zips]
    if not args.skip_quality:
        started = time.perf_counter()
        report = evaluate_real_songs(cases, models)
        print(f"## {len(cases)} held-out songs, shipped models ({time.perf_counter() - started:.0f} s)\n")
        print(report.markdown())
        print(f"\nspectral flux oracle threshold {report.flux_threshold:.2f}")
        print("\nper song (generated F1 / librosa / flux, NPS generated vs human, up+down):")
        for r in report.rows:
            print(f"  {r['song'][:40]:<40} {r['difficulty']:<10} F1 {r['f1_generated']:.3f} / "
                  f"{r['f1_librosa']:.3f} / {r.get('f1_flux_tuned', float('nan')):.3f}  NPS {r['nps']:.2f} vs "
                  f"{r['human_nps']:.2f}  up/down {r['up_down_share']:.2f}")  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            index = index_zips(zips, tmp, splits={p.stem: "test" for p in zips})
            index = index.filter(index["key"].str.contains("/Standard/"))
            audio = sequence_split_metrics(
                load_sequence_model(PRETRAINED_DIR / "sequence" / "best.pt"), index, tmp
            )
            zeroed = sequence_split_metrics(load_sequence_model(ABLATION_FILE), index, tmp, zero_audio=True)
        print(
            "\n## stage 2, teacher-forced on the held-out maps (placement tokens: what generation samples)\n"
        )
        print("| | placement accuracy | placement CE | all-token accuracy |\n|---|---|---|---|")
        for label, m in (("shipped", audio), ("audio zeroed (trained so)", zeroed)):
            print(f"| {label} | {m['note_accuracy']:.4f} | {m['note_ce']:.4f} | {m['token_accuracy']:.4f} |")
        print(f"| majority token | | | {audio['majority_accuracy']:.4f} |")

    song = cases[0].audio
    n = int(args.seconds * song.rate)
    native = np.resize(song.native, (n, song.native.shape[1]))  # cut, or loop, to the length
    mono_n = int(args.seconds * 22050)
    timed = SongAudio(native, song.rate, np.resize(song.mono, mono_n))
    print(
        f"\n## speed: {cases[0].name} as a {args.seconds:.0f} s song, Expert + ExpertPlus, float32, exported\n"
    )
    fp32 = replace(DEFAULT_DECODING)  # the float32 default (a CPU without native bf16)
    with tempfile.TemporaryDirectory() as tmp:
        generate_level(SongAudio(native[: 20 * song.rate], song.rate, timed.mono[: 20 * 22050]),
                       ("Expert",), models=models, decoding=fp32)  # warm-up  # fmt: skip
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            started = time.perf_counter()
            result = generate_level(timed, ("Expert", "ExpertPlus"), models=models, out=Path(tmp) / "x.zip",
                                    decoding=fp32, decode_threads=threads)  # fmt: skip
            wall = time.perf_counter() - started
            stages = ", ".join(f"{k} {v:.1f}" for k, v in result.stage_seconds().items())
            onsets = sum(d.onsets for d in result.difficulties)
            print(f"threads {threads}: {wall:.1f} s wall ({onsets} onsets; {stages})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

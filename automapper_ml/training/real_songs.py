"""The models judged on real songs with human maps: what a user who brings a song gets.

For each map zip (audio + a human map), the song goes through `generate_level` exactly as
`automapper generate SONG -d Expert ExpertPlus` runs it, and the generated difficulties are compared
with the human map's difficulties of the same name:

- onset F1 (+-50 ms, mir_eval's definition) of the generated notes' times against the human notes'
  times, per (song, difficulty), averaged; beside it the same F1 for stage 1's own peaks at its tuned
  threshold (no density rule), `librosa.onset.onset_detect` with its defaults, and a spectral flux
  (librosa's onset strength) whose peak threshold is tuned for the best mean F1 on these very songs
  (an oracle threshold: the baseline is given every advantage);
- map-quality figures of the raw decoder output and of the exported map (the shared quality_report):
  NPS, parity errors per 100 swings, up+down share, grid cells, red share, off-beat share, arcs and
  chains per note, and the share of notes post-processing changed; the human map's figures beside them.

    cases = [load_case(p) for p in zips]
    report = evaluate_real_songs(cases, load_models(PRETRAINED_DIR))
    print(report.markdown())
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from automapper_ml.audio import FRAME_SECONDS, SAMPLE_RATE, compute_features
from automapper_ml.evaluation.onsets import onset_scores
from automapper_ml.evaluation.quality import quality_report
from automapper_ml.formats.model import DIFFICULTY_INDEX
from automapper_ml.formats.reader import open_map_source, read_map
from automapper_ml.generation.level import SongAudio, generate_level, song_audio
from automapper_ml.generation.models import GenerationModels
from automapper_ml.generation.peaks import pick_peaks

DIFFICULTIES = ("Expert", "ExpertPlus")
FLUX_THRESHOLDS = tuple(np.round(np.arange(0.02, 0.62, 0.02), 2))


@dataclass(frozen=True)
class SongCase:
    """One real song and its human map."""

    name: str  # zip stem
    audio: SongAudio
    references: dict[str, np.ndarray]  # Standard difficulty -> distinct human note times (s)
    human: dict[str, dict[str, float]]  # Standard difficulty -> the human map's quality figures


def load_case(path: str | Path) -> SongCase:
    """A map zip (or folder) with its audio -> SongCase (MapError / AudioError for a bad one)."""
    path = Path(path)
    with open_map_source(path) as source:
        beatmap = read_map(source)
        data = source.read_bytes(beatmap.audio_filename)
    audio = song_audio(data)
    refs, human = {}, {}
    for diff in beatmap.difficulties:
        if diff.characteristic != "Standard":
            continue
        timing = beatmap.timing(diff)
        notes = [n for n in diff.notes if not n.uninteractable]
        beats = sorted({n.beat for n in notes})
        refs[diff.name] = np.array([timing.to_seconds(b) for b in beats], dtype=np.float64)
        q = quality_report(notes, timing, diff.bombs, duration_seconds=audio.seconds)
        human[diff.name] = {**_figures(q), "arcs_per_note": len(diff.arcs) / max(len(notes), 1),
                            "chains_per_note": len(diff.chains) / max(len(notes), 1)}  # fmt: skip
    return SongCase(path.stem, audio, refs, human)


def _figures(q) -> dict[str, float]:
    return {
        "notes": float(q.notes),
        "nps": q.nps,
        "parity_errors_per_100_swings": q.parity_errors_per_100_swings,
        "up_down_share": q.up_down_share,
        "cells_used": float(q.cells_used),
        "red_share": q.left_share,
        "off_beat_share": q.off_beat_share,
        "most_common_share": q.most_common_share,
    }


@dataclass
class RealSongsReport:
    """Per (song, difficulty) rows and their means."""

    rows: list[dict[str, float | str]] = field(default_factory=list)
    flux_threshold: float = 0.0  # the oracle threshold of the spectral-flux baseline
    seconds_per_song: list[float] = field(default_factory=list)  # generate_level wall time per song

    def mean(self, key: str, difficulty: str | None = None) -> float:
        vals = [float(r[key]) for r in self.rows if difficulty in (None, r["difficulty"]) and key in r]
        return float(np.mean(vals)) if vals else float("nan")

    def summary(self) -> dict[str, float]:
        keys = [k for k, v in self.rows[0].items() if not isinstance(v, str)] if self.rows else []
        out = {f"{k}/{d}": self.mean(k, d) for d in DIFFICULTIES for k in keys}
        out.update({f"{k}/all": self.mean(k) for k in keys})
        out["flux_threshold"] = self.flux_threshold
        out["seconds_per_song"] = float(np.mean(self.seconds_per_song)) if self.seconds_per_song else 0.0
        return out

    def markdown(self) -> str:
        """The headline figures per difficulty, generated beside human."""
        lines = ["| figure | " + " | ".join(DIFFICULTIES) + " |", "|---|" + "---|" * len(DIFFICULTIES)]
        for key, label in HEADLINES:
            cells = [f"{self.mean(key, d):.3f}" for d in DIFFICULTIES]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


HEADLINES = (
    ("f1_generated", "onset F1 +-50 ms, generated map"),
    ("f1_stage1_threshold", "onset F1, stage-1 peaks at the tuned threshold"),
    ("f1_librosa", "onset F1, librosa onset_detect"),
    ("f1_flux_tuned", "onset F1, spectral flux (oracle threshold)"),
    ("nps", "NPS, exported"),
    ("human_nps", "NPS, human"),
    ("raw_parity_errors_per_100_swings", "parity errors / 100 swings, raw"),
    ("parity_errors_per_100_swings", "parity errors / 100 swings, exported"),
    ("up_down_share", "up+down share, exported"),
    ("human_up_down_share", "up+down share, human"),
    ("cells_used", "grid cells, exported"),
    ("red_share", "red share, exported"),
    ("off_beat_share", "off-beat swings, exported"),
    ("notes_changed_share", "notes changed by post-processing"),
    ("arcs_per_note", "arcs per note, exported"),
    ("chains_per_note", "chains per note, exported"),
    ("human_arcs_per_note", "arcs per note, human"),
    ("human_chains_per_note", "chains per note, human"),
)


def librosa_onsets(mono: np.ndarray) -> np.ndarray:
    """`librosa.onset.onset_detect` with its defaults, in seconds."""
    import librosa

    return librosa.onset.onset_detect(y=mono, sr=SAMPLE_RATE, units="time")


def flux_curve(mono: np.ndarray) -> np.ndarray:
    """Spectral flux (librosa's onset strength on the log-mel) at the models' frame rate, scaled to 0..1."""
    import librosa

    hop = int(round(FRAME_SECONDS * SAMPLE_RATE))
    env = librosa.onset.onset_strength(y=mono, sr=SAMPLE_RATE, hop_length=hop)
    return env / max(float(env.max()), 1e-9)


def evaluate_real_songs(
    cases: Sequence[SongCase],
    models: GenerationModels,
    difficulties: Sequence[str] = DIFFICULTIES,
    seed: int = 0,
    decoding=None,
) -> RealSongsReport:
    """Generate every case's difficulties (the ones its human map has) and judge them (module docstring)."""
    from automapper_ml.generation.options import GenerationOptions
    from automapper_ml.models.onset import predict_song

    report = RealSongsReport()
    flux_by_case: list[tuple[SongCase, str, np.ndarray]] = []
    for case in cases:
        names = [d for d in difficulties if d in case.references and len(case.references[d])]
        if not names:
            continue
        started = time.perf_counter()
        result = generate_level(case.audio, names, GenerationOptions(difficulties=tuple(names)), models=models,
                                seed=seed, decoding=decoding)  # fmt: skip
        report.seconds_per_song.append(time.perf_counter() - started)
        feats = compute_features(case.audio.mono)
        lib = librosa_onsets(case.audio.mono)
        flux = flux_curve(case.audio.mono)
        generated = {d.name: d for d in result.beatmap.difficulties}
        for res in result.difficulties:
            ref = case.references[res.name]
            diff = generated[res.name]
            times = np.unique(result.alignment.to_seconds(np.array([n.beat for n in diff.notes])))
            index = DIFFICULTY_INDEX[res.name]
            curve = predict_song(models.onset, feats.mel, feats.structure, index)
            score = onset_scores(ref, times)
            stage1 = pick_peaks(curve, models.onset_threshold)
            notes = max(len(diff.notes), 1)
            row: dict[str, float | str] = {
                "song": case.name,
                "difficulty": res.name,
                "f1_generated": score.f1,
                "precision_generated": score.precision,
                "recall_generated": score.recall,
                "f1_stage1_threshold": onset_scores(ref, stage1).f1,
                "f1_librosa": onset_scores(ref, lib).f1,
                **_figures(res.quality),
                "raw_parity_errors_per_100_swings": res.raw_quality.parity_errors_per_100_swings,
                "raw_up_down_share": res.raw_quality.up_down_share,
                "notes_changed_share": res.postprocess.notes_changed_share,
                "arcs_per_note": len(diff.arcs) / notes,
                "chains_per_note": len(diff.chains) / notes,
                **{f"human_{k}": v for k, v in case.human[res.name].items()},
            }
            report.rows.append(row)
            flux_by_case.append((case, res.name, flux))
    # the spectral-flux baseline at the one threshold that is best on these songs
    best, best_t = -1.0, FLUX_THRESHOLDS[0]
    picks: dict[float, list[float]] = {}
    for t in FLUX_THRESHOLDS:
        f1s = [onset_scores(case.references[d], pick_peaks(flux, t)).f1 for case, d, flux in flux_by_case]
        picks[t] = f1s
        if f1s and np.mean(f1s) > best:
            best, best_t = float(np.mean(f1s)), t
    for row, f1 in zip(report.rows, picks.get(best_t, []), strict=False):
        row["f1_flux_tuned"] = f1
    report.flux_threshold = float(best_t)
    return report


def sequence_split_metrics(
    model, index, root: str | Path, split: str = "test", zero_audio: bool = False, max_samples: int = 8192
) -> dict[str, float]:
    """Stage 2's teacher-forced figures (token accuracy, CE, majority baseline) on one split of a
    frame index: the held-out counterpart of the validation figures training reports. The majority
    baseline is the most common token of that same split (a baseline given its own answer key)."""
    import torch

    from automapper_ml.training.sequence_task import SequenceTask, SequenceTaskConfig

    config = SequenceTaskConfig(zero_audio=zero_audio, val_max_samples=max_samples)
    task = SequenceTask(index, root, model.config, config, train_split=split, val_split=split)
    return task.validate(model, torch.device("cpu"))

"""Generated osu! maps judged against human ones, on real songs: what the model card and the tests report.

    cases = osu_cases(osz_paths, per_set=3)                  # (song audio, human difficulty) pairs
    report = evaluate_osu_songs(cases, {"model": mapper, "beat circles": beat_circles})
    report.markdown()

A case is one human osu!standard difficulty of a set with its song (the set's audio member, decoded
from a temporary file). `per_set` difficulties are taken from each set, spread over its star
ratings (lowest, highest, then the middle ones). A mapper gets the song's path and the human map
and returns its own map; it may use the human map's star rating (the request a user would make for
that difficulty) but nothing else of it. Every map is judged by `evaluation.osu.judge_map` against
the human one (rhythm P/R/F1 at +-10 and +-50 ms, type shares, slider validity, playfield, spacing)
and rated by rosu-pp-py; the report pools the rhythm scores over all cases (matches summed) and
averages the rest.

The baselines (mappers without an osu! model) are generation.osu_baselines.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from automapper_ml.evaluation.onsets import count_matches
from automapper_ml.evaluation.osu import RHYTHM_WINDOWS_MS, judge_map, start_times
from automapper_ml.evaluation.osu_stars import osu_stars
from automapper_ml.formats.osu.model import OsuMap
from automapper_ml.formats.osu.osz import read_osz

Mapper = Callable[[Path, OsuMap], OsuMap]


@dataclass(frozen=True)
class OsuCase:
    set_name: str
    difficulty: str
    audio_name: str
    audio: bytes
    human: OsuMap
    stars: float  # rosu-pp-py's rating of the human map

    @contextmanager
    def song_file(self) -> Iterator[Path]:
        """The set's song as a temporary file (its own suffix), removed afterwards."""
        suffix = Path(self.audio_name).suffix or ".mp3"
        fd, name = tempfile.mkstemp(suffix=suffix, prefix="osu_case_")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.audio)
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)


def osu_cases(paths: Sequence[str | os.PathLike], per_set: int = 3) -> tuple[list[OsuCase], dict[str, str]]:
    """(cases, skipped): `per_set` difficulties of each set, spread over star ratings; a set that
    cannot be read, has no audio or no osu!standard difficulty is skipped with its reason."""
    cases: list[OsuCase] = []
    skipped: dict[str, str] = {}
    for p in paths:
        name = Path(p).name
        try:
            osz = read_osz(p, with_files=True)
        except Exception as err:  # any bad archive: a reason, never a crash of the evaluation
            skipped[name] = " ".join(str(err).split())
            continue
        rated = []
        for diff, m in osz.beatmaps:
            audio_name = m.general.audio_filename
            data = next((v for k, v in osz.files.items() if k.casefold() == audio_name.casefold()), None)
            if data is None or len(m.hit_objects) < 2:
                continue
            try:
                rated.append((osu_stars(m).stars, diff, m, audio_name, data))
            except Exception as err:
                skipped[f"{name}/{diff}"] = " ".join(str(err).split())
        if not rated:
            skipped.setdefault(name, "no osu!standard difficulty with its audio")
            continue
        rated.sort(key=lambda r: r[0])
        for i in spread_indices(len(rated), per_set):
            stars, diff, m, audio_name, data = rated[i]
            cases.append(OsuCase(name, m.metadata.version or diff, audio_name, data, m, float(stars)))
    return cases, skipped


def spread_indices(n: int, k: int) -> list[int]:
    """k of range(n) spread over it: the first, the last, then evenly between (all when k >= n)."""
    if k >= n:
        return list(range(n))
    if k == 1:
        return [n // 2]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


@dataclass
class OsuSongReport:
    rows: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # mapper -> one row per case
    errors: dict[str, list[str]] = field(default_factory=dict)  # mapper -> "set/diff: reason"

    def summary(self, mapper: str) -> dict[str, float]:
        rows = self.rows.get(mapper, [])
        if not rows:
            return {}
        out: dict[str, float] = {"cases": float(len(rows))}
        for w in RHYTHM_WINDOWS_MS:
            matched = sum(r[f"matched_{int(w)}"] for r in rows)
            est, ref = sum(r["objects"] for r in rows), sum(r["reference_objects"] for r in rows)
            p, r = matched / est if est else 0.0, matched / ref if ref else 0.0
            out[f"rhythm_f1_{int(w)}ms"] = 2 * p * r / (p + r) if p + r else 0.0
            out[f"rhythm_precision_{int(w)}ms"], out[f"rhythm_recall_{int(w)}ms"] = p, r
        for key in ("stars_error", "stars_abs_error", "circle_share", "slider_share", "spinner_share",
                    "slider_invalid_share", "objects_outside", "path_points_outside", "spacing_wasserstein",
                    "objects_per_second", "seconds"):  # fmt: skip
            vals = [r[key] for r in rows if key in r and math.isfinite(r[key])]
            out[key] = float(np.mean(vals)) if vals else math.nan
        out["stars_within_1"] = float(np.mean([r.get("stars_abs_error", math.inf) <= 1.0 for r in rows]))
        kinds = set()
        for r in rows:
            kinds |= {k for k in ("L", "B", "P", "C") if r.get(f"sliders_{k}", 0) > 0}
        out["slider_kinds"] = float(len(kinds))
        return out

    def markdown(self) -> str:
        figures = [
            ("rhythm F1 +-50 ms", "rhythm_f1_50ms", "{:.3f}"), ("rhythm F1 +-10 ms", "rhythm_f1_10ms", "{:.3f}"),
            ("precision / recall +-50 ms", None, ""), ("objects per second", "objects_per_second", "{:.2f}"),
            ("star error (mean, signed)", "stars_error", "{:+.2f}"), ("star error within 1.0", "stars_within_1", "{:.0%}"),
            ("circle / slider / spinner share", None, ""), ("invalid sliders", "slider_invalid_share", "{:.1%}"),
            ("objects outside the playfield", "objects_outside", "{:.1f}"),
            ("spacing W1 to the human map (px/beat)", "spacing_wasserstein", "{:.1f}"),
            ("seconds per map", "seconds", "{:.1f}"),
        ]  # fmt: skip
        names = list(self.rows)
        lines = ["| figure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        sums = {n: self.summary(n) for n in names}
        for label, key, fmt in figures:
            cells = []
            for n in names:
                s = sums[n]
                if not s:
                    cells.append("-")
                elif label.startswith("precision"):
                    cells.append(f"{s['rhythm_precision_50ms']:.3f} / {s['rhythm_recall_50ms']:.3f}")
                elif label.startswith("circle"):
                    cells.append(
                        f"{s['circle_share']:.2f} / {s['slider_share']:.2f} / {s['spinner_share']:.2f}"
                    )
                else:
                    v = s.get(key or "", math.nan)
                    cells.append("-" if not math.isfinite(v) else fmt.format(v))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def case_figures(m: OsuMap, case: OsuCase, seconds: float) -> dict[str, float]:
    """judge_map against the human map, plus matches (for pooling), the star error and slider kinds."""
    fig = judge_map(m, case.human)
    est, ref = start_times(m), start_times(case.human)
    fig["reference_objects"] = float(len(ref))
    for w in RHYTHM_WINDOWS_MS:
        fig[f"matched_{int(w)}"] = float(count_matches(ref, est, w / 1000.0))
    try:
        stars = osu_stars(m).stars if m.hit_objects else 0.0
        fig["stars"], fig["stars_error"], fig["stars_abs_error"] = (
            stars,
            stars - case.stars,
            abs(stars - case.stars),
        )
    except Exception:
        fig["stars"] = fig["stars_error"] = fig["stars_abs_error"] = math.nan
    span = (case.human.hit_objects[-1].time - case.human.hit_objects[0].time) / 1000.0
    fig["objects_per_second"] = len(m.hit_objects) / max(span, 1e-3)
    for kind in ("L", "B", "P", "C"):
        fig[f"sliders_{kind}"] = float(sum(getattr(o, "curve_type", "") == kind for o in m.hit_objects))
    fig["seconds"] = seconds
    return fig


def evaluate_osu_songs(cases: Sequence[OsuCase], mappers: dict[str, Mapper], log=None) -> OsuSongReport:
    """Every mapper on every case; a mapper's error on a case is recorded, never raised."""
    report = OsuSongReport()
    for case in cases:
        with case.song_file() as song:
            for name, mapper in mappers.items():
                started = time.perf_counter()
                try:
                    m = mapper(song, case.human)
                except Exception as err:
                    report.errors.setdefault(name, []).append(f"{case.set_name}/{case.difficulty}: {err}")
                    continue
                fig = case_figures(m, case, time.perf_counter() - started)
                report.rows.setdefault(name, []).append(fig)
                if log is not None:
                    log(f"{name} {case.set_name}[{case.difficulty}] {case.stars:.2f}*: "
                        f"F1@50 {fig['rhythm_f1_50ms']:.3f}, {fig.get('stars', math.nan):.2f}*, "
                        f"{int(fig['objects'])} objects, {fig['seconds']:.1f} s")  # fmt: skip
    return report


__all__ = ["Mapper", "OsuCase", "OsuSongReport", "evaluate_osu_songs", "osu_cases"]

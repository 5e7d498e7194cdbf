"""Synthetic edit pairs: composed songs edited at bar boundaries by the rules a mapper uses, so the
pointer ground truth is known exactly.

    pair = edit_song(song, rng)                  # an EditPair: raw + edit samples, truth pointers, rules
    write_edit_pair(Path("data/edits"), pair)    # <name>/raw.ogg, edit.ogg, truth.json

Rules (`RULES`), each applied when the song's form allows it: `cut_intro` (start at the first
section after the intro), `drop_chorus` (skip the second chorus), `loop_bars` (play four bars of a
chorus twice), `shorten` (stop at the bar boundary nearest a target length), `fade_out` (the last
two bars fade to silence). Every cut point is a bar start snapped to the editor frame grid, so the
truth pointers (pointers.py) are whole frames and the aligner can recover them exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automapper_ml.atomic import write_bytes_atomic, write_text_atomic
from automapper_ml.editing.pointers import EDIT_FRAME_SECONDS
from automapper_ml.synth.audio import encode_ogg
from automapper_ml.synth.composition import BEATS_PER_BAR, Song

RULES = ("cut_intro", "drop_chorus", "loop_bars", "shorten", "fade_out")
FADE_BARS = 2


@dataclass(frozen=True)
class EditPair:
    name: str
    rate: int
    raw: np.ndarray  # (n,) float32
    edit: np.ndarray  # (m,) float32
    pointers: np.ndarray  # (E,) int64 truth: the raw editor frame each edit frame copies
    gain_db: np.ndarray  # (E,) float32 truth gain (fades)
    rules: tuple[str, ...]

    def truth(self) -> dict:
        return {"name": self.name, "rules": list(self.rules), "frame_seconds": EDIT_FRAME_SECONDS,
                "pointers": self.pointers.tolist(), "gain_db": [round(float(g), 3) for g in self.gain_db]}  # fmt: skip


def bar_frames(song: Song) -> list[tuple[str, int]]:
    """(section name, editor frame) of every bar start of `song`, the frame rounded to the grid."""
    timing = song.timing()
    out = []
    for section in song.sections:
        for bar in range(section.bars):
            second = timing.to_seconds(section.start_beat + bar * BEATS_PER_BAR)
            out.append((section.name, int(round(second / EDIT_FRAME_SECONDS))))
    return out


def plan_runs(
    song: Song, rules: tuple[str, ...], target_seconds: float | None = None
) -> list[tuple[int, int]]:
    """(raw start frame, raw end frame) runs of the edit, in play order."""
    bars = bar_frames(song)
    if bars[0][1] > 0:  # a count-in before the first bar belongs to the intro
        bars = [(song.sections[0].name, 0)] + bars
    names = [n for n, _ in bars]
    frames = [f for _, f in bars] + [int(round(song.timing().to_seconds(song.end_beat) / EDIT_FRAME_SECONDS))]
    keep = list(range(len(bars)))  # bar indices in play order
    if "cut_intro" in rules and names[0] == "intro":
        keep = keep[next((k for k, i in enumerate(keep) if names[i] != "intro"), 0) :]
    choruses = _section_starts(names, "chorus")
    if "drop_chorus" in rules and len(choruses) >= 2:
        first, end = choruses[1], _section_end(names, choruses[1])
        keep = [i for i in keep if not first <= i < end]
    if "loop_bars" in rules and choruses:
        start = choruses[0]
        if _section_end(names, start) - start >= 4:
            at = keep.index(start) + 4
            keep = keep[:at] + list(range(start, start + 4)) + keep[at:]
    if "shorten" in rules and target_seconds:
        lengths = np.cumsum([frames[i + 1] - frames[i] for i in keep]) * EDIT_FRAME_SECONDS
        n = int(np.argmin(np.abs(lengths - target_seconds))) + 1
        keep = keep[: max(n, 4)]
    runs: list[tuple[int, int]] = []
    for i in keep:
        if runs and runs[-1][1] == frames[i]:
            runs[-1] = (runs[-1][0], frames[i + 1])
        else:
            runs.append((frames[i], frames[i + 1]))
    return runs


def _section_starts(names: list[str], name: str) -> list[int]:
    return [i for i, n in enumerate(names) if n == name and (i == 0 or names[i - 1] != name)]


def _section_end(names: list[str], start: int) -> int:
    end = start
    while end < len(names) and names[end] == names[start]:
        end += 1
    return end


def render_runs(raw: np.ndarray, rate: int, runs: list[tuple[int, int]], fade_bars_frames: int = 0):
    """The edit's samples (runs joined at frame-exact points, 12 ms crossfades), its truth pointers
    and gains; with `fade_bars_frames` the last frames fade out linearly to silence."""
    from automapper_ml.editing.assemble import render_pointers

    pointers = np.concatenate([np.arange(a, b) for a, b in runs]).astype(np.int64)
    gain = np.zeros(len(pointers), dtype=np.float32)
    if fade_bars_frames:
        k = min(fade_bars_frames, len(pointers))
        amp = np.linspace(1.0, 0.0, k + 1)[1:]
        gain[-k:] = 20.0 * np.log10(np.maximum(amp, 1e-4))
    edit = render_pointers(raw, rate, pointers, gain)
    return edit, pointers, gain


def edit_song(
    song: Song, raw: np.ndarray, rate: int, rng: np.random.Generator, name: str | None = None
) -> EditPair:
    """A pair from a rendered `song`: 1-3 random rules of RULES (shorten aims at 50-80% of the song)."""
    n_rules = int(rng.integers(1, 4))
    rules = tuple(sorted(rng.choice(len(RULES), size=n_rules, replace=False)))
    chosen = tuple(RULES[i] for i in rules)
    target = float(rng.uniform(0.5, 0.8)) * song.seconds
    runs = plan_runs(song, chosen, target)
    fade = 0
    if "fade_out" in chosen:
        bar = 4 * 60.0 / song.bpm
        fade = int(round(FADE_BARS * bar / EDIT_FRAME_SECONDS))
    edit, pointers, gain = render_runs(raw, rate, runs, fade)
    return EditPair(name or f"song{song.seed}", rate, raw, edit, pointers, gain, chosen)


def write_edit_pair(folder: Path, pair: EditPair) -> Path:
    """<folder>/<name>/raw.ogg, edit.ogg and truth.json, each written whole or not at all."""
    out = Path(folder) / pair.name
    out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out / "raw.ogg", encode_ogg(pair.raw, pair.rate))
    write_bytes_atomic(out / "edit.ogg", encode_ogg(pair.edit, pair.rate))
    write_text_atomic(out / "truth.json", json.dumps(pair.truth(), sort_keys=True))
    return out


def write_edit_demo(folder: Path, songs: list[Song], seed: int = 0, rate: int = 22050) -> list[Path]:
    """One synthetic pair per song under `folder` (edit_song with a per-song generator); a pair whose
    three files are all there already is kept (a killed run resumes)."""
    from automapper_ml.synth.audio import render_song

    out = []
    for song in songs:
        done = Path(folder) / f"song{song.seed}"
        if all((done / f).is_file() for f in ("raw.ogg", "edit.ogg", "truth.json")):
            out.append(done)
            continue
        rng = np.random.default_rng([seed, song.seed, 17])
        pair = edit_song(song, render_song(song, rate), rate, rng, name=f"song{song.seed}")
        out.append(write_edit_pair(folder, pair))
    return out

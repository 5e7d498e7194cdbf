"""How an edited song holds up: its length against the target, whether every join sits on a beat of
the edited song's own grid, and whether any join clicks.

    report = judge_edit(out_mono, joins, target, beats=detect(out_mono))

Beats come from the caller (generation.tempo's grid of the EDITED song), so a join is judged by what
a listener, or a mapper's beat grid, finds in the result. The click measure is editing.assemble's
`join_clicks` (the join's roughness over the raw's at the two places it joins); a join clicks above
CLICK_LIMIT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automapper_ml.audio import SAMPLE_RATE
from automapper_ml.editing.assemble import CLICK_LIMIT, join_clicks

BEAT_TOLERANCE = 0.050  # seconds: a join this close to a beat is on it


@dataclass(frozen=True)
class EditJudgement:
    seconds: float
    target: float
    joins: tuple[float, ...]
    beat_offsets: tuple[float, ...]  # |join - nearest beat| seconds
    clicks: tuple[float, ...]  # join_clicks at each join

    @property
    def on_beat(self) -> bool:
        return all(d <= BEAT_TOLERANCE for d in self.beat_offsets)

    @property
    def click_free(self) -> bool:
        return all(c <= CLICK_LIMIT for c in self.clicks)


def judge_edit(
    mono: np.ndarray,
    raw: np.ndarray,
    joins: list[tuple[float, float, float]],
    target: float,
    beats: np.ndarray,
) -> EditJudgement:
    """Judge mono SAMPLE_RATE `mono`, an edit of `raw` with `joins` ((edit, raw reached, raw jumped
    to) seconds), against `target` and `beats` (seconds of the edit)."""
    beats = np.asarray(beats, dtype=np.float64)
    offsets = tuple(float(np.min(np.abs(beats - j[0]))) if len(beats) else float("inf") for j in joins)
    samples = [tuple(round(t * SAMPLE_RATE) for t in j) for j in joins]
    clicks = tuple(join_clicks(mono, raw, SAMPLE_RATE, samples))  # type: ignore[arg-type]
    return EditJudgement(len(mono) / SAMPLE_RATE, float(target), tuple(j[0] for j in joins), offsets, clicks)

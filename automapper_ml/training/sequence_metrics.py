"""Stage 2 judged on what it generates: quality figures of the RAW decoder output.

`generated_map_metrics` turns one difficulty's decoded objects into flat figures with the shared
`quality_report` (so they mean exactly what they mean for human maps, the demo corpus and
post-processing): colour balance, share of the most common (x, y, direction, colour), distinct
patterns, parity errors per 100 swings (the shared MapCheck-style checker), notes per second, and
arcs and chains per minute.

`evaluate_generation` decodes validation songs with `generation.decoding.decode_song` at their
TRUE onset frames (the human map's groups), so stage 2 is judged alone, without stage-1 errors;
by default each group's timing tokens are forced from the human map too (`force_timing`), so the
figures measure what the model places, not where. Nothing is post-processed: this is the raw
output DESIGN.md asks to report beside the post-processed one. The same figures are computed on
the human groups of the same songs (`human_` keys) as the reference they should approach.

Aggregation over maps: shares are pooled over all notes (colour balance) or note-weighted means of
per-map figures (most common share), parity is total errors per 100 total swings, rates are totals
over total song time; `max_most_common_share` and `min_/max_left_share` give the worst single map.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import polars as pl
import torch

from automapper_ml.audio import FRAME_SECONDS
from automapper_ml.evaluation.quality import quality_report
from automapper_ml.formats.model import BpmChange, Timing
from automapper_ml.generation.decoding import DecodingOptions, decode_song
from automapper_ml.models.sequence import SequenceModel
from automapper_ml.tokenizer import TIMING_TOKENS, DecodedNotes, NoteGroup, decode_notes
from automapper_ml.training.sequence_task import SequenceData, SequenceItem

TEMPO_TOLERANCE = 1e-3  # relative change of beat length that counts as a tempo change


def timing_from_beat_grid(beats: np.ndarray) -> Timing | None:
    """A Timing from the audio store's beat grid ((n,) seconds of whole beats 0, 1, ...), or None
    when it cannot be trusted (under two beats, or a first beat after 0 s, i.e. beats before the
    audio starts were cut off and the beat numbering is unknown)."""
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) < 2 or abs(beats[0]) > 1e-6 or np.any(np.diff(beats) <= 0):
        return None
    lengths = np.diff(beats)
    changes = [
        BpmChange(float(i), 60.0 / float(lengths[i]))
        for i in range(1, len(lengths))
        if abs(lengths[i] - lengths[i - 1]) > TEMPO_TOLERANCE * lengths[i - 1]
    ]
    return Timing.from_changes(60.0 / float(lengths[0]), changes)


def generated_map_metrics(
    decoded: DecodedNotes, timing: Timing | None = None, duration_seconds: float | None = None
) -> dict[str, float]:
    """Flat quality figures of one difficulty's objects (see the module docstring).

    timing turns beats into seconds (None: 120 BPM); duration_seconds is the song's length (rates
    and NPS; None: up to the last note)."""
    report = quality_report(decoded.notes, timing, decoded.bombs, duration_seconds=duration_seconds)
    seconds = (
        duration_seconds
        if duration_seconds is not None
        else (report.notes / report.nps if report.nps else 0.0)
    )
    minutes = seconds / 60.0
    return {
        "notes": float(report.notes),
        "bombs": float(len(decoded.bombs)),
        "walls": float(len(decoded.obstacles)),
        "arcs": float(len(decoded.arcs)),
        "chains": float(len(decoded.chains)),
        "dropped": float(decoded.dropped),
        "swings": float(report.swings),
        "parity_errors": float(report.parity_errors),
        "parity_errors_per_100_swings": report.parity_errors_per_100_swings,
        "left_share": report.left_share,
        "most_common_share": report.most_common_share,
        "distinct_patterns": float(report.distinct_patterns),
        "up_down_share": report.up_down_share,
        "nps": report.nps,
        "arcs_per_minute": len(decoded.arcs) / minutes if minutes > 0 else 0.0,
        "chains_per_minute": len(decoded.chains) / minutes if minutes > 0 else 0.0,
        "seconds": float(seconds),
    }


def aggregate_metrics(per_map: Sequence[dict[str, float]]) -> dict[str, float]:
    """Pool per-map `generated_map_metrics` (see the module docstring for how each figure pools)."""
    if not per_map:
        return {"maps": 0.0, "notes": 0.0}
    total = {k: float(sum(m[k] for m in per_map)) for k in
             ("notes", "bombs", "walls", "arcs", "chains", "dropped", "swings", "parity_errors", "seconds")}  # fmt: skip
    notes = max(total["notes"], 1.0)
    minutes = total["seconds"] / 60.0
    with_notes = [m for m in per_map if m["notes"] > 0] or list(per_map)
    return {
        "maps": float(len(per_map)),
        **{k: v for k, v in total.items() if k != "seconds"},
        "parity_errors_per_100_swings": 100.0 * total["parity_errors"] / max(total["swings"], 1.0),
        "left_share": sum(m["left_share"] * m["notes"] for m in per_map) / notes,
        "min_left_share": min(m["left_share"] for m in with_notes),
        "max_left_share": max(m["left_share"] for m in with_notes),
        "most_common_share": sum(m["most_common_share"] * m["notes"] for m in per_map) / notes,
        "max_most_common_share": max(m["most_common_share"] for m in with_notes),
        "distinct_patterns": float(np.mean([m["distinct_patterns"] for m in with_notes])),
        "up_down_share": sum(m["up_down_share"] * m["notes"] for m in per_map) / notes,
        "nps": total["notes"] / total["seconds"] if total["seconds"] > 0 else 0.0,
        "arcs_per_minute": total["arcs"] / minutes if minutes > 0 else 0.0,
        "chains_per_minute": total["chains"] / minutes if minutes > 0 else 0.0,
    }


def timing_prefix(tokens: Sequence[int]) -> list[int]:
    """The leading timing tokens of a group (DBEATS.. DFRAC)."""
    out = []
    for t in tokens:
        if t not in TIMING_TOKENS:
            break
        out.append(int(t))
    return out


def evaluation_items(data: SequenceData, max_songs: int) -> list[SequenceItem]:
    """Every difficulty of the first `max_songs` songs of `data` (songs in sorted order)."""
    songs = sorted({it.song_id for it in data.items})[: max(0, max_songs)]
    return [it for it in data.items if it.song_id in set(songs)]


@torch.no_grad()
def evaluate_generation(
    model: SequenceModel,
    data: SequenceData | pl.DataFrame | str | os.PathLike,
    root: str | os.PathLike | None = None,
    options: DecodingOptions = DecodingOptions(),
    max_songs: int = 4,
    *,
    split: str = "val",
    zero_audio: bool = False,
    force_timing: bool = True,
    streams: int = 8,
) -> dict[str, float]:
    """Decode every difficulty of up to `max_songs` songs of a split at the human onset frames and
    return the pooled raw-decoder figures, the human maps' figures (`human_` prefix), and
    `incomplete_groups` (share of groups cut by max_length).

    data: an opened SequenceData, or a frame index (DataFrame or parquet path) + root to open
    `split` of; zero_audio: feed silence (the ablation model is judged as it was trained)."""
    if not isinstance(data, SequenceData):
        data = SequenceData(data, root, split, model.config)
    generated, human = [], []
    incomplete = groups_total = 0
    for item in evaluation_items(data, max_songs):
        ids = range(item.first_group, item.first_group + item.n_groups)
        true_groups = [data.group_tokens(g) for g in ids]
        beats = data.group_beat[item.first_group : item.first_group + item.n_groups]
        frames = np.maximum.accumulate(data.group_frame[item.first_group : item.first_group + item.n_groups])
        mel, structure = data.features(item)
        if zero_audio:
            mel, structure = np.zeros_like(mel), np.zeros_like(structure)
        song = decode_song(
            model, mel, structure, frames, item.difficulty, options, streams=streams,
            prefixes=[timing_prefix(g) for g in true_groups] if force_timing else None,
        )  # fmt: skip
        incomplete += sum(not c for c in song.complete)
        groups_total += len(song.complete)
        timing = timing_from_beat_grid(data.beat_grid(item))
        seconds = item.n_frames * FRAME_SECONDS
        made = decode_notes([NoteGroup(float(b), g) for b, g in zip(beats, song.groups, strict=True)])
        truth = decode_notes([NoteGroup(float(b), g) for b, g in zip(beats, true_groups, strict=True)])
        generated.append(generated_map_metrics(made, timing, seconds))
        human.append(generated_map_metrics(truth, timing, seconds))
    out = aggregate_metrics(generated)
    out.update({f"human_{k}": v for k, v in aggregate_metrics(human).items() if k != "maps"})
    out["incomplete_groups"] = incomplete / max(groups_total, 1)
    return out

"""A plain-dict summary of a map (what `automapper inspect` prints and tests compare)."""

from __future__ import annotations

from typing import Any

from automapper_ml.formats.model import BeatMap, Difficulty


def object_counts(diff: Difficulty) -> dict[str, int]:
    """How many objects of each kind a difficulty holds; Noodle fakes apart (and in all: `fake_objects`)."""
    fakes = {
        "fake_notes": len(diff.fake_notes),
        "fake_bombs": len(diff.fake_bombs),
        "fake_walls": len(diff.fake_obstacles),
        "fake_chains": len(diff.fake_chains),
    }
    return {
        "notes": len(diff.notes),
        "bombs": len(diff.bombs),
        "walls": len(diff.obstacles),
        "arcs": len(diff.arcs),
        "chains": len(diff.chains),
        "events": len(diff.events),
        "boosts": len(diff.boosts),
        "bpm_changes": len(diff.bpm_changes),
        "rotations": len(diff.rotations),
        **fakes,
        "fake_objects": sum(fakes.values()),
    }


def summarize_difficulty(
    beatmap: BeatMap, diff: Difficulty, audio_seconds: float | None = None
) -> dict[str, Any]:
    """Counts, duration and NPS of one difficulty (durations/NPS use the model's one definition)."""
    return {
        "version": diff.version,
        **object_counts(diff),
        "light_box_groups": sum(len(v) for v in diff.light_box_groups.values() if isinstance(v, list)),
        "duration_s": round(beatmap.duration_seconds(diff, audio_seconds), 3),
        "nps": round(beatmap.nps(diff, audio_seconds), 3),
        "njs": diff.njs,
        "requirements": list(diff.requirements),
        "unconverted": len(diff.unconverted),
    }


def summarize(beatmap: BeatMap, audio_seconds: float | None = None) -> dict[str, Any]:
    """Map-level metadata plus `difficulties` keyed "Standard/Expert" -> `summarize_difficulty`."""
    return {
        "info_version": beatmap.info_version,
        "title": beatmap.title,
        "subtitle": beatmap.subtitle,
        "artist": beatmap.artist,
        "mapper": beatmap.mapper,
        "bpm": beatmap.bpm,
        "audio_filename": beatmap.audio_filename,
        "audio_duration_s": beatmap.audio_duration,
        "bpm_regions": len(beatmap.bpm_regions),
        "difficulties": {
            d.key: summarize_difficulty(beatmap, d, audio_seconds) for d in beatmap.difficulties
        },
        "unconverted": len(beatmap.unconverted),
    }

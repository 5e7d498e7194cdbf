"""Export a generated map: Info.dat defaults (NJS, offset, environment, Chroma) over `formats.write_map`,
with the song and its cover image.

`encode_song` turns samples into Ogg Vorbis bytes. Encode ONCE per song and pass the same bytes
to every `export_level` call (and whatever else needs the song): Vorbis encoding is the slow
part of export, and one encoding keeps every exported copy byte-identical (stable zip hashes).
Remember to pad the samples first with `tempo.BeatAlignment.pad_audio` so beat 0 is at second 0.

Defaults (documented in generation.options): NJS Easy 10, Normal 10, Hard 12, Expert 16,
ExpertPlus 18 when a difficulty has none (njs <= 0); start-beat offset 0 unless set. The
environment must be one the game ships (KNOWN_ENVIRONMENTS, from bsmap's list of base-game
environments): Chroma light IDs are per environment, so an unknown name is an error, not a
silent fallback. When any light event carries a Chroma colour, "Chroma" is added to the
difficulty's suggestions (not requirements: the map still plays, with plain colours, without it).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from automapper_ml.audio import AudioError, encode_ogg
from automapper_ml.formats.errors import InvalidValueError
from automapper_ml.formats.model import DIFFICULTY_RANKS, BeatMap, Difficulty
from automapper_ml.formats.writer import write_map
from automapper_ml.formats.writer_v3 import difficulty_filename
from automapper_ml.generation.options import DEFAULT_NJS, DEFAULT_OFFSET

# Base-game environments (bsmap 2.2.9 `EnvironmentAllName`; the wiki's info.md names only the first).
KNOWN_ENVIRONMENTS = (
    "DefaultEnvironment", "OriginsEnvironment", "TriangleEnvironment", "NiceEnvironment",
    "BigMirrorEnvironment", "DragonsEnvironment", "KDAEnvironment", "MonstercatEnvironment",
    "CrabRaveEnvironment", "PanicEnvironment", "RocketEnvironment", "GreenDayEnvironment",
    "GreenDayGrenadeEnvironment", "TimbalandEnvironment", "FitBeatEnvironment", "LinkinParkEnvironment",
    "BTSEnvironment", "KaleidoscopeEnvironment", "InterscopeEnvironment", "SkrillexEnvironment",
    "BillieEnvironment", "HalloweenEnvironment", "GagaEnvironment", "WeaveEnvironment", "PyroEnvironment",
    "EDMEnvironment", "TheSecondEnvironment", "LizzoEnvironment", "TheWeekndEnvironment",
    "RockMixtapeEnvironment", "Dragons2Environment", "Panic2Environment", "QueenEnvironment",
    "LinkinPark2Environment", "TheRollingStonesEnvironment", "LatticeEnvironment", "DaftPunkEnvironment",
    "HipHopEnvironment", "ColliderEnvironment", "BritneyEnvironment", "Monstercat2Environment",
    "MetallicaEnvironment", "GlassDesertEnvironment", "MultiplayerEnvironment",
)  # fmt: skip
CHROMA = "Chroma"


def encode_song(samples: np.ndarray, sr: int) -> bytes:
    """(n,) or (n, channels) float samples in -1..1 -> Ogg Vorbis bytes. Raises AudioError on bad input."""
    y = np.asarray(samples, dtype=np.float32)
    if y.ndim not in (1, 2) or y.shape[0] == 0 or (y.ndim == 2 and not 1 <= y.shape[1] <= 2):
        raise AudioError("audio to encode must be a non-empty (n,) or (n, 1 or 2) array")
    if not np.all(np.isfinite(y)):
        raise AudioError("audio to encode has non-finite samples")
    if not (isinstance(sr, int | np.integer) and 8000 <= sr <= 192000):
        raise AudioError(f"sample rate must be an integer between 8000 and 192000, got {sr!r}")
    return encode_ogg(y, int(sr))


def _with_defaults(diff: Difficulty) -> Difficulty:
    njs = diff.njs if diff.njs > 0 else DEFAULT_NJS.get(diff.name, DEFAULT_NJS["Expert"])
    offset = diff.njs_offset if diff.njs_offset else DEFAULT_OFFSET
    suggestions = diff.suggestions
    if any(e.color is not None for e in diff.events) and CHROMA not in diff.requirements + suggestions:
        suggestions = (*suggestions, CHROMA)
    rank = diff.rank if diff.rank in DIFFICULTY_RANKS.values() else DIFFICULTY_RANKS.get(diff.name, diff.rank)
    filename = difficulty_filename(diff)  # the name written: from the fixed vocabulary, never map text
    return replace(
        diff, rank=rank, filename=filename, njs=float(njs), njs_offset=float(offset), suggestions=suggestions
    )


def prepare_beatmap(beatmap: BeatMap) -> BeatMap:
    """A copy of `beatmap` with export defaults filled in (module docstring); checks the environment."""
    env = beatmap.environment_name or "DefaultEnvironment"
    if env not in KNOWN_ENVIRONMENTS:
        raise InvalidValueError(
            f"unknown environment {env!r}; use one of the game's, e.g. DefaultEnvironment"
        )
    for name in beatmap.environment_names:
        if name not in KNOWN_ENVIRONMENTS:
            raise InvalidValueError(f"unknown environment {name!r} in the environment list")
    if not beatmap.difficulties:
        raise InvalidValueError("the map has no difficulty to export")
    return replace(
        beatmap,
        environment_name=env,
        info_version="2.1.0",
        difficulties=[_with_defaults(d) for d in beatmap.difficulties],
    )


def export_level(
    beatmap: BeatMap, audio_ogg: bytes, out: str | os.PathLike, cover: bytes | None = None
) -> Path:
    """Write the map as v3 difficulty files + Info.dat 2.1.0 + song.egg (+ the cover) into `out` (a
    folder, or a zip when it ends in .zip), atomically; returns the path. `audio_ogg` comes from
    `encode_song`; `cover` is JPEG or PNG bytes (`cover.song_cover`), written as cover.jpg / cover.png
    and named by Info.dat (BeatSaver and the song list want one)."""
    return write_map(prepare_beatmap(beatmap), Path(out), audio=audio_ogg, cover=cover, version="3")

"""Small hand-made map zips for the INGEST tests (manifest, blacklist, audit, assets): v2 Info.dat + v3 difficulties + a short Ogg song.

`write_map_zip(raw, "name", difficulties=[DiffSpec(...)], seconds=20)` writes raw/name.zip; each
DiffSpec says how many of each object to place. Hostile zips come from `write_hostile`.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 22050


@dataclass
class DiffSpec:
    name: str = "Expert"
    characteristic: str = "Standard"
    notes: int = 40
    bombs: int = 0
    walls: int = 0
    arcs: int = 0
    chains: int = 0
    events: int = 4
    requirements: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)


def ogg_bytes(seconds: float, freq: float = 440.0, seed: int = 0) -> bytes:
    """A mono Ogg Vorbis tone with a seeded noise burst pattern (distinct seeds -> distinct songs)."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    rng = np.random.default_rng(seed)
    envelope = np.repeat(rng.uniform(0.05, 1.0, int(np.ceil(seconds * 2))), SAMPLE_RATE // 2)[: len(t)]
    audio = (0.4 * np.sin(2 * np.pi * freq * t) * envelope).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, audio, SAMPLE_RATE, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def difficulty_json(spec: DiffSpec, bpm: float, seconds: float) -> dict:
    beats = max(seconds * bpm / 60.0 - 2, 4)

    def beat(i: int, n: int) -> float:
        return round(1 + (beats - 2) * i / max(n, 1), 3)

    return {
        "version": "3.2.0",
        "colorNotes": [
            {"b": beat(i, spec.notes), "x": i % 4, "y": i % 3, "c": i % 2, "d": 1, "a": 0}
            for i in range(spec.notes)
        ],
        "bombNotes": [{"b": beat(i, spec.bombs), "x": 0, "y": 0} for i in range(spec.bombs)],
        "obstacles": [
            {"b": beat(i, spec.walls), "x": 0, "y": 0, "d": 0.5, "w": 1, "h": 5} for i in range(spec.walls)
        ],
        "sliders": [
            {
                "c": 0,
                "b": beat(i, spec.arcs),
                "x": 1,
                "y": 0,
                "d": 1,
                "mu": 1,
                "tb": beat(i, spec.arcs) + 0.5,
                "tx": 1,
                "ty": 1,
                "tc": 0,
                "tmu": 1,
                "m": 0,
            }
            for i in range(spec.arcs)
        ],
        "burstSliders": [
            {
                "c": 1,
                "b": beat(i, spec.chains),
                "x": 2,
                "y": 0,
                "d": 1,
                "tb": beat(i, spec.chains) + 0.25,
                "tx": 2,
                "ty": 2,
                "sc": 4,
                "s": 1,
            }
            for i in range(spec.chains)
        ],
        "basicBeatmapEvents": [
            {"b": beat(i, spec.events), "et": 1, "i": 3, "f": 1} for i in range(spec.events)
        ],
        "colorBoostBeatmapEvents": [],
        "bpmEvents": [],
    }


def info_json(title: str, artist: str, bpm: float, diffs: list[DiffSpec]) -> dict:
    sets: dict[str, list] = {}
    for d in diffs:
        custom = {}
        if d.requirements:
            custom["_requirements"] = d.requirements
        if d.suggestions:
            custom["_suggestions"] = d.suggestions
        sets.setdefault(d.characteristic, []).append(
            {
                "_difficulty": d.name,
                "_difficultyRank": {"Easy": 1, "Normal": 3, "Hard": 5, "Expert": 7, "ExpertPlus": 9}[d.name],
                "_beatmapFilename": f"{d.name}{d.characteristic}.dat",
                "_noteJumpMovementSpeed": 16,
                "_noteJumpStartBeatOffset": 0,
                "_customData": custom,
            }
        )
    return {
        "_version": "2.1.0",
        "_songName": title,
        "_songSubName": "",
        "_songAuthorName": artist,
        "_levelAuthorName": "tester",
        "_beatsPerMinute": bpm,
        "_songTimeOffset": 0,
        "_shuffle": 0,
        "_shufflePeriod": 0.5,
        "_previewStartTime": 0,
        "_previewDuration": 10,
        "_songFilename": "song.egg",
        "_coverImageFilename": "",
        "_environmentName": "DefaultEnvironment",
        "_difficultyBeatmapSets": [
            {"_beatmapCharacteristicName": c, "_difficultyBeatmaps": b} for c, b in sets.items()
        ],
    }


def write_map_zip(
    raw: Path,
    name: str,
    difficulties: list[DiffSpec] | None = None,
    *,
    title: str | None = None,
    artist: str = "Artist",
    seconds: float = 20.0,
    bpm: float = 120.0,
    seed: int | None = None,
    audio: bytes | None = None,
    sidecar: dict | str | None = None,
) -> Path:
    """Write raw/<name>.zip (and raw/<name>.json when `sidecar` is given); returns the zip path."""
    raw.mkdir(parents=True, exist_ok=True)
    diffs = difficulties if difficulties is not None else [DiffSpec()]
    path = raw / f"{name}.zip"
    song = (
        audio
        if audio is not None
        else ogg_bytes(seconds, seed=seed if seed is not None else zlib.crc32(name.encode()) % 1000)
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("Info.dat", json.dumps(info_json(title or name, artist, bpm, diffs)))
        for d in diffs:
            z.writestr(f"{d.name}{d.characteristic}.dat", json.dumps(difficulty_json(d, bpm, seconds)))
        z.writestr("song.egg", song)
    if sidecar is not None:
        text = sidecar if isinstance(sidecar, str) else json.dumps(sidecar)
        (raw / f"{name}.json").write_text(text)
    return path


def record(
    ranked: bool = False, declared_ai: str = "None", automapper: bool = False, score: float = 0.8
) -> dict:
    """A minimal BeatSaver map record for a sidecar."""
    return {
        "id": f"k{int(ranked)}{int(automapper)}{zlib.crc32(declared_ai.encode()) % 100}",
        "ranked": ranked,
        "qualified": False,
        "blRanked": False,
        "blQualified": False,
        "stats": {"score": score, "upvotes": 10, "downvotes": 1},
        "tags": ["pop"],
        "uploaded": "2024-01-01T00:00:00Z",
        "declaredAi": declared_ai,
        "automapper": automapper,
    }


def write_hostile(raw: Path) -> dict[str, str]:
    """Hostile zips in raw/; returns zip name -> the expected blacklist rule."""
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "not_a_zip.zip").write_bytes(b"this is not a zip at all")
    with zipfile.ZipFile(raw / "slip.zip", "w") as z:
        z.writestr("../../evil.txt", "x")
        z.writestr("Info.dat", "{}")
    good = (raw / "slip.zip").read_bytes()
    (raw / "truncated.zip").write_bytes(good[: len(good) // 2])
    with zipfile.ZipFile(raw / "no_info.zip", "w") as z:
        z.writestr("readme.txt", "no map here")
    write_map_zip(raw, "bad_audio", audio=b"OggS" + b"\x00" * 200)
    with zipfile.ZipFile(raw / "bad_json.zip", "w") as z:
        z.writestr("Info.dat", "{not json")
    return {
        "not_a_zip.zip": "not_a_zip",
        "slip.zip": "zip_slip",
        "truncated.zip": "",  # a code from the unsafe-zip family; which one depends on where it is cut
        "no_info.zip": "missing_info",
        "bad_audio.zip": "undecodable_audio",
        "bad_json.zip": "",
    }

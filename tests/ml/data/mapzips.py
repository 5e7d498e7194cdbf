"""Small real map zips built in code for data tests: clicks in the audio on every note."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from automapper_ml.formats import BeatMap, ColorNote, Difficulty, LightEvent, write_map


def click_song(times: list[float], seconds: float, sr: int = 44100) -> bytes:
    x = np.zeros(int(seconds * sr), dtype=np.float32)
    for t in times:
        i = int(t * sr)
        x[i : i + 400] += np.hanning(400).astype(np.float32) * np.sin(np.arange(400) * 0.3).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def make_map_zip(path: Path, seed: int = 0, bpm: float = 120.0, seconds: float = 20.0) -> Path:
    """A map with Standard Expert + Hard, notes on a seeded rhythm, audio clicks on the notes."""
    rng = np.random.default_rng(seed)
    beats = np.sort(rng.choice(np.arange(2, int(seconds * bpm / 60) - 2, 0.5), size=30, replace=False))
    notes = [ColorNote(float(b), int(i % 4), int(i % 3), int(i % 2), int(i % 2)) for i, b in enumerate(beats)]
    events = [LightEvent(float(b), 1, 3) for b in range(0, int(seconds * bpm / 60), 2)]
    diffs = [
        Difficulty("Standard", "Expert", 7, "ExpertStandard.dat", notes=notes, events=events),
        Difficulty("Standard", "Hard", 5, "HardStandard.dat", notes=notes[::2], events=events),
    ]
    beatmap = BeatMap("2.1.0", f"Song {seed}", "Artist", "Mapper", bpm, "song.egg", difficulties=diffs)
    audio = click_song([b * 60 / bpm for b in beats], seconds)
    return write_map(beatmap, path, audio=audio, version="3")

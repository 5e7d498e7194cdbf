"""Export: a generated-like map (tempo -> snap -> post-process -> export) passes bsmap, loads back the same."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from automapper_ml.audio import AudioError
from automapper_ml.evaluation.parity import parity_errors
from automapper_ml.evaluation.quality import quality_report
from automapper_ml.formats import load_map
from automapper_ml.formats.errors import InvalidValueError
from automapper_ml.formats.model import BeatMap, ColorNote, Difficulty, LightEvent
from automapper_ml.generation.export import encode_song, export_level, prepare_beatmap
from automapper_ml.generation.options import PostProcessOptions
from automapper_ml.generation.postprocess import postprocess
from automapper_ml.generation.tempo import beat_timing, detect_tempo, snap_notes
from tests.ml.formats.bsmap import bsmap_issues, failing
from tests.ml.formats.test_writer import assert_same_objects
from tests.ml.generation.test_tempo import click_track

SR = 22050


@pytest.fixture(scope="module")
def song() -> tuple[np.ndarray, bytes, object]:
    """A 20 s click track at 128 BPM, its tempo alignment and its padded Ogg Vorbis (encoded once)."""
    samples = click_track(128, 0.23, seconds=20.0)
    est = detect_tempo(samples, SR)
    align = beat_timing(est.bpm, est.first_beat_seconds)
    return samples, encode_song(align.pad_audio(samples, SR), SR), align


def generated_map(align, seed: int = 0) -> BeatMap:
    """Messy 'model output': notes at onset-ish times (seconds), random cells and arrows, snapped to the grid."""
    rng = random.Random(seed)
    diffs = []
    for name, count in (("Hard", 50), ("ExpertPlus", 110)):
        times = sorted(rng.uniform(0.5, 18.5) for _ in range(count))
        notes = [
            ColorNote(
                float(align.to_beats(t)),
                rng.randint(0, 3),
                rng.randint(0, 2),
                rng.randint(0, 1),
                rng.randint(0, 8),
            )
            for t in times
        ]
        events = [LightEvent(float(b), 1, 1) for b in range(2, 30, 2)]
        diffs.append(Difficulty("Standard", name, 0, "", notes=snap_notes(notes), events=events))
    return BeatMap("2.1.0", "Clicks", "Metronome", "automapper", align.bpm, "song.egg", difficulties=diffs)


def polished(beatmap: BeatMap, options: PostProcessOptions) -> BeatMap:
    beatmap.difficulties = [
        postprocess(d, beatmap.timing(d), options, duration_seconds=20.0)[0] for d in beatmap.difficulties
    ]
    return beatmap


def test_export_passes_bsmap_and_loads_back(tmp_path: Path, song) -> None:
    _, ogg, align = song
    options = PostProcessOptions(chroma_palette=((1.0, 0.2, 0.2), (0.2, 0.2, 1.0)), bomb_density="low")
    beatmap = polished(generated_map(align), options)
    zipped = export_level(beatmap, ogg, tmp_path / "level.zip")
    folder = export_level(beatmap, ogg, tmp_path / "level")
    assert zipped.is_file() and folder.is_dir()
    with zipfile.ZipFile(zipped) as zf:
        assert sorted(zf.namelist()) == ["ExpertPlusStandard.dat", "HardStandard.dat", "Info.dat", "song.egg"]
        assert zf.read("song.egg") == ogg
    loaded = load_map(zipped)
    expected = prepare_beatmap(beatmap)
    assert_same_objects(expected, loaded)
    for d in loaded.difficulties:
        assert d.njs == {"Hard": 12.0, "ExpertPlus": 18.0}[d.name] and d.njs_offset == 0.0
        assert "Chroma" in d.suggestions
        timing = loaded.timing(d)
        assert parity_errors(d.notes, timing, d.bombs) == []
        assert quality_report(d.notes, timing).off_beat_share == 0.0  # snapped to 1/8 and 1/6
    report = bsmap_issues(sorted(folder.glob("*.dat")))
    assert len(report) == 3 and failing(report) == {}


def test_encoded_song_decodes_with_the_padding(song) -> None:
    samples, ogg, align = song
    assert ogg.startswith(b"OggS")
    decoded, rate = sf.read(io.BytesIO(ogg), dtype="float32")
    assert rate == SR
    assert abs(len(decoded) - (len(samples) + round(align.pad_seconds * SR))) <= 1
    # the first click now sits on an integer beat of the map's timing
    onset = int(np.argmax(np.abs(decoded) > 0.3)) / SR
    beat = align.timing.to_beats(onset)
    assert abs(beat - round(beat)) * 60.0 / align.bpm < 0.02


def test_bad_input_is_a_typed_error(tmp_path: Path, song) -> None:
    _, ogg, align = song
    beatmap = generated_map(align)
    beatmap.environment_name = "MoonEnvironment"
    with pytest.raises(InvalidValueError):
        export_level(beatmap, ogg, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()
    beatmap.environment_name = "BillieEnvironment"
    assert prepare_beatmap(beatmap).environment_name == "BillieEnvironment"
    with pytest.raises(InvalidValueError):
        export_level(beatmap, b"RIFF....", tmp_path / "y.zip")
    for bad in (np.zeros(0), np.array([0.0, np.inf]), np.zeros((10, 5))):
        with pytest.raises(AudioError):
            encode_song(bad, SR)

"""generate_level end to end with tiny random-weight checkpoints on a synthetic song: the zip loads,
passes bsmap (when installed), has zero parity errors, every object on the 1/8 or 1/6 grid, and the
result reports tempo, raw and final quality, post-processing and timings; plus the typed errors."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from automapper_ml.audio import AudioError, load_audio
from automapper_ml.evaluation.parity import parity_errors
from automapper_ml.evaluation.quality import off_beat_mask
from automapper_ml.formats import load_map
from automapper_ml.formats.errors import InvalidValueError
from automapper_ml.generation.decoding import DecodingOptions
from automapper_ml.generation.export import encode_song
from automapper_ml.generation.level import (
    GenerationResult,
    generate_level,
    snapped_onsets,
    song_audio,
    timing_prefixes,
)
from automapper_ml.generation.lighting import LightingOptions
from automapper_ml.generation.models import MissingModelsError, ModelLoadError, find_checkpoints, load_models
from automapper_ml.generation.options import GenerationOptions, PostProcessOptions
from automapper_ml.generation.tempo import beat_timing
from automapper_ml.models.lighting import LightingConfig, LightingModel
from automapper_ml.models.onset import OnsetConfig, OnsetModel, predict_song
from automapper_ml.models.sequence import SequenceConfig, SequenceModel
from automapper_ml.synth.audio import render_song
from automapper_ml.synth.composition import compose_song
from automapper_ml.tokenizer import DBEATS0, DFRAC0, TICKS_PER_BEAT
from automapper_ml.training.loop import save_checkpoint
from tests.ml.formats.bsmap import bsmap_issues, bsmap_unavailable_reason, failing

ONSET = OnsetConfig(channels=8, tcn_blocks=2, transformer_layers=1, heads=2, window=128)
SONG_SECONDS = 12.0
# Random weights wander through the grammar until the budget ends a group: cap groups near a
# trained model's length (timing + two notes + EOS) so the test is fast and the maps plausible.
DECODING = DecodingOptions(max_length=12)
LIGHTING = LightingOptions(max_group_tokens=12)


def write_song(path: Path, seed: int = 3, seconds: float = SONG_SECONDS) -> tuple[Path, float]:
    """A synthetic song (drums, bass, chords) at 44.1 kHz; returns (path, its true BPM)."""
    song = compose_song(seed, seconds)
    sf.write(path, render_song(song), 44100)
    return path, song.bpm


def make_models_dir(root: Path, song: Path | None = None, onsets_per_second: float = 3.0) -> Path:
    """<root>/{onset,sequence,lighting}/best.pt: tiny random-weight models saved as the pipeline does.

    With a song, the onset threshold (stored as the tuned one) is set so every difficulty gets about
    `onsets_per_second` peaks on it: a random curve has no trained threshold."""
    torch.manual_seed(0)
    onset = OnsetModel(ONSET).eval()
    with torch.no_grad():
        onset.out.weight.mul_(20.0)  # a lively curve: plenty of local maxima to pick
    threshold = 0.5
    if song is not None:
        from automapper_ml.audio import compute_features

        feats = compute_features(load_audio(song))
        limits = []
        for diff in range(5):
            curve = predict_song(onset, feats.mel, feats.structure, diff)
            peaks = np.sort(curve[_peak_frames(curve)])[::-1]
            want = int(onsets_per_second * feats.duration)
            limits.append(float(peaks[min(want, len(peaks) - 1)]))
        threshold = min(limits)
    save_checkpoint(
        root / "onset" / "best.pt",
        {"stage": "onset", "model_config": {"model": ONSET.to_dict()}, "model": onset.state_dict(),
         "best_epoch": 0, "history": [{"epoch": 0, "threshold": threshold}]},
    )  # fmt: skip
    seq = SequenceModel(SequenceConfig.preset("tiny"))
    save_checkpoint(
        root / "sequence" / "best.pt",
        {"stage": "sequence", "model_config": {"model": seq.config.to_dict()}, "model": seq.state_dict()},
    )
    light = LightingModel(LightingConfig.preset("tiny"))
    save_checkpoint(
        root / "lighting" / "best.pt",
        {"stage": "lighting", "model_config": {"model": light.config.to_dict()}, "model": light.state_dict()},
    )
    return root


def _peak_frames(curve: np.ndarray) -> np.ndarray:
    left, right = np.r_[-np.inf, curve[:-1]], np.r_[curve[1:], -np.inf]
    return np.flatnonzero((curve > left) & (curve >= right))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("level")
    song, bpm = write_song(root / "song.flac")
    return song, bpm, make_models_dir(root / "models", song)


@pytest.fixture(scope="module")
def generated(setup, tmp_path_factory) -> tuple[GenerationResult, float]:
    song, bpm, models = setup
    out = tmp_path_factory.mktemp("out") / "level.zip"
    options = GenerationOptions(postprocess=PostProcessOptions(chroma_palette=((1, 0, 0), (0, 0, 1))))
    result = generate_level(
        song,
        ("ExpertPlus", "Hard"),
        options,
        models=models,
        out=out,
        seed=1,
        decoding=DECODING,
        lighting=LIGHTING,
    )
    return result, bpm


def test_zip_loads_passes_bsmap_and_plays(generated, setup, tmp_path):
    result, _ = generated
    assert result.path is not None and result.path.is_file()
    with zipfile.ZipFile(result.path) as zf:
        assert sorted(zf.namelist()) == [
            "ExpertPlusStandard.dat", "HardStandard.dat", "Info.dat", "cover.jpg", "song.egg",
        ]  # fmt: skip
        zf.extractall(tmp_path / "level")
    loaded = load_map(result.path)
    assert loaded.cover_filename == "cover.jpg"
    assert [d.name for d in loaded.difficulties] == ["Hard", "ExpertPlus"]  # in rank order
    assert loaded.bpm == pytest.approx(result.alignment.bpm)
    assert loaded.environment_name == "DefaultEnvironment" and loaded.info_version == "2.1.0"
    for d in loaded.difficulties:
        assert d.njs == {"Hard": 12.0, "ExpertPlus": 18.0}[d.name]
        assert len(d.notes) > 10, "the random models should still place notes"
        timing = loaded.timing(d)
        assert parity_errors(d.notes, timing, d.bombs) == []
        starts = [o.beat for o in (*d.notes, *d.bombs, *d.obstacles, *d.arcs, *d.chains)]
        starts += [a.tail_beat for a in d.arcs]
        assert not off_beat_mask(np.array(starts), timing, (8, 6), 1e-6).any(), "objects off the beat grid"
        assert d.events and "Chroma" in d.suggestions
    # the exported song is the original audio with the alignment's padding in front
    samples, rate = sf.read(tmp_path / "level" / "song.egg", dtype="float32")
    original, _ = sf.read(setup[0], dtype="float32")
    assert rate == 44100
    assert abs(len(samples) - len(original) - round(result.alignment.pad_seconds * rate)) <= 1
    reason = bsmap_unavailable_reason()
    if reason is None:
        report = bsmap_issues(sorted((tmp_path / "level").glob("*.dat")))
        assert len(report) == 3 and failing(report) == {}


def test_result_reports_tempo_quality_and_timings(generated):
    result, bpm = generated
    assert result.tempo.source == "detected" and result.tempo.confidence > 0.5
    ratio = result.tempo.bpm / bpm
    assert min(abs(ratio - r) for r in (0.5, 1.0, 2.0)) < 0.01, (result.tempo.bpm, bpm)
    assert set(result.seconds) >= {"decode", "tempo", "features", "encode_wait", "export"}
    assert result.encode_seconds > 0 and result.total_seconds > 0
    assert result.duration_seconds == pytest.approx(SONG_SECONDS + result.alignment.pad_seconds, abs=0.01)
    assert [d.name for d in result.difficulties] == ["Hard", "ExpertPlus"]
    for d in result.difficulties:
        assert set(d.seconds) == {"onsets", "notes", "lights", "postprocess"}
        assert d.onsets >= d.raw_quality.swings // 2 > 0
        assert d.raw_quality.notes >= d.notes == d.quality.notes
        assert d.quality.parity_errors == 0 and d.postprocess.parity_errors_after == 0
        assert d.quality.off_beat_share == 0.0 and d.raw_quality.off_beat_share == 0.0
        assert 0.0 <= d.postprocess.notes_changed_share <= 1.0
        assert d.light_events > 0
        line = d.summary()
        assert line.startswith(f"{d.name}: {d.notes} notes, ") and "NPS" in line and "parity errors" in line
        assert "\n" not in line
    stages = result.stage_seconds()
    assert set(stages) >= {"tempo", "features", "onsets", "notes", "lights", "postprocess", "export"}


def test_same_seed_same_map_and_user_tempo(setup):
    song, _, models = setup
    loaded = load_models(models)
    options = GenerationOptions(bpm=120.0, first_beat_seconds=0.25)
    runs = [
        generate_level(song, ["Expert"], options, models=loaded, seed=5, decoding=DECODING, lighting=LIGHTING)
        for _ in range(2)
    ]
    a, b = (r.beatmap.difficulties[0] for r in runs)
    assert runs[0].path is None and "encode_wait" not in runs[0].seconds
    assert a.notes == b.notes and a.bombs == b.bombs and a.events == b.events
    tempo = runs[0].tempo
    assert tempo.source == "user" and tempo.bpm == 120.0 and tempo.first_beat_seconds == 0.25
    # user beat phase 0.25 s at 120 BPM: 0.25 s of padding puts that beat on map beat 1
    assert runs[0].alignment.pad_seconds == pytest.approx(0.25) and runs[0].alignment.first_beat == 1


def test_snapped_onsets_and_forced_timing():
    align = beat_timing(120.0, 0.1)  # beat 1 at 0.5 s of padded audio
    # padded seconds: 0.5 -> beat 1; 0.51 -> 1.02 snaps to 1 (merged); 0.5625 -> 1.125 (1/8); 0.5833 -> 1 1/6
    times = np.array([0.5, 0.51, 0.5625, 0.58333, 3.0, 99.0])
    ticks = snapped_onsets(times, align, (8, 6), duration_seconds=10.0)
    assert ticks.tolist() == [48, 54, 56, 288]  # 99 s lies beyond the song
    prefixes = timing_prefixes(ticks)
    assert prefixes[0] == [DBEATS0 + 1, DFRAC0 + 0]
    assert prefixes[1] == [DFRAC0 + 6] and prefixes[2] == [DFRAC0 + 2]
    assert prefixes[3] == [DBEATS0 + 4, DFRAC0 + 40]
    gaps = [sum((t - DBEATS0) * TICKS_PER_BEAT if t < DFRAC0 else t - DFRAC0 for t in p) for p in prefixes]
    assert np.cumsum(gaps).tolist() == ticks.tolist()


def test_song_audio_matches_load_audio(setup):
    song, _, _ = setup
    decoded = song_audio(song)
    assert decoded.rate == 44100 and decoded.native.shape[1] == 1
    assert np.array_equal(decoded.mono, load_audio(song))


def test_errors_are_typed_one_liners(setup, tmp_path):
    song, _, models = setup
    with pytest.raises(MissingModelsError) as err:
        generate_level(song, ["Expert"], models=tmp_path / "none")
    msg = str(err.value)
    assert "\n" not in msg and "scripts/demo.sh" in msg
    for stage in ("onset", "sequence", "lighting"):
        assert str(tmp_path / "none" / stage / "best.pt") in msg
    (tmp_path / "bad.ogg").write_bytes(b"not audio at all")
    with pytest.raises(AudioError) as err:
        generate_level(tmp_path / "bad.ogg", ["Expert"], models=models)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="unknown difficulty"):
        generate_level(song, ["Impossible"], models=models)
    with pytest.raises(InvalidValueError, match="unknown environment"):
        generate_level(song, ["Expert"], GenerationOptions(environment_name="Moon"), models=models)
    # a champion is preferred over best.pt; a broken one is a ModelLoadError
    broken = tmp_path / "m"
    make_models_dir(broken)
    assert find_checkpoints(broken)["onset"].name == "best.pt"
    (broken / "onset" / "champion.pt").write_bytes(b"junk")
    assert find_checkpoints(broken)["onset"].name == "champion.pt"
    with pytest.raises(ModelLoadError, match="not a readable checkpoint"):
        load_models(broken)


def test_long_songs_encode_in_blocks():
    """libsndfile's Vorbis encoder segfaults on one write of minutes of audio: encode_song does not."""
    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal(22050 * 200)).astype(np.float32)
    data = encode_song(samples, 22050)
    decoded, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert rate == 22050 and len(decoded) == len(samples)
    with pytest.raises(AudioError):
        encode_song(np.full(22050 * 3, np.nan, dtype=np.float32), 22050)


def test_up_down_heavy_difficulty_is_decoded_again_with_a_stronger_bias(setup, monkeypatch):
    """Over UP_DOWN_LIMIT, the default bias is stepped up to UP_DOWN_RETRIES times and the map with the
    lowest up+down share is kept; a caller's own bias is used once, as given."""
    from automapper_ml.generation import level

    song, _, models = setup
    loaded = load_models(models)
    seen: list[float] = []
    real = level.decode_song

    def spy(*args, **kwargs):
        seen.append(args[5].up_down_bias)
        return real(*args, **kwargs)

    monkeypatch.setattr(level, "decode_song", spy)
    monkeypatch.setattr(level, "UP_DOWN_LIMIT", -1.0)  # never met: every retry runs
    result = generate_level(song, ["Expert"], GenerationOptions(), models=loaded, seed=2,
                            decoding=DECODING, lighting=LIGHTING)  # fmt: skip
    base = level.UP_DOWN_BIAS["Expert"]
    assert seen == pytest.approx([base - k * level.UP_DOWN_STEP for k in range(level.UP_DOWN_RETRIES + 1)])
    assert result.difficulties[0].raw_quality.up_down_share <= 1.0

    seen.clear()
    generate_level(song, ["Expert"], GenerationOptions(), models=loaded, seed=2,
                   decoding=replace(DECODING, up_down_bias=-0.5), lighting=LIGHTING)  # fmt: skip
    assert seen == [-0.5]

    # a limit already met: one decode at the default bias
    seen.clear()
    monkeypatch.setattr(level, "UP_DOWN_LIMIT", 1.0)
    generate_level(song, ["Expert"], GenerationOptions(), models=loaded, seed=2,
                   decoding=DECODING, lighting=LIGHTING)  # fmt: skip
    assert seen == pytest.approx([base])


def test_too_short_or_silent_songs_are_refused_in_one_line(setup):
    """A 1-second song and 20 s of digital silence (or faint hiss at -60 dBFS) are AudioErrors before
    any model runs, never a map of notes on nothing; a quiet but real song (-30 dBFS) still maps."""
    from automapper_ml.generation.level import check_mappable
    from automapper_ml.limits import MIN_GENERATE_SECONDS, SILENT_PEAK_DBFS

    song, _, models = setup
    rate = 22050
    with pytest.raises(AudioError, match=f"at least {MIN_GENERATE_SECONDS:g} s"):
        generate_level(np.zeros(rate, dtype=np.float32) + 0.1, ["Expert"], models=models, sample_rate=rate)
    with pytest.raises(AudioError, match="silent"):
        generate_level(np.zeros(20 * rate, dtype=np.float32), ["Expert"], models=models, sample_rate=rate)
    hiss = np.random.default_rng(0).normal(0, 10 ** (-60 / 20), 20 * rate).astype(np.float32)
    with pytest.raises(AudioError, match=f"under {SILENT_PEAK_DBFS:g}"):
        check_mappable(hiss)
    quiet = load_audio(song) * np.float32(
        10 ** (-30 / 20) / max(1e-9, float(np.sqrt((load_audio(song) ** 2).mean())))
    )
    check_mappable(quiet)  # no error

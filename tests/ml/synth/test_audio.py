"""Songs: composed like 4/4 pop, rendered with sharp level-varied hits, encoded to identical bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from automapper_ml.synth.audio import SAMPLE_RATE, encode_ogg, fix_ogg_serial, render_song
from automapper_ml.synth.composition import MAX_BPM, MIN_BPM, compose_song


@pytest.fixture(scope="module")
def song():
    return compose_song(11, 30.0, bpm_change=True)


def test_compose_is_deterministic_and_exactly_as_long_as_asked(song):
    again = compose_song(11, 30.0, bpm_change=True)
    assert again == song
    assert song.seconds == 30.0
    assert compose_song(12, 30.0) != song


def test_groove_kick_on_one_and_three_snare_on_two_and_four_hats_on_eighths(song):
    verses = [s for s in song.sections if s.name in ("verse", "chorus")]
    assert verses, "a 30 s song has a verse or a chorus"
    section = verses[0]
    bar = section.start_beat  # first bar: no fill
    at = {(h.beat - bar, h.drum) for h in song.hits if bar <= h.beat < bar + 4}
    assert {(0.0, "kick"), (2.0, "kick"), (1.0, "snare"), (3.0, "snare")} <= at
    hats = sorted(b for b, d in at if d in ("hat", "open_hat"))
    assert hats == [i * 0.5 for i in range(8)]
    velocities = {h.velocity for h in song.hits if h.drum == "hat"}
    assert len(velocities) > 10  # accents and human variation, not one level
    on = np.mean([h.velocity for h in song.hits if h.drum == "hat" and h.beat == int(h.beat)])
    off = np.mean([h.velocity for h in song.hits if h.drum == "hat" and h.beat != int(h.beat)])
    assert on > off  # downbeats accented


def test_sections_vary_energy_and_fills_lead_into_sections(song):
    names = [s.name for s in song.sections]
    assert names[0] == "intro" and "verse" in names
    assert len({s.energy for s in song.sections}) >= 3
    sixteenths = [h for h in song.hits if h.drum == "snare" and (h.beat * 4) % 2 == 1]
    assert sixteenths, "a snare fill has off-eighth sixteenths"


def test_tempo_range_and_bpm_changes_at_section_starts():
    tempos, changed = [], 0
    for seed in range(40):
        s = compose_song(seed, 40.0, bpm_change=seed % 2 == 0)
        tempos.append(s.bpm)
        starts = {sec.start_beat for sec in s.sections}
        for change in s.bpm_changes:
            assert change.beat in starts
            assert MIN_BPM <= change.bpm <= MAX_BPM
        changed += bool(s.bpm_changes)
    assert min(tempos) >= MIN_BPM and max(tempos) <= MAX_BPM
    assert max(tempos) - min(tempos) > 60  # the whole range is used
    assert changed >= 15


def test_render_has_sharp_attacks_on_kicks(song):
    samples = render_song(song)
    assert samples.dtype == np.float32 and samples.shape == (int(30.0 * SAMPLE_RATE),)
    assert 0.5 <= np.max(np.abs(samples)) <= 1.0
    window = int(0.01 * SAMPLE_RATE)
    ratios = []
    for hit, second in zip(song.hits, song.hit_seconds(), strict=True):
        i = int(round(second * SAMPLE_RATE))
        if hit.drum == "kick" and i > window:
            before = np.sqrt(np.mean(samples[i - window : i] ** 2))
            after = np.sqrt(np.mean(samples[i : i + window] ** 2))
            ratios.append(after / (before + 1e-6))
    assert np.median(ratios) > 3.0


def test_ogg_is_byte_identical_and_decodes_at_44k(song):
    samples = render_song(song)
    first, second = encode_ogg(samples), encode_ogg(samples)
    assert first == second
    decoded, rate = sf.read(io.BytesIO(first))
    assert rate == SAMPLE_RATE == 44100
    assert len(decoded) == len(samples)
    assert np.corrcoef(decoded, samples)[0, 1] > 0.95


def test_fix_ogg_serial_rewrites_serials_with_valid_checksums():
    data = encode_ogg(np.zeros(SAMPLE_RATE, dtype=np.float32))
    other = fix_ogg_serial(data, 1234)
    assert other != data and other[14:18] == (1234).to_bytes(4, "little")
    assert len(sf.read(io.BytesIO(other))[0]) == SAMPLE_RATE  # libvorbis checks page CRCs
    with pytest.raises(ValueError):
        fix_ogg_serial(b"not ogg at all, no pages here", 1)


@pytest.mark.slow
def test_a_four_minute_song_encodes_and_decodes():
    """The longest songs the issue asks for: libsndfile crashed on one huge Vorbis write."""
    long_song = compose_song(5, 240.0, bpm_change=True)
    data = encode_ogg(render_song(long_song))
    info = sf.info(io.BytesIO(data))
    assert info.samplerate == SAMPLE_RATE and info.duration == pytest.approx(240.0, abs=1e-3)
    assert {s.name for s in long_song.sections} >= {"intro", "verse", "chorus", "breakdown", "outro"}

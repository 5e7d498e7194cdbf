"""The written demo corpus: zips that read back whole, notes on rendered hits, sidecars, references."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from automapper_ml.evaluation.quality import quality_report
from automapper_ml.formats.reader import load_map
from automapper_ml.formats.summary import object_counts
from automapper_ml.synth import DemoConfig, build_map, generate_demo_corpus, plan_corpus
from automapper_ml.synth.corpus import compose
from tests.ml.synth.conftest import SMALL

# The object_counts entries a written map must read back with.
COUNTED = ("notes", "bombs", "walls", "arcs", "chains", "events", "boosts", "fake_notes")


def _counts(diff) -> dict[str, int]:
    counts = object_counts(diff)
    return {key: counts[key] for key in COUNTED}


def test_every_map_reads_back_with_its_counts(demo):
    _, plans, _ = plan_corpus(SMALL)
    assert len(demo.maps) == len(plans) >= 5
    by_stem = {plan.stem: plan for plan in plans}
    for written in demo.maps:
        plan = by_stem[written.path.stem]
        expected = build_map(plan, compose(plan.song))
        read = load_map(written.path)
        assert (read.title, read.mapper) == (expected.title, expected.mapper)
        assert [d.key for d in read.difficulties] == [d.key for d in expected.difficulties]
        for got, want in zip(read.difficulties, expected.difficulties, strict=True):
            assert _counts(got) == _counts(want), got.key
            assert (got.requirements, got.suggestions) == (want.requirements, want.suggestions)
        assert not read.unconverted


def test_notes_land_within_10_ms_of_a_rendered_drum_hit(demo):
    songs = {s.key: s for s in demo.songs}
    checked = 0
    for written in demo.maps:
        onsets = np.asarray(songs[written.song_key].onsets)
        beatmap = load_map(written.path)
        for diff in beatmap.difficulties:
            timing = beatmap.timing(diff)
            seconds = np.array([timing.to_seconds(n.beat) for n in diff.notes])
            if len(seconds) == 0:
                continue
            idx = np.clip(np.searchsorted(onsets, seconds), 1, len(onsets) - 1)
            nearest = np.minimum(np.abs(onsets[idx] - seconds), np.abs(onsets[idx - 1] - seconds))
            assert nearest.max() <= 0.010, (written.path.name, diff.key, nearest.max())
            checked += len(seconds)
    assert checked > 500


def test_bpm_changes_are_in_the_songs_and_in_the_map_timing(demo):
    changed = {s.key for s in demo.songs if s.bpm_changes}
    assert changed and len(changed) < len(demo.songs)
    for written in demo.maps:
        beatmap = load_map(written.path)
        standard = next(d for d in beatmap.difficulties if d.characteristic == "Standard")
        tempos = len(beatmap.timing(standard).segments)
        assert (tempos > 1) == (written.song_key in changed), written.path.name


def test_good_maps_play_well(demo):
    for written in demo.maps:
        beatmap = load_map(written.path)
        standard = [d for d in beatmap.difficulties if d.characteristic == "Standard"]
        assert 2 <= len(standard) <= 5
        assert {"Expert", "ExpertPlus"} & {d.name for d in standard}
        cells, left, total = set(), 0, 0
        nps = []
        for diff in standard:
            q = quality_report(diff.notes, beatmap.timing(diff), diff.bombs)
            assert q.parity_errors == 0, (written.path.name, diff.key)
            assert q.most_common_share < 0.25
            cells |= {(n.x, n.y) for n in diff.notes}
            left += sum(n.color == 0 for n in diff.notes)
            total += len(diff.notes)
            nps.append(beatmap.nps(diff))
        assert len(cells) == 12
        assert 0.4 <= left / total <= 0.6
        assert nps == sorted(nps) and max(nps) * 60 < 2000


def test_songs_decode_at_44k_and_remaps_share_the_audio(demo):
    by_song: dict[str, list] = {}
    for written in demo.maps:
        with zipfile.ZipFile(written.path) as zf:
            audio = zf.read("song.egg")
        samples, rate = sf.read(io.BytesIO(audio))
        assert rate == 44100
        song = next(s for s in demo.songs if s.key == written.song_key)
        assert len(samples) / rate == pytest.approx(song.seconds, abs=1e-3)
        assert song.seconds >= 30.0
        by_song.setdefault(written.song_key, []).append((written.mapper, hashlib.sha256(audio).hexdigest()))
    twice = [maps for maps in by_song.values() if len(maps) == 2]
    assert twice, "some songs are mapped twice"
    for (mapper_a, audio_a), (mapper_b, audio_b) in twice:
        assert mapper_a != mapper_b and audio_a == audio_b


def test_sidecars_are_beatsaver_records_of_their_zip(demo):
    with_sidecar = [m for m in demo.maps if m.sidecar is not None]
    assert with_sidecar
    for written in with_sidecar:
        assert written.sidecar == written.path.with_suffix(".json")
        record = json.loads(written.sidecar.read_text())
        for key in ("id", "name", "uploader", "metadata", "stats", "uploaded", "automapper", "declaredAi"):
            assert key in record
        assert record["declaredAi"] == "None" and record["automapper"] is False
        assert isinstance(record["ranked"], bool) and isinstance(record["blRanked"], bool)
        assert 0.0 <= record["stats"]["score"] <= 1.0
        assert record["uploaded"].endswith("Z") and record["uploaded"][:2] == "20"
        version = record["versions"][0]
        assert version["hash"] == hashlib.sha1(written.path.read_bytes()).hexdigest()
        assert version["downloadURL"].endswith(version["hash"] + ".zip")
        assert {(d["characteristic"], d["difficulty"]) for d in version["diffs"]} == {
            tuple(k.split("/")) for k in written.difficulties
        }
        assert record["metadata"]["levelAuthorName"] == written.mapper


def test_all_versions_and_categories_appear():
    _, maps, _ = plan_corpus(DemoConfig())
    assert Counter(m.version for m in maps).keys() == {"2", "3", "4"}
    _, many, _ = plan_corpus(DemoConfig(n_songs=80))
    assert any(m.chroma and set(m.chroma) != set(m.difficulties) for m in many)  # categories differ
    assert any(m.noodle for m in many) and any(m.lawless for m in many) and any(m.lightshow for m in many)
    for m in many:
        if m.noodle:  # never noodle-only: a vanilla Expert/ExpertPlus stays trainable
            assert {"Expert", "ExpertPlus"} - set(m.noodle)
        if m.version == "4":
            assert not m.chroma and not m.noodle  # v4 files cannot carry mod data
    assert sum(m.ranked for m in many) > 0 and sum(m.sidecar for m in many) < len(many)


def test_reference_songs_are_new_songs_with_a_human_map(demo):
    assert len(demo.references) == SMALL.n_reference
    raw_audio = set()
    for written in demo.maps:
        with zipfile.ZipFile(written.path) as zf:
            raw_audio.add(hashlib.sha256(zf.read("song.egg")).hexdigest())
    raw_titles = {s.title for s in demo.songs}
    for folder in demo.references:
        audio = (folder / "song.egg").read_bytes()
        assert hashlib.sha256(audio).hexdigest() not in raw_audio
        assert sf.info(io.BytesIO(audio)).samplerate == 44100
        beatmap = load_map(folder / "map")
        assert beatmap.title not in raw_titles
        assert {"Expert", "ExpertPlus"} <= {d.name for d in beatmap.difficulties}


@pytest.mark.slow
def test_same_seed_writes_byte_identical_files(tmp_path):
    config = DemoConfig(seed=9, n_songs=1, n_reference=1, share_twice_mapped=1.0)
    a = generate_demo_corpus(tmp_path / "a", config)
    b = generate_demo_corpus(tmp_path / "b", config)

    def digests(root):
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    first, second = digests(a.home), digests(b.home)
    assert first == second
    assert len([name for name in first if name.endswith(".zip")]) == len(a.maps) + len(a.broken)
    other = generate_demo_corpus(
        tmp_path / "c", DemoConfig(seed=10, n_songs=1, n_reference=0, include_broken=False)
    )
    assert not set(digests(other.home).values()) & set(first.values())


def test_config_rejects_nonsense():
    with pytest.raises(ValueError):
        DemoConfig(min_seconds=50, max_seconds=40)
    with pytest.raises(ValueError):
        DemoConfig(min_seconds=10)
    with pytest.raises(ValueError):
        DemoConfig(n_songs=-1)
    with pytest.raises(ValueError):
        DemoConfig(version_weights=(0, 0, 0))

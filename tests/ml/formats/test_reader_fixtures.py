"""Every real fixture map parses (as a folder and as a zip, identically), and per difficulty the
counts equal counts taken straight from the raw JSON; timing honours BPM changes."""

from __future__ import annotations

import functools
import json
import math
import zipfile
from pathlib import Path

import pytest

from automapper_ml.formats.model import DIFFICULTY_NAMES, BeatMap
from automapper_ml.formats.reader import load_map
from automapper_ml.formats.summary import object_counts, summarize
from tests.conftest import BEATSABER_FIXTURES, fixture_params

PARAMS = fixture_params()
# The object_counts entries compared with counts taken from the raw JSON.
COUNTED = ("notes", "bombs", "walls", "arcs", "chains", "events", "boosts", "bpm_changes", "fake_objects")
# count name -> the raw JSON array holding those objects, per format (v4 events are in the lightshow file).
V3_ARRAYS = {
    "notes": "colorNotes",
    "bombs": "bombNotes",
    "walls": "obstacles",
    "arcs": "sliders",
    "chains": "burstSliders",
    "events": "basicBeatmapEvents",
    "boosts": "colorBoostBeatmapEvents",
    "bpm_changes": "bpmEvents",
}
V4_BEATMAP_ARRAYS = {
    "notes": "colorNotes",
    "bombs": "bombNotes",
    "walls": "obstacles",
    "arcs": "arcs",
    "chains": "chains",
}
V4_LIGHTSHOW_ARRAYS = {"events": "basicEvents", "boosts": "colorBoostEvents"}


@functools.cache
def _load(folder: Path) -> BeatMap:
    """One parse per fixture for the read-only tests (the zip test parses afresh)."""
    return load_map(folder)


def _raw(folder: Path, name: str) -> dict:
    by_folded = {p.name.casefold(): p for p in folder.iterdir()}
    return json.loads(by_folded[name.casefold()].read_bytes().decode("utf-8-sig"))


def _zip_folder(folder: Path, dest: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, prefix + p.name)
    return dest


def _expected_counts_v2(raw: dict) -> dict[str, int]:
    def fake(o: dict) -> bool:
        cd = o.get("_customData")
        return isinstance(cd, dict) and cd.get("_fake") is True

    notes = raw.get("_notes", [])
    events = raw.get("_events", [])
    cd = raw.get("_customData") or {}
    bpm = sum(1 for e in events if e.get("_type") == 100)
    bpm += (
        len(raw.get("_BPMChanges") or [])
        + len(cd.get("_BPMChanges") or [])
        + len(cd.get("_bpmChanges") or [])
    )
    return {
        "notes": sum(1 for n in notes if n.get("_type") in (0, 1) and not fake(n)),
        "bombs": sum(1 for n in notes if n.get("_type") == 3 and not fake(n)),
        "walls": sum(1 for o in raw.get("_obstacles", []) if not fake(o)),
        "arcs": len(raw.get("_sliders", [])),
        "chains": 0,
        "events": sum(1 for e in events if e.get("_type") not in (5, 14, 15, 100)),
        "boosts": sum(1 for e in events if e.get("_type") == 5),
        "bpm_changes": bpm,
        "fake_objects": sum(1 for n in notes if fake(n))
        + sum(1 for o in raw.get("_obstacles", []) if fake(o)),
    }


def _lengths(raw: dict, arrays: dict[str, str]) -> dict[str, int]:
    """count name -> how many elements the raw JSON array it names holds."""
    return {count: len(raw.get(array, [])) for count, array in arrays.items()}


def _expected_counts_v3(raw: dict) -> dict[str, int]:
    cd = raw.get("customData") or {}
    fakes = ("fakeColorNotes", "fakeBombNotes", "fakeObstacles", "fakeBurstSliders")
    return {**_lengths(raw, V3_ARRAYS), "fake_objects": sum(len(cd.get(k) or []) for k in fakes)}


def _expected_counts_v4(raw: dict, lightshow: dict | None) -> dict[str, int]:
    lights = _lengths(lightshow or {}, V4_LIGHTSHOW_ARRAYS)
    return {**_lengths(raw, V4_BEATMAP_ARRAYS), **lights, "bpm_changes": 0, "fake_objects": 0}


def _counts(diff) -> dict[str, int]:
    counts = object_counts(diff)
    return {key: counts[key] for key in COUNTED}


@pytest.mark.parametrize("folder", PARAMS)
def test_folder_and_zip_parse_identically(folder: Path, tmp_path: Path) -> None:
    from_folder = _load(folder)
    flat = load_map(_zip_folder(folder, tmp_path / "flat.zip"))
    nested = load_map(_zip_folder(folder, tmp_path / "nested.zip", prefix=f"{folder.name}/"))
    assert flat == from_folder
    assert nested == from_folder
    assert from_folder.difficulties, "every fixture has at least one difficulty file"


@pytest.mark.parametrize("folder", PARAMS)
def test_counts_match_raw_json(folder: Path) -> None:
    beatmap = _load(folder)
    for diff in beatmap.difficulties:
        raw = _raw(folder, diff.filename)
        if diff.version.startswith("4"):
            ls = _raw(folder, diff.lightshow_filename) if diff.lightshow_filename else None
            expected = _expected_counts_v4(raw, ls)
        elif "colorNotes" in raw:
            expected = _expected_counts_v3(raw)
            # Beats are kept exactly as written (no rounding).
            assert [n.beat for n in diff.notes] == [float(n.get("b", 0)) for n in raw["colorNotes"]]
        else:
            expected = _expected_counts_v2(raw)
            real = [
                n
                for n in raw["_notes"]
                if n.get("_type") in (0, 1) and not (n.get("_customData") or {}).get("_fake")
            ]
            assert [n.beat for n in diff.notes] == [float(n["_time"]) for n in real]
        assert _counts(diff) == expected, diff.key
        assert diff.version == raw.get("version", raw.get("_version", "")), diff.key


@pytest.mark.parametrize("folder", PARAMS)
def test_metadata_is_sane(folder: Path) -> None:
    beatmap = _load(folder)
    assert beatmap.title.strip()
    assert beatmap.bpm > 0 and math.isfinite(beatmap.bpm)
    assert beatmap.audio_filename
    assert beatmap.info_version[:1] in ("2", "4")
    keys = [d.key for d in beatmap.difficulties]
    assert len(keys) == len(set(keys))
    for diff in beatmap.difficulties:
        assert diff.name in DIFFICULTY_NAMES
        assert diff.characteristic
        assert diff.version
        assert beatmap.duration_seconds(diff) > 0
    summary = summarize(beatmap)
    assert set(summary["difficulties"]) == set(keys)
    assert summary["title"] == beatmap.title


@pytest.mark.parametrize("folder", PARAMS)
def test_timing_is_monotonic(folder: Path) -> None:
    beatmap = _load(folder)
    for diff in beatmap.difficulties:
        timing = beatmap.timing(diff)
        beats = sorted({n.beat for n in diff.notes} | {0.0, diff.last_object_beat()})
        seconds = [timing.to_seconds(b) for b in beats]
        assert all(b >= a for a, b in zip(seconds, seconds[1:])), diff.key


def _fixture(name: str) -> BeatMap:
    folder = BEATSABER_FIXTURES / name
    if not folder.is_dir():
        pytest.skip(f"fixture {name} is absent")
    return _load(folder)


def test_timing_follows_v3_bpm_events_by_hand() -> None:
    # the_big_goodbye: 184 BPM, bpmEvents 378 -> 210.286, 379 -> 184 (a one-beat stretch).
    beatmap = _fixture("the_big_goodbye")
    diff = beatmap.difficulty("Standard", "ExpertPlus")
    assert (diff.bpm_changes[1].beat, diff.bpm_changes[1].bpm) == (378.0, 210.286)
    timing = beatmap.timing(diff)
    at_378 = 378 * 60 / 184
    assert timing.to_seconds(378) == pytest.approx(at_378)
    assert timing.to_seconds(379) == pytest.approx(at_378 + 60 / 210.286)
    assert timing.to_seconds(380) == pytest.approx(at_378 + 60 / 210.286 + 60 / 184)
    # BPMInfo.dat places beat 378 at sample 5435804 (44.1 kHz): the same instant.
    assert beatmap.song_frequency == 44100
    assert at_378 == pytest.approx(5435804 / 44100, abs=1e-3)


def test_timing_first_bpm_event_overrides_info_bpm() -> None:
    # i_bet_youll_forget: Info says 195 BPM but the difficulty starts at 139 (bpmEvents b=0), 195 from beat 41.
    beatmap = _fixture("i_bet_youll_forget")
    diff = beatmap.difficulty("Standard", "ExpertPlus")
    timing = beatmap.timing(diff)
    assert beatmap.bpm == 195
    assert timing.to_seconds(41) == pytest.approx(41 * 60 / 139)
    assert timing.to_seconds(100) == pytest.approx(41 * 60 / 139 + 59 * 60 / 195)
    assert timing.to_seconds(41) == pytest.approx(780474 / 44100, abs=1e-3)  # BPMInfo region boundary


def test_v2_custom_data_bpm_changes_and_chroma() -> None:
    paranoia = _fixture("paranoia").difficulty("Standard", "ExpertPlus")
    assert [(c.beat, c.bpm) for c in paranoia.bpm_changes] == [(5.344, 120.0)]
    journey = _fixture("journey").difficulty("Standard", "ExpertPlus")
    assert sum(e.light_id is not None for e in journey.events) == 2134
    snakes = _fixture("snakes").difficulty("Standard", "ExpertPlus")
    assert any(e.color is not None and len(e.color) in (3, 4) for e in snakes.events)


def test_v3_fakes_passthrough_and_missing_files() -> None:
    beatmap = _fixture("hyperclocked")
    diff = beatmap.difficulty("Standard", "ExpertPlus")
    assert len(diff.fake_notes) == 50 and len(diff.notes) == 744
    assert sum(b.uninteractable for b in diff.bombs) == 34
    assert diff.use_normal_events_as_compatible is True
    assert diff.light_box_groups["_fxEventsCollection"] == {"_il": [], "_fl": []}
    assert sum(e.light_id is not None for e in diff.events) == 14537
    # Info.dat lists Easy and Expert whose files are not in the fixture: skipped and reported.
    assert [d.key for d in beatmap.difficulties] == ["Standard/ExpertPlus"]
    assert sum("listed in Info.dat but the file is missing" in line for line in beatmap.unconverted) == 2


def test_info_v2_metadata_fields() -> None:
    beatmap = _fixture("journey")
    assert (beatmap.title, beatmap.artist, beatmap.mapper) == ("Vagueness & JOURNEY", "FELT", "Kival Evan")
    assert beatmap.bpm == 185 and beatmap.audio_filename == "JOURNEY.egg"
    assert beatmap.preview_start == pytest.approx(250.9688)
    diff = beatmap.difficulty("Standard", "ExpertPlus")
    assert diff.rank == 9 and diff.suggestions == ("Chroma",)
    crystal = _fixture("crystal_corruption").difficulty("Lawless", "ExpertPlus")
    assert crystal.requirements == ("Noodle Extensions",)

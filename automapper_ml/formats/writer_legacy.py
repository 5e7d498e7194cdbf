"""Model -> v2.6.0 difficulty JSON and -> a v4 map (Info 4.0.1, AudioData, beatmap + lightshow files).

automapper exports v3 (writer_v3); these two exist so the demo corpus can be written in the mix
of versions real map folders have, and so the readers are tested on files we made. Both are
pure functions over the model and must read back (through the readers) to the same objects.

v2 cannot hold chains or note angle offsets: `difficulty_to_v2` raises
`UnsupportedVersionError` naming them, unless `lossy=True` drops them. Light event box groups
are written by neither: v2 has none, and v4 stores them in a deduplicated layout of its own
that we do not generate (a v4 map written here lights with basic events only). Chroma and
Noodle data go where our v4 reader looks for them (Heck publishes no v4 layout).
"""

from __future__ import annotations

import heapq
import json
import math
from typing import Any

from automapper_ml.formats import model
from automapper_ml.formats.errors import UnsupportedVersionError
from automapper_ml.formats.fields import ARC_V2, EVENT_V2
from automapper_ml.formats.writer_v3 import (
    canonical_names,
    chroma_custom_data,
    convert_all,
    difficulty_filename,
    environment_index,
    environment_list,
    event_json,
    integer,
    noodle_fakes_v3,
    num,
    timing_bpm_changes,
    write_fields,
)

V2_VERSION = "2.6.0"
V4_INFO_VERSION = "4.0.1"
V4_VERSION = "4.0.0"
AUDIO_DATA_FILENAME = "AudioData.dat"
DEFAULT_FREQUENCY = 44100  # samples per second assumed when the map states none
# v2 event types (lightshow.md): colour boost, early/late lane rotation, BPM change.
V2_BOOST, V2_ROTATION_EARLY, V2_ROTATION_LATE, V2_BPM = 5, 14, 15, 100
# v2 rotation values 0..7 and the degrees they stand for; other whole degrees use the
# Mapping Extensions encoding 1360 + degrees (values 1000..1720).
V2_ROTATION_DEGREES = (-60, -45, -30, -15, 15, 30, 45, 60)
V2_ROTATION_ME_BASE = 1360


# ---------------------------------------------------------------- v2 ---------------------------------


def _v2_custom(obj: dict[str, Any], **custom: Any) -> dict[str, Any]:
    custom = {k: v for k, v in custom.items() if v is not None}
    if custom:
        obj["_customData"] = custom
    return obj


def _v2_note(n: model.ColorNote, fake: bool) -> dict[str, Any]:
    # The angle offset is dropped: difficulty_to_v2 refuses notes that have one unless lossy.
    obj = {
        "_time": num(n.beat),
        "_lineIndex": integer(n.x),
        "_lineLayer": integer(n.y),
        "_type": integer(n.color),
        "_cutDirection": integer(n.direction),
    }
    return _v2_custom(obj, _fake=True if fake else None, _interactable=False if n.uninteractable else None)


def _v2_bomb(b: model.BombNote, fake: bool) -> dict[str, Any]:
    obj = {
        "_time": num(b.beat),
        "_lineIndex": integer(b.x),
        "_lineLayer": integer(b.y),
        "_type": 3,
        "_cutDirection": 0,
    }
    return _v2_custom(obj, _fake=True if fake else None, _interactable=False if b.uninteractable else None)


def _v2_obstacle(o: model.Obstacle, fake: bool) -> dict[str, Any]:
    y, h = integer(o.y), integer(o.height)
    obj: dict[str, Any] = {"_time": num(o.beat), "_lineIndex": integer(o.x)}
    if (y, h) == (0, 5):
        obj["_type"] = 0  # full height: what every v2 reader understands
    elif (y, h) == (2, 3):
        obj["_type"] = 1  # crouch
    else:
        obj.update({"_type": 2, "_lineLayer": y, "_height": h})  # 2.6.0 free wall
    obj.update({"_duration": num(o.duration), "_width": integer(o.width)})
    return _v2_custom(obj, _fake=True if fake else None, _interactable=False if o.uninteractable else None)


def v2_rotation_value(degrees: float) -> int:
    """The v2 `_value` of a lane rotation: 0..7 for the standard steps, 1360 + degrees otherwise."""
    deg = num(degrees)
    if deg in V2_ROTATION_DEGREES:
        return V2_ROTATION_DEGREES.index(deg)
    if deg == int(deg) and -360 <= deg <= 360:
        return V2_ROTATION_ME_BASE + int(deg)
    raise UnsupportedVersionError(f"a v2 lane rotation must be whole degrees in -360..360, got {degrees!r}")


def difficulty_to_v2(
    beatmap: model.BeatMap, diff: model.Difficulty, *, lossy: bool = False
) -> dict[str, Any]:
    """One difficulty as a v2.6.0 difficulty file (a JSON-ready dict).

    Bombs are `_notes` of type 3; walls that are exactly full-height (y 0, h 5) or crouch
    (y 2, h 3) use the legacy `_type` 0/1, others `_type` 2 with `_lineLayer`/`_height`. Boosts,
    lane rotations and BPM changes become events of type 5, 14/15 and 100 (BPM changes also in
    `_customData._BPMChanges`, which editors read). Chroma colours go to `_customData._color` /
    `_lightID`, Noodle fakes carry `_customData._fake`, uninteractable objects `_interactable: false`.
    Lists are merged by beat without reordering any one list.
    """
    where = diff.key
    lost = []
    if diff.chains or diff.fake_chains:
        lost.append("chains")
    if any(n.angle for n in (*diff.notes, *diff.fake_notes)):
        lost.append("note angle offsets")
    if lost and not lossy:
        raise UnsupportedVersionError(
            f"{where}: v2 files cannot hold {' or '.join(lost)}; write v3, or pass lossy=True"
        )
    notes = [
        convert_all(f"{where} _notes", diff.notes, lambda n: _v2_note(n, False)),
        convert_all(f"{where} _notes(bombs)", diff.bombs, lambda b: _v2_bomb(b, False)),
        convert_all(f"{where} _notes(fake)", diff.fake_notes, lambda n: _v2_note(n, True)),
        convert_all(f"{where} _notes(fake bombs)", diff.fake_bombs, lambda b: _v2_bomb(b, True)),
    ]
    obstacles = [
        convert_all(f"{where} _obstacles", diff.obstacles, lambda o: _v2_obstacle(o, False)),
        convert_all(f"{where} _obstacles(fake)", diff.fake_obstacles, lambda o: _v2_obstacle(o, True)),
    ]
    bpm_changes = timing_bpm_changes(beatmap, diff)
    events = [
        convert_all(
            f"{where} _events(bpm)",
            bpm_changes,
            lambda c: {"_time": num(c.beat), "_type": V2_BPM, "_value": 0, "_floatValue": num(c.bpm)},
        ),
        convert_all(
            f"{where} _events(rotation)",
            diff.rotations,
            lambda r: {
                "_time": num(r.beat),
                "_type": V2_ROTATION_EARLY if r.early else V2_ROTATION_LATE,
                "_value": v2_rotation_value(r.rotation),
                "_floatValue": 1.0,
            },
        ),
        convert_all(
            f"{where} _events(boost)",
            diff.boosts,
            lambda b: {
                "_time": num(b.beat),
                "_type": V2_BOOST,
                "_value": 1 if b.on else 0,
                "_floatValue": 1.0,
            },
        ),
        convert_all(f"{where} _events", diff.events, lambda e: event_json(e, EVENT_V2, "_")),
    ]
    out: dict[str, Any] = {
        "_version": V2_VERSION,
        "_notes": _merge_by_time(notes),
        "_sliders": convert_all(f"{where} _sliders", diff.arcs, lambda a: write_fields(a, ARC_V2)),
        "_obstacles": _merge_by_time(obstacles),
        "_events": _merge_by_time(events),
        "_waypoints": [],
        "_specialEventsKeywordFilters": {"_keywords": []},
    }
    if bpm_changes:
        out["_customData"] = {
            "_BPMChanges": [
                {"_time": num(c.beat), "_BPM": num(c.bpm), "_beatsPerBar": 4, "_metronomeOffset": 4}
                for c in bpm_changes
            ]
        }
    return out


def _merge_by_time(lists: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    # heapq.merge never reorders inside one list, so a reader splitting by kind gets each list back as it was.
    return list(heapq.merge(*lists, key=lambda o: o["_time"]))


# ---------------------------------------------------------------- v4 ---------------------------------


class _Pool:
    """A v4 `*Data` array: equal entries are stored once and referenced by index."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}

    def add(self, item: dict[str, Any]) -> int:
        key = json.dumps(item, sort_keys=True)
        if key not in self._index:
            self._index[key] = len(self.items)
            self.items.append(item)
        return self._index[key]


def _lane(beat: float, uninteractable: bool = False) -> dict[str, Any]:
    # Lane rotations are written as `spawnRotations` (4.0.0), so every object's own lane `r` is 0;
    # Noodle's `uninteractable` sits on the object, keeping the shared data entries plain.
    obj: dict[str, Any] = {"b": beat, "r": 0}
    if uninteractable:
        obj["customData"] = {"uninteractable": True}
    return obj


def _v4_beatmap(diff: model.Difficulty) -> dict[str, Any]:
    where = diff.key
    notes_data, bombs_data, walls_data, arcs_data, chains_data, rot_data = (_Pool() for _ in range(6))

    def note_data(x, y, c, d, a=0) -> int:
        return notes_data.add(
            {"x": integer(x), "y": integer(y), "c": integer(c), "d": integer(d), "a": integer(a)}
        )

    def note(n: model.ColorNote) -> dict[str, Any]:
        obj = _lane(num(n.beat), n.uninteractable)
        obj["i"] = note_data(n.x, n.y, n.color, n.direction, n.angle)
        return obj

    def bomb(o: model.BombNote) -> dict[str, Any]:
        obj = _lane(num(o.beat), o.uninteractable)
        obj["i"] = bombs_data.add({"x": integer(o.x), "y": integer(o.y)})
        return obj

    def wall(o: model.Obstacle) -> dict[str, Any]:
        data = {"d": num(o.duration), "x": integer(o.x), "y": integer(o.y), "w": integer(o.width)}
        data["h"] = integer(o.height)
        obj = _lane(num(o.beat), o.uninteractable)
        obj["i"] = walls_data.add(data)
        return obj

    def arc(a: model.Arc) -> dict[str, Any]:
        return {
            "hb": num(a.beat),
            "tb": num(a.tail_beat),
            "hr": 0,
            "tr": 0,
            "hi": note_data(a.x, a.y, a.color, a.direction),
            "ti": note_data(a.tail_x, a.tail_y, a.color, a.tail_direction),
            "ai": arcs_data.add(
                {"m": num(a.head_multiplier), "tm": num(a.tail_multiplier), "a": integer(a.mid_anchor)}
            ),
        }

    def chain(c: model.Chain) -> dict[str, Any]:
        data = {"tx": integer(c.tail_x), "ty": integer(c.tail_y), "c": integer(c.slices), "s": num(c.squish)}
        return {
            "hb": num(c.beat),
            "tb": num(c.tail_beat),
            "hr": 0,
            "tr": 0,
            "i": note_data(c.x, c.y, c.color, c.direction),
            "ci": chains_data.add(data),
        }

    def rotation(r: model.RotationEvent) -> dict[str, Any]:
        # The wiki names the execution time `t` (bsmap's schema says `e` but accepts either).
        return {"b": num(r.beat), "i": rot_data.add({"t": 0 if r.early else 1, "r": num(r.rotation)})}

    out: dict[str, Any] = {
        "version": V4_VERSION,
        "colorNotes": convert_all(f"{where} colorNotes", diff.notes, note),
        "bombNotes": convert_all(f"{where} bombNotes", diff.bombs, bomb),
        "obstacles": convert_all(f"{where} obstacles", diff.obstacles, wall),
        "chains": convert_all(f"{where} chains", diff.chains, chain),
        "arcs": convert_all(f"{where} arcs", diff.arcs, arc),
        "spawnRotations": convert_all(f"{where} spawnRotations", diff.rotations, rotation),
    }
    out.update(
        colorNotesData=notes_data.items,
        bombNotesData=bombs_data.items,
        obstaclesData=walls_data.items,
        chainsData=chains_data.items,
        arcsData=arcs_data.items,
        spawnRotationsData=rot_data.items,
    )
    # Heck publishes no v4 layout; fakes keep the v3 shape in customData, which our v4 reader accepts.
    fakes = noodle_fakes_v3(diff)
    if fakes:
        out["customData"] = fakes
    return out


def _v4_lightshow(diff: model.Difficulty) -> dict[str, Any]:
    where = diff.key
    events_data, boosts_data = _Pool(), _Pool()

    def event(e) -> dict[str, Any]:
        data: dict[str, Any] = {"t": integer(e.type), "i": integer(e.value), "f": num(e.float_value)}
        custom = chroma_custom_data(e)
        if custom:
            data["customData"] = custom  # Chroma on the shared data entry, where our v4 reader looks
        return {"b": num(e.beat), "i": events_data.add(data)}

    def boost(e) -> dict[str, Any]:
        return {"b": num(e.beat), "i": boosts_data.add({"b": 1 if e.on else 0})}

    basic = convert_all(f"{where} basicEvents", diff.events, event)
    boosts = convert_all(f"{where} colorBoostEvents", diff.boosts, boost)
    # Light event box groups are left out: v4 keeps them deduplicated across six arrays, which we
    # do not generate; a v4 map written here lights with basic events only.
    empty = ("eventBoxGroups", "indexFilters", "lightColorEventBoxes", "lightColorEvents")
    empty += ("lightRotationEventBoxes", "lightRotationEvents", "lightTranslationEventBoxes")
    empty += ("lightTranslationEvents", "fxEventBoxes", "floatFxEvents")
    out: dict[str, Any] = {"version": V4_VERSION, "waypoints": [], "waypointsData": []}
    out.update(basicEvents=basic, basicEventsData=events_data.items)
    out.update(colorBoostEvents=boosts, colorBoostEventsData=boosts_data.items)
    out.update({key: [] for key in empty})
    out["basicEventTypesWithKeywords"] = {"d": []}
    out["useNormalEventsAsCompatibleEvents"] = bool(diff.use_normal_events_as_compatible)
    return out


def _shared_timing(beatmap: model.BeatMap) -> model.Timing:
    """The one timing a v4 map can have (AudioData is per song): every difficulty must agree."""
    timings = [(d, beatmap.timing(d)) for d in beatmap.difficulties] or [(None, beatmap.timing(None))]
    first_diff, first = timings[0]
    for diff, timing in timings[1:]:
        a, b = first.segments, timing.segments
        same = len(a) == len(b) and all(
            math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9)
            for sa, sb in zip(a, b, strict=True)
            for x, y in zip(sa, sb)
        )
        if not same:
            raise UnsupportedVersionError(
                f"v4 keeps one BPM map per song, but {first_diff.key} and {diff.key} have different BPM changes"
            )
    return first


def _bpm_regions(
    beatmap: model.BeatMap, timing: model.Timing, frequency: int
) -> tuple[list[model.BpmRegion], int]:
    """AudioData regions reproducing `timing`, and the song's sample count.

    Regions the map already had are kept verbatim when they are what the timing comes from.
    Otherwise each tempo segment becomes a region whose ends are rounded to whole samples, so
    times agree to within half a sample (11 us at 44.1 kHz).
    """
    from_regions = bool(beatmap.bpm_regions and beatmap.song_frequency) and not any(
        d.bpm_changes for d in beatmap.difficulties
    )
    segments = timing.segments
    end_beat = max([d.last_object_beat() for d in beatmap.difficulties] + [s[0] for s in segments]) + 4.0
    end_beat = max([end_beat] + [e.beat + 1.0 for d in beatmap.difficulties for e in d.events])
    count = beatmap.song_sample_count or math.ceil(timing.to_seconds(end_beat) * frequency) + 1
    if from_regions:
        return list(beatmap.bpm_regions), max(count, max(r.end_sample for r in beatmap.bpm_regions) + 1)
    starts = [round(second * frequency) for _, second, _ in segments]
    last = max(count - 1, starts[-1] + frequency)  # the last region runs to the end of the audio
    ends = starts[1:] + [last]
    regions = []
    for i, (beat, _, _) in enumerate(segments):
        end_beat_i = segments[i + 1][0] if i + 1 < len(segments) else timing.to_beats(ends[i] / frequency)
        if ends[i] > starts[i] and end_beat_i > beat:
            regions.append(model.BpmRegion(starts[i], ends[i], beat, end_beat_i))
    return regions, max(count, last + 1)


def beatmap_to_v4(beatmap: model.BeatMap) -> dict[str, dict[str, Any]]:
    """The whole map in v4: file name -> JSON-ready dict (light box groups left out, see above).

    Info.dat (4.0.1), AudioData.dat (BPM regions from the shared timing), and per difficulty
    `ExpertPlusStandard.beatmap.dat` (4.0.0) plus `ExpertPlusStandard.lightshow.dat` holding its
    basic and boost events. Lane rotations are written both as `spawnRotations` and as each
    object's lane `r`.
    """
    frequency = int(beatmap.song_frequency or DEFAULT_FREQUENCY)
    timing = _shared_timing(beatmap)
    regions, sample_count = _bpm_regions(beatmap, timing, frequency)
    files: dict[str, dict[str, Any]] = {}
    envs = environment_list(beatmap)
    entries = []
    for diff in beatmap.difficulties:
        beatmap_name = difficulty_filename(diff, ".beatmap.dat")
        lightshow_name = difficulty_filename(diff, ".lightshow.dat")
        files[beatmap_name] = _v4_beatmap(diff)
        files[lightshow_name] = _v4_lightshow(diff)
        characteristic, name = canonical_names(diff)
        entry: dict[str, Any] = {
            "characteristic": characteristic,
            "difficulty": name,
            "beatmapAuthors": {"mappers": [beatmap.mapper] if beatmap.mapper else [], "lighters": []},
            "environmentNameIdx": environment_index(envs, beatmap, diff),
            "beatmapColorSchemeIdx": -1,
            "noteJumpMovementSpeed": num(diff.njs),
            "noteJumpStartBeatOffset": num(diff.njs_offset),
            "lightshowDataFilename": lightshow_name,
            "beatmapDataFilename": beatmap_name,
        }
        custom = {}
        if diff.label:
            custom["difficultyLabel"] = diff.label
        if diff.requirements:
            custom["requirements"] = list(diff.requirements)
        if diff.suggestions:
            custom["suggestions"] = list(diff.suggestions)
        if custom:
            entry["customData"] = custom
        entries.append(entry)
    files[AUDIO_DATA_FILENAME] = {
        "version": V4_VERSION,
        "songChecksum": "",
        "songSampleCount": int(sample_count),
        "songFrequency": frequency,
        "bpmData": [
            {
                "si": int(r.start_sample),
                "ei": int(r.end_sample),
                "sb": num(r.start_beat),
                "eb": num(r.end_beat),
            }
            for r in regions
        ],
        "lufsData": [],
    }
    files["Info.dat"] = {
        "version": V4_INFO_VERSION,
        "song": {
            "title": str(beatmap.title),
            "subTitle": str(beatmap.subtitle),
            "author": str(beatmap.artist),
        },
        "audio": {
            "songFilename": beatmap.audio_filename,
            "songDuration": beatmap.audio_duration or sample_count / frequency,
            "audioDataFilename": AUDIO_DATA_FILENAME,
            "bpm": num(beatmap.bpm),
            "lufs": 0.0,
            "previewStartTime": num(beatmap.preview_start),
            "previewDuration": num(beatmap.preview_duration),
        },
        "songPreviewFilename": beatmap.audio_filename,
        "coverImageFilename": beatmap.cover_filename,
        "environmentNames": envs,
        "colorSchemes": [],
        "difficultyBeatmaps": entries,
    }
    return files

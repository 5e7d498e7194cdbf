"""Beat Saber v4 reader: Info.dat 4.x, `*.beatmap.dat` 4.x, AudioData.dat 4.x (lightshows: v4_lightshow).

v4 stores every object as a small "object" (beat, rotation lane, index) pointing into a
"data" array that holds the shared shape (position, colour, direction...), so identical
notes share one data entry. This reader resolves every index (an index outside its data
array is an `InvalidValueError` naming file, array and position) and fills the one
in-memory model. Missing keys take the value 0: the official editor omits every field
equal to its type default (a whole note can be `{}`), and the game reads them as 0.

What the model cannot hold is listed, one line each, in `Difficulty.unconverted` /
`BeatMap.unconverted` (NJS events, per-object lane rotations, waypoints...), never dropped
silently. Spec: ../shared/spec/bsmg_wiki/map-format/{info,beatmap,lightshow,audio}.md.
"""

from __future__ import annotations

from typing import Any

from automapper_ml.formats import model
from automapper_ml.formats.errors import InvalidValueError
from automapper_ml.formats.fields import (
    ARC_V4,
    BOMB_DATA_V4,
    CHAIN_V3,
    CHAIN_V4,
    NOTE_DATA_V4,
    OBSTACLE_DATA_V4,
    read_fields,
    read_places,
)
from automapper_ml.formats.info_v2 import check_region, song_frequency
from automapper_ml.formats.jsonvalues import (
    ObjectReader,
    check_object_count,
    custom_data,
    get_array,
    iter_objects,
)
from automapper_ml.formats.v4_lightshow import (
    check_version_v4,
    count_lightshow_objects,
    parse_lightshow_v4,
    resolve,
)
from automapper_ml.limits import MAX_SAMPLE_INDEX

# Arrays of a beatmap file that become model objects (counted against MAX_OBJECTS_PER_DIFFICULTY).
OBJECT_ARRAYS = ("colorNotes", "bombNotes", "obstacles", "arcs", "chains", "spawnRotations")
FAKE_ARRAYS = ("fakeColorNotes", "fakeBombNotes", "fakeObstacles", "fakeChains", "fakeBurstSliders")
# The fields a note, bomb or wall keeps in its *Data entry (its beat is on the object).
_DATA_FIELDS = {model.ColorNote: NOTE_DATA_V4, model.BombNote: BOMB_DATA_V4, model.Obstacle: OBSTACLE_DATA_V4}


# ---------------------------------------------------------------------------------------------- Info.dat


def parse_info_v4(data: dict[str, Any], filename: str = "Info.dat") -> model.BeatMap:
    """A v4 Info.dat -> BeatMap with one stub `Difficulty` (no objects yet) per listed beatmap.

    The mapper is the union of every beatmap's `beatmapAuthors.mappers`, in order of first
    appearance, compared case-insensitively ("Jack" and "jack" are one person), joined ", ".
    Beatmaps with an unknown difficulty name, no beatmap file, or a duplicate
    characteristic/difficulty are skipped with a line in `BeatMap.unconverted`.
    """
    version = check_version_v4(data, filename)
    top = ObjectReader(data, filename, "")
    song = ObjectReader(_sub_object(data, "song", filename), filename, "song")
    audio = ObjectReader(_sub_object(data, "audio", filename), filename, "audio")

    bpm = audio.bpm("bpm")
    song_duration = audio.number("songDuration", 0.0, limit=MAX_SAMPLE_INDEX)
    environments = tuple(e for e in get_array(data, "environmentNames", filename) if isinstance(e, str))
    beatmap = model.BeatMap(
        info_version=version,
        title=song.text("title"),
        artist=song.text("author"),
        subtitle=song.text("subTitle"),
        mapper="",
        bpm=bpm,
        audio_filename=audio.text("songFilename"),
        preview_start=audio.number("previewStartTime", 0.0),
        preview_duration=audio.number("previewDuration", 10.0),
        cover_filename=top.text("coverImageFilename"),
        environment_names=environments,
        song_duration=song_duration if song_duration > 0 else None,
        audio_data_filename=audio.text("audioDataFilename") or None,
    )
    if environments:
        beatmap.environment_name = environments[0]

    mappers: dict[str, str] = {}  # casefolded -> first spelling, insertion-ordered
    seen: set[str] = set()
    for i, entry in iter_objects(
        get_array(data, "difficultyBeatmaps", filename), filename, "difficultyBeatmaps"
    ):
        written_characteristic = entry.text("characteristic", "Standard") or "Standard"
        written_name = entry.text("difficulty")
        characteristic = model.canonical_characteristic(written_characteristic)
        name = model.canonical_difficulty(written_name)
        where = f"difficultyBeatmaps[{i}]"
        if characteristic is None:
            beatmap.unconverted.append(
                f"{filename}: {where} skipped: unknown characteristic {written_characteristic[:40]!r}"
            )
            continue
        if name is None:
            beatmap.unconverted.append(
                f"{filename}: {where} skipped: unknown difficulty name {written_name[:40]!r}"
            )
            continue
        where = f"{where} ({characteristic}/{name})"
        beatmap_file = entry.text("beatmapDataFilename")
        if not beatmap_file:
            beatmap.unconverted.append(f"{filename}: {where} skipped: no beatmapDataFilename")
            continue
        if f"{characteristic}/{name}" in seen:
            beatmap.unconverted.append(f"{filename}: {where} skipped: listed twice")
            continue
        seen.add(f"{characteristic}/{name}")
        custom = custom_data(entry.obj)
        label = custom.get("_difficultyLabel", custom.get("difficultyLabel"))
        beatmap.difficulties.append(
            model.Difficulty(
                characteristic=characteristic,
                name=name,
                rank=model.DIFFICULTY_RANKS[name],
                filename=beatmap_file,
                lightshow_filename=entry.text("lightshowDataFilename") or None,
                njs=entry.number("noteJumpMovementSpeed", 0.0),
                njs_offset=entry.number("noteJumpStartBeatOffset", 0.0),
                label=label if isinstance(label, str) and label else None,
                requirements=_strings(custom.get("_requirements", custom.get("requirements"))),
                suggestions=_strings(custom.get("_suggestions", custom.get("suggestions"))),
            )
        )
        authors = entry.obj.get("beatmapAuthors")
        for mapper in _strings(authors.get("mappers") if isinstance(authors, dict) else None):
            mappers.setdefault(mapper.strip().casefold(), mapper.strip())
    beatmap.mapper = ", ".join(m for m in mappers.values() if m)
    return beatmap


# ------------------------------------------------------------------------------------------ AudioData.dat


def parse_audio_data_v4(
    data: dict[str, Any], beatmap: model.BeatMap, filename: str = "AudioData.dat"
) -> None:
    """Fill `beatmap.song_frequency`, `song_sample_count` and `bpm_regions` from a v4 AudioData.dat.

    In v4 BPM changes live only here: each `bpmData` entry maps samples [si, ei] onto beats
    [sb, eb], and `BeatMap.timing()` uses these regions. `lufsData` (loudness) is ignored.
    A file without a positive `songFrequency` cannot place its regions in time; they are
    then left out, with a line in `beatmap.unconverted`.
    """
    check_version_v4(data, filename)
    top = ObjectReader(data, filename, "")
    frequency = song_frequency(top, "songFrequency")
    samples = top.number("songSampleCount", 0, limit=MAX_SAMPLE_INDEX)
    regions: list[model.BpmRegion] = []
    for _, r in iter_objects(get_array(data, "bpmData", filename), filename, "bpmData"):
        region = model.BpmRegion(
            start_sample=int(r.number("si", 0, limit=MAX_SAMPLE_INDEX)),
            end_sample=int(r.number("ei", 0, limit=MAX_SAMPLE_INDEX)),
            start_beat=r.beat("sb"),
            end_beat=r.beat("eb"),
        )
        check_region(region, frequency, f"{filename}: bpmData[{r.index}]")
        regions.append(region)
    beatmap.song_sample_count = int(samples) if samples > 0 else None
    if frequency > 0:
        beatmap.song_frequency = frequency
        beatmap.bpm_regions = regions
    elif regions:
        beatmap.unconverted.append(
            f"{filename}: {len(regions)} BPM regions ignored: no positive songFrequency to place them in time"
        )


# ------------------------------------------------------------------------------------------ beatmap files


def parse_difficulty_v4(
    beatmap_json: dict[str, Any], lightshow_json: dict[str, Any] | None, diff: model.Difficulty
) -> None:
    """Fill `diff` in place from a v4 beatmap file and (optionally) its v4 lightshow file.

    Counts match the files: len(diff.notes) == len(colorNotes), and likewise for bombs,
    obstacles, arcs, chains, spawn rotations, basic events and colour boosts. Arcs take
    their head/tail beats from the arc itself and positions, colour and directions from
    the referenced `colorNotesData` entries. Lighting goes through `parse_lightshow_v4`.
    """
    name = diff.filename or "beatmap"
    diff.version = check_version_v4(beatmap_json, name)
    lightshow = count_lightshow_objects(lightshow_json) if lightshow_json is not None else 0
    fakes = custom_data(beatmap_json)
    check_object_count(name, (beatmap_json, OBJECT_ARRAYS), (fakes, FAKE_ARRAYS), extra=lightshow)
    _parse_objects(beatmap_json, diff, name)
    if lightshow_json is not None:
        parse_lightshow_v4(lightshow_json, diff, diff.lightshow_filename or "lightshow")


def _parse_objects(data: dict[str, Any], diff: model.Difficulty, name: str) -> None:
    notes_data = get_array(data, "colorNotesData", name)
    bombs_data = get_array(data, "bombNotesData", name)
    walls_data = get_array(data, "obstaclesData", name)
    arcs_data = get_array(data, "arcsData", name)
    chains_data = get_array(data, "chainsData", name)
    rotated = 0  # objects with a per-object lane rotation, which the model does not hold

    for _, obj in iter_objects(get_array(data, "colorNotes", name), name, "colorNotes"):
        diff.notes.append(_placed(model.ColorNote, obj, resolve(obj, "i", notes_data, "colorNotesData")))
        rotated += obj.number("r", 0.0) != 0
    for _, obj in iter_objects(get_array(data, "bombNotes", name), name, "bombNotes"):
        diff.bombs.append(_placed(model.BombNote, obj, resolve(obj, "i", bombs_data, "bombNotesData")))
        rotated += obj.number("r", 0.0) != 0
    for _, obj in iter_objects(get_array(data, "obstacles", name), name, "obstacles"):
        diff.obstacles.append(_placed(model.Obstacle, obj, resolve(obj, "i", walls_data, "obstaclesData")))
        rotated += obj.number("r", 0.0) != 0
    for _, obj in iter_objects(get_array(data, "arcs", name), name, "arcs"):
        head = resolve(obj, "hi", notes_data, "colorNotesData")
        tail = resolve(obj, "ti", notes_data, "colorNotesData")
        arc = resolve(obj, "ai", arcs_data, "arcsData")
        diff.arcs.append(
            model.Arc(**read_places({"obj": obj, "head": head, "tail": tail, "arc": arc}, ARC_V4))
        )
        rotated += obj.number("hr", 0.0) != 0 or obj.number("tr", 0.0) != 0
    for _, obj in iter_objects(get_array(data, "chains", name), name, "chains"):
        diff.chains.append(
            _chain(
                obj,
                resolve(obj, "i", notes_data, "colorNotesData"),
                resolve(obj, "ci", chains_data, "chainsData"),
            )
        )
        rotated += obj.number("hr", 0.0) != 0 or obj.number("tr", 0.0) != 0

    rotations_data = get_array(data, "spawnRotationsData", name)
    for _, obj in iter_objects(get_array(data, "spawnRotations", name), name, "spawnRotations"):
        rot = resolve(obj, "i", rotations_data, "spawnRotationsData")
        diff.rotations.append(
            model.RotationEvent(beat=obj.beat("b"), early=rot.integer("t") == 0, rotation=rot.number("r"))
        )

    if rotated:
        diff.unconverted.append(
            f"{name}: {rotated} objects carry a per-object lane rotation (r/hr/tr); the model keeps no lanes"
        )
    njs_events = get_array(data, "njsEvents", name)
    if njs_events:
        diff.unconverted.append(
            f"{name}: {len(njs_events)} NJS events dropped (NJS changes are not modelled)"
        )
    _parse_fakes(custom_data(data), diff, name, notes_data, bombs_data, walls_data, chains_data)


def _placed(cls: type, obj: ObjectReader, data: ObjectReader) -> Any:
    """A note, bomb or wall (`cls`): its beat from the object, its other fields from its data entry."""
    return cls(
        obj.beat("b"), **read_fields(data, _DATA_FIELDS[cls]), uninteractable=_uninteractable(obj, data)
    )


def _chain(obj: ObjectReader, head: ObjectReader, chain: ObjectReader) -> model.Chain:
    # `s` missing means 0 like every omitted v4 field (the game would crash on it; we keep what is written).
    return model.Chain(**read_places({"obj": obj, "head": head, "chain": chain}, CHAIN_V4))


def _uninteractable(obj: ObjectReader, data: ObjectReader) -> bool:
    """Noodle `uninteractable` in either customData (the object's or its shared data's); bad values ignored."""
    for reader in (obj, data):
        value = custom_data(reader.obj).get("uninteractable")
        if value is True:
            return True
    return False


def _parse_fakes(
    custom: dict[str, Any],
    diff: model.Difficulty,
    name: str,
    notes_data: list[Any],
    bombs_data: list[Any],
    walls_data: list[Any],
    chains_data: list[Any],
) -> None:
    """Noodle fake objects in the beatmap's customData (`fakeColorNotes`, `fakeBombNotes`, `fakeObstacles`,
    `fakeChains`/`fakeBurstSliders`), never counted as real objects.

    Heck has no published v4 layout, so both shapes are read: an entry carrying its own
    fields (the v3 shape, e.g. `{"b", "x", "y", "c", "d"}`) or a v4 object `{"b", "i"}`
    whose `i` points into the real data array. Malformed customData is ignored, never fatal.
    """

    def entries(*keys: str) -> list[ObjectReader]:
        for key in keys:
            items = custom.get(key)
            if isinstance(items, list):
                return [
                    ObjectReader(o, name, f"customData.{key}", i)
                    for i, o in enumerate(items)
                    if isinstance(o, dict)
                ]
        return []

    def placed(cls: type, obj: ObjectReader, data: list[Any], data_name: str, own: tuple[str, ...]) -> Any:
        if "i" in obj.obj and not any(k in obj.obj for k in own):
            return _placed(cls, obj, resolve(obj, "i", data, data_name))
        return _placed(cls, obj, obj)

    try:
        for obj in entries("fakeColorNotes"):
            diff.fake_notes.append(
                placed(model.ColorNote, obj, notes_data, "colorNotesData", ("x", "y", "c", "d"))
            )
        for obj in entries("fakeBombNotes"):
            diff.fake_bombs.append(placed(model.BombNote, obj, bombs_data, "bombNotesData", ("x", "y")))
        for obj in entries("fakeObstacles"):
            diff.fake_obstacles.append(
                placed(model.Obstacle, obj, walls_data, "obstaclesData", ("d", "x", "w"))
            )
        for obj in entries("fakeChains", "fakeBurstSliders"):
            if "ci" in obj.obj:
                head = resolve(obj, "i", notes_data, "colorNotesData")
                diff.fake_chains.append(_chain(obj, head, resolve(obj, "ci", chains_data, "chainsData")))
            else:  # the v3 burst slider shape, every field inline
                diff.fake_chains.append(model.Chain(**read_fields(obj, CHAIN_V3)))
    except InvalidValueError as exc:
        diff.fake_notes.clear()
        diff.fake_bombs.clear()
        diff.fake_obstacles.clear()
        diff.fake_chains.clear()
        diff.unconverted.append(f"{name}: Noodle fake objects ignored: {exc}")


# ------------------------------------------------------------------------------------------------ helpers


def _sub_object(data: dict[str, Any], key: str, filename: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidValueError(f"{filename}: {key} must be an object")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    """A list of strings from customData/authors; non-strings and non-lists are ignored."""
    if isinstance(value, str):
        return (value,) if value else ()
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str) and v)

"""Hostile and broken map zips: one per failure mode of the zip safety rules and the blacklist.

Each zip is named `broken_<kind>.zip` so a test can check that the pipeline excluded it for
the right reason. Apart from its one defect every zip is a good map (a 32 s song, Standard
Hard + Expert, sane density), so it trips exactly one rule. The zip bomb is written streaming:
its 129 MiB member never exists in memory.
"""

from __future__ import annotations

import json
import stat
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from automapper_ml.atomic import atomic_path, write_bytes_atomic
from automapper_ml.formats.model import BeatMap, ColorNote, Difficulty, Obstacle
from automapper_ml.formats.writer import write_map
from automapper_ml.synth.audio import SAMPLE_RATE, encode_ogg, render_song
from automapper_ml.synth.charting import ChartOptions, chart_difficulties
from automapper_ml.synth.composition import Song, compose_song
from automapper_ml.synth.lighting import copy_events, light_show
from automapper_ml.synth.sidecar import beatsaver_record

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: same seed, same bytes
BOMB_BYTES = 129 * 1024 * 1024  # just past the 128 MiB member cap
BASE_SECONDS = 32.0
SHORT_SECONDS = 13.0

# kind -> what is wrong with broken_<kind>.zip (one line each)
BROKEN_KINDS: dict[str, str] = {
    "zip_slip": "a member named ../evil.dat escapes the archive",
    "absolute_path": "a member has an absolute path (/tmp/evil.dat)",
    "symlink": "a member is a symbolic link",
    "zip_bomb": "a member inflates to 129 MiB from a tiny compressed size",
    "truncated_zip": "the archive is cut off halfway",
    "not_a_zip": "the file is not a zip at all",
    "bad_json": "a difficulty file is not valid JSON",
    "missing_difficulty": "the only difficulty file listed in Info.dat is absent",
    "missing_info": "there is no Info.dat",
    "unknown_version": "a difficulty file declares format version 9.0.0",
    "nan_value": "a note's beat is the JSON literal NaN",
    "long_wall": "a 936-beat wall in a 32 s song",
    "no_expert": "Standard has only Easy and Normal",
    "short_song": "the song lasts 13 s",
    "few_notes": "the Expert difficulty has 15 notes",
    "too_dense": "more than 2000 notes per minute",
    "wall_heavy": "walls are over 90% of the objects",
    "noodle_only": "every difficulty requires Noodle Extensions",
    "mapping_extensions": "every difficulty requires Mapping Extensions",
    "vivify": "every difficulty requires Vivify",
    "ai_map": "the sidecar declares it AI-made (declaredAi SageScore, automapper true)",
    "bad_audio": "song.egg is garbage that no decoder reads",
}


@dataclass(frozen=True, slots=True)
class BrokenZip:
    path: Path  # raw/broken_<kind>.zip
    kind: str  # key of BROKEN_KINDS
    description: str  # BROKEN_KINDS[kind]
    sidecar: Path | None = None  # raw/broken_<kind>.json, only for the AI map


def write_broken_set(raw: Path, seed: int, kinds: tuple[str, ...] | None = None) -> list[BrokenZip]:
    """Write `broken_<kind>.zip` into `raw` for every kind (or the given ones); deterministic in `seed`."""
    raw.mkdir(parents=True, exist_ok=True)
    song = compose_song(seed, BASE_SECONDS, title="Broken Record", artist="Demo Faults")
    audio = encode_ogg(render_song(song))
    base = _base_map(song, seed)
    out = []
    for kind in kinds or tuple(BROKEN_KINDS):
        if kind not in BROKEN_KINDS:
            raise ValueError(f"unknown broken kind {kind!r}; known: {', '.join(BROKEN_KINDS)}")
        path = raw / f"broken_{kind}.zip"
        sidecar = _WRITERS[kind](path, base, audio, song, seed)
        out.append(BrokenZip(path, kind, BROKEN_KINDS[kind], sidecar))
    return out


def _base_map(song: Song, seed: int, names: tuple[str, ...] = ("Hard", "Expert")) -> BeatMap:
    rng = np.random.default_rng([seed, 404])
    return charted_map(song, rng, {n: ChartOptions() for n in names}, mapper="Faulty Mapper")


def charted_map(
    song: Song,
    rng: np.random.Generator,
    options: dict[str, ChartOptions],
    mapper: str,
    audio_filename: str = "song.egg",
) -> BeatMap:
    """A good v2.1-info map of `song`: the Standard difficulties `options` names (easiest first),
    charted with their options, each with a copy of one light show (no Chroma), all drawn from `rng`."""
    diffs = chart_difficulties(song, list(options), rng, options)
    events, boosts = light_show(song, rng)
    for d in diffs:
        d.events, d.boosts = copy_events(events), list(boosts)
    return BeatMap(
        info_version="2.1.0",
        title=song.title,
        artist=song.artist,
        mapper=mapper,
        bpm=song.bpm,
        audio_filename=audio_filename,
        song_frequency=SAMPLE_RATE,
        song_sample_count=int(round(song.seconds * SAMPLE_RATE)),
        difficulties=diffs,
    )


def _good_members(base: BeatMap, audio: bytes) -> dict[str, bytes]:
    """The members write_map gives the map (v3), in its order."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_map(base, Path(tmp) / "map.zip", audio=audio, version="3")
        with zipfile.ZipFile(path) as zf:
            return {name: zf.read(name) for name in zf.namelist()}


def _zip_bytes(base: BeatMap, audio: bytes) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return write_map(base, Path(tmp) / "map.zip", audio=audio, version="3").read_bytes()


def write_zip(
    path: Path, members: dict[str, bytes], extra: tuple[tuple[zipfile.ZipInfo, bytes], ...] = ()
) -> None:
    """Atomically write `members` (in order) plus raw `extra` entries, with fixed timestamps."""
    _atomic(path, lambda f: _fill_zip(f, members, extra))


def _fill_zip(handle, members: dict[str, bytes], extra) -> None:
    with zipfile.ZipFile(handle, "w") as zf:
        _add_members(zf, members)
        for info, data in extra:
            zf.writestr(info, data)


def _add_members(zf: zipfile.ZipFile, members: dict[str, bytes]) -> None:
    for name, data in members.items():
        info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
        # Ogg is already compressed (and write_map stores it too)
        info.compress_type = zipfile.ZIP_STORED if name.endswith(".egg") else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        zf.writestr(info, data)


def _atomic(path: Path, fill: Callable) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        fill(handle)


def _extra(name: str, data: bytes, *, symlink: bool = False) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(date_time=ZIP_DATE)
    info.filename = name  # set directly: the constructor would not keep a leading "/" on every Python
    info.create_system = 3  # unix, so the mode bits below are read
    info.external_attr = ((stat.S_IFLNK | 0o777) if symlink else (stat.S_IFREG | 0o644)) << 16
    return info, data


def _expert_name(members: dict[str, bytes]) -> str:
    return next(n for n in members if n.startswith("Expert") and n.endswith(".dat"))


def _mutated_difficulty(members: dict[str, bytes], change: Callable[[dict], None]) -> dict[str, bytes]:
    name = _expert_name(members)
    doc = json.loads(members[name])
    change(doc)
    return {**members, name: json.dumps(doc, allow_nan=True, separators=(",", ":")).encode()}


# ----------------------------------------------------------- one writer per kind ---------------------


def _zip_slip(path, base, audio, song, seed):
    write_zip(path, _good_members(base, audio), (_extra("../evil.dat", b"escaped\n"),))


def _absolute_path(path, base, audio, song, seed):
    write_zip(path, _good_members(base, audio), (_extra("/tmp/evil.dat", b"absolute\n"),))


def _symlink(path, base, audio, song, seed):
    write_zip(
        path, _good_members(base, audio), (_extra("cover.jpg", b"../../../../etc/passwd", symlink=True),)
    )


def _zip_bomb(path, base, audio, song, seed):
    members = _good_members(base, audio)
    name = _expert_name(members)
    doc = members.pop(name)

    def fill(handle) -> None:
        with zipfile.ZipFile(handle, "w") as zf:
            _add_members(zf, members)
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as member:
                member.write(doc)  # valid JSON followed by 129 MiB of (legal) whitespace
                chunk = b" " * (1024 * 1024)
                for _ in range(BOMB_BYTES // len(chunk)):
                    member.write(chunk)

    _atomic(path, fill)


def _truncated_zip(path, base, audio, song, seed):
    data = _zip_bytes(base, audio)
    write_bytes_atomic(path, data[: len(data) // 2])


def _not_a_zip(path, base, audio, song, seed):
    write_bytes_atomic(path, b"<html><body>404 Not Found</body></html>\n" * 8)


def _bad_json(path, base, audio, song, seed):
    members = _good_members(base, audio)
    name = _expert_name(members)
    write_zip(path, {**members, name: members[name][: len(members[name]) // 2]})


def _missing_difficulty(path, base, audio, song, seed):
    only = replace(base, difficulties=[d for d in base.difficulties if d.name == "Expert"])
    members = _good_members(only, audio)
    del members[_expert_name(members)]
    write_zip(path, members)


def _missing_info(path, base, audio, song, seed):
    members = _good_members(base, audio)
    del members["Info.dat"]
    write_zip(path, members)


def _unknown_version(path, base, audio, song, seed):
    write_zip(path, _mutated_difficulty(_good_members(base, audio), lambda doc: doc.update(version="9.0.0")))


def _nan_value(path, base, audio, song, seed):
    def change(doc: dict) -> None:
        doc["colorNotes"][len(doc["colorNotes"]) // 2]["b"] = float("nan")

    write_zip(path, _mutated_difficulty(_good_members(base, audio), change))


def _write_variant(path: Path, beatmap: BeatMap, audio: bytes) -> None:
    write_map(beatmap, path, audio=audio, version="3")


def _long_wall(path, base, audio, song, seed):
    expert = base.difficulty("Standard", "Expert")
    wall = Obstacle(beat=4.0, duration=936.0, x=0, y=0, width=1, height=5)
    diff = replace(expert, obstacles=[*expert.obstacles, wall])
    _write_variant(path, _with_difficulty(base, diff), audio)


def _no_expert(path, base, audio, song, seed):
    _write_variant(path, _base_map(song, seed, ("Easy", "Normal")), audio)


def _short_song(path, base, audio, song, seed):
    short = compose_song(seed + 1, SHORT_SECONDS, title="Too Short", artist="Demo Faults")
    _write_variant(path, _base_map(short, seed, ("ExpertPlus",)), encode_ogg(render_song(short)))


def _few_notes(path, base, audio, song, seed):
    expert = base.difficulty("Standard", "Expert")
    _write_variant(path, _with_difficulty(base, replace(expert, notes=expert.notes[:15])), audio)


def _too_dense(path, base, audio, song, seed):
    timing = song.timing()
    seconds = timing.to_seconds(song.end_beat)
    step = song.end_beat / (40.0 * seconds)  # 40 notes per second = 2400 per minute
    notes = [
        ColorNote(beat=round(i * step, 4), x=(i % 2) * 3, y=i // 2 % 3, color=i % 2, direction=1 - i // 2 % 2)
        for i in range(int(song.end_beat / step))
    ]
    diff = replace(base.difficulty("Standard", "Expert"), notes=notes, arcs=[], chains=[])
    _write_variant(path, _with_difficulty(base, diff), audio)


def _wall_heavy(path, base, audio, song, seed):
    expert = base.difficulty("Standard", "Expert")
    notes = expert.notes[:30]
    step = song.end_beat / 400  # 400 short walls spread over the song, none past its end
    walls = [
        Obstacle(
            beat=round(i * step, 4), duration=round(0.8 * step, 4), x=3 * (i % 2), y=0, width=1, height=5
        )
        for i in range(400)
    ]
    _write_variant(path, _with_difficulty(base, replace(expert, notes=notes, obstacles=walls)), audio)


def _requiring(mod: str):
    def write(path, base, audio, song, seed):
        diffs = [replace(d, requirements=(mod,)) for d in base.difficulties]
        _write_variant(path, replace(base, difficulties=diffs), audio)

    return write


def _ai_map(path, base, audio, song, seed):
    ai = replace(base, mapper="Beat Sage")
    _write_variant(path, ai, audio)
    record = beatsaver_record(
        ai, key="b0ba", zip_bytes=path.read_bytes(), audio_seconds=song.seconds,
        rng=np.random.default_rng([seed, 405]), declared_ai="SageScore",
    )  # fmt: skip
    sidecar = path.with_suffix(".json")
    write_bytes_atomic(sidecar, json.dumps(record, indent=2).encode())
    return sidecar


def _bad_audio(path, base, audio, song, seed):
    members = _good_members(base, audio)
    garbage = np.random.default_rng([seed, 406]).integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes()
    members["song.egg"] = b"OggS" + garbage  # right magic, then noise: only decoding can tell
    write_zip(path, members)


def _with_difficulty(base: BeatMap, diff: Difficulty) -> BeatMap:
    return replace(base, difficulties=[diff if d.key == diff.key else d for d in base.difficulties])


_WRITERS = {
    "zip_slip": _zip_slip,
    "absolute_path": _absolute_path,
    "symlink": _symlink,
    "zip_bomb": _zip_bomb,
    "truncated_zip": _truncated_zip,
    "not_a_zip": _not_a_zip,
    "bad_json": _bad_json,
    "missing_difficulty": _missing_difficulty,
    "missing_info": _missing_info,
    "unknown_version": _unknown_version,
    "nan_value": _nan_value,
    "long_wall": _long_wall,
    "no_expert": _no_expert,
    "short_song": _short_song,
    "few_notes": _few_notes,
    "too_dense": _too_dense,
    "wall_heavy": _wall_heavy,
    "noodle_only": _requiring("Noodle Extensions"),
    "mapping_extensions": _requiring("Mapping Extensions"),
    "vivify": _requiring("Vivify"),
    "ai_map": _ai_map,
    "bad_audio": _bad_audio,
}

"""The osu! raw folder as tables: one row per osu!standard difficulty, one row per problem.

    entries = scan_osz(raw_dir, cache_path)           # every *.osz with its (cached) sha256
    manifest, rejected = build_osu_manifest(raw_dir, entries)

Bad input never raises: a set that is not a readable zip, has no .osu, names no audio or names an
audio file it does not hold is one set-level `rejected` row; a `.osu` the reader refuses (a broken
line, another game mode) is one difficulty-level row with its code and one-line reason (the mode
name for another mode). The sha256 cache works like `rawzips.scan_raw`'s: keyed by file name, reused
while (size, mtime_ns) match.

Spacing and playfield figures are computed here from the `.osu` data alone (`data` may not import
`evaluation`): `spacing_median` is the head-to-head distance per beat of consecutive non-spinner
objects (the judge measures from a slider's END, so its figure is lower on slider-heavy maps) and
`off_playfield` counts heads and last slider anchors outside 512 x 384 (inner bezier anchors may
lie outside while the path does not; the judge samples the drawn path). A future asset may add the judge's own figures next to these.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from automapper_ml.atomic import write_atomic
from automapper_ml.data.rawzips import SHA_CACHE_VERSION, _load_sha_cache, sha256_file
from automapper_ml.formats.errors import MapError
from automapper_ml.formats.osu import (
    PLAYFIELD_HEIGHT,
    PLAYFIELD_WIDTH,
    OsuMap,
    Slider,
    Spinner,
    UnsupportedModeError,
    read_osz,
)
from automapper_ml.formats.safezip import SafeZip

OSZ_SUFFIX = ".osz"
MAX_SPACING_BEATS = 4.0  # a longer gap is a pause, not spacing

OSU_MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "set_file": pl.String,
    "set_sha256": pl.String,
    "difficulty_file": pl.String,
    "difficulty": pl.String,  # [Metadata] Version
    "format_version": pl.Int64,
    "mode": pl.String,
    "ar": pl.Float64,
    "cs": pl.Float64,
    "od": pl.Float64,
    "hp": pl.Float64,
    "circles": pl.Int64,
    "sliders": pl.Int64,
    "spinners": pl.Int64,
    "objects": pl.Int64,
    "length_s": pl.Float64,  # first object start to last object start (spinner: its end)
    "main_bpm": pl.Float64,
    "new_combo_rate": pl.Float64,  # new combos / objects
    "spacing_median": pl.Float64,  # osu!pixels per beat, head to head (NaN with < 2 spaced objects)
    "off_playfield": pl.Int64,  # heads and last slider anchors outside the playfield
    "content_sha256": pl.String,  # sha256 of the difficulty's .osu bytes
    "title": pl.String,
    "artist": pl.String,
    "creator": pl.String,
    "audio_file": pl.String,
}

OSU_REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "set_file": pl.String,
    "set_sha256": pl.String,
    "scope": pl.String,  # set | difficulty
    "difficulty_file": pl.String,  # null for a set row
    "code": pl.String,
    "reason": pl.String,
}


@dataclass(frozen=True, slots=True)
class OszEntry:
    """One `*.osz` in the raw folder as found on disk."""

    name: str
    size: int
    mtime_ns: int
    sha256: str  # "" when `problem` is set
    problem: str = ""  # not_regular_file | unreadable


def scan_osz(raw_dir: Path, cache_path: Path | None = None) -> list[OszEntry]:
    """Every `*.osz` (any case) directly in `raw_dir`, sorted by name, hashing only changed files.
    Links and other non-regular files are listed with a problem, never followed."""
    if not raw_dir.is_dir():
        return []
    cache = _load_sha_cache(cache_path)  # the same cache format as raw/'s
    new_cache: dict[str, list] = {}
    entries: list[OszEntry] = []
    names = sorted(e.name for e in os.scandir(raw_dir) if e.name.lower().endswith(OSZ_SUFFIX))
    for name in names:
        try:
            st = os.stat(raw_dir / name, follow_symlinks=False)
        except OSError:
            continue  # vanished between listing and stat
        if not stat.S_ISREG(st.st_mode):
            entries.append(OszEntry(name, 0, 0, "", "not_regular_file"))
            continue
        cached = cache.get(name)
        if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
            sha = cached[2]
        else:
            try:
                sha = sha256_file(raw_dir / name)
            except OSError:
                entries.append(OszEntry(name, st.st_size, st.st_mtime_ns, "", "unreadable"))
                continue
        new_cache[name] = [st.st_size, st.st_mtime_ns, sha]
        entries.append(OszEntry(name, st.st_size, st.st_mtime_ns, sha))
    if cache_path is not None and new_cache != cache:
        payload = {"version": SHA_CACHE_VERSION, "entries": new_cache}
        write_atomic(cache_path, json.dumps(payload, sort_keys=True).encode())
    return entries


# ------------------------------------------------------------------------------ figures


def _beat_length_at(m: OsuMap):
    red = sorted((p for p in m.timing_points if p.uninherited and p.beat_length > 0), key=lambda p: p.time)
    times = [p.time for p in red]
    lengths = [p.beat_length for p in red] or [500.0]

    def at(time: float) -> float:
        return lengths[max(0, bisect_right(times, time) - 1)]

    return times, lengths, at


def _main_bpm(m: OsuMap, start: float, end: float) -> float:
    """The tempo held for the longest stretch of [start, end]; 0 without uninherited points."""
    times, lengths, at = _beat_length_at(m)
    if not times:
        return 0.0
    held: dict[float, float] = {}
    edges = [start, *(t for t in times if start < t < end), end]
    for lo, hi in zip(edges, edges[1:], strict=False):
        held[at(lo)] = held.get(at(lo), 0.0) + (hi - lo)
    best = max(held, key=lambda k: (held[k], -k))
    return 60_000.0 / best


def _spacing_median(m: OsuMap) -> float:
    _, _, at = _beat_length_at(m)
    heads = sorted((o for o in m.hit_objects if not isinstance(o, Spinner)), key=lambda o: o.time)
    values = []
    for a, b in zip(heads, heads[1:], strict=False):
        beats = (b.time - a.time) / at(b.time)
        if 0 < beats <= MAX_SPACING_BEATS:
            values.append(math.hypot(b.x - a.x, b.y - a.y) / beats)
    if not values:
        return math.nan
    values.sort()
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _outside(x: float, y: float) -> bool:
    return not (0 <= x <= PLAYFIELD_WIDTH and 0 <= y <= PLAYFIELD_HEIGHT)


def _off_playfield(m: OsuMap) -> int:
    count = 0
    for o in m.hit_objects:
        if isinstance(o, Spinner):
            continue
        count += _outside(o.x, o.y)
        if isinstance(o, Slider):
            last = o.curve[-1].points[-1] if o.curve and o.curve[-1].points else None
            count += last is not None and _outside(*last)
    return count


def difficulty_row(m: OsuMap) -> dict:
    """The manifest's per-map figures of one osu!standard difficulty (no set or file columns)."""
    objs = m.hit_objects
    circles = sum(1 for o in objs if not isinstance(o, (Slider, Spinner)))
    sliders = sum(1 for o in objs if isinstance(o, Slider))
    spinners = sum(1 for o in objs if isinstance(o, Spinner))
    if objs:
        start = min(o.time for o in objs)
        end = max(o.end if isinstance(o, Spinner) else o.time for o in objs)
    else:
        start = end = 0.0
    d, md = m.difficulty, m.metadata
    return {
        "format_version": m.version,
        "mode": "osu!standard",
        "ar": d.ar,
        "cs": d.cs,
        "od": d.od,
        "hp": d.hp,
        "circles": circles,
        "sliders": sliders,
        "spinners": spinners,
        "objects": len(objs),
        "length_s": (end - start) / 1000.0,
        "main_bpm": _main_bpm(m, start, end),
        "new_combo_rate": sum(o.new_combo for o in objs) / len(objs) if objs else 0.0,
        "spacing_median": _spacing_median(m),
        "off_playfield": _off_playfield(m),
        "difficulty": md.version,
        "title": md.title,
        "artist": md.artist,
        "creator": md.creator,
        "audio_file": m.general.audio_filename,
    }


# ------------------------------------------------------------------------------ tables


def _set_rows(raw_dir: Path, e: OszEntry) -> tuple[list[dict], list[dict]]:
    """(manifest rows, rejected rows) of one set; never raises for bad input."""

    def reject(code: str, reason: str, member: str | None = None) -> dict:
        scope = "set" if member is None else "difficulty"
        return {"set_file": e.name, "set_sha256": e.sha256, "scope": scope, "difficulty_file": member,
                "code": code, "reason": reason}  # fmt: skip

    if e.problem:
        return [], [reject(e.problem, f"{e.name} is {e.problem.replace('_', ' ')}")]
    path = raw_dir / e.name
    try:
        with SafeZip(path) as archive:
            names = archive.names()
            osu_bytes = {n: archive.read(n) for n in names if n.casefold().endswith(".osu")}
        osz = read_osz(path)
    except MapError as err:  # the reason names the set, not the folder it lies in
        return [], [reject(err.code, err.reason.replace(str(path), e.name))]
    except OSError as err:
        return [], [reject("unreadable", f"cannot read {e.name}: {err.strerror or err}")]
    if not osu_bytes:
        return [], [reject("no_difficulties", "the set holds no .osu file")]
    rejected = []
    for member, err in osz.refused:
        if isinstance(err, UnsupportedModeError):
            rejected.append(reject("unsupported_mode", f"{err.mode_name} difficulty", member))
        else:
            rejected.append(reject(err.code, err.reason, member))
    members = {n.casefold() for n in names}
    audio_names = {m.general.audio_filename for _, m in osz.beatmaps if m.general.audio_filename}
    if osz.beatmaps and not audio_names:
        return [], [reject("no_audio", "no difficulty names an audio file"), *rejected]
    missing = sorted(a for a in audio_names if a.casefold() not in members)
    if missing:
        return [], [reject("audio_missing", f"audio {missing[0]!r} is not in the set"), *rejected]
    rows = []
    for member, m in osz.beatmaps:
        row = {"set_file": e.name, "set_sha256": e.sha256, "difficulty_file": member}
        row |= difficulty_row(m)
        row["content_sha256"] = hashlib.sha256(osu_bytes[member]).hexdigest()
        rows.append(row)
    return rows, rejected


def build_osu_manifest(raw_dir: Path, entries: list[OszEntry]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(manifest, rejected) over `entries` (from `scan_osz`), sorted, deterministic."""
    rows: list[dict] = []
    rejected: list[dict] = []
    for e in sorted(entries, key=lambda x: x.name):
        got, bad = _set_rows(raw_dir, e)
        rows += got
        rejected += bad
    manifest = pl.DataFrame(rows, schema=OSU_MANIFEST_SCHEMA).sort(["set_file", "difficulty_file"])
    rej = pl.DataFrame(rejected, schema=OSU_REJECTED_SCHEMA).sort(
        ["set_file", "scope", "difficulty_file"], nulls_last=False
    )
    return manifest, rej

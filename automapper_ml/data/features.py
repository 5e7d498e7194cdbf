"""Per-map processing into the feature stores, incremental per shard.

Two stores, versioned independently (a version bump writes a new store folder, so training
reading the old snapshot is never disturbed):

- audio store (AUDIO_FEATURES_VERSION), one record per map zip, key = map id (in the asset
      graph the zip's exact file name, so `x.zip` and `x.ZIP` are two records):
      mel (N_MELS, T) float16, structure (N_STRUCTURE, T) float16, beats (n_beats,) float64
      seconds of every whole beat (map BPM + BPM changes); meta: zip_sha, duration, n_frames.
- token store (TOKENIZER_VERSION + the frame rule), one record per Standard difficulty,
      key = "<map id>/<characteristic>/<difficulty>":
      onset_frames (n_onsets,) int32, the frames of the distinct times of colour notes and chain
          heads (what a player hits; bombs and walls alone are not onsets). The stage-1 Gaussian
          targets are a pure function of these (`models.onset.gaussian_targets`, sigma from the
          onset config), so they are computed when a batch is built instead of stored densely;
      note_tokens (n,) int32 = every note group's tokens back to back; note_offsets (groups + 1,)
          int32; note_beats (groups,) float64; note_frames (groups,) int32;
      light_tokens / light_offsets / light_beats likewise for lighting groups (half-beat grid);
      meta: zip_sha, difficulty, rank, n_notes, onsets_sha (hash of onset_frames: frame_index
      uses it so a tokenizer change that keeps the onsets keeps its data version).

`process_shard` keeps every record of the previous snapshot whose zip sha is unchanged, reads
only new or changed zips, and drops deleted ones. Nothing one map does reaches another: any
exception while processing it (MemoryError included) quarantines that map with a one-line
reason, and so does a record whose arrays do not fit the others of the segment; it never fails
the shard. An optional `screen` skips maps before they are read: `parse_screen` skips what
ingest excludes for the zip's bytes alone (a rejected zip, a song over the length limit, a
silent song), so the audio shards never decode a song the blacklist refuses.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from automapper_ml import audio
from automapper_ml.data.blacklist import silent
from automapper_ml.data.ingest_config import BlacklistRules
from automapper_ml.data.manifest import ZIP_SCHEMA, cached_zip_facts, checked, parse_zip
from automapper_ml.data.quarantine import one_line_reason
from automapper_ml.data.rawzips import ZipEntry
from automapper_ml.data.store import Record, SnapshotReader, segment_records, write_segment, write_snapshot
from automapper_ml.formats import BeatMap, open_map_source, read_map
from automapper_ml.formats.model import DIFFICULTY_INDEX
from automapper_ml.tokenizer import TOKENIZER_VERSION, encode_lights, encode_notes

TRAIN_CHARACTERISTICS = ("Standard",)
LIGHT_STEP = 0.5  # beats per lighting group


def audio_store_version() -> str:
    return f"audio-v{AUDIO_FEATURES_VERSION}-sr{audio.SAMPLE_RATE}-hop{audio.HOP_LENGTH}-mel{audio.N_MELS}"


def token_store_version() -> str:
    return f"tokens-v{TOKENIZER_VERSION}-sr{audio.SAMPLE_RATE}-hop{audio.HOP_LENGTH}"


AUDIO_FEATURES_VERSION = audio.AUDIO_FEATURES_VERSION


@dataclass(frozen=True, slots=True)
class MapZip:
    """One map a shard processes: a `rawzips.ZipEntry` found readable, located and hashed (or any zip a
    caller names, e.g. the demo's onset index)."""

    map_id: str  # the map's key in the stores, unique inside raw/ (the assets use the zip's file name)
    path: Path
    sha: str  # sha256 of the zip bytes

    @classmethod
    def of(cls, entry: ZipEntry, raw_dir: Path) -> MapZip:
        """The readable `entry` of `raw_dir` (its exact zip name is the map's key)."""
        return cls(entry.name, entry.path(raw_dir), entry.sha256)


class Quarantined(NamedTuple):
    """A map of a shard with no record, and why."""

    map_id: str
    zip_sha: str
    rule: str  # the error's code (MapError/AudioError), a parse code, silent_audio or internal_error
    reason: str  # one line


@dataclass
class ShardResult:
    snapshot: Path | None  # None when the shard holds no record
    maps_processed: int  # zips read and processed in this run
    maps_reused: int  # zips whose records came from the previous snapshot
    records: int  # records in the new snapshot
    failures: list[Quarantined] = field(default_factory=list)  # maps read that failed
    skipped: list[Quarantined] = field(default_factory=list)  # maps the screen kept from being read


def audio_records(entry: MapZip) -> list[Record]:
    """Decode the map's audio and compute its features: one record."""
    with open_map_source(entry.path) as source:
        beatmap = read_map(source)
        song = source.read_bytes(beatmap.audio_filename)
    samples = audio.load_audio(song)
    feats = audio.compute_features(samples)
    timing = beatmap.timing(_standard_or_first(beatmap))
    beats = audio.beat_grid(timing, feats.duration)
    return [
        Record(
            key=entry.map_id,
            arrays={
                "mel": feats.mel.astype(np.float16),
                "structure": feats.structure.astype(np.float16),
                "beats": beats.astype(np.float64),
            },
            meta={"zip_sha": entry.sha, "duration": feats.duration, "n_frames": feats.n_frames},
        )
    ]


def token_records(entry: MapZip) -> list[Record]:
    """Tokenize every Standard difficulty of the map: one record each."""
    with open_map_source(entry.path) as source:
        beatmap = read_map(source)
    return [_difficulty_record(entry, beatmap, diff) for diff in beatmap.difficulties
            if diff.characteristic in TRAIN_CHARACTERISTICS and diff.name in DIFFICULTY_INDEX]  # fmt: skip


def _difficulty_record(entry: MapZip, beatmap: BeatMap, diff) -> Record:
    timing = beatmap.timing(diff)
    groups = encode_notes(diff)
    note_beats = np.array([g.beat for g in groups], dtype=np.float64)
    note_frames = np.array([audio.seconds_to_frame(timing.to_seconds(b)) for b in note_beats], dtype=np.int32)
    hit_beats = sorted({n.beat for n in diff.notes if not n.uninteractable} | {c.beat for c in diff.chains})
    onset_frames = np.unique(
        np.array([audio.seconds_to_frame(timing.to_seconds(b)) for b in hit_beats], dtype=np.int32)
    )
    onset_frames = onset_frames[onset_frames >= 0]
    lights = encode_lights(diff, step=LIGHT_STEP)
    return Record(
        key=f"{entry.map_id}/{diff.characteristic}/{diff.name}",
        arrays={
            "onset_frames": onset_frames.astype(np.int32),
            "note_tokens": _concat([g.tokens for g in groups]),
            "note_offsets": _offsets([g.tokens for g in groups]),
            "note_beats": note_beats,
            "note_frames": note_frames,
            "light_tokens": _concat([g.tokens for g in lights]),
            "light_offsets": _offsets([g.tokens for g in lights]),
            "light_beats": np.array([g.beat for g in lights], dtype=np.float64),
        },
        meta={
            "map_id": entry.map_id,
            "zip_sha": entry.sha,
            "characteristic": diff.characteristic,
            "difficulty": diff.name,
            "difficulty_index": DIFFICULTY_INDEX[diff.name],
            "n_notes": len(diff.notes),
            "n_groups": len(groups),
            "onsets_sha": hashlib.sha256(onset_frames.astype(np.int32).tobytes()).hexdigest()[:16],
        },
    )


Screen = Callable[[MapZip], Quarantined | None]


def parse_screen(cache_dir: Path, rules: BlacklistRules) -> Screen:
    """A screen that skips a zip ingest rejects (its parse code) or whose song is silent (the
    blacklist's silent_audio rule under `rules`). It reads the zip's parse facts from the parse
    cache under `cache_dir` (map_manifest's, same bytes and code version) or, when the cache does
    not hold them yet, parses the zip itself (blocked decoding, header length check first)."""
    known = cached_zip_facts(cache_dir)
    condition, reason = silent(rules)

    def screen(entry: MapZip) -> Quarantined | None:
        facts = known.get(entry.sha) or checked(entry.sha, *parse_zip(str(entry.path), entry.sha))[0]
        if facts["error_code"] is not None:
            return Quarantined(entry.map_id, entry.sha, facts["error_code"], facts["error_reason"])
        hit = pl.DataFrame([facts], schema=ZIP_SCHEMA).filter(condition).select(reason)
        return Quarantined(entry.map_id, entry.sha, "silent_audio", hit.item()) if hit.height else None

    return screen


def _layout(records: list[Record]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Array name -> (dtype, leading dimensions), which one segment's records must share."""
    layouts = [{k: (v.dtype.str, v.shape[:-1]) for k, v in r.arrays.items()} for r in records]
    if any(layout != layouts[0] for layout in layouts):
        raise ValueError(f"the map's records hold differently shaped arrays: {layouts}")
    return layouts[0] if layouts else {}


def process_shard(
    entries: Sequence[MapZip],
    store: str | os.PathLike,
    shard: str,
    make_records: Callable[[MapZip], list[Record]],
    previous: str | os.PathLike | None = None,
    screen: Screen | None = None,
) -> ShardResult:
    """Bring one shard's snapshot up to date with `entries` (the shard's zips now).

    Records of unchanged zips (same sha) are taken from `previous`; new and changed zips the
    `screen` lets through are processed with `make_records`; zips no longer listed disappear.
    Any exception of one map quarantines that map alone (`ShardResult.failures`)."""
    store = Path(store)
    prior_rows: dict[str, pl.DataFrame] = {}
    if previous and Path(previous).exists():
        table = SnapshotReader(previous).table
        table = table.with_columns(pl.col("key").str.split("/").list.first().alias("_map"))
        prior_rows = {k[0]: df.drop("_map") for k, df in table.partition_by("_map", as_dict=True).items()}
    keep: list[pl.DataFrame] = []
    fresh: list[Record] = []
    fresh_layout: dict[str, tuple[str, tuple[int, ...]]] = {}
    failures: list[Quarantined] = []
    skipped: list[Quarantined] = []
    reused = processed = 0
    for entry in sorted(entries, key=lambda e: e.map_id):
        prior = prior_rows.get(entry.map_id)
        if prior is not None and (prior["zip_sha"] == entry.sha).all():
            keep.append(prior)
            reused += 1
            continue
        try:
            verdict = screen(entry) if screen is not None else None
            if verdict is not None:
                skipped.append(verdict)
                continue
            records = make_records(entry)
            layout = _layout(records)
            if fresh_layout and layout and layout != fresh_layout:
                raise ValueError(f"record arrays {layout} differ from the shard's {fresh_layout}")
        except Exception as err:  # MemoryError too: one song too big is that song's problem
            code = getattr(err, "code", None)
            rule = code if isinstance(code, str) and code else "internal_error"
            failures.append(Quarantined(entry.map_id, entry.sha, rule, one_line_reason(err)))
            continue
        fresh += records
        fresh_layout = fresh_layout or layout
        processed += 1
    frames = list(keep)
    if fresh:
        segment = write_segment(store, fresh)
        frames.append(segment_records(store, segment))
    if not frames:
        return ShardResult(None, processed, reused, 0, failures, skipped)
    rows = pl.concat(frames, how="diagonal_relaxed")
    snapshot = write_snapshot(store, shard, rows)
    return ShardResult(snapshot, processed, reused, rows.height, failures, skipped)


def _standard_or_first(beatmap: BeatMap):
    for diff in beatmap.difficulties:
        if diff.characteristic == "Standard":
            return diff
    return beatmap.difficulties[0] if beatmap.difficulties else None


def _concat(parts: list[list[int]]) -> np.ndarray:
    return np.array([t for p in parts for t in p], dtype=np.int32)


def _offsets(parts: list[list[int]]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int32)

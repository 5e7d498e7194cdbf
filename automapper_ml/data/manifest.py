"""The map manifest: one row per map x characteristic x difficulty, built incrementally.

Parsing a zip (read the map, decode the song, count objects) depends only on the zip's bytes,
so its result is cached by (zip sha256, MANIFEST_CODE_VERSION) under <home>/ingest/cache; a
new zip parses one map, not the whole folder. Sidecar metadata (ranked, rating, AI flags) is
read fresh on every build because BeatSaver records change while zips do not.

A zip that cannot be parsed at all (unsafe or corrupt archive, unreadable map, undecodable
song, no difficulty) becomes a row of the `rejected` table instead (code + one-line reason);
`outlier_blacklist` turns those into blacklist rows. Nothing one zip holds reaches another: any
exception while parsing it or assembling its rows rejects that zip alone (`internal_error`, with
`quarantine.one_line_reason`), every string is made safe for parquet before it is cached, and
each zip's rows are checked against the schema on their own, so the cache is saved whatever
failed and a rerun neither parses nor fails again.

Category per difficulty, from that difficulty's requirements + suggestions (Info.dat
customData), by precedence: "Vivify" -> vivify, else "Noodle Extensions" -> noodle, else
"Mapping Extensions" -> mapping_extensions, else "Chroma" -> chroma, else vanilla (names
compared case-insensitively after trimming). A requirement and a suggestion count the same.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from automapper_ml.atomic import write_parquet_atomic
from automapper_ml.data import rawzips
from automapper_ml.data.quarantine import one_line_reason, reason_text, safe_row, safe_text
from automapper_ml.data.rawzips import ZipEntry
from automapper_ml.data.sidecar import read_sidecar
from automapper_ml.data.songid import AudioDecodeError, assign_song_ids, audio_fingerprint, title_artist_key

MANIFEST_CODE_VERSION = "2"  # bump when parsing or a manifest column's meaning changes
_CHECKPOINT_EVERY = 500  # parsed zips between cache writes, so a crash keeps most of a long parse

CATEGORY_PRECEDENCE = (
    ("vivify", "vivify"),
    ("noodle extensions", "noodle"),
    ("mapping extensions", "mapping_extensions"),
    ("chroma", "chroma"),
)

# Parsed per-difficulty facts (cached) -> manifest columns; metadata columns come from the sidecar.
DIFF_SCHEMA: dict[str, pl.DataType] = {
    "zip_sha256": pl.String,
    "characteristic": pl.String,
    "difficulty": pl.String,
    "difficulty_rank": pl.Int32,
    "category": pl.String,
    "requirements": pl.List(pl.String),
    "suggestions": pl.List(pl.String),
    "format_version": pl.String,
    "njs": pl.Float64,
    "duration_s": pl.Float64,
    "nps": pl.Float64,
    "notes": pl.Int64,
    "bombs": pl.Int64,
    "walls": pl.Int64,
    "arcs": pl.Int64,
    "chains": pl.Int64,
    "events": pl.Int64,
    "boosts": pl.Int64,
    "fake_objects": pl.Int64,
    "check_code": pl.String,  # check_objects_within failure code, null when every object is in range
    "check_reason": pl.String,
}
# The DIFF_SCHEMA columns that are object counts, as formats.summary.object_counts names them.
_COUNT_COLUMNS = ("notes", "bombs", "walls", "arcs", "chains", "events", "boosts", "fake_objects")
ZIP_SCHEMA: dict[str, pl.DataType] = {
    "zip_sha256": pl.String,
    "code_version": pl.String,
    "error_code": pl.String,  # null when the zip parsed
    "error_reason": pl.String,
    "title": pl.String,
    "artist": pl.String,
    "mapper": pl.String,
    "bpm": pl.Float64,
    "info_version": pl.String,
    "audio_s": pl.Float64,
    "audio_fingerprint": pl.String,
    "audio_peak_dbfs": pl.Float64,  # RMS of the loudest 0.5 s window (songid; -120 = digital silence)
    "audio_silent_share": pl.Float64,  # share of 0.5 s windows under songid.SILENT_WINDOW_DBFS
}
META_SCHEMA: dict[str, pl.DataType] = {
    "ranked": pl.Boolean,  # ss_ranked OR bl_ranked (null when the sidecar states neither)
    "ss_ranked": pl.Boolean,
    "bl_ranked": pl.Boolean,
    "qualified": pl.Boolean,  # ScoreSaber OR BeatLeader qualified
    "rating": pl.Float64,  # BeatSaver stats.score, 0..1
    "upvotes": pl.Int64,
    "downvotes": pl.Int64,
    "declared_ai": pl.String,
    "automapper": pl.Boolean,
    "ai": pl.Boolean,  # declared_ai not "None" OR automapper (null when the sidecar states neither)
    "uploaded": pl.String,
    "tags": pl.List(pl.String),
}
MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "map_id": pl.String,
    "zip_name": pl.String,
    "shard": pl.String,
    "song_id": pl.String,
    **{k: v for k, v in ZIP_SCHEMA.items() if k not in ("code_version", "error_code", "error_reason")},
    **{k: v for k, v in DIFF_SCHEMA.items() if k != "zip_sha256"},
    **META_SCHEMA,
}
MANIFEST_KEY = ("zip_name", "characteristic", "difficulty")
REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "zip_name": pl.String,
    "zip_sha256": pl.String,
    "shard": pl.String,
    "map_id": pl.String,
    "code": pl.String,
    "reason": pl.String,
}


def category_of(requirements: tuple[str, ...] | list[str], suggestions: tuple[str, ...] | list[str]) -> str:
    """vanilla/chroma/noodle/mapping_extensions/vivify by the precedence in the module docstring."""
    names = {str(s).strip().casefold() for s in (*requirements, *suggestions)}
    for name, category in CATEGORY_PRECEDENCE:
        if name in names:
            return category
    return "vanilla"


PROBLEM_REASONS = {
    "not_regular_file": "not a regular file (link, folder or device)",
    "unreadable": "cannot be read",
}


def _error(sha: str, code: str, reason: str) -> dict[str, Any]:
    return {
        "zip_sha256": sha,
        "code_version": MANIFEST_CODE_VERSION,
        "error_code": code,
        "error_reason": reason_text(reason) or code,
    }


def parse_zip(path: str, sha: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read one zip: (zip facts, per-difficulty facts). Never raises: failures become `error_code`."""
    from automapper_ml.formats.errors import MapError
    from automapper_ml.formats.reader import check_objects_within, open_map_source, read_map
    from automapper_ml.formats.summary import object_counts

    name = Path(path).name
    try:
        with open_map_source(path) as source:
            # Lengths are checked per difficulty below against the DECODED song, not the stated one.
            beatmap = read_map(source, check_length=False)
            audio = source.read_bytes(beatmap.audio_filename)
        summary = audio_fingerprint(audio, f"{name}: {beatmap.audio_filename}")
    except MapError as exc:
        return _error(sha, exc.code, str(exc) or exc.code), []
    except AudioDecodeError as exc:
        return _error(sha, exc.code, str(exc)), []
    except Exception as exc:  # a reader bug (or MemoryError) must not lose the other 14,999 maps
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return _error(
            sha, "internal_error", one_line_reason(exc, f"{name} at {where.name}:{where.lineno}")
        ), []
    if not beatmap.difficulties:
        return _error(sha, "no_difficulties", f"{name}: Info.dat lists no difficulty"), []
    zip_facts = {
        "zip_sha256": sha,
        "code_version": MANIFEST_CODE_VERSION,
        "error_code": None,
        "error_reason": None,
        "title": beatmap.title,
        "artist": beatmap.artist,
        "mapper": beatmap.mapper,
        "bpm": float(beatmap.bpm),
        "info_version": beatmap.info_version,
        "audio_s": summary.seconds,
        "audio_fingerprint": summary.fingerprint,
        "audio_peak_dbfs": summary.peak_dbfs,
        "audio_silent_share": summary.silent_share,
    }
    rows = []
    for diff in beatmap.difficulties:
        check_code = check_reason = None
        try:
            check_objects_within(beatmap, diff, summary.seconds)
        except MapError as exc:
            check_code, check_reason = exc.code, str(exc) or exc.code
        counts = object_counts(diff)
        rows.append(
            {
                "zip_sha256": sha,
                "characteristic": diff.characteristic,
                "difficulty": diff.name,
                "difficulty_rank": int(diff.rank),
                "category": category_of(diff.requirements, diff.suggestions),
                "requirements": [str(r) for r in diff.requirements],
                "suggestions": [str(s) for s in diff.suggestions],
                "format_version": diff.version,
                "njs": float(diff.njs),
                "duration_s": float(beatmap.duration_seconds(diff, summary.seconds)),
                "nps": float(beatmap.nps(diff, summary.seconds)),
                **{key: counts[key] for key in _COUNT_COLUMNS},
                "check_code": check_code,
                "check_reason": check_reason,
            }
        )
    return zip_facts, rows


def checked(sha: str, zip_facts: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[dict, list]:
    """One zip's parse result made safe and checked against ZIP_SCHEMA/DIFF_SCHEMA on its own; a
    result that does not fit becomes that zip's `internal_error` (so the cache always saves)."""
    try:
        zip_facts, rows = safe_row(zip_facts), [safe_row(r) for r in rows]
        pl.DataFrame([zip_facts], schema=ZIP_SCHEMA)
        pl.DataFrame(rows, schema=DIFF_SCHEMA)
    except Exception as exc:
        return _error(sha, "internal_error", one_line_reason(exc, "parse result does not fit the cache")), []
    return zip_facts, rows


def _parse_many(jobs: list[tuple[str, str]], workers: int, on_result: Any) -> None:
    """Call on_result(sha, zip_facts, rows) for each (path, sha); in worker processes when worth it.

    A worker killed by a native crash (libsndfile on hostile audio) breaks the pool; the zips it
    left are then retried one process each, so only the zip that crashes is lost (as an error row).
    """
    if workers <= 1 or len(jobs) < 8:
        for path, sha in jobs:
            on_result(sha, *parse_zip(path, sha))
        return
    ctx = mp.get_context("spawn")  # fork is unsafe in a threaded Dagster process
    pending = {sha: path for path, sha in jobs}
    try:
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(parse_zip, path, sha): sha for sha, path in pending.items()}
            for fut in cf.as_completed(futures):
                sha = futures[fut]
                on_result(sha, *_result_of(fut, sha, pending[sha]))
                pending.pop(sha, None)
    except cf.process.BrokenProcessPool:
        for sha, path in list(pending.items()):
            try:
                with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as solo:
                    on_result(sha, *_result_of(solo.submit(parse_zip, path, sha), sha, path))
            except cf.process.BrokenProcessPool:
                on_result(
                    sha, _error(sha, "parser_crashed", f"{Path(path).name}: the parser process died"), []
                )


def _result_of(fut: cf.Future, sha: str, path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A worker's parse result; a result that cannot come back (unpicklable, MemoryError) is that
    zip's internal_error. A broken pool is not about one zip: the caller retries what is left."""
    try:
        return fut.result()
    except cf.process.BrokenProcessPool:
        raise
    except Exception as exc:
        return _error(
            sha, "internal_error", one_line_reason(exc, f"{Path(path).name}: parse result lost")
        ), []


@dataclass(frozen=True)
class ManifestBuild:
    manifest: pl.DataFrame  # MANIFEST_SCHEMA, sorted by MANIFEST_KEY
    rejected: pl.DataFrame  # REJECTED_SCHEMA: zips with no manifest rows, with code + reason
    zips: int  # zips seen in raw/
    parsed: int  # zips parsed in this build (the rest came from the cache)


class ParseCache:
    """Per-zip parse results keyed by (sha256, MANIFEST_CODE_VERSION), two parquet files under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.zips_path = folder / "parsed_zips.parquet"
        self.diffs_path = folder / "parsed_difficulties.parquet"
        self.zips: dict[str, dict[str, Any]] = {}
        self.diffs: dict[str, list[dict[str, Any]]] = {}
        try:
            zdf = pl.read_parquet(self.zips_path)
            ddf = pl.read_parquet(self.diffs_path)
        except Exception:  # absent or damaged: rebuild from the zips
            return
        for row in zdf.filter(pl.col("code_version") == MANIFEST_CODE_VERSION).iter_rows(named=True):
            self.zips[row["zip_sha256"]] = row
        for row in ddf.iter_rows(named=True):
            if row["zip_sha256"] in self.zips:
                self.diffs.setdefault(row["zip_sha256"], []).append(row)

    def put(self, sha: str, zip_facts: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        self.zips[sha], self.diffs[sha] = checked(sha, zip_facts, rows)

    def save(self, keep: set[str]) -> None:
        """Write the entries whose sha is in `keep` (zips gone from raw/ are dropped).

        A crashed parser process is not a fact about the zip (the pool may have failed to start):
        such results are reported for this build but never cached, so the next build retries."""
        keep = {k for k in keep if (self.zips.get(k) or {}).get("error_code") != "parser_crashed"}
        zrows = [v for k, v in self.zips.items() if k in keep]
        drows = [r for k, rs in self.diffs.items() if k in keep for r in rs]
        write_parquet_atomic(pl.DataFrame(zrows, schema=ZIP_SCHEMA), self.zips_path)
        write_parquet_atomic(pl.DataFrame(drows, schema=DIFF_SCHEMA), self.diffs_path)


def cached_zip_facts(cache_dir: Path) -> dict[str, dict[str, Any]]:
    """sha256 -> zip facts (ZIP_SCHEMA) of every zip the parse cache holds for this code version."""
    try:
        table = pl.read_parquet(cache_dir / "parsed_zips.parquet")
    except Exception:  # absent or damaged: nothing is known yet
        return {}
    table = table.filter(pl.col("code_version") == MANIFEST_CODE_VERSION)
    return {row["zip_sha256"]: row for row in table.iter_rows(named=True)}


def build_manifest(
    raw_dir: Path,
    entries: list[ZipEntry],
    cache_dir: Path,
    shard_count: int,
    workers: int = 0,
    log: Any = None,
) -> ManifestBuild:
    """Manifest + rejected tables for `entries` (from `rawzips.scan_raw`), parsing only uncached zips."""
    cache = ParseCache(cache_dir)
    todo = [(str(e.path(raw_dir)), e.sha256) for e in entries if not e.problem and e.sha256 not in cache.zips]
    todo = list(
        dict(((sha, (p, sha)) for p, sha in todo)).values()
    )  # identical bytes under two names: parse once
    keep = {e.sha256 for e in entries if e.sha256}
    done = 0

    def on_result(sha: str, zip_facts: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        nonlocal done
        cache.put(sha, zip_facts, rows)
        done += 1
        if done % _CHECKPOINT_EVERY == 0:
            cache.save(keep)
            if log is not None:
                log(f"parsed {done}/{len(todo)} new zips")

    _parse_many(todo, workers or os.cpu_count() or 1, on_result)
    if todo or not cache.zips_path.exists():
        cache.save(keep)

    rejected, zip_rows, diff_rows = [], [], []
    for e in sorted(entries, key=lambda e: e.name):
        shard = rawzips.shard_of(e.name, shard_count)
        try:
            meta = read_sidecar(e.sidecar(raw_dir))
            map_id = meta.pop("map_id", None) or e.stem
            facts = {} if e.problem else cache.zips[e.sha256]
            if e.problem or facts["error_code"] is not None:
                code = e.problem or facts["error_code"]
                reason = f"{e.name}: {PROBLEM_REASONS[code]}" if e.problem else facts["error_reason"]
                rejected.append(_rejected(e, shard, map_id, code, reason))
                continue
            zip_row = {"zip_name": e.name, "map_id": map_id, "shard": shard, **facts, **meta}
            pl.DataFrame([zip_row], schema=_ZIPS_SCHEMA)  # this zip's row fits on its own
        except Exception as exc:  # one zip's sidecar or cached facts never cost the others
            rejected.append(_rejected(e, shard, e.stem, "internal_error", one_line_reason(exc, e.name)))
            continue
        zip_rows.append(zip_row)
        diff_rows += [{"zip_name": e.name, **r} for r in cache.diffs.get(e.sha256, [])]

    song_ids = assign_song_ids(
        [
            (z["zip_name"], z["audio_fingerprint"], title_artist_key(z["title"], z["artist"]), z["audio_s"])
            for z in zip_rows
        ]
    )
    zips_df = pl.DataFrame(
        [{**z, "song_id": song_ids[z["zip_name"]]} for z in zip_rows],
        schema={"song_id": pl.String, **_ZIPS_SCHEMA},
    ).drop("code_version", "error_code", "error_reason")
    diffs_df = pl.DataFrame(diff_rows, schema={"zip_name": pl.String, **DIFF_SCHEMA}).drop("zip_sha256")
    manifest = (
        zips_df.join(diffs_df, on="zip_name", how="inner")
        .select(list(MANIFEST_SCHEMA))
        .sort(list(MANIFEST_KEY))
    )
    # Duplicate difficulty entries inside one Info.dat would break the key: keep the first, reject none.
    manifest = manifest.unique(subset=list(MANIFEST_KEY), keep="first", maintain_order=True)
    return ManifestBuild(
        manifest=manifest,
        rejected=pl.DataFrame(rejected, schema=REJECTED_SCHEMA),
        zips=len(entries),
        parsed=len(todo),
    )


_ZIPS_SCHEMA: dict[str, pl.DataType] = {
    "zip_name": pl.String,
    "map_id": pl.String,
    "shard": pl.String,
    **ZIP_SCHEMA,
    **META_SCHEMA,
}


def _rejected(e: ZipEntry, shard: str, map_id: str, code: str, reason: str) -> dict[str, Any]:
    return {
        "zip_name": e.name,
        "zip_sha256": e.sha256,
        "shard": shard,
        "map_id": safe_text(map_id),
        "code": code,
        "reason": reason_text(reason),
    }


def check_manifest_schema(df: pl.DataFrame) -> list[str]:
    """Problems with a manifest table: missing or mistyped columns, null or duplicate keys ([] when sound)."""
    problems = []
    for name, dtype in MANIFEST_SCHEMA.items():
        if name not in df.columns:
            problems.append(f"missing column {name}")
        elif df.schema[name] != dtype:
            problems.append(f"column {name} is {df.schema[name]}, expected {dtype}")
    key = [k for k in MANIFEST_KEY if k in df.columns]
    if len(key) == len(MANIFEST_KEY):
        nulls = df.select(pl.any_horizontal(pl.col(key).is_null()).sum()).item()
        if nulls:
            problems.append(f"{nulls} rows with a null key")
        dups = len(df) - df.select(key).unique().height
        if dups:
            problems.append(f"{dups} duplicate keys {MANIFEST_KEY}")
    return problems

"""Download eligible BeatSaver maps into raw/, resumably, with quotas per mod category.

For each record (from the search pages, or from a catalogue): filter it, decide its
category, honour the quotas, and unless it is already complete in raw/, stream its zip to a
temp file, check the sha1 against the version hash, check that it opens as a map, then
os.replace it to `raw/<id>.zip` and write the record EXACTLY as the API returned it to
`raw/<id>.json`, again atomically. The sidecar comes last, so a zip with a matching sidecar
is complete; resume skips ids whose zip sha1 and sidecar hash both match the record.

A zip that fails its checks is never kept in raw/; the reason goes to
`<home>/ingest/download_failures.jsonl` and it does not count toward any quota.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from automapper_ml.atomic import replace_on_success, write_text_atomic
from automapper_ml.beatsaver.client import BeatSaverClient, BeatSaverError
from automapper_ml.beatsaver.filters import (
    CATEGORIES,
    FilterOptions,
    download_url,
    ineligibility,
    map_category,
    version_hash,
)
from automapper_ml.formats.errors import MapError, UnsafeZipError

FAILURES_LOG = "download_failures.jsonl"
SHA1_CACHE = "beatsaver_sha1.json"  # under <home>/ingest/cache
PART_SUFFIX = ".part"
STALE_PART_S = 3600.0  # without a lock, temp files older than this are leftovers of a killed run
LOCK_FILE = ".beatsaver_download.lock"  # under <home>/ingest
_READER_MODULE = "automapper_ml.formats.reader"


@dataclass(frozen=True)
class DownloadOptions:
    filters: FilterOptions = field(default_factory=FilterOptions)
    quotas: Mapping[str, int] = field(default_factory=dict)  # category -> maps wanted; empty = no quotas
    limit: int | None = None  # stop after this many new downloads (this run)
    progress: bool = True  # tqdm bar on stderr


@dataclass
class DownloadSummary:
    downloaded: int = 0  # new zips written this run
    present: int = 0  # already complete in raw/ (counted toward quotas)
    skipped: Counter = field(default_factory=Counter)  # reason -> maps
    failed: Counter = field(default_factory=Counter)  # reason code -> maps
    per_category: Counter = field(default_factory=Counter)  # category -> downloaded + present
    quotas: dict[str, int] = field(default_factory=dict)
    seen: int = 0  # records looked at (duplicates included)
    requests: int = 0  # HTTP attempts, retries included
    stopped_by: str = "end of listing"  # why the run ended
    ids: list[str] = field(default_factory=list)  # ids counted (downloaded or present), in order

    def quotas_full(self) -> bool:
        return bool(self.quotas) and all(self.per_category[c] >= n for c, n in self.quotas.items())

    def format(self) -> str:
        """A short human summary for the end of the command."""
        lines = [
            f"downloaded {self.downloaded}, already present {self.present}, "
            f"looked at {self.seen} records with {self.requests} requests; stopped: {self.stopped_by}"
        ]
        if self.skipped:
            lines.append("skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())))
        if self.failed:
            lines.append("failed: " + ", ".join(f"{k} {v}" for k, v in sorted(self.failed.items())))
        cats = [c for c in CATEGORIES if self.per_category[c] or c in self.quotas]
        if cats:
            parts = [
                f"{c} {self.per_category[c]}" + (f"/{self.quotas[c]}" if c in self.quotas else "")
                for c in cats
            ]
            lines.append("per category: " + ", ".join(parts))
        return "\n".join(lines)


def verify_map_zip(path: Path) -> None:
    """Raise a MapError unless `path` opens as a Beat Saber map.

    Uses the project reader (`formats.reader.load_map`) when it is importable; until then,
    a CRC check of every member plus an Info.dat at the root."""
    try:
        reader = importlib.import_module(_READER_MODULE)
    except ModuleNotFoundError as err:
        if err.name != _READER_MODULE:
            raise
        reader = None
    if reader is not None and hasattr(reader, "load_map"):
        try:
            beatmap = reader.load_map(path)
        except MapError:
            raise
        except Exception as err:  # a reader bug must cost one map, not the whole download
            raise MapError(f"the map reader failed: {err!r}", code="reader_error") from err
        _check_audio_member(path, getattr(beatmap, "audio_filename", None))
        return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            names = {n.lower() for n in archive.namelist()}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise UnsafeZipError(f"not a readable zip: {err}") from None
    if bad is not None:
        raise UnsafeZipError(f"damaged member {bad!r}")
    if "info.dat" not in names:
        raise MapError("no Info.dat at the root of the zip", code="missing_file")


def _check_audio_member(path: Path, audio_name: str | None) -> None:
    """The reader checks the map files; a training map also needs the song it names."""
    if not audio_name:
        raise MapError("Info.dat names no audio file", code="missing_audio")
    with zipfile.ZipFile(path) as archive:
        names = {n.lower() for n in archive.namelist()}
    if audio_name.lower() not in names:
        raise MapError(f"audio file {audio_name!r} is not in the zip", code="missing_audio")


def sha1_file(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Sha1Cache:
    """sha1 of raw/ zips keyed by (name, size, mtime_ns), so a resumed 15k-map run does not
    re-read ~75 GB to learn what it already has. Kept in <home>/ingest/cache, written atomically."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, list] = {}
        self.dirty = False
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                self.entries = loaded if isinstance(loaded, dict) else {}
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                self.entries = {}  # a damaged cache only costs re-hashing

    def sha1(self, file: Path) -> str:
        st = file.stat()
        hit = self.entries.get(file.name)
        if isinstance(hit, list) and len(hit) == 3 and hit[:2] == [st.st_size, st.st_mtime_ns]:
            return str(hit[2])
        digest = sha1_file(file)
        self.remember(file, digest)
        return digest

    def remember(self, file: Path, digest: str) -> None:
        st = file.stat()
        self.entries[file.name] = [st.st_size, st.st_mtime_ns, digest]
        self.dirty = True

    def save(self) -> None:
        if self.dirty and self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.path, self.entries)
            self.dirty = False


def is_complete(raw_dir: Path, key: str, sha: str, cache: Sha1Cache | None = None) -> bool:
    """True when raw/<key>.zip has this sha1 and raw/<key>.json is the record of that version."""
    zip_path, side_path = raw_dir / f"{key}.zip", raw_dir / f"{key}.json"
    if not (zip_path.is_file() and side_path.is_file()):
        return False
    try:
        sidecar = json.loads(side_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    if not isinstance(sidecar, dict) or version_hash(sidecar) != sha:
        return False
    return (cache.sha1(zip_path) if cache else sha1_file(zip_path)) == sha


def write_json_atomic(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, ensure_ascii=False, indent=1), suffix=PART_SUFFIX)


class DownloadInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM via the CLI) during a download; `.summary` tells what was done."""

    def __init__(self, summary: DownloadSummary) -> None:
        super().__init__("interrupted")
        self.summary = summary


class DownloadBusyError(BeatSaverError):
    """Another download into the same home is running."""

    code = "busy"


@contextmanager
def exclusive(home: Path) -> Iterator[bool]:
    """Hold <home>/ingest/.beatsaver_download.lock for the run; yields False where flock is missing.

    Two downloaders writing one raw/ would race on the same ids; one holding the lock also
    knows every temp file in raw/ is a leftover it may delete."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock, and temp files are only cleaned once they are old
        yield False
        return
    path = home / "ingest" / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DownloadBusyError(f"another download into {home} is running ({path} is locked)") from None
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def clean_stale_parts(raw_dir: Path, *, older_than_s: float = STALE_PART_S) -> int:
    """Remove our own temp files (".<id>.zip.*.part", ".<id>.json.*.part") left by a killed run."""
    removed, now = 0, time.time()
    parts = [*raw_dir.glob(f".*.zip.*{PART_SUFFIX}"), *raw_dir.glob(f".*.json.*{PART_SUFFIX}")]
    for part in parts:
        try:
            if now - part.stat().st_mtime > older_than_s:
                part.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def log_failure(home: Path, record: Mapping[str, Any], code: str, reason: str) -> None:
    """Append one JSON line (written with a single call, so lines never interleave half-way)."""
    path = home / "ingest" / FAILURES_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {
        "id": record.get("id"),
        "hash": version_hash(record),
        "url": download_url(record),
        "code": code,
        "reason": reason,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line, ensure_ascii=False) + "\n")


def fetch_one(
    client: BeatSaverClient, record: Mapping[str, Any], home: Path, cache: Sha1Cache | None = None
) -> None:
    """Download, check and install one eligible record; raise BeatSaverError/MapError on failure."""
    raw_dir = home / "raw"
    key, sha, url = record["id"], version_hash(record), download_url(record)
    assert sha is not None and url is not None  # guaranteed by ineligibility()
    tmp, got = client.download(url, raw_dir, prefix=f".{key}.zip.")
    with replace_on_success(tmp, raw_dir / f"{key}.zip"):
        if got != sha:
            raise BeatSaverError(
                f"{key}: sha1 {got} does not match the version hash {sha}", code="sha1_mismatch"
            )
        verify_map_zip(tmp)
        # An older version's sidecar must not sit beside the new zip, not even for a moment.
        (raw_dir / f"{key}.json").unlink(missing_ok=True)
    if cache is not None:
        cache.remember(raw_dir / f"{key}.zip", sha)
    write_json_atomic(raw_dir / f"{key}.json", record)


def download_maps(
    records: Iterable[Mapping[str, Any]],
    client: BeatSaverClient,
    home: Path,
    options: DownloadOptions | None = None,
) -> DownloadSummary:
    """Walk `records` in order and make raw/ hold every eligible one, within quotas and limit.

    `records` is consumed lazily (pass `client.iter_search(...)`), so paging stops as soon as
    the quotas are full or the limit is reached. Errors that concern the listing itself
    (EndpointMovedError, a 4xx on search) propagate; per-map failures are logged and counted."""
    options = options or DownloadOptions()
    home = Path(home)
    (home / "raw").mkdir(parents=True, exist_ok=True)
    with exclusive(home) as locked:
        clean_stale_parts(home / "raw", older_than_s=0.0 if locked else STALE_PART_S)
        return _download(records, client, home, options)


def _download(
    records: Iterable[Mapping[str, Any]], client: BeatSaverClient, home: Path, options: DownloadOptions
) -> DownloadSummary:
    raw_dir = home / "raw"
    summary = DownloadSummary(quotas=dict(options.quotas))
    cache = Sha1Cache(home / "ingest" / "cache" / SHA1_CACHE)
    seen_ids: set[str] = set()
    bar = _progress_bar(options)
    requests_before = client.requests
    try:
        if summary.quotas_full():
            summary.stopped_by = "quotas full"
            return summary
        for record in records:
            summary.seen += 1
            reason = ineligibility(record, options.filters)
            key = record.get("id")
            if reason is None and key in seen_ids:
                reason = "duplicate"  # pages shift while we read them; never take a map twice
            if reason is None:
                category = map_category(record)
                if options.quotas and category not in options.quotas:
                    reason = "no_quota"
                elif options.quotas and summary.per_category[category] >= options.quotas[category]:
                    reason = "quota_full"
            if reason is not None:
                summary.skipped[reason] += 1
                continue
            seen_ids.add(key)
            sha = version_hash(record)
            if is_complete(raw_dir, key, sha, cache):
                summary.present += 1
            else:
                try:
                    fetch_one(client, record, home, cache)
                except (BeatSaverError, MapError) as err:
                    summary.failed[err.code] += 1
                    log_failure(home, record, err.code, str(err))
                    continue
                summary.downloaded += 1
            summary.per_category[category] += 1
            summary.ids.append(key)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(
                    new=summary.downloaded, present=summary.present, failed=sum(summary.failed.values())
                )
            if summary.quotas_full():
                summary.stopped_by = "quotas full"
                break
            if options.limit is not None and summary.downloaded >= options.limit:
                summary.stopped_by = f"limit of {options.limit} downloads"
                break
    except KeyboardInterrupt as err:
        summary.stopped_by = "interrupted"
        raise DownloadInterrupted(summary) from err
    finally:
        cache.save()
        summary.requests = client.requests - requests_before
        if bar is not None:
            bar.close()
    return summary


def _progress_bar(options: DownloadOptions):
    if not options.progress:
        return None
    from tqdm import tqdm

    total = sum(options.quotas.values()) if options.quotas else None
    return tqdm(total=total, desc="maps", unit="map", file=sys.stderr, dynamic_ncols=True)

"""Reference songs and snapshot runs on disk (no Dagster here: the evaluation assets stay thin).

Reference songs (<home>/reference, never trained on: data.reference drops them from the index):
- a folder `reference/<name>/` with an audio file directly inside (song.egg preferred), and
  optionally a human map: any folder under it holding Info.dat (the demo writes `map/`), or the
  folder itself when Info.dat sits beside the audio;
- or a bare audio file `reference/<name>.egg` (no human map).

Snapshot runs: `<home>/snapshots/<run-id>/` holds `<song>.zip` per reference song, `quality.parquet`
(raw and post-processed figures per song and difficulty) and `snapshot.json` (run, songs,
checkpoints, errors). The folder is filled under a hidden temporary name and renamed when
complete, so a run folder is whole or absent. `<home>/snapshots/history.parquet` gets one row per
(run, song), appended atomically; its last run is the one `evaluation_metrics` reads.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from automapper_ml.atomic import write_atomic
from automapper_ml.audio import AUDIO_SUFFIXES
from automapper_ml.evaluation.report import (
    ReportError,
    difficulty_quality,
    quality_row,
    read_history,
)

SNAPSHOT_HISTORY = "history.parquet"
SNAPSHOT_QUALITY = "quality.parquet"
SNAPSHOT_MANIFEST = "snapshot.json"


@dataclass(frozen=True)
class ReferenceSong:
    name: str  # folder name or file stem, made safe for a file name: the snapshot is <name>.zip
    audio: Path
    human_map: Path | None  # folder holding the human map's Info.dat, None without one


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "song"


def _audio_in(folder: Path) -> Path | None:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    return min(files, key=lambda p: (p.name.lower() != "song.egg", p.name)) if files else None


def _human_map(folder: Path) -> Path | None:
    infos = sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower() == "info.dat")
    return infos[0].parent if infos else None


def reference_songs(reference_dir: Path) -> list[ReferenceSong]:
    """Every reference song (module docstring), sorted by name; unusable entries are skipped."""
    if not reference_dir.is_dir():
        return []
    songs: dict[str, ReferenceSong] = {}
    for entry in sorted(reference_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            audio = _audio_in(entry)
            if audio is not None:
                songs.setdefault(
                    _safe(entry.name), ReferenceSong(_safe(entry.name), audio, _human_map(entry))
                )
        elif entry.is_file() and entry.suffix.lower() in AUDIO_SUFFIXES:
            songs.setdefault(_safe(entry.stem), ReferenceSong(_safe(entry.stem), entry, None))
    return [songs[k] for k in sorted(songs)]


def audio_seconds(path: Path) -> float | None:
    """Length of an audio file in seconds from its header, None when unreadable."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # libsndfile raises several types for files it cannot read
        return None
    return info.frames / info.samplerate if info.samplerate else None


def human_rows(song: str, human_map: Path, difficulties: list[str], seconds: float | None) -> list[dict]:
    """Detail rows (stage "human") of the human map's Standard difficulties named in `difficulties`.

    An unreadable human map gives no rows (the song is still measured, without "vs human")."""
    from automapper_ml.formats import MapError, load_map

    try:
        beatmap = load_map(human_map)
    except MapError:
        return []
    rows = []
    for d in beatmap.difficulties:
        if d.characteristic == "Standard" and d.name in difficulties:
            duration = beatmap.duration_seconds(d, seconds)
            rows.append(
                quality_row(song, d.name, "human", difficulty_quality(d, beatmap.timing(d), duration))
            )
    return rows


def map_content_hash(paths: list[Path]) -> str:
    """sha256 over the map files of zips, audio left out: Vorbis streams carry a random serial
    number, so the same map exported twice differs only in song.egg and must keep one version."""
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.name.encode())
        with zipfile.ZipFile(path) as zf:
            for name in sorted(zf.namelist()):
                if Path(name).suffix.lower() in AUDIO_SUFFIXES:
                    continue
                h.update(name.encode())
                h.update(hashlib.sha256(zf.read(name)).digest())
    return h.hexdigest()[:24]


def staging_folder(snapshots: Path, run_id: str) -> Path:
    """An empty hidden folder to fill; `publish_run` renames it to <snapshots>/<run_id>."""
    tmp = snapshots / f".tmp-{run_id}"
    shutil.rmtree(tmp, ignore_errors=True)  # left by a crashed attempt of this same run
    tmp.mkdir(parents=True)
    return tmp


def publish_run(staging: Path, snapshots: Path, run_id: str, manifest: dict, quality: pl.DataFrame) -> Path:
    """Write the run's quality table and manifest into `staging`, then rename it into place."""
    from automapper_ml.atomic import write_parquet_atomic

    write_parquet_atomic(quality, staging / SNAPSHOT_QUALITY)
    write_atomic(staging / SNAPSHOT_MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
    final = snapshots / run_id
    if final.exists():  # a retry of the same run: the new attempt replaces the old one whole
        old = snapshots / f".old-{run_id}"
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        staging.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(final)
    return final


def latest_snapshot_run(snapshots: Path) -> tuple[str, Path, pl.DataFrame]:
    """(run id, run folder, its rows of the snapshot history) of the last snapshot run.

    ReportError when no snapshot run exists or its folder is gone."""
    history = read_history(snapshots / SNAPSHOT_HISTORY)
    if history.is_empty():
        raise ReportError(f"no snapshot run in {snapshots}: materialise reference_snapshots first")
    run_id = history["run_id"][-1]
    folder = snapshots / run_id
    if not (folder / SNAPSHOT_QUALITY).exists():
        raise ReportError(f"snapshot run {run_id} is listed in the history but {folder} is incomplete")
    return run_id, folder, history.filter(pl.col("run_id") == run_id)

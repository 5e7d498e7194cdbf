"""Reference songs (<home>/reference) never enter training: find the manifest songs they are.

A reference entry is a folder holding an audio file (song.egg/.ogg/.wav/.flac/.mp3), optionally
with a human map beside it, or a bare audio file. A manifest song is excluded when its audio
fingerprint equals a reference song's (the same decoded audio), or when its normalised
title+artist equals a reference map's and the lengths agree (songid's rule (b)).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from automapper_ml.audio import AUDIO_SUFFIXES
from automapper_ml.data.songid import SAME_SONG_SECONDS, AudioDecodeError, audio_fingerprint, title_artist_key
from automapper_ml.formats import MapError, load_map


def reference_audio_files(reference_dir: Path) -> list[Path]:
    """Every audio file under reference/ (one level of folders, plus a map subfolder)."""
    if not reference_dir.is_dir():
        return []
    return sorted(p for p in reference_dir.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def reference_song_ids(reference_dir: Path, manifest: pl.DataFrame) -> set[str]:
    """Song ids of the manifest that are reference songs."""
    fingerprints: set[str] = set()
    titles: list[tuple[str, float]] = []
    for audio_path in reference_audio_files(reference_dir):
        try:
            summary = audio_fingerprint(audio_path.read_bytes(), str(audio_path))
        except AudioDecodeError:
            continue
        fingerprints.add(summary.fingerprint)
        for info in list(audio_path.parent.rglob("Info.dat")) + list(audio_path.parent.rglob("info.dat")):
            try:
                beatmap = load_map(info.parent)
            except MapError:
                continue
            key = title_artist_key(beatmap.title, beatmap.artist)
            if key:
                titles.append((key, summary.seconds))
    if manifest.is_empty():
        return set()
    songs = manifest.select("song_id", "audio_fingerprint", "title", "artist", "audio_s").unique()
    excluded = set(songs.filter(pl.col("audio_fingerprint").is_in(sorted(fingerprints)))["song_id"].to_list())
    for row in songs.iter_rows(named=True):
        key = title_artist_key(row["title"] or "", row["artist"] or "")
        if key and any(k == key and abs((row["audio_s"] or 0) - s) <= SAME_SONG_SECONDS for k, s in titles):
            excluded.add(row["song_id"])
    return excluded

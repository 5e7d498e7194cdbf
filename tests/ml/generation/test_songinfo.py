"""Song tags: title and artist read back from WAV, FLAC, Ogg and MP3 (ID3 v1, v2.3, v2.4); files
without tags or that are not audio give empty tags, never an exception; odd text is cleaned."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from automapper_ml.generation.songinfo import MAX_TAG_CHARS, SongTags, clean_tag, read_song_tags

SR = 22050
TONE = (0.2 * np.sin(np.arange(SR // 2) * 0.05)).astype(np.float32)


def write_tagged(path: Path, fmt: str, title: str = "", artist: str = "", subtype: str | None = None) -> Path:
    with sf.SoundFile(path, "w", SR, 1, format=fmt, subtype=subtype) as f:
        if title:
            f.title = title
        if artist:
            f.artist = artist
        f.write(TONE)
    return path


@pytest.mark.parametrize(
    ("fmt", "suffix", "subtype"),
    [("WAV", ".wav", None), ("FLAC", ".flac", None), ("OGG", ".ogg", "VORBIS"), ("MP3", ".mp3", None)],
    ids=["wav", "flac", "ogg", "mp3"],
)
def test_title_and_artist_read_back(tmp_path: Path, fmt: str, suffix: str, subtype: str | None) -> None:
    path = write_tagged(tmp_path / f"song{suffix}", fmt, "Dïe Lieder ✓", "Bjørk & Co", subtype)
    assert read_song_tags(path) == SongTags("Dïe Lieder ✓", "Bjørk & Co")
    bare = write_tagged(tmp_path / f"bare{suffix}", fmt, subtype=subtype)
    assert read_song_tags(bare) == SongTags("", "")


def _id3v2(version: int, title: str, artist: str) -> bytes:
    """An ID3v2.3 (UTF-16 with BOM) or v2.4 (UTF-8, sync-safe sizes) tag with TIT2 and TPE1."""

    def syncsafe(n: int) -> bytes:
        return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])

    def frame(fid: bytes, text: str) -> bytes:
        body = b"\x01" + text.encode("utf-16") if version == 3 else b"\x03" + text.encode("utf-8")
        size = struct.pack(">I", len(body)) if version == 3 else syncsafe(len(body))
        return fid + size + b"\x00\x00" + body

    frames = frame(b"TIT2", title) + frame(b"TPE1", artist)
    return b"ID3" + bytes([version, 0, 0]) + syncsafe(len(frames)) + frames


def test_id3_tags_written_by_other_tools(tmp_path: Path) -> None:
    """MP3s in the wild carry ID3 tags libsndfile did not write: v2.3, v2.4 and v1 all read."""
    plain = write_tagged(tmp_path / "plain.mp3", "MP3").read_bytes()
    for version in (3, 4):
        path = tmp_path / f"v2{version}.mp3"
        path.write_bytes(_id3v2(version, "Héllo wörld ✓", "Ärtist") + plain)
        assert read_song_tags(path) == SongTags("Héllo wörld ✓", "Ärtist"), version
    v1 = (
        b"TAG" + b"Old Title".ljust(30, b"\0") + b"Old Artist".ljust(30, b"\0") + bytes(30 + 4 + 30) + b"\xff"
    )
    (tmp_path / "v1.mp3").write_bytes(plain + v1)
    assert read_song_tags(tmp_path / "v1.mp3") == SongTags("Old Title", "Old Artist")


def test_odd_files_give_empty_tags(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.ogg"
    garbage.write_bytes(bytes(range(256)) * 8)
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.flac"
    truncated.write_bytes(write_tagged(tmp_path / "whole.flac", "FLAC", "T", "A").read_bytes()[:40])
    for path in (garbage, empty, truncated, tmp_path / "missing.wav", tmp_path):
        assert read_song_tags(path) == SongTags(), path


def test_tags_are_cleaned(tmp_path: Path) -> None:
    # What a sloppy tagger leaves: padding, newlines, a NUL and escape codes, a bidi override.
    path = write_tagged(tmp_path / "odd.flac", "FLAC", "  Line one\r\n\tline\x1b[31m two \u202e", "A" * 500)
    tags = read_song_tags(path)
    assert tags.title == "Line one line[31m two"
    assert tags.artist == "A" * MAX_TAG_CHARS
    assert clean_tag("half \ud800 surrogate\x00\x7f") == "half surrogate"
    assert clean_tag("e\u0301 \u2028next\u00a0word") == "\u00e9 next word"  # NFC, separators as spaces
    assert clean_tag("👩\u200d🚀 keeps ZWJ") == "👩\u200d🚀 keeps ZWJ"
    assert clean_tag(None) == "" and clean_tag("\x00\x01 \n") == ""
    assert len(clean_tag("x " * 400)) <= MAX_TAG_CHARS and not clean_tag("x " * 400).endswith(" ")
    for text in (tags.title, tags.artist, clean_tag("\udcff\udc80bad bytes")):
        text.encode("utf-8")  # JSON-writable: no lone surrogate survives

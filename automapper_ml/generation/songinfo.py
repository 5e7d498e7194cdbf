"""The song's own title and artist, from the audio file's tags, cleaned for Info.dat.

libsndfile (through soundfile) reads the tags of every container the generator can decode: Vorbis
comments in Ogg and FLAC, RIFF INFO in WAV, and ID3 v1, v2.3 (UTF-16) and v2.4 (UTF-8) in MP3
(tests/ml/generation/test_songinfo.py). A file soundfile cannot open cannot be mapped either, so a
second tag library (mutagen) would add a dependency for no file the generator accepts.

Tags are free text from anywhere: `clean_tag` makes one fit a one-line, UTF-8 JSON field (no
control characters, no lone surrogates, whitespace collapsed, at most MAX_TAG_CHARS characters).
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass

MAX_TAG_CHARS = 200  # longer than any real title; keeps the game's song list and BeatSaver readable
# Control, lone surrogate, unassigned: not text. Separators (line/paragraph) become spaces.
_DROP = frozenset({"Cc", "Cs", "Cn"})
_SPACE = frozenset({"Zl", "Zp", "Zs"})
# Bidi embeddings, overrides and isolates (format characters, unlike ZWJ, which emoji need): an
# unclosed one reverses the text after it in the song list. U+FFFD is what soundfile decodes bad bytes to.
_DROP_CHARS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufffd")


@dataclass(frozen=True, slots=True)
class SongTags:
    title: str = ""  # the song's name ("" when the file has none)
    artist: str = ""  # its artist ("" when the file has none)


def clean_tag(text: object) -> str:
    """One line of printable text: control characters, bidi overrides and lone surrogates dropped,
    whitespace runs as one space, stripped, cut to MAX_TAG_CHARS. Anything not a string gives ""."""
    if not isinstance(text, str):
        return ""
    chars = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in _SPACE or ch in "\t\n\r\v\f":
            chars.append(" ")
        elif category not in _DROP and ch not in _DROP_CHARS:
            chars.append(ch)
    return unicodedata.normalize("NFC", " ".join("".join(chars).split()))[:MAX_TAG_CHARS].rstrip()


def read_song_tags(path: str | os.PathLike) -> SongTags:
    """Title and artist tags of an audio file, cleaned (`clean_tag`); empty tags when the file has none
    or cannot be read. Never raises: a song without tags is still a song."""
    import soundfile as sf

    try:
        with sf.SoundFile(os.fspath(path)) as handle:
            return SongTags(title=clean_tag(handle.title), artist=clean_tag(handle.artist))
    except Exception:  # libsndfile raises several types (and OSError, TypeError) for odd files
        return SongTags()

"""Song identity: a coarse fingerprint of the DECODED audio, backed by normalised title + artist.

Two maps are the same song when
  (a) their audio fingerprints are equal, or
  (b) their normalised "title|artist" keys are equal (and non-empty) and their decoded lengths
      differ by at most `SAME_SONG_SECONDS`;
taken transitively (union-find). The song id of a group is the smallest audio fingerprint in it.

(a) catches the same song under different titles ("Song" vs "Song [Extended Mix]" with the same
file); (b) catches re-encodes whose fingerprints differ (a different bitrate or sample rate can
move a quantisation step) while the length guard keeps a short cut and a full version apart.

The fingerprint (`audio_fingerprint`): decode with soundfile in blocks (bounded memory), downmix
to mono, take the RMS of each 0.5 s window, express it in dB relative to the loudest window,
quantise to 6 dB steps (floor -60 dB), and hash those steps together with the length in whole
seconds. Identical audio always gives the same id; it does not try to survive trimming or offsets.

The same pass measures how loud the song is, for the blacklist's `silent_audio` rule: the RMS of
its loudest window in dBFS (`peak_dbfs`, -120 for digital silence) and the share of windows whose
RMS is under SILENT_WINDOW_DBFS (`silent_share`). A song longer than MAX_AUDIO_SECONDS by its
header is refused before any sample is decoded; one whose header under-states it, while decoding.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from automapper_ml.limits import MAX_AUDIO_SECONDS

WINDOW_SECONDS = 0.5  # envelope resolution
STEP_DB = 6.0  # quantisation step of the envelope
FLOOR_DB = -60.0  # quieter windows all read as the floor
SILENT_WINDOW_DBFS = -60.0  # a window whose RMS is under this counts as silent (silent_share)
SILENCE_FLOOR_DBFS = -120.0  # what digital silence (all-zero samples) measures
SAME_SONG_SECONDS = 2.0  # rule (b) length tolerance
_BLOCK_SECONDS = 30.0


class AudioDecodeError(Exception):
    """The song could not be decoded; `code` is the blacklist rule."""

    def __init__(self, reason: str, code: str = "undecodable_audio") -> None:
        super().__init__(" ".join(reason.split()))
        self.code = code


@dataclass(frozen=True, slots=True)
class AudioSummary:
    seconds: float  # decoded length
    sample_rate: int
    channels: int
    fingerprint: str  # 16 hex characters
    peak_dbfs: float  # RMS of the loudest WINDOW_SECONDS window, dB re full scale (>= SILENCE_FLOOR_DBFS)
    silent_share: float  # share of windows under SILENT_WINDOW_DBFS, 0..1


def audio_fingerprint(data: bytes, label: str = "audio") -> AudioSummary:
    """Decode `data` (Ogg Vorbis/.egg, WAV, FLAC, ...) and fingerprint it; AudioDecodeError when it cannot be."""
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate, channels = int(f.samplerate), int(f.channels)
            if rate <= 0 or channels <= 0:
                raise AudioDecodeError(f"{label}: bad sample rate {rate} or channel count {channels}")
            if f.frames / rate > MAX_AUDIO_SECONDS:
                raise AudioDecodeError(
                    f"{label}: header states {f.frames / rate / 60:.1f} minutes, over the "
                    f"{MAX_AUDIO_SECONDS / 60:.0f}-minute limit",
                    code="audio_too_long",
                )
            window = max(1, int(round(rate * WINDOW_SECONDS)))
            block = window * int(_BLOCK_SECONDS / WINDOW_SECONDS)
            limit = int(MAX_AUDIO_SECONDS * rate)
            energies: list[np.ndarray] = []
            carry = np.zeros(0, dtype=np.float64)
            total = 0
            for chunk in f.blocks(blocksize=block, dtype="float32", always_2d=True):
                total += len(chunk)
                if total > limit:
                    raise AudioDecodeError(
                        f"{label}: longer than {MAX_AUDIO_SECONDS / 60:.0f} minutes", code="audio_too_long"
                    )
                mono = np.concatenate([carry, chunk.mean(axis=1, dtype=np.float64)])
                whole = len(mono) // window * window
                energies.append((mono[:whole].reshape(-1, window) ** 2).mean(axis=1))  # (windows,)
                carry = mono[whole:]
            if len(carry):
                energies.append(np.array([(carry**2).mean()]))
    except AudioDecodeError:
        raise
    except Exception as exc:  # libsndfile raises several types for damaged or unknown data
        raise AudioDecodeError(f"{label}: cannot decode ({type(exc).__name__}: {exc})") from exc
    if total == 0:
        raise AudioDecodeError(f"{label}: decodes to no samples")
    env = np.concatenate(energies) if energies else np.zeros(0)
    if not np.all(np.isfinite(env)):
        raise AudioDecodeError(f"{label}: decodes to non-finite samples")
    seconds = total / rate
    db = 10.0 * np.log10(np.maximum(env, 1e-12) / max(float(env.max()), 1e-12))
    steps = np.floor(np.maximum(db, FLOOR_DB) / STEP_DB).astype(np.int8)
    h = hashlib.sha256(f"{int(round(seconds))};".encode())
    h.update(steps.tobytes())
    dbfs = np.maximum(10.0 * np.log10(np.maximum(env, 1e-30)), SILENCE_FLOOR_DBFS)  # (windows,)
    return AudioSummary(
        seconds=seconds,
        sample_rate=rate,
        channels=channels,
        fingerprint=h.hexdigest()[:16],
        peak_dbfs=float(dbfs.max()),
        silent_share=float((dbfs < SILENT_WINDOW_DBFS).mean()),
    )


_BRACKETS = re.compile(r"[\(\[\{【（][^\)\]\}】）]*[\)\]\}】）]")
_NON_WORD = re.compile(r"[\W_]+")


def normalise_text(text: str) -> str:
    """NFKC, case-folded, bracketed parts ("(feat. X)", "[Extended]") and punctuation removed, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = _BRACKETS.sub(" ", text)
    return " ".join(_NON_WORD.sub(" ", text).split())


def title_artist_key(title: str, artist: str) -> str:
    """`"title|artist"` normalised; "" when the title normalises to nothing (no basis to match on)."""
    t = normalise_text(title)
    return f"{t}|{normalise_text(artist)}" if t else ""


def assign_song_ids(
    items: list[tuple[str, str, str, float]], same_song_seconds: float = SAME_SONG_SECONDS
) -> dict[str, str]:
    """Map key -> song id for (key, audio fingerprint, title_artist_key, seconds) items, per the rules above."""
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    by_fp: dict[str, int] = {}
    by_title: dict[str, list[int]] = {}
    for i, (_, fp, tkey, _) in enumerate(items):
        if fp in by_fp:
            union(i, by_fp[fp])
        else:
            by_fp[fp] = i
        if tkey:
            by_title.setdefault(tkey, []).append(i)
    for members in by_title.values():
        members.sort(key=lambda i: items[i][3])
        for a, b in zip(members, members[1:], strict=False):
            if abs(items[b][3] - items[a][3]) <= same_song_seconds:
                union(a, b)
    best: dict[int, str] = {}
    for i, (_, fp, _, _) in enumerate(items):
        root = find(i)
        best[root] = min(best.get(root, fp), fp)
    return {key: best[find(i)] for i, (key, _, _, _) in enumerate(items)}

"""The hostile corpus: what each case is, what it must do, and the good material it is cut from.

A `Case` adds entries to one raw folder (zips, sidecars, links, FIFOs, folders: `data`), names
the entry `inspect`/`convert` read (`target`) and, when its song is its own, the song file that
`generate` gets (`song`). `Expect` says what each entry point must do with it. Every case is cut
from good maps written by the demo synth at test time (`Material`): nothing binary is committed.

    material = Material()
    cases = case_table(material)                          # names, whys, expectations
    corpus = build_corpus(tmp_path, material, cases)      # writes tmp_path/raw and tmp_path/songs

The cases themselves live in cases.py (one builder per family); `CASE_BUILDERS` there is the table.
"""

from __future__ import annotations

import copy
import io
import json
import os
import stat
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from automapper_ml.formats.model import BeatMap
from automapper_ml.formats.writer import map_documents
from automapper_ml.synth.audio import SAMPLE_RATE, encode_ogg, render_song
from automapper_ml.synth.broken import charted_map
from automapper_ml.synth.charting import ChartOptions
from automapper_ml.synth.composition import Song, compose_song
from tests.hostile.zips import zip_bytes

BASE_SECONDS = 20.0  # the song most cases share
INFO = "Info.dat"
DIFF = "ExpertStandard.dat"  # the v2/v3 difficulty file
DIFF4 = "ExpertStandard.beatmap.dat"
LIGHTS4 = "ExpertStandard.lightshow.dat"
AUDIO4 = "AudioData.dat"
SONG = "song.egg"

EXPECT_CLI = ("ok", "err", "any")  # exit 0 / a one-line error / either (never a crash or a cap)
EXPECT_GRAPH = ("in", "out", "any")  # in the frame index / quarantined with a reason / either


@dataclass(frozen=True)
class Expect:
    """What each entry point must do with a case (None: not run for this case)."""

    inspect: str | None = "any"
    convert: str | None = "any"
    generate: str | None = None  # only for cases with a song of their own
    graph: str = "any"

    def __post_init__(self) -> None:
        for value in (self.inspect, self.convert, self.generate):
            assert value is None or value in EXPECT_CLI, value
        assert self.graph in EXPECT_GRAPH, self.graph


@dataclass(frozen=True)
class Symlink:
    to: str  # link target, e.g. /dev/zero


@dataclass(frozen=True)
class Fifo:
    pass


@dataclass(frozen=True)
class Folder:
    members: dict[str, bytes]  # relative path -> bytes


Entry = bytes | Symlink | Fifo | Folder


@dataclass
class Case:
    """One kind of attack. Only `data` and `song` make bytes, when the corpus is written, so the
    case table is cheap to build at collection time (one test per case and command)."""

    name: str
    why: str  # one line: what the attacker tries
    expect: Expect
    data: Callable[[], dict[bytes, Entry]]  # raw-folder entry name (os-level bytes) -> content
    names: tuple[bytes, ...] = ()  # the entries `data` makes (default: <name>.zip)
    target: bytes = b""  # the entry inspect/convert read (default: the only .zip among `names`)
    song: tuple[bytes, Callable[[], bytes]] | None = None  # (file name, bytes) given to `generate`
    seconds: dict[bytes, float] = field(default_factory=dict)  # zip name -> its own song's length
    convert_zip: bool = False  # also `convert -o x.zip` and check the zip's member names
    no_audio_record: bool = False  # the features must not decode its song
    forbidden: tuple[str, ...] = ()  # absolute paths nothing may create

    def __post_init__(self) -> None:
        self.names = self.names or (f"{self.name}.zip".encode(),)
        if not self.target:
            zips = self.zip_names
            assert len(zips) == 1, (self.name, zips)
            self.target = zips[0]
        assert (self.song is not None) == (self.expect.generate is not None), self.name

    @property
    def zip_names(self) -> list[bytes]:
        return [n for n in self.names if n.lower().endswith(b".zip")]


class Material:
    """Good maps and songs every case is cut from, rendered on first use (~1 s) and then kept."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex[:12]  # absolute-path attacks aim at /tmp/automapper-hostile-<token>/

    @cached_property
    def _base(self) -> tuple[Song, np.ndarray, bytes]:
        return render(1401, BASE_SECONDS, "Base Song")

    @property
    def song(self) -> Song:
        return self._base[0]

    @property
    def samples(self) -> np.ndarray:
        """(n,) float32 at SAMPLE_RATE: the base song."""
        return self._base[1]

    @property
    def ogg(self) -> bytes:
        return self._base[2]

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @cached_property
    def docs(self) -> dict[str, dict[str, Any]]:
        """version ("2", "3", "4") -> file name -> JSON doc (v2.1 Info for "2" and "3")."""
        beatmap = base_map(self.song, 1401)
        return {v: map_docs(beatmap, v) for v in ("2", "3", "4")}

    def members(
        self, version: str = "3", change: Any = None, audio: bytes | None = None, raw: dict | None = None
    ) -> dict[str, bytes]:
        """A map's members: a deep copy of the docs with `change(docs)` applied, dumped (NaN allowed),
        the song (`audio`, default the base song), then `raw` (name -> bytes, or None to drop) over them."""
        docs = copy.deepcopy(self.docs[version])
        if change is not None:
            change(docs)
        out = {name: dumps(doc) for name, doc in docs.items()}
        out[SONG] = self.ogg if audio is None else audio
        for name, data in (raw or {}).items():
            if data is None:
                out.pop(name, None)
            else:
                out[name] = data
        return out

    def zip(self, *args: Any, **kwargs: Any) -> bytes:
        return zip_bytes(self.members(*args, **kwargs))


@dataclass
class Corpus:
    root: Path
    raw: Path  # every case's entries, side by side (what ingest + features read)
    songs: Path  # the songs `generate` reads
    material: Material
    cases: list[Case]


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True, separators=(",", ":")).encode("utf-8")


def base_map(song: Song, seed: int, characteristic: str = "Standard") -> BeatMap:
    """Standard Expert with every object kind (notes, bombs, walls, arcs, chains) and a light show."""
    rng = np.random.default_rng([seed, 14])
    opts = ChartOptions(arcs=True, chains=True, bombs=True, walls=True, arc_share=0.1, chain_share=0.08)
    beatmap = charted_map(song, rng, {"Expert": opts}, mapper="Hostile Tester", audio_filename=SONG)
    for d in beatmap.difficulties:
        d.characteristic = characteristic
    return beatmap


def map_docs(beatmap: BeatMap, version: str) -> dict[str, Any]:
    if version == "2":  # v2 files cannot hold chains
        beatmap = replace(beatmap, difficulties=[replace(d, chains=[]) for d in beatmap.difficulties])
    return map_documents(beatmap, version=version, song_filename=SONG)


def render(seed: int, seconds: float, title: str) -> tuple[Song, np.ndarray, bytes]:
    song = compose_song(seed, seconds, title=title, artist="Hostile Corpus")
    samples = render_song(song)
    return song, samples, encode_ogg(samples)


def song_map(seed: int, seconds: float, title: str, version: str = "3") -> bytes:
    """A good map zip of its own song, `seconds` long."""
    song, _, ogg = render(seed, seconds, title)
    docs = map_docs(base_map(song, seed), version)
    return zip_bytes({**{name: dumps(doc) for name, doc in docs.items()}, SONG: ogg})


# ------------------------------------------------------------------ audio files --------------------


def flac_bytes(samples: np.ndarray, rate: int, *, title: str | None = None) -> bytes:
    """FLAC (16-bit) of (n,) or (n, channels) float samples in -1..1."""
    y = np.asarray(samples, dtype=np.float32)
    channels = 1 if y.ndim == 1 else y.shape[1]
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", rate, channels, format="FLAC", subtype="PCM_16") as f:
        if title is not None:
            f.title = title
        f.write(y)
    return buf.getvalue()


def flac_zeros(seconds: float, rate: int, channels: int, burst_every: float = 0.0) -> bytes:
    """FLAC of digital silence, written in 10 s blocks (a 29-minute 4-channel 96 kHz file is ~4 s of
    work). With `burst_every` (seconds), a 64-sample full-scale square burst that often: every 0.5 s
    window then peaks near -29 dBFS RMS (not silent), yet the file stays ~6 KB a second, since FLAC
    codes a constant block in a few bytes."""
    block = np.zeros((rate * 10, channels), dtype=np.int16)
    if burst_every:
        square = np.tile(np.array([32767, -32767], dtype=np.int16), 32)
        for start in range(0, len(block), int(rate * burst_every)):
            block[start : start + len(square)] = square[: len(block) - start, None]
    total = int(round(seconds * rate))
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", rate, channels, format="FLAC", subtype="PCM_16") as f:
        done = 0
        while done < total:
            n = min(len(block), total - done)
            f.write(block[:n])
            done += n
    return buf.getvalue()


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def with_wav_rate(data: bytes, rate: int) -> bytes:
    """A WAV whose fmt header claims `rate` samples per second (byte rate patched to match, capped)."""
    at = data.find(b"fmt ")
    assert at >= 0, "no fmt chunk"
    out = bytearray(data)
    block_align = struct.unpack_from("<H", out, at + 20)[0]
    struct.pack_into("<I", out, at + 12, rate)
    struct.pack_into("<I", out, at + 16, min(rate * block_align, 2**32 - 1))
    return bytes(out)


def looped(samples: np.ndarray, seconds: float, rate: int) -> np.ndarray:
    """`samples` repeated to `seconds` at `rate` (the tempo shifts with the rate; it is still music)."""
    n = int(round(seconds * rate))
    return np.tile(samples, n // len(samples) + 1)[:n]


# ------------------------------------------------------------------ writing ------------------------


def write_entries(raw: Path, files: dict[bytes, Entry]) -> None:
    """Create the raw-folder entries: bytes as files, links, FIFOs and folders as such."""
    base = os.fsencode(raw)
    for name, entry in files.items():
        path = os.path.join(base, name)
        if os.path.lexists(path):
            raise FileExistsError(path)
        if isinstance(entry, Symlink):
            os.symlink(os.fsencode(entry.to), path)
        elif isinstance(entry, Fifo):
            os.mkfifo(path, stat.S_IRUSR | stat.S_IWUSR)
        elif isinstance(entry, Folder):
            for rel, data in entry.members.items():
                target = Path(os.fsdecode(path)) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        else:
            with open(path, "wb") as f:
                f.write(entry)


def case_table(material: Material) -> list[Case]:
    """Every case, from the builders in cases.py (cheap: no bytes are made here)."""
    from tests.hostile.cases import CASE_BUILDERS

    cases = [case for builder in CASE_BUILDERS for case in builder(material)]
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    entries = [n for c in cases for n in c.names]
    assert len(entries) == len(set(entries)), "raw entry names must be unique"
    return cases


def build_corpus(root: Path, material: Material, cases: list[Case]) -> Corpus:
    """Write every case's entries into root/raw and its song into root/songs/<case>/."""
    raw, songs = root / "raw", root / "songs"
    raw.mkdir(parents=True)
    songs.mkdir(parents=True)
    for case in cases:
        files = case.data()
        assert tuple(files) == case.names, (case.name, list(files))
        write_entries(raw, files)
        if case.song is not None:
            folder = songs / case.name
            folder.mkdir()
            with open(os.path.join(os.fsencode(folder), case.song[0]), "wb") as f:
                f.write(case.song[1]())
    return Corpus(root=root, raw=raw, songs=songs, material=material, cases=cases)


def song_path(corpus: Corpus, case: Case) -> bytes:
    assert case.song is not None
    return os.path.join(os.fsencode(corpus.songs / case.name), case.song[0])

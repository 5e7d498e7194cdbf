"""The demo corpus: rendered songs, human-style maps in v2/v3/v4, sidecars, broken zips, references.

    report = generate_demo_corpus(Path("data"), DemoConfig())

writes `data/raw/<key> (<title> - <mapper>).zip` (+ `.json` BeatSaver records for some), the
`broken_<kind>.zip` set, and `data/reference/<song>/` (song.egg + a human-style `map/` folder)
for songs that never appear in raw/. Everything is a pure function of `DemoConfig`: the same
config writes byte-identical files.

Planning (`plan_corpus`) is separate from writing, so the shares the corpus must hit (arcs in
32% of (song, difficulty) pairs and 1.9% of objects, chains in 14% and 0.5%, as in the seed
dataset) can be checked over hundreds of maps without rendering any audio.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from automapper_ml.formats.model import BeatMap, ColorNote, Difficulty, LightEvent
from automapper_ml.formats.writer import write_map
from automapper_ml.synth.audio import SAMPLE_RATE, encode_ogg, render_song
from automapper_ml.synth.broken import BrokenZip, write_broken_set, write_bytes_atomic
from automapper_ml.synth.charting import ChartOptions, chart_difficulties, chart_difficulty
from automapper_ml.synth.composition import Song, compose_song
from automapper_ml.synth.lighting import copy_events, light_show
from automapper_ml.synth.sidecar import beatsaver_record

VERSIONS = ("2", "3", "4")
_MAPPERS = (  # fictional level authors
    "Aster", "Bramblefox", "Cobalt Wren", "Dunlin", "Ember Quill", "Fennec", "Glimmer", "Halcyon",
    "Isotope", "Juniper Vale", "Kestrel", "Lumen", "Marlow", "Nimbus", "Orrery", "Pixelmoth",
)  # fmt: skip


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 0  # every file derives from it: same seed, same bytes
    n_songs: int = 10  # distinct songs in raw/ (remaps come on top)
    min_seconds: float = 30.0  # song length range, seconds (>= 30: good maps stay clear of the 15 s rule)
    max_seconds: float = 45.0
    share_twice_mapped: float = 0.2  # share of songs mapped a second time, by another mapper
    n_reference: int = 2  # songs written to reference/ (never in raw/)
    include_broken: bool = True  # write the broken_<kind>.zip set
    version_weights: tuple[float, float, float] = (0.4, 0.4, 0.2)  # share of maps written as v2, v3, v4
    share_bpm_changes: float = 0.3  # share of songs with tempo changes
    share_sidecar: float = 0.6  # share of maps with a BeatSaver record beside the zip
    share_ranked: float = 0.25  # share of sidecar maps that are ranked
    share_chroma: float = 0.25  # share of v2/v3 maps with Chroma lighting on some difficulties
    share_noodle: float = 0.1  # share of v2/v3 maps whose hardest difficulty requires Noodle Extensions
    share_lawless: float = 0.15  # share of maps with a Lawless difficulty beside Standard
    share_lightshow: float = 0.15  # share of maps with a Lightshow (events only) difficulty
    share_bombs: float = 0.5  # share of difficulties with bombs
    share_walls: float = 0.6  # share of difficulties with walls
    arc_pairs: float = 0.32  # share of Standard (song, difficulty) pairs with arcs (seed dataset)
    arc_objects: float = 0.019  # arcs as a share of all objects (seed dataset)
    chain_pairs: float = 0.14  # likewise for chains (v2 cannot hold chains, so v3/v4 carry them all)
    chain_objects: float = 0.005

    def __post_init__(self) -> None:
        if self.seed < 0 or self.n_songs < 0 or self.n_reference < 0:
            raise ValueError("seed, n_songs and n_reference must be >= 0")
        if not 15.0 <= self.min_seconds <= self.max_seconds <= 600.0:
            raise ValueError(
                f"need 15 <= min_seconds <= max_seconds <= 600, got {self.min_seconds}, {self.max_seconds}"
            )
        if len(self.version_weights) != 3 or min(self.version_weights) < 0 or sum(self.version_weights) <= 0:
            raise ValueError(
                f"version_weights must be three non-negative weights, got {self.version_weights}"
            )


@dataclass(frozen=True)
class SongPlan:
    key: str  # stable name of the song inside the corpus ("song03")
    seed: int
    seconds: float
    bpm_change: bool
    title: str


@dataclass(frozen=True)
class MapPlan:
    song: SongPlan
    key: str  # BeatSaver-style hex key, unique in the corpus
    seed: int
    mapper: str
    version: str  # "2", "3" or "4"
    difficulties: tuple[str, ...]  # Standard difficulty names, easiest first
    options: dict[str, ChartOptions] = field(hash=False)  # per Standard difficulty
    chroma: tuple[str, ...] = ()  # difficulties with Chroma (suggested or required) and coloured lights
    chroma_required: bool = False
    noodle: tuple[str, ...] = ()  # difficulties requiring Noodle Extensions
    lawless: bool = False
    lightshow: bool = False
    sidecar: bool = False
    ranked: bool = False

    @property
    def stem(self) -> str:
        return f"{self.key} ({self.song.title} - {self.mapper})"


@dataclass(frozen=True)
class DemoSong:
    key: str
    title: str
    artist: str
    bpm: float
    bpm_changes: int  # number of tempo changes
    seconds: float
    onsets: tuple[float, ...]  # every rendered drum hit, seconds, sorted (notes land on these)


@dataclass(frozen=True)
class DemoMap:
    path: Path  # the zip
    song_key: str  # DemoSong.key: two maps of one song share it
    mapper: str
    version: str
    difficulties: tuple[str, ...]  # "Standard/Expert", ... including Lawless and Lightshow
    notes: dict[str, int] = field(hash=False)  # difficulty key -> colour notes written
    sidecar: Path | None = None


@dataclass(frozen=True)
class DemoReport:
    home: Path
    songs: tuple[DemoSong, ...]
    maps: tuple[DemoMap, ...]
    broken: tuple[BrokenZip, ...]
    references: tuple[Path, ...]  # reference/<song>/ folders

    def summary(self) -> str:
        versions = {v: sum(m.version == v for m in self.maps) for v in VERSIONS}
        return (
            f"{len(self.maps)} maps of {len(self.songs)} songs in {self.home / 'raw'} "
            f"(v2 {versions['2']}, v3 {versions['3']}, v4 {versions['4']}; "
            f"{sum(m.sidecar is not None for m in self.maps)} with BeatSaver records), "
            f"{len(self.broken)} broken zips, {len(self.references)} reference songs in {self.home / 'reference'}"
        )


def plan_corpus(config: DemoConfig) -> tuple[list[SongPlan], list[MapPlan], list[SongPlan]]:
    """(songs, maps, reference songs): everything decided before a sample is rendered."""
    rng = _rng(config.seed, "plan")
    n = config.n_songs
    songs: list[SongPlan] = []
    titles: set[str] = set()
    changes = _quota(rng, n, config.share_bpm_changes)
    for i in range(n + config.n_reference):
        seed = int(_rng(config.seed, "song", i).integers(2**31))
        seconds = round(float(rng.uniform(config.min_seconds, config.max_seconds)), 2)
        title = compose_song(seed, seconds).title  # cheap: composing is symbolic
        while title in titles:
            title += " II"
        titles.add(title)
        songs.append(SongPlan(f"song{i:02d}", seed, seconds, bool(i < n and changes[i]), title))
    raw_songs, references = songs[:n], songs[n:]
    remapped = [
        s for s, twice in zip(raw_songs, _quota(rng, n, config.share_twice_mapped), strict=True) if twice
    ]
    song_list = raw_songs + remapped
    versions = _versions(rng, len(song_list), config.version_weights)
    keys = rng.choice(np.arange(0x1000, 0x40000), size=len(song_list), replace=False)
    maps: list[MapPlan] = []
    for i, (song, version) in enumerate(zip(song_list, versions, strict=True)):
        taken = {m.mapper for m in maps if m.song is song}
        mapper = str(rng.choice([m for m in _MAPPERS if m not in taken]))
        maps.append(_plan_map(config, rng, song, f"{int(keys[i]):x}", mapper, version))
    return raw_songs, maps, references


def _plan_map(
    config: DemoConfig, rng: np.random.Generator, song: SongPlan, key: str, mapper: str, version: str
) -> MapPlan:
    legacy_mods = version in ("2", "3")  # v4 files carry no Chroma or Noodle data
    noodle = legacy_mods and rng.random() < config.share_noodle
    top = [("Expert", "ExpertPlus")] if noodle else [("Expert",), ("ExpertPlus",), ("Expert", "ExpertPlus")]
    hardest = list(top[int(rng.integers(len(top)))])
    lower = [d for d in ("Easy", "Normal", "Hard") if rng.random() < 0.55]
    names = tuple(lower + hardest)
    chain_capable = sum(config.version_weights[1:]) / sum(config.version_weights)
    p_chain = min(1.0, config.chain_pairs / chain_capable) if version != "2" and chain_capable > 0 else 0.0
    arc_share = _object_share(config.arc_objects / config.arc_pairs)
    chain_share = _object_share(config.chain_objects / config.chain_pairs)
    options = {
        name: ChartOptions(
            arcs=bool(rng.random() < config.arc_pairs),
            chains=bool(rng.random() < p_chain),
            bombs=bool(rng.random() < config.share_bombs),
            walls=bool(rng.random() < config.share_walls),
            arc_share=arc_share,
            chain_share=chain_share,
        )
        for name in names
    }
    chroma: tuple[str, ...] = ()
    if legacy_mods and rng.random() < config.share_chroma:  # some difficulties only: categories differ
        chroma = tuple(n for n in names if rng.random() < 0.6) or (names[-1],)
    sidecar = bool(rng.random() < config.share_sidecar)
    return MapPlan(
        song=song,
        key=key,
        seed=int(rng.integers(2**31)),
        mapper=mapper,
        version=version,
        difficulties=names,
        options=options,
        chroma=chroma,
        chroma_required=bool(rng.random() < 0.2),
        noodle=(names[-1],) if noodle else (),
        lawless=bool(rng.random() < config.share_lawless),
        lightshow=bool(rng.random() < config.share_lightshow),
        sidecar=sidecar,
        ranked=sidecar and bool(rng.random() < config.share_ranked),
    )


def build_map(plan: MapPlan, song: Song) -> BeatMap:
    """The `BeatMap` a plan describes, charted on `song` (no audio needed)."""
    rng = _rng(plan.seed, "chart")
    diffs = chart_difficulties(song, list(plan.difficulties), rng, plan.options)
    events, boosts = light_show(song, rng, chroma=True)
    plain = [LightEvent(e.beat, e.type, e.value, e.float_value) for e in events]  # no Chroma colour
    if plan.lawless:
        diffs.append(
            chart_difficulty(song, "Expert", rng, ChartOptions(bombs=True), characteristic="Lawless")
        )
    if plan.lightshow:
        diffs.append(
            Difficulty(
                characteristic="Lightshow",
                name="Easy",
                rank=1,
                filename="",
                bpm_changes=list(song.bpm_changes),
            )
        )
    for diff in diffs:
        coloured = diff.characteristic == "Standard" and diff.name in plan.chroma
        diff.events = copy_events(events if coloured else plain)
        diff.boosts = list(boosts)
        if coloured:
            if plan.chroma_required:
                diff.requirements = ("Chroma",)
            else:
                diff.suggestions = ("Chroma",)
        if diff.characteristic == "Standard" and diff.name in plan.noodle:
            diff.requirements = (*diff.requirements, "Noodle Extensions")
            # Noodle maps decorate with fake notes: never played, never counted as notes
            diff.fake_notes = [ColorNote(n.beat, n.x, 2, n.color, 8) for n in diff.notes[::8]]
    chorus = next((s for s in song.sections if s.name == "chorus"), song.sections[0])
    return BeatMap(
        info_version="4.0.1" if plan.version == "4" else "2.1.0",
        title=song.title,
        artist=song.artist,
        mapper=plan.mapper,
        bpm=song.bpm,
        audio_filename="song.egg",
        preview_start=round(song.timing().to_seconds(chorus.start_beat), 3),
        preview_duration=10.0,
        song_frequency=SAMPLE_RATE,
        song_sample_count=int(round(song.seconds * SAMPLE_RATE)),
        difficulties=diffs,
    )


def compose(plan: SongPlan) -> Song:
    return compose_song(plan.seed, plan.seconds, bpm_change=plan.bpm_change, title=plan.title)


def generate_demo_corpus(
    home: Path, config: DemoConfig, *, progress: Callable[[str], None] | None = None
) -> DemoReport:
    """Write the demo corpus into `home`/raw and `home`/reference; return what was written.

    `progress` receives one line per song (and for the broken set and references) as work goes.
    """
    home = Path(home)
    say = progress or (lambda line: None)
    raw, reference = home / "raw", home / "reference"
    raw.mkdir(parents=True, exist_ok=True)
    songs, maps, references = plan_corpus(config)
    demo_songs: list[DemoSong] = []
    demo_maps: list[DemoMap] = []
    for i, song_plan in enumerate(songs):
        say(f"song {i + 1}/{len(songs)}: {song_plan.title} ({song_plan.seconds:g} s)")
        song = compose(song_plan)
        audio = encode_ogg(render_song(song))
        demo_songs.append(
            DemoSong(
                song_plan.key, song.title, song.artist, song.bpm, len(song.bpm_changes), song.seconds,
                tuple(float(t) for t in np.sort(song.hit_seconds())),
            )
        )  # fmt: skip
        for plan in (m for m in maps if m.song is song_plan):
            demo_maps.append(_write_map(raw, plan, song, audio))
    broken = (
        write_broken_set(raw, int(_rng(config.seed, "broken").integers(2**31)))
        if config.include_broken
        else []
    )
    if references:
        say(f"{len(references)} reference songs")
    written_refs = [_write_reference(reference, plan, config) for plan in references]
    return DemoReport(home, tuple(demo_songs), tuple(demo_maps), tuple(broken), tuple(written_refs))


def _write_map(raw: Path, plan: MapPlan, song: Song, audio: bytes) -> DemoMap:
    beatmap = build_map(plan, song)
    path = write_map(beatmap, raw / f"{plan.stem}.zip", audio=audio, version=plan.version)
    sidecar = None
    if plan.sidecar:
        record = beatsaver_record(
            beatmap, key=plan.key, zip_bytes=path.read_bytes(), audio_seconds=song.seconds,
            rng=_rng(plan.seed, "sidecar"), ranked=plan.ranked,
        )  # fmt: skip
        sidecar = path.with_suffix(".json")
        write_bytes_atomic(sidecar, (json.dumps(record, indent=2) + "\n").encode())
    return DemoMap(
        path=path,
        song_key=plan.song.key,
        mapper=plan.mapper,
        version=plan.version,
        difficulties=tuple(d.key for d in beatmap.difficulties),
        notes={d.key: len(d.notes) for d in beatmap.difficulties},
        sidecar=sidecar,
    )


def _write_reference(reference: Path, plan: SongPlan, config: DemoConfig) -> Path:
    """reference/<slug>/song.egg plus a human-style map folder reference/<slug>/map/ (v3)."""
    song = compose(plan)
    folder = reference / _slug(song.title)
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / "song.egg", encode_ogg(render_song(song)))
    names = ("Normal", "Hard", "Expert", "ExpertPlus")
    rng = _rng(plan.seed, "reference")
    options = {n: ChartOptions(arcs=rng.random() < 0.5, bombs=True, walls=True) for n in names}
    map_plan = MapPlan(plan, "ref", int(rng.integers(2**31)), str(rng.choice(_MAPPERS)), "3", names, options)
    write_map(build_map(map_plan, song), folder / "map", version="3")
    return folder


def _quota(rng: np.random.Generator, n: int, share: float) -> list[bool]:
    """n flags, round(share * n) of them True (at least one when share > 0 and n > 1), shuffled."""
    k = int(round(share * n))
    if share > 0 and n > 1:
        k = max(k, 1)
    flags = [i < k for i in range(n)]
    rng.shuffle(flags)
    return flags


def _versions(rng: np.random.Generator, n: int, weights: tuple[float, float, float]) -> list[str]:
    """Versions by largest remainder, so every version with a weight appears once n >= 3."""
    w = np.asarray(weights, dtype=float) / sum(weights)
    counts = np.floor(w * n).astype(int)
    for i in np.argsort(-(w * n - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    if n >= 3:
        for i in np.flatnonzero((counts == 0) & (w > 0)):
            counts[i], counts[int(np.argmax(counts))] = 1, counts[int(np.argmax(counts))] - 1
    out = [v for v, c in zip(VERSIONS, counts, strict=True) for _ in range(c)]
    rng.shuffle(out)
    return out


def _object_share(share_of_all: float) -> float:
    """Objects per other object, for a share of all objects (arcs at 6% of all = 6.4% of the rest)."""
    return share_of_all / (1.0 - share_of_all)


def _rng(seed: int, tag: str, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(tag.encode()), *more])


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "song"

"""osu!standard maps for the composed demo songs: the same hits the Beat Saber charts use.

    paths = write_osu_demo(Path("data/osu_raw"), songs, seed=0)   # one .osz per song, 2-3 difficulties

How the charter maps a `Song` (everything from one seeded generator: same seed, same bytes):
- rhythm: the drum hits worth an object at the difficulty (`charting._pick_hits`: strongest first,
  a minimum gap in beats and seconds), each at its rendered time (grid + the drummer's offset);
- sliders on held notes: a slider's head is a picked hit, its tail ends while a chord or bass tone
  sounding at the head is still held and a rest before the next strong hit (weak hats under it are
  left out); L, B and P curves, repeats when the hold is longer than one slide may be;
- a spinner at a section's end where there is room: the section's last bar, from its downbeat to a
  beat before the next section, holding at most one strong hit, at least `MIN_SPINNER_SECONDS` long;
- new combo on the first object of every bar (so on every downbeat that has one) and at spinners;
- positions follow a flowing path (a heading that turns smoothly, bounced off the playfield's
  edges), the distance to the next object = the difficulty's px/beat x the gap in beats;
- timing points from the song's tempo map (the first at the first downbeat), kiai in choruses.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automapper_ml.evaluation.osu import slider_path, slider_problems
from automapper_ml.formats.osu.model import (
    PLAYFIELD_HEIGHT,
    PLAYFIELD_WIDTH,
    Circle,
    Colours,
    CurveSegment,
    Difficulty,
    General,
    Metadata,
    OsuMap,
    Slider,
    Spinner,
    TimingPoint,
)
from automapper_ml.formats.osu.osz import write_osz
from automapper_ml.synth.audio import encode_ogg, render_song
from automapper_ml.synth.charting import DRUM_WEIGHT, DifficultyStyle, _pick_hits
from automapper_ml.synth.composition import BEATS_PER_BAR, Song
from automapper_ml.synth.corpus import DemoConfig, compose, plan_corpus

AUDIO_NAME = "audio.ogg"
OSU_DIFFICULTIES = ("Normal", "Hard", "Insane", "Expert")
MARGIN = 32.0  # objects and slider paths stay this far inside the playfield
MIN_SPINNER_SECONDS = 1.0
STRONG = 0.6  # a hit this strong (drum weight x velocity) is never swallowed by a slider
MAX_SLIDE_PX = 190.0  # a longer slide is split into repeats
HITSOUNDS = {"kick": 0, "snare": 8, "crash": 4, "open_hat": 2, "hat": 0}  # clap, finish, whistle
_CREATORS = ("Aster", "Kestrel", "Lumen", "Nimbus", "Orrery", "Pixelmoth")
_COMBO_COLOURS = ((255, 128, 64), (64, 160, 255), (128, 255, 128), (255, 96, 192))
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


@dataclass(frozen=True, slots=True)
class OsuStyle:
    hp: float
    cs: float
    od: float
    ar: float
    slider_multiplier: float  # slider px per beat / 100
    spacing: float  # median distance per beat between objects, osu!pixels
    min_gap_beats: float
    min_gap_seconds: float
    min_strength: float  # weakest hit still worth an object
    slider_chance: float  # chance a hit with room for a slider gets one
    slide_beats: float  # longest single slide; longer holds repeat
    min_slider_beats: float
    rest_beats: float  # free time after a slider or spinner before the next object


OSU_STYLES = {
    "Normal": OsuStyle(4.0, 3.5, 4.0, 5.0, 1.2, 100.0, 1.0, 0.3, 0.3, 0.3, 2.0, 0.5, 0.5),
    "Hard": OsuStyle(5.0, 4.0, 6.0, 7.5, 1.5, 150.0, 0.25, 0.155, 0.2, 0.35, 1.0, 0.5, 0.5),
    "Insane": OsuStyle(6.0, 4.0, 8.0, 9.0, 1.8, 185.0, 0.25, 0.13, 0.12, 0.35, 1.0, 0.5, 0.5),
    "Expert": OsuStyle(6.0, 4.2, 8.5, 9.5, 2.0, 240.0, 0.25, 0.1, 0.08, 0.3, 1.0, 0.5, 0.25),
}
DIFFICULTY_SETS = (  # 2-3 neighbouring difficulties per set
    ("Normal", "Hard", "Insane"),
    ("Hard", "Insane", "Expert"),
    ("Normal", "Hard"),
    ("Insane", "Expert"),
    ("Hard", "Insane"),
)


@dataclass(frozen=True, slots=True)
class _Planned:
    kind: str  # circle, slider, spinner
    beat: float
    ms: float  # start time
    beats: float = 0.0  # slider / spinner length
    drum: str = ""


def song_beat(song: Song, seconds: float) -> float:
    """The beat at `seconds` on the song's tempo map (the inverse of `Song.timing().to_seconds`)."""
    segments = song.timing().segments
    beat, second, bpm = segments[0]
    for b, s, tempo in segments:
        if s <= seconds:
            beat, second, bpm = b, s, tempo
    return beat + (seconds - second) * bpm / 60.0


def downbeats(song: Song) -> set[float]:
    """Every bar's first beat (bars start at section starts)."""
    return {s.start_beat + k * BEATS_PER_BAR for s in song.sections for k in range(s.bars)}


def chart_osu(song: Song, name: str, seed: int = 0, creator: str = "Aster") -> OsuMap:
    """One osu!standard difficulty (`OSU_STYLES[name]`) of `song`."""
    style = OSU_STYLES[name]
    rng = np.random.default_rng([seed, song.seed, zlib.crc32(name.encode())])
    plan = _rhythm(song, style, rng)
    objects = _place(song, style, plan, rng)
    chorus = next((s for s in song.sections if s.name == "chorus"), song.sections[0])
    return OsuMap(
        general=General(
            audio_filename=AUDIO_NAME,
            preview_time=float(round(song.timing().to_seconds(chorus.start_beat) * 1000)),
            countdown=0,
            sample_set="Soft",
        ),
        editor=(("DistanceSpacing", "1"), ("BeatDivisor", "4"), ("GridSize", "32"), ("TimelineZoom", "1")),
        metadata=Metadata(
            title=song.title,
            artist=song.artist,
            creator=creator,
            version=name,
            extra=(("Source", ""), ("Tags", "automapper demo synthetic"), ("BeatmapID", "0")),
        ),
        difficulty=Difficulty(
            hp=style.hp, cs=style.cs, od=style.od, ar=style.ar, slider_multiplier=style.slider_multiplier
        ),
        timing_points=timing_points(song),
        colours=Colours(combo=_COMBO_COLOURS),
        hit_objects=tuple(objects),
    )


def timing_points(song: Song) -> tuple[TimingPoint, ...]:
    """Uninherited points at the first downbeat and at every tempo change; kiai through choruses."""
    timing = song.timing()
    first = song.sections[0].start_beat

    def ms(beat: float) -> float:
        return float(round(timing.to_seconds(beat) * 1000))

    tempi = [(first, timing.segments[0][2])] + [(b, bpm) for b, _, bpm in timing.segments[1:] if b > first]
    points = {(ms(b), 0): TimingPoint(ms(b), 60_000.0 / bpm, sample_set=2, volume=70) for b, bpm in tempi}
    for s in song.sections:
        if s.name == "chorus":  # a chorus straight after a chorus: its start wins over the kiai end
            points.setdefault(
                (ms(s.end_beat), 1), TimingPoint(ms(s.end_beat), -100.0, volume=70, uninherited=False)
            )
            points[(ms(s.start_beat), 1)] = TimingPoint(
                ms(s.start_beat), -100.0, volume=80, uninherited=False, effects=1
            )
    return tuple(points[k] for k in sorted(points))


def _rhythm(song: Song, style: OsuStyle, rng: np.random.Generator) -> list[_Planned]:
    """Circles, sliders and spinners in time order, before positions."""
    timing = song.timing()
    rendered: dict[float, float] = {}  # beat -> when its first drum (kick before snare...) sounds
    for hit, second in zip(song.hits, song.hit_seconds(), strict=True):
        rendered.setdefault(hit.beat, second)
    firsts = [s.start_beat for s in song.sections]

    def ms(beat: float) -> float:  # never before the timing point of its tempo
        grid = timing.to_seconds(beat)
        floor = max((timing.to_seconds(b) for b in firsts if b <= beat + 1e-9), default=0.0)
        return float(round(max(rendered.get(beat, grid), floor) * 1000))

    picked = _pick_hits(
        song,
        DifficultyStyle(style.min_gap_beats, style.min_gap_seconds, 1.0, style.min_strength, 0.04, 0, 0),
        rng,
    )
    spinners = _spinners(song, style)
    events = [p for p in picked if not any(a <= p[0] < b + style.rest_beats for a, b in spinners)]
    tones = [(t.beat, t.beat + t.beats) for t in (*song.chords, *song.bass)]
    plan = [_Planned("spinner", a, ms(a), b - a) for a, b in spinners]
    skip_until = -1.0
    for i, (beat, _, _, drum) in enumerate(events):
        if beat < skip_until:
            continue
        held = max((end for start, end in tones if start <= beat + 1e-9 < end), default=beat)
        strong = [e[0] for e in events[i + 1 :] if e[2] >= STRONG]
        limit = min(
            [held]
            + [b - style.rest_beats for b in strong[:1]]
            + [a - style.rest_beats for a, _ in spinners if a > beat]
        )
        room = limit - beat
        length = math.floor(room * 2 + 1e-9) / 2 or math.floor(room * 4 + 1e-9) / 4
        chance = style.slider_chance if length < 1.0 else max(style.slider_chance, 0.8)
        if length >= style.min_slider_beats and rng.random() < chance:
            plan.append(_Planned("slider", beat, ms(beat), length, drum))
            skip_until = beat + length + style.rest_beats - 1e-9
        else:
            plan.append(_Planned("circle", beat, ms(beat), 0.0, drum))
    plan.sort(key=lambda p: p.beat)
    return plan


def _spinners(song: Song, style: OsuStyle) -> list[tuple[float, float]]:
    """(start, end) beats of a spinner in each section's last bar where there is room."""
    timing = song.timing()
    out = []
    for i, s in enumerate(song.sections):
        last = i == len(song.sections) - 1
        start, end = s.end_beat - BEATS_PER_BAR, s.end_beat - max(1.0, style.rest_beats)
        strong = [h for h in song.hits if start < h.beat < end and DRUM_WEIGHT[h.drum] * h.velocity >= STRONG]
        seconds = timing.to_seconds(end) - timing.to_seconds(start)
        if s.bars >= 2 and len(strong) <= 1 and seconds >= MIN_SPINNER_SECONDS and (last or s.energy <= 0.3):
            out.append((start, end))
    return out


class _Cursor:
    """Where the play goes next: a heading turning smoothly, kept inside the playfield's margin."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.pos = np.array([256.0, 192.0])
        self.heading = float(rng.uniform(0, 2 * math.pi))
        self.turn = float(rng.choice([-0.6, 0.6]))

    def step(self, distance: float, new_combo: bool) -> np.ndarray:
        if new_combo and self.rng.random() < 0.5:
            self.turn = -self.turn
        self.turn = float(np.clip(self.turn + self.rng.normal(0, 0.25), -1.6, 1.6))
        heading = self.heading + self.turn + float(self.rng.normal(0, 0.3))
        for scale in (1.0, 0.8, 0.6, 0.4, 0.2):
            for k in range(25):  # bounce: headings ever further from the wanted one, up to a U-turn
                delta = (k + 1) // 2 * 0.26 * (1 if k % 2 else -1) * (1 if self.turn >= 0 else -1)
                h = heading + delta
                p = np.round(self.pos + distance * scale * np.array([math.cos(h), math.sin(h)]))
                if _inside(p):
                    self.pos, self.heading = p, h
                    return p
        self.pos = np.array([256.0, 192.0])
        return self.pos


def _inside(p: np.ndarray) -> bool:
    return bool(MARGIN <= p[0] <= PLAYFIELD_WIDTH - MARGIN and MARGIN <= p[1] <= PLAYFIELD_HEIGHT - MARGIN)


def _place(song: Song, style: OsuStyle, plan: list[_Planned], rng: np.random.Generator) -> list:
    timing = song.timing()
    cursor = _Cursor(rng)
    sections = [s.start_beat for s in song.sections]
    objects: list[Circle | Slider | Spinner] = []
    last_end, last_bar, after_spinner = None, None, True
    for item in plan:
        section = max(b for b in sections if b <= item.beat + 1e-9)
        bar = (section, math.floor((item.beat - section) / BEATS_PER_BAR + 1e-9))
        combo = bar != last_bar or after_spinner or item.kind == "spinner"
        last_bar = bar
        if item.kind == "spinner":
            end = float(round(timing.to_seconds(item.beat + item.beats) * 1000))
            objects.append(Spinner(256.0, 192.0, item.ms, new_combo=True, end=end))
            last_end, after_spinner = item.beat + item.beats, True
            cursor.pos = np.array([256.0, 192.0])
            continue
        after_spinner = False
        gap = item.beat - last_end if last_end is not None else 1.0
        distance = style.spacing * min(gap, 1.5) * float(rng.uniform(0.85, 1.15))
        x, y = cursor.step(max(distance, 24.0), combo)
        sound = HITSOUNDS.get(item.drum, 0)
        if item.kind == "slider":
            made = _slider(float(x), float(y), item, style, cursor, rng, combo, sound)
            if made is not None:
                objects.append(made)
                last_end = item.beat + item.beats
                continue
        objects.append(Circle(float(x), float(y), item.ms, new_combo=combo, hitsound=sound))
        last_end = item.beat
    return objects


def _slider(
    x: float, y: float, item: _Planned, style: OsuStyle, cursor: _Cursor, rng: np.random.Generator,
    combo: bool, sound: int,
) -> Slider | None:  # fmt: skip
    """A slider lasting item.beats from (x, y), its path inside the margin; None when none fits."""
    slides = max(1, math.ceil(item.beats / style.slide_beats - 1e-9))
    px_per_beat = 100.0 * style.slider_multiplier
    while item.beats / slides * px_per_beat > MAX_SLIDE_PX:
        slides += 1
    length = round(item.beats / slides * px_per_beat, 4)
    kinds = ["L", "B", "P"]
    first = str(rng.choice(kinds, p=[0.3, 0.4, 0.3]))
    head = np.array([x, y])
    toward_centre = math.atan2(192.0 - y, 256.0 - x)
    tries = [(first, cursor.heading + d) for d in (0.0, 0.5, -0.5, 1.0, -1.0, 1.6, -1.6)]
    tries += [(k, toward_centre + d) for k in kinds for d in (0.0, 0.4, -0.4)]
    for kind, heading in tries:
        curve = _curve(kind, head, heading, length, rng)
        s = Slider(
            x, y, item.ms, new_combo=combo, hitsound=sound, curve=curve, slides=slides, length=length,
            edge_sounds=(sound,) + (0,) * slides, edge_sets=((0, 0),) * (slides + 1),
        )  # fmt: skip
        if slider_problems(s):
            continue
        path = slider_path(s)
        lo, hi = MARGIN / 2, np.array([PLAYFIELD_WIDTH, PLAYFIELD_HEIGHT]) - MARGIN / 2
        if np.all(path >= lo) and np.all(path <= hi):
            tail, before = (path[-1], path[-2]) if slides % 2 else (path[0], path[1])
            cursor.pos = np.round(tail)
            cursor.heading = math.atan2(tail[1] - before[1], tail[0] - before[0])
            return s
    return None


def _curve(
    kind: str, head: np.ndarray, heading: float, length: float, rng: np.random.Generator
) -> tuple[CurveSegment, ...]:
    """Anchors of an L, B or P path of at least `length` px leaving `head` along `heading`."""
    u = np.array([math.cos(heading), math.sin(heading)])
    side = float(rng.choice([-1.0, 1.0]))
    n = side * np.array([-u[1], u[0]])
    if kind == "P":
        sweep = float(rng.uniform(0.6, 1.6)) * 1.05  # a little past the length: rounding can shorten
        radius = length / sweep * 1.05

        def at(a: float) -> np.ndarray:
            return head + radius * (math.sin(a) * u + (1 - math.cos(a)) * n)

        points = [at(sweep / 2), at(sweep)]
    elif kind == "B":
        end = head + length * 1.02 * u
        if rng.random() < 0.5:
            points = [head + 0.5 * length * u + float(rng.uniform(0.2, 0.45)) * length * n, end]
        else:  # an S: two control points bent to either side
            bend = float(rng.uniform(0.15, 0.3)) * length
            points = [head + length / 3 * u + bend * n, head + 2 * length / 3 * u - bend * n, end]
    else:
        points = [head + length * u]
    return (CurveSegment(kind, tuple((float(round(p[0])), float(round(p[1]))) for p in points)),)


def chart_osu_set(song: Song, seed: int = 0) -> list[OsuMap]:
    """The 2-3 difficulties (easiest first) one demo set holds for `song`."""
    rng = np.random.default_rng([seed, song.seed, zlib.crc32(b"osu set")])
    names = DIFFICULTY_SETS[int(rng.integers(len(DIFFICULTY_SETS)))]
    creator = str(rng.choice(_CREATORS))
    return [chart_osu(song, name, seed, creator) for name in names]


def osz_name(index: int, song: Song) -> str:
    return _UNSAFE.sub("_", f"demo{index:02d} {song.artist} - {song.title}").strip(" .") + ".osz"


def write_osu_demo(
    raw_dir: Path,
    songs: Sequence[Song],
    *,
    seed: int = 0,
    audio: Sequence[bytes] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """One `.osz` per song in `raw_dir` (maps from `chart_osu_set`, the song as `audio.ogg`: the
    given encoded audio, or rendered here); byte-identical for the same songs and seed."""
    if audio is not None and len(audio) != len(songs):
        raise ValueError(f"{len(audio)} audio files for {len(songs)} songs")
    say = progress or (lambda line: None)
    paths = []
    for i, song in enumerate(songs):
        data = audio[i] if audio is not None else encode_ogg(render_song(song))
        maps = chart_osu_set(song, seed)
        say(f"osu! set {i + 1}/{len(songs)}: {song.title} ({', '.join(m.metadata.version for m in maps)})")
        paths.append(write_osz(Path(raw_dir) / osz_name(i, song), maps, {AUDIO_NAME: data}))
    return paths


def osu_demo_songs(config: DemoConfig) -> list[Song]:
    """The raw songs of the demo corpus `config` plans (the same `Song`s its Beat Saber maps chart)."""
    return [compose(plan) for plan in plan_corpus(config)[0]]

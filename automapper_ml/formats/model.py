"""One in-memory model for a Beat Saber map, whatever format version it was read from.

Readers (v2, v3, v4) fill these dataclasses; writers, the tokenizer, the metrics and the
demo corpus only ever see this model. Times are in beats on the map's own timeline (the
one its objects use); `Timing` turns them into seconds honouring BPM changes.

Conventions (BSMG wiki, ../shared/spec/bsmg_wiki):
- grid: x (line index) 0..3 left to right, y (line layer) 0..2 bottom to top;
- colour: 0 = left saber (red), 1 = right saber (blue);
- cut direction: 0 up, 1 down, 2 left, 3 right, 4 up-left, 5 up-right, 6 down-left,
  7 down-right, 8 any (dot).

Counts always mean real objects: Noodle fake objects (v3 `customData.fake*`, v2 `_fake`)
live in the separate `fake_*` lists and are never counted as notes, bombs or walls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

GRID_COLUMNS = 4
GRID_ROWS = 3
COLOR_LEFT = 0
COLOR_RIGHT = 1
DIRECTION_NAMES = ("up", "down", "left", "right", "up_left", "up_right", "down_left", "down_right", "any")
DIRECTION_ANY = 8
# Grid step (dx, dy; y up) of each arrowed cut direction: where a chain's links go. The dot has none.
DIRECTION_STEP = {
    0: (0, 1),
    1: (0, -1),
    2: (-1, 0),
    3: (1, 0),
    4: (-1, 1),
    5: (1, 1),
    6: (-1, -1),
    7: (1, -1),
}

# Difficulty names and the rank the game gives each (Info.dat `_difficultyRank`).
# The one difficulty table: names in order, the game's rank, and the models' difficulty index (0..4).
DIFFICULTY_RANKS = {"Easy": 1, "Normal": 3, "Hard": 5, "Expert": 7, "ExpertPlus": 9}
DIFFICULTY_NAMES = tuple(DIFFICULTY_RANKS)
DIFFICULTY_INDEX = {name: i for i, name in enumerate(DIFFICULTY_NAMES)}  # rank 1, 3, .., 9 -> 0 .. 4
CHARACTERISTICS = (
    "Standard",
    "NoArrows",
    "OneSaber",
    "360Degree",
    "90Degree",
    "Legacy",
    "Lawless",
    "Lightshow",
)

# Spellings seen in hand-edited files for the display names; everything else folds case.
_DIFFICULTY_ALIASES = {n.casefold(): n for n in DIFFICULTY_NAMES} | {"expert+": "ExpertPlus"}
_CHARACTERISTIC_ALIASES = {n.casefold(): n for n in CHARACTERISTICS}


def canonical_difficulty(name: str) -> str | None:
    """The game's spelling of a difficulty name (`expert+` -> `ExpertPlus`), or None when unknown.

    Output file names are built from this fixed vocabulary, never from text in a map file."""
    return _DIFFICULTY_ALIASES.get(name.strip().casefold()) if isinstance(name, str) else None


def canonical_characteristic(name: str) -> str | None:
    """The spelling of a known characteristic (`standard` -> `Standard`; CHARACTERISTICS), or None."""
    return _CHARACTERISTIC_ALIASES.get(name.strip().casefold()) if isinstance(name, str) else None


RGB = tuple[float, ...]  # Chroma colour: (r, g, b) or (r, g, b, a), channels nominally 0..1


@dataclass(slots=True)
class ColorNote:
    beat: float
    x: int  # line index 0..3
    y: int  # line layer 0..2
    color: int  # 0 left (red), 1 right (blue)
    direction: int  # cut direction 0..8
    angle: int = 0  # counter-clockwise angle offset, degrees
    uninteractable: bool = False  # Noodle `uninteractable` / v2 `_interactable: false`


@dataclass(slots=True)
class BombNote:
    beat: float
    x: int
    y: int
    uninteractable: bool = False


@dataclass(slots=True)
class Obstacle:
    beat: float
    duration: float  # beats
    x: int
    y: int  # 0 for full-height walls, 2 for crouch walls (v2 `_type` 0/1)
    width: int
    height: int  # 5 for full-height, 3 for crouch walls
    uninteractable: bool = False


@dataclass(slots=True)
class Arc:
    """A v3 slider: a curve from a head note to a tail note of one colour."""

    color: int
    beat: float
    x: int
    y: int
    direction: int
    head_multiplier: float  # `mu`: how far the head control point reaches
    tail_beat: float
    tail_x: int
    tail_y: int
    tail_direction: int
    tail_multiplier: float  # `tmu`
    mid_anchor: int = 0  # `m`: 0 straight, 1 clockwise, 2 counter-clockwise


@dataclass(slots=True)
class Chain:
    """A v3 burst slider: a head note followed by `slices - 1` links towards the tail."""

    color: int
    beat: float
    x: int
    y: int
    direction: int
    tail_beat: float
    tail_x: int
    tail_y: int
    slices: int  # `sc`, including the head
    squish: float = 1.0  # `s`


@dataclass(slots=True)
class LightEvent:
    """A basic (v2-style) lighting event: type selects the light group or effect."""

    beat: float
    type: int
    value: int
    float_value: float = 1.0  # brightness (v2.5+ `_floatValue`, v3 `f`)
    color: RGB | None = None  # Chroma `color` / `_color`
    light_id: tuple[int, ...] | None = None  # Chroma `lightID` / `_lightID`


@dataclass(slots=True)
class BoostEvent:
    beat: float
    on: bool


@dataclass(slots=True)
class BpmChange:
    beat: float
    bpm: float


@dataclass(slots=True)
class RotationEvent:
    """360/90 degree lane rotation (v2 event types 14/15, v3 `rotationEvents`)."""

    beat: float
    early: bool  # True: applies to objects at this beat (type 14 / e=0)
    rotation: float  # degrees, clockwise


@dataclass(slots=True)
class BpmRegion:
    """A BPMInfo.dat / AudioData.dat region: a stretch of samples mapped onto a stretch of beats."""

    start_sample: int
    end_sample: int
    start_beat: float
    end_beat: float


@dataclass(slots=True)
class Difficulty:
    characteristic: str  # "Standard", "Lawless", "Lightshow", ...
    name: str  # "Easy" .. "ExpertPlus"
    rank: int  # 1, 3, 5, 7, 9
    filename: str  # beatmap file inside the map folder
    version: str = ""  # format version the file declared ("2.6.0", "3.3.0", "4.1.0"); "" if none
    lightshow_filename: str | None = None  # v4 only
    njs: float = 0.0  # note jump movement speed
    njs_offset: float = 0.0  # note jump start beat offset
    label: str | None = None  # custom difficulty label
    requirements: tuple[str, ...] = ()  # per difficulty, from Info.dat customData
    suggestions: tuple[str, ...] = ()
    notes: list[ColorNote] = field(default_factory=list)
    bombs: list[BombNote] = field(default_factory=list)
    obstacles: list[Obstacle] = field(default_factory=list)
    arcs: list[Arc] = field(default_factory=list)
    chains: list[Chain] = field(default_factory=list)
    events: list[LightEvent] = field(default_factory=list)  # basic events, without boosts/BPM/rotation
    boosts: list[BoostEvent] = field(default_factory=list)
    bpm_changes: list[BpmChange] = field(default_factory=list)  # from the difficulty file itself
    rotations: list[RotationEvent] = field(default_factory=list)
    fake_notes: list[ColorNote] = field(default_factory=list)
    fake_bombs: list[BombNote] = field(default_factory=list)
    fake_obstacles: list[Obstacle] = field(default_factory=list)
    fake_chains: list[Chain] = field(default_factory=list)
    # v3 light event box groups, verbatim v3 JSON arrays keyed by their v3 name
    # (lightColorEventBoxGroups, lightRotationEventBoxGroups, lightTranslationEventBoxGroups,
    # vfxEventBoxGroups) plus `_fxEventsCollection`; v4 lightshows are converted to this form.
    light_box_groups: dict[str, Any] = field(default_factory=dict)
    use_normal_events_as_compatible: bool = False
    # What the reader could not carry into this model (one line each), shown by `convert`.
    unconverted: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """`Standard/ExpertPlus`: unique inside one map."""
        return f"{self.characteristic}/{self.name}"

    def last_object_beat(self) -> float:
        """Beat of the last playable object's end (walls, arcs and chains end at their tail)."""
        ends = [0.0]
        ends += [n.beat for n in self.notes]
        ends += [b.beat for b in self.bombs]
        ends += [o.beat + max(o.duration, 0.0) for o in self.obstacles]
        ends += [a.tail_beat for a in self.arcs]
        ends += [c.tail_beat for c in self.chains]
        return max(ends)


@dataclass(slots=True)
class BeatMap:
    """A map folder: Info.dat metadata plus every difficulty it lists."""

    info_version: str  # "2.0.0", "2.1.0", "4.0.1", ...
    title: str
    artist: str
    mapper: str  # level author(s); v4 mapper lists are joined with ", "
    bpm: float  # the song's initial BPM
    audio_filename: str
    subtitle: str = ""
    song_time_offset: float = 0.0  # legacy `_songTimeOffset` (seconds); ignored by timing, kept
    preview_start: float = 0.0
    preview_duration: float = 10.0
    cover_filename: str = ""
    environment_name: str = "DefaultEnvironment"
    all_directions_environment_name: str = "GlassDesertEnvironment"
    environment_names: tuple[str, ...] = ()  # v2.1+/v4 list indexed by difficulties
    song_frequency: int | None = None  # samples per second, from BPMInfo.dat / AudioData.dat
    song_sample_count: int | None = None  # audio length in samples, from the same
    song_duration: float | None = None  # v4 Info.dat `audio.songDuration` (seconds) when > 0
    audio_data_filename: str | None = None  # v4 Info.dat `audio.audioDataFilename` (AudioData.dat)
    bpm_regions: list[BpmRegion] = field(default_factory=list)
    difficulties: list[Difficulty] = field(default_factory=list)
    unconverted: list[str] = field(default_factory=list)

    @property
    def audio_duration(self) -> float | None:
        """Audio length in seconds: from the sample count (BPMInfo.dat/AudioData.dat), else v4 songDuration."""
        if self.song_frequency and self.song_sample_count:
            return self.song_sample_count / self.song_frequency
        if self.song_duration is not None and self.song_duration > 0:
            return self.song_duration
        return None

    def difficulty(self, characteristic: str, name: str) -> Difficulty:
        for d in self.difficulties:
            if d.characteristic == characteristic and d.name == name:
                return d
        raise KeyError(f"{characteristic}/{name}")

    def timing(self, difficulty: Difficulty | None = None) -> Timing:
        """Beats <-> seconds for a difficulty: its own BPM changes, else the map's regions, else constant."""
        if difficulty is not None and difficulty.bpm_changes:
            return Timing.from_changes(self.bpm, difficulty.bpm_changes)
        if self.bpm_regions and self.song_frequency:
            return Timing.from_regions(self.bpm, self.bpm_regions, self.song_frequency)
        return Timing.from_changes(self.bpm, [])

    def duration_seconds(self, difficulty: Difficulty, audio_seconds: float | None = None) -> float:
        """THE definition of duration: audio length when known, else the last object's time."""
        known = audio_seconds if audio_seconds is not None else self.audio_duration
        if known is not None and known > 0:
            return float(known)
        return self.timing(difficulty).to_seconds(difficulty.last_object_beat())

    def nps(self, difficulty: Difficulty, audio_seconds: float | None = None) -> float:
        """THE definition of NPS: real colour notes per second of duration."""
        seconds = self.duration_seconds(difficulty, audio_seconds)
        return len(difficulty.notes) / seconds if seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class _Segment:
    beat: float  # segment start, beats
    second: float  # segment start, seconds
    seconds_per_beat: float


class Timing:
    """Piecewise-linear map between beats and seconds.

    A BPM change at beat b changes the length of every beat after b (the in-game meaning
    of v3 `bpmEvents`, v2 event type 100 and `_BPMChanges`). Regions (BPMInfo.dat,
    AudioData.dat) give sample ranges for beat ranges directly.
    """

    def __init__(self, segments: list[_Segment]) -> None:
        if not segments:
            raise ValueError("timing needs at least one segment")
        self._segments = segments
        self._beats = [s.beat for s in segments]
        self._seconds = [s.second for s in segments]

    @classmethod
    def from_changes(cls, bpm: float, changes: list[BpmChange]) -> Timing:
        bpm = _positive_bpm(bpm)
        segments = [_Segment(0.0, 0.0, 60.0 / bpm)]
        for change in sorted(changes, key=lambda c: c.beat):
            if not (math.isfinite(change.bpm) and change.bpm > 0 and math.isfinite(change.beat)):
                continue  # a zero, negative or NaN BPM cannot be honoured; keep the previous tempo
            last = segments[-1]
            beat = max(change.beat, last.beat)
            second = last.second + (beat - last.beat) * last.seconds_per_beat
            if beat == last.beat:
                segments[-1] = _Segment(beat, second, 60.0 / change.bpm)
            else:
                segments.append(_Segment(beat, second, 60.0 / change.bpm))
        return cls(segments)

    @classmethod
    def from_regions(cls, bpm: float, regions: list[BpmRegion], frequency: int) -> Timing:
        segments: list[_Segment] = []
        for r in sorted(regions, key=lambda r: r.start_beat):
            beats = r.end_beat - r.start_beat
            samples = r.end_sample - r.start_sample
            if beats <= 0 or samples <= 0:
                continue
            spb = samples / frequency / beats
            segments.append(_Segment(r.start_beat, r.start_sample / frequency, spb))
        if not segments:
            return cls.from_changes(bpm, [])
        if segments[0].beat > 0:  # before the first region the song's BPM holds, ending where it starts
            first = segments[0]
            spb = 60.0 / _positive_bpm(bpm)
            segments.insert(0, _Segment(0.0, first.second - first.beat * spb, spb))
        return cls(segments)

    @property
    def segments(self) -> list[tuple[float, float, float]]:
        """(start beat, start second, BPM) of each constant-tempo stretch."""
        return [(s.beat, s.second, 60.0 / s.seconds_per_beat) for s in self._segments]

    def to_seconds(self, beat: float) -> float:
        s = self._segments[max(0, _bisect_right(self._beats, beat) - 1)]
        return s.second + (beat - s.beat) * s.seconds_per_beat

    def to_beats(self, second: float) -> float:
        s = self._segments[max(0, _bisect_right(self._seconds, second) - 1)]
        return s.beat + (second - s.second) / s.seconds_per_beat

    def bpm_at(self, beat: float) -> float:
        s = self._segments[max(0, _bisect_right(self._beats, beat) - 1)]
        return 60.0 / s.seconds_per_beat


def _bisect_right(values: list[float], x: float) -> int:
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if x < values[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _positive_bpm(bpm: float) -> float:
    if not (math.isfinite(bpm) and bpm > 0):
        raise ValueError(f"BPM must be a positive number, got {bpm!r}")
    return float(bpm)

"""The in-memory osu!standard beatmap: one frozen dataclass per part of a `.osu` file.

The model does not depend on the file's format version: what old versions leave out is filled with
what the game assumes (ApproachRate = OverallDifficulty before v8, 8-column timing points, edge
sounds of a slider = its own hitsound, hit samples 0:0:0:0:), and the 24 ms offset the game adds to
every time of a v3/v4 file is added here, so a map written back as v14 plays the same.
`OsuMap.version` remembers the version read (it takes no part in equality).

Times are milliseconds and positions osu!pixels (the playfield is 512 x 384), both floats as
written (stable writes integers; lazer may write decimals).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from automapper_ml.formats.errors import MapFormatError

PLAYFIELD_WIDTH, PLAYFIELD_HEIGHT = 512, 384
MODE_NAMES = {0: "osu!standard", 1: "osu!taiko", 2: "osu!catch", 3: "osu!mania"}
CURVE_TYPES = ("L", "B", "P", "C")  # linear, bezier, perfect circle, catmull (legacy)

# hit object type bits
TYPE_CIRCLE, TYPE_SLIDER, TYPE_NEW_COMBO, TYPE_SPINNER, TYPE_HOLD = 1, 2, 4, 8, 128
COMBO_SKIP_SHIFT = 4  # bits 4-6: how many combo colours a new combo skips

Point = tuple[float, float]
Pairs = tuple[tuple[str, str], ...]  # key/value lines kept verbatim, in file order


class UnsupportedModeError(MapFormatError):
    """A taiko, catch or mania beatmap (or an unknown mode): read far enough to know, then refused."""

    code = "unsupported_mode"

    def __init__(self, reason: str, *, mode: int) -> None:
        super().__init__(reason)
        self.mode = mode
        self.mode_name = MODE_NAMES.get(mode, f"unknown mode {mode}")


@dataclass(frozen=True, slots=True)
class General:
    audio_filename: str = ""
    audio_lead_in: float = 0.0  # ms of silence before the song
    preview_time: float = -1.0  # ms into the song of the preview; -1 = none
    countdown: int = 1
    sample_set: str = "Normal"  # the map's default sample bank
    stack_leniency: float = 0.7
    mode: int = 0  # always 0 here: other modes are refused
    extra: Pairs = ()  # every other key of [General]


@dataclass(frozen=True, slots=True)
class Metadata:
    title: str = ""
    artist: str = ""
    creator: str = ""
    version: str = ""  # the difficulty's name
    extra: Pairs = ()  # TitleUnicode, Source, Tags, BeatmapID, ...


@dataclass(frozen=True, slots=True)
class Difficulty:
    hp: float = 5.0  # HPDrainRate
    cs: float = 5.0  # CircleSize
    od: float = 5.0  # OverallDifficulty
    ar: float = 5.0  # ApproachRate (OverallDifficulty when the file has none)
    slider_multiplier: float = 1.4  # osu!pixels per beat / 100 at slider velocity 1
    slider_tick_rate: float = 1.0


@dataclass(frozen=True, slots=True)
class Background:
    filename: str
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True, slots=True)
class Break:
    start: float  # ms
    end: float  # ms


@dataclass(frozen=True, slots=True)
class Events:
    background: Background | None = None
    breaks: tuple[Break, ...] = ()


@dataclass(frozen=True, slots=True)
class TimingPoint:
    time: float  # ms
    beat_length: float  # uninherited: ms per beat; inherited: -100 / slider velocity
    meter: int = 4  # beats per bar
    sample_set: int = 0  # 0 = the map's default
    sample_index: int = 0
    volume: int = 100
    uninherited: bool = True
    effects: int = 0  # bit 0 kiai, bit 3 omit first barline

    @property
    def bpm(self) -> float | None:
        return 60_000.0 / self.beat_length if self.uninherited and self.beat_length > 0 else None

    @property
    def slider_velocity(self) -> float:
        """The multiplier an inherited point sets (1 for uninherited ones); -100 / beat_length."""
        return 100.0 / -self.beat_length if not self.uninherited and self.beat_length < 0 else 1.0


@dataclass(frozen=True, slots=True)
class Colours:
    combo: tuple[tuple[int, ...], ...] = ()  # Combo1, Combo2, ...: (r, g, b) or (r, g, b, a)
    extra: tuple[tuple[str, tuple[int, ...]], ...] = ()  # SliderTrackOverride, SliderBorder, ...


@dataclass(frozen=True, slots=True)
class HitSample:
    normal_set: int = 0
    addition_set: int = 0
    index: int = 0
    volume: int = 0  # 0 = the timing point's
    filename: str = ""


@dataclass(frozen=True, slots=True)
class CurveSegment:
    kind: str  # "L", "B", "P" or "C" (a lazer B-spline may carry a degree: "B3")
    points: tuple[Point, ...]  # the anchors after the head (or after the previous segment)


@dataclass(frozen=True, slots=True)
class HitObject:
    x: float
    y: float
    time: float  # ms
    new_combo: bool = False
    combo_skip: int = 0  # 0-7 combo colours skipped at a new combo
    hitsound: int = 0  # bits: 1 normal, 2 whistle, 4 finish, 8 clap
    sample: HitSample = HitSample()

    @property
    def end_time(self) -> float:
        return self.time


@dataclass(frozen=True, slots=True)
class Circle(HitObject):
    pass


@dataclass(frozen=True, slots=True)
class Slider(HitObject):
    curve: tuple[CurveSegment, ...] = ()
    slides: int = 1  # 1 = no repeat; n = n - 1 repeats
    length: float = 0.0  # pixel length of one slide
    edge_sounds: tuple[int, ...] = ()  # slides + 1 (head, repeats, tail) hitsounds
    edge_sets: tuple[tuple[int, int], ...] = ()  # (normal set, addition set) per edge

    @property
    def curve_type(self) -> str:
        return self.curve[0].kind[0] if self.curve else "L"

    @property
    def anchors(self) -> tuple[Point, ...]:
        return tuple(p for segment in self.curve for p in segment.points)


@dataclass(frozen=True, slots=True)
class Spinner(HitObject):
    end: float = 0.0  # ms

    @property
    def end_time(self) -> float:
        return self.end


@dataclass(frozen=True, slots=True)
class OsuMap:
    general: General = General()
    editor: Pairs = ()  # [Editor] kept verbatim (bookmarks, grid, zoom)
    metadata: Metadata = Metadata()
    difficulty: Difficulty = Difficulty()
    events: Events = Events()
    timing_points: tuple[TimingPoint, ...] = ()
    colours: Colours = Colours()
    hit_objects: tuple[Circle | Slider | Spinner, ...] = ()
    version: int = field(default=14, compare=False)  # the format version of the file read

    @property
    def uninherited_points(self) -> tuple[TimingPoint, ...]:
        return tuple(p for p in self.timing_points if p.uninherited and p.beat_length > 0)

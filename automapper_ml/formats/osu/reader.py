"""Read a `.osu` file (format v3-v14; lazer's v128 and a file without a header read as v14).

    beatmap = load_osu("Soleily - Renatus (Gamu) [Insane].osu")

Only osu!standard (Mode 0) is read whole: a taiko, catch or mania file is read as far as its
[General] Mode and refused with `UnsupportedModeError` (which names the mode); a hold note in a
Mode 0 file is refused too. Every other problem is one `MapError` line naming the file and the
line (`x.osu line 812: [HitObjects] slider slides 'two' is not a whole number`), never a
traceback. Bounds, checked before the work they protect: the file size (MAX_OSU_BYTES), hit
objects plus timing points (automapper_ml.limits.MAX_OBJECTS_PER_DIFFICULTY), every number
finite and inside MAX_ABS_FLOAT / MAX_ABS_INT, slides per slider (MAX_SLIDES).

As the game does: comment lines (`//`) and unknown sections are skipped, a later key wins over an
earlier one, storyboard and video events are dropped (the background and breaks are kept), and
what older versions leave out takes the game's defaults (see `model`).
"""

from __future__ import annotations

import math
import os
import re

from automapper_ml.formats.errors import (
    InvalidValueError,
    MapFormatError,
    MissingFileError,
    UnsupportedVersionError,
)
from automapper_ml.formats.osu.model import (
    COMBO_SKIP_SHIFT,
    MODE_NAMES,
    TYPE_CIRCLE,
    TYPE_HOLD,
    TYPE_NEW_COMBO,
    TYPE_SLIDER,
    TYPE_SPINNER,
    Background,
    Break,
    Circle,
    Colours,
    CurveSegment,
    Difficulty,
    Events,
    General,
    HitSample,
    Metadata,
    OsuMap,
    Slider,
    Spinner,
    TimingPoint,
    UnsupportedModeError,
)
from automapper_ml.limits import MAX_ABS_FLOAT, MAX_ABS_INT, MAX_JSON_BYTES, MAX_OBJECTS_PER_DIFFICULTY, MIB

# A .osu holds the same kind of data as one Beat Saber difficulty file, under the same cap; real
# files are under 1 MiB (storyboard lines included).
MAX_OSU_BYTES = MAX_JSON_BYTES
MAX_SLIDES = 9000  # lazer refuses more repeats than this ("way too high")
SUPPORTED_VERSIONS = frozenset((*range(3, 15), 128))  # 128: lazer's export version (v14 + decimals)
OLD_OFFSET_VERSION = 5  # files before v5 play 24 ms late in the game: the reader adds the offset
OLD_OFFSET_MS = 24.0
_HEADER = re.compile(r"^osu file format v(\d+)\s*$")
_SECTION = re.compile(r"^\[(\w+)\]$")
_CURVE_KIND = re.compile(r"^[LBPC]\d*$")


class _Line:
    """Where a value comes from, for messages: `file line n: [Section] what`."""

    __slots__ = ("where",)

    def __init__(self, filename: str, number: int, section: str) -> None:
        self.where = f"{filename} line {number}: [{section}]"

    def fail(self, reason: str, *, code: str = "bad_format") -> MapFormatError:
        return MapFormatError(f"{self.where} {reason}", code=code)

    def number(self, text: str, what: str, default: float | None = None) -> float:
        text = text.strip()
        if not text and default is not None:
            return default
        try:
            value = float(text)
        except ValueError:
            raise InvalidValueError(f"{self.where} {what} {_short(text)} is not a number") from None
        if not math.isfinite(value):
            raise InvalidValueError(f"{self.where} {what} {_short(text)} is not a finite number")
        if abs(value) > MAX_ABS_FLOAT:
            raise InvalidValueError(
                f"{self.where} {what} {_short(text)} is out of range (|value| > {MAX_ABS_FLOAT:g})"
            )
        return value

    def integer(self, text: str, what: str, default: int | None = None) -> int:
        value = self.number(text, what, None if default is None else float(default))
        if not value.is_integer() or abs(value) > MAX_ABS_INT:
            raise InvalidValueError(f"{self.where} {what} {_short(text.strip())} is not a whole number")
        return int(value)

    def field(self, fields: list[str], i: int, what: str) -> str:
        if i >= len(fields):
            raise self.fail(f"{what} is missing ({len(fields)} fields)")
        return fields[i]


def load_osu(path: str | os.PathLike[str]) -> OsuMap:
    """Read a `.osu` file from disk; any bad input is a one-line `MapError`."""
    name = os.path.basename(os.fspath(path))
    try:
        size = os.path.getsize(path)
        if size > MAX_OSU_BYTES:
            raise MapFormatError(
                f"{name}: {size / MIB:.1f} MiB, over the {MAX_OSU_BYTES / MIB:.0f} MiB cap", code="too_large"
            )
        with open(path, "rb") as handle:
            data = handle.read(MAX_OSU_BYTES + 1)
    except FileNotFoundError:
        raise MissingFileError(f"{name}: no such file", code="not_found") from None
    except OSError as exc:
        raise MapFormatError(f"{name}: cannot read ({exc.strerror})", code="unreadable") from None
    return read_osu(data, name)


def read_osu(data: bytes, filename: str) -> OsuMap:
    """Parse the bytes of a `.osu` file (`filename` is for messages)."""
    if len(data) > MAX_OSU_BYTES:
        raise MapFormatError(
            f"{filename}: {len(data) / MIB:.1f} MiB, over the {MAX_OSU_BYTES / MIB:.0f} MiB cap",
            code="too_large",
        )
    # Text the way the game takes it: UTF-8 (or UTF-16 with a BOM), undecodable bytes replaced.
    text = (
        data.decode("utf-16", "replace")
        if data[:2] in (b"\xff\xfe", b"\xfe\xff")
        else data.decode("utf-8-sig", "replace")
    )
    return _Parser(filename).parse(text.split("\n"))


class _Parser:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.sections: dict[str, dict[str, str]] = {}  # key/value sections, first-seen key order
        self.events = _EventsReader()
        self.timing: list[TimingPoint] = []
        self.colours: list[tuple[str, tuple[int, ...]]] = []
        self.objects: list[Circle | Slider | Spinner] = []
        self.version = 14
        self.offset = 0.0

    def parse(self, lines: list[str]) -> OsuMap:
        section, seen_section = "", False
        start = self._header(lines)
        for number in range(start, len(lines)):
            raw = lines[number].rstrip()
            line = raw.strip()
            if not line or line.startswith("//"):
                continue
            if match := _SECTION.match(line):
                if section == "General":
                    self._check_mode(number)
                section, seen_section = match.group(1), True
                continue
            at = _Line(self.filename, number + 1, section)
            if section in ("General", "Editor", "Metadata", "Difficulty"):
                key, sep, value = line.partition(":")
                if sep:
                    self.sections.setdefault(section, {})[key.strip()] = value.strip()
            elif section == "Colours":
                self._colour(line, at)
            elif section == "Events" and raw[0] not in " _":
                self.events.line(line, at, self.offset)
            elif section == "TimingPoints":
                self._count(at)
                self.timing.append(_timing_point(line.split(","), at, self.offset))
            elif section == "HitObjects":
                self._count(at)
                self.objects.append(_hit_object(line.split(","), at, self.offset))
        if not seen_section:
            raise MapFormatError(
                f"{self.filename}: not an .osu file (no header, no [Section])", code="bad_format"
            )
        self._check_mode(len(lines))
        return self._build()

    def _header(self, lines: list[str]) -> int:
        for number, raw in enumerate(lines):
            line = raw.strip().lstrip("\ufeff")
            if not line:
                continue
            match = _HEADER.match(line)
            if match is None:
                return number  # no header: lazer's default, the latest version
            version = int(match.group(1)[:6])
            if version not in SUPPORTED_VERSIONS:
                raise UnsupportedVersionError(
                    f"{self.filename}: osu file format v{version} (this reader takes v3-v14)"
                )
            self.version = version
            self.offset = OLD_OFFSET_MS if version < OLD_OFFSET_VERSION else 0.0
            return number + 1
        raise MapFormatError(f"{self.filename}: the file is empty", code="bad_format")

    def _check_mode(self, number: int) -> None:
        text = self.sections.get("General", {}).get("Mode", "0")
        mode = _Line(self.filename, number, "General").integer(text, "Mode")
        if mode != 0:
            name = MODE_NAMES.get(mode, "an unknown mode")
            raise UnsupportedModeError(
                f"{self.filename}: Mode {mode} ({name}); only osu!standard (Mode 0) is read", mode=mode
            )

    def _count(self, at: _Line) -> None:
        if len(self.objects) + len(self.timing) >= MAX_OBJECTS_PER_DIFFICULTY:
            raise at.fail(
                f"more than {MAX_OBJECTS_PER_DIFFICULTY} hit objects and timing points",
                code="too_many_objects",
            )

    def _colour(self, line: str, at: _Line) -> None:
        key, sep, value = line.partition(":")
        parts = value.split(",")
        if not sep or len(parts) not in (3, 4):
            raise at.fail(f"colour {_short(line)} is not 'Name : r,g,b'")
        rgb = tuple(at.integer(p, f"{key.strip()} component") for p in parts)
        self.colours = [c for c in self.colours if c[0] != key.strip()] + [(key.strip(), rgb)]

    def _build(self) -> OsuMap:
        g = dict(self.sections.get("General", {}))
        at = _Line(self.filename, 0, "General")
        general = General(
            audio_filename=g.pop("AudioFilename", ""),
            audio_lead_in=at.number(g.pop("AudioLeadIn", "0"), "AudioLeadIn", 0.0),
            preview_time=_preview(at.number(g.pop("PreviewTime", "-1"), "PreviewTime", -1.0), self.offset),
            countdown=at.integer(g.pop("Countdown", "1"), "Countdown", 1),
            sample_set=g.pop("SampleSet", "Normal"),
            stack_leniency=at.number(g.pop("StackLeniency", "0.7"), "StackLeniency", 0.7),
            mode=at.integer(g.pop("Mode", "0"), "Mode", 0),
            extra=tuple(g.items()),
        )
        m = dict(self.sections.get("Metadata", {}))
        metadata = Metadata(
            m.pop("Title", ""),
            m.pop("Artist", ""),
            m.pop("Creator", ""),
            m.pop("Version", ""),
            tuple(m.items()),
        )
        return OsuMap(
            general=general,
            editor=tuple(self.sections.get("Editor", {}).items()),
            metadata=metadata,
            difficulty=self._difficulty(),
            events=self.events.build(),
            timing_points=tuple(self.timing),
            colours=Colours(
                combo=tuple(rgb for key, rgb in self.colours if re.fullmatch(r"Combo\d+", key)),
                extra=tuple((key, rgb) for key, rgb in self.colours if not re.fullmatch(r"Combo\d+", key)),
            ),
            hit_objects=tuple(self.objects),
            version=self.version,
        )

    def _difficulty(self) -> Difficulty:
        d = self.sections.get("Difficulty", {})
        at = _Line(self.filename, 0, "Difficulty")
        value = {key: at.number(d[key], key) for key in _DIFFICULTY_KEYS if d.get(key, "").strip()}
        od = value.get("OverallDifficulty", 5.0)
        return Difficulty(
            hp=value.get("HPDrainRate", 5.0),
            cs=value.get("CircleSize", 5.0),
            od=od,
            ar=value.get("ApproachRate", od),
            slider_multiplier=value.get("SliderMultiplier", 1.4),
            slider_tick_rate=value.get("SliderTickRate", 1.0),
        )


_DIFFICULTY_KEYS = (
    "HPDrainRate", "CircleSize", "OverallDifficulty", "ApproachRate", "SliderMultiplier", "SliderTickRate"
)  # fmt: skip


def _preview(time: float, offset: float) -> float:
    return time + offset if time >= 0 else time


class _EventsReader:
    """[Events]: the first background and every break; storyboard and video lines are dropped."""

    def __init__(self) -> None:
        self.background: Background | None = None
        self.breaks: list[Break] = []

    def line(self, line: str, at: _Line, offset: float) -> None:
        fields = line.split(",")
        kind = fields[0].strip()
        if kind in ("0", "Background") and self.background is None:
            name = at.field(fields, 2, "background file name").strip().strip('"')
            x = at.number(fields[3], "background x", 0.0) if len(fields) > 3 else 0.0
            y = at.number(fields[4], "background y", 0.0) if len(fields) > 4 else 0.0
            self.background = Background(name, x, y)
        elif kind in ("2", "Break"):
            start = at.number(at.field(fields, 1, "break start"), "break start")
            end = at.number(at.field(fields, 2, "break end"), "break end")
            self.breaks.append(Break(start + offset, end + offset))

    def build(self) -> Events:
        return Events(self.background, tuple(self.breaks))


def _timing_point(fields: list[str], at: _Line, offset: float) -> TimingPoint:
    if len(fields) < 2:
        raise at.fail(f"timing point {_short(','.join(fields))} has fewer than 2 fields")
    beat_length = at.number(fields[1], "beat length")

    def opt(i: int, what: str, default: int) -> int:
        return at.integer(fields[i], what, default) if len(fields) > i else default

    uninherited = opt(6, "uninherited", 1 if beat_length >= 0 else 0) != 0
    return TimingPoint(
        time=at.number(fields[0], "time") + offset,
        beat_length=beat_length,
        meter=opt(2, "meter", 4),
        sample_set=opt(3, "sample set", 0),
        sample_index=opt(4, "sample index", 0),
        volume=opt(5, "volume", 100),
        uninherited=uninherited,
        effects=opt(7, "effects", 0),
    )


def _hit_object(fields: list[str], at: _Line, offset: float) -> Circle | Slider | Spinner:
    if len(fields) < 5:
        raise at.fail(f"hit object {_short(','.join(fields))} has fewer than 5 fields")
    kind = at.integer(fields[3], "type")
    common = dict(
        x=at.number(fields[0], "x"),
        y=at.number(fields[1], "y"),
        time=at.number(fields[2], "time") + offset,
        new_combo=bool(kind & TYPE_NEW_COMBO),
        combo_skip=(kind >> COMBO_SKIP_SHIFT) & 7,
        hitsound=at.integer(fields[4], "hitsound", 0),
    )
    if kind & TYPE_CIRCLE:
        return Circle(**common, sample=_sample(fields, 5, at))
    if kind & TYPE_SLIDER:
        return _slider(fields, at, common)
    if kind & TYPE_SPINNER:
        end = at.number(at.field(fields, 5, "spinner end time"), "spinner end time") + offset
        return Spinner(**common, sample=_sample(fields, 6, at), end=end)
    if kind & TYPE_HOLD:
        raise at.fail("a hold note (an osu!mania object) in an osu!standard map", code="unsupported_object")
    raise at.fail(f"hit object type {kind} is none of circle, slider, spinner")


def _slider(fields: list[str], at: _Line, common: dict) -> Slider:
    curve = _curve(at.field(fields, 5, "slider curve"), at)
    slides = at.integer(at.field(fields, 6, "slider slides"), "slider slides")
    if not 1 <= slides <= MAX_SLIDES:
        raise InvalidValueError(f"{at.where} slider slides {slides} is outside 1..{MAX_SLIDES}")
    length = at.number(fields[7], "slider length", 0.0) if len(fields) > 7 else 0.0
    if len(fields) == 9 and ":" in fields[8]:  # lazer leaves the edges out but writes the hit sample
        fields = [*fields[:8], "", "", fields[8]]
    edges = fields[8].strip() if len(fields) > 8 else ""
    sets = fields[9].strip() if len(fields) > 9 else ""
    edge_sounds = tuple(at.integer(s, "edge sound") for s in edges.split("|")) if edges else ()
    edge_sets = tuple(_pair(s, at, "edge set") for s in sets.split("|")) if sets else ()
    return Slider(
        **common,
        sample=_sample(fields, 10, at),
        curve=curve,
        slides=slides,
        length=length,
        edge_sounds=edge_sounds or (common["hitsound"],) * (slides + 1),
        edge_sets=edge_sets or ((0, 0),) * (slides + 1),
    )


def _curve(text: str, at: _Line) -> tuple[CurveSegment, ...]:
    segments: list[tuple[str, list[tuple[float, float]]]] = []
    for part in text.strip().split("|"):
        part = part.strip()
        if not part:
            continue
        if part[0].isalpha():
            if not _CURVE_KIND.match(part):
                raise at.fail(f"slider curve type {_short(part)} is none of L, B, P, C")
            segments.append((part, []))
        elif not segments:
            raise at.fail(f"slider curve {_short(text)} does not start with its type")
        else:
            x, sep, y = part.partition(":")
            if not sep:
                raise at.fail(f"slider anchor {_short(part)} is not 'x:y'")
            segments[-1][1].append((at.number(x, "slider anchor x"), at.number(y, "slider anchor y")))
    if not segments:
        raise at.fail("slider has no curve")
    return tuple(CurveSegment(kind, tuple(points)) for kind, points in segments)


def _pair(text: str, at: _Line, what: str) -> tuple[int, int]:
    a, _, b = text.partition(":")
    return at.integer(a, what, 0), at.integer(b, what, 0)


def _sample(fields: list[str], i: int, at: _Line) -> HitSample:
    text = fields[i].strip() if len(fields) > i else ""
    if not text:
        return HitSample()
    parts = text.split(":")
    ints = [at.integer(p, "hit sample", 0) for p in parts[:4]]
    ints += [0] * (4 - len(ints))
    return HitSample(*ints, filename=":".join(parts[4:]))


def _short(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:37] + "...")

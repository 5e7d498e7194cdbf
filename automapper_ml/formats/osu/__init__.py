"""osu!standard beatmaps: `.osu` (v3-v14 in, v14 out) and `.osz` sets <-> one frozen model."""

from automapper_ml.formats.osu.model import (
    MODE_NAMES,
    PLAYFIELD_HEIGHT,
    PLAYFIELD_WIDTH,
    Circle,
    CurveSegment,
    Difficulty,
    HitObject,
    HitSample,
    OsuMap,
    Slider,
    Spinner,
    TimingPoint,
    UnsupportedModeError,
)
from automapper_ml.formats.osu.osz import OszSet, osu_filename, read_osz, write_osz
from automapper_ml.formats.osu.reader import load_osu, read_osu
from automapper_ml.formats.osu.writer import osu_bytes, osu_text, write_osu

__all__ = [
    "MODE_NAMES",
    "PLAYFIELD_HEIGHT",
    "PLAYFIELD_WIDTH",
    "Circle",
    "CurveSegment",
    "Difficulty",
    "HitObject",
    "HitSample",
    "OszSet",
    "OsuMap",
    "Slider",
    "Spinner",
    "TimingPoint",
    "UnsupportedModeError",
    "load_osu",
    "osu_bytes",
    "osu_filename",
    "osu_text",
    "read_osu",
    "read_osz",
    "write_osu",
    "write_osz",
]

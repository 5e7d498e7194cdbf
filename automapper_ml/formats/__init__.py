"""Beat Saber map formats (Info.dat v2/v4; difficulty files v2, v3, v4) <-> one in-memory model."""

from automapper_ml.formats.errors import (
    InvalidValueError,
    MapError,
    MapFormatError,
    MissingFileError,
    UnsafeZipError,
    UnsupportedVersionError,
)
from automapper_ml.formats.model import (
    Arc,
    BeatMap,
    BombNote,
    BoostEvent,
    BpmChange,
    BpmRegion,
    Chain,
    ColorNote,
    Difficulty,
    LightEvent,
    Obstacle,
    RotationEvent,
    Timing,
)
from automapper_ml.formats.reader import check_objects_within, load_map, read_map
from automapper_ml.formats.safezip import ZipLimits
from automapper_ml.formats.source import MapSource, open_map_source
from automapper_ml.formats.summary import summarize
from automapper_ml.formats.writer import write_map

__all__ = [
    "Arc",
    "BeatMap",
    "BombNote",
    "BoostEvent",
    "BpmChange",
    "BpmRegion",
    "Chain",
    "ColorNote",
    "Difficulty",
    "InvalidValueError",
    "LightEvent",
    "MapError",
    "MapFormatError",
    "MissingFileError",
    "Obstacle",
    "RotationEvent",
    "MapSource",
    "Timing",
    "ZipLimits",
    "check_objects_within",
    "load_map",
    "open_map_source",
    "read_map",
    "summarize",
    "write_map",
    "UnsafeZipError",
    "UnsupportedVersionError",
]

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
    "Timing",
    "UnsafeZipError",
    "UnsupportedVersionError",
]

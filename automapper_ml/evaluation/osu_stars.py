"""Star rating and max combo from an independent parser: `rosu-pp-py` (the Rust port of osu!'s
difficulty calculator, a dependency of the project), reading the `.osu` bytes the project writes, so a map
that only our own reader accepts fails here.

    stars = osu_stars(beatmap)      # an OsuMap (written as v14 first), .osu bytes or a path

rosu-pp-py is imported inside the call: without it, `stars_available()` is False and `osu_stars`
raises `StarRatingUnavailable` (one line saying how to install it).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from automapper_ml.formats.errors import MapFormatError
from automapper_ml.formats.osu.model import OsuMap
from automapper_ml.formats.osu.writer import osu_bytes

PACKAGE = "rosu_pp_py"
INSTALL_HINT = "rosu-pp-py is not installed (pip install rosu-pp-py, or the project's dev extra)"


class StarRatingUnavailable(ImportError):
    """rosu-pp-py is missing."""


@dataclass(frozen=True, slots=True)
class OsuStars:
    stars: float
    max_combo: int
    mode: str  # rosu-pp-py's name of the mode it read ("Osu" for osu!standard)
    circles: int  # the objects it read, by kind
    sliders: int
    spinners: int


def stars_available() -> bool:
    return importlib.util.find_spec(PACKAGE) is not None


def osu_stars(source: OsuMap | bytes | str | os.PathLike[str]) -> OsuStars:
    """The star rating (no mods) and max combo rosu-pp-py computes for a map. A file it cannot
    parse is a one-line `MapFormatError` (code "judge_parse")."""
    try:
        import rosu_pp_py as rosu
    except ImportError:
        raise StarRatingUnavailable(INSTALL_HINT) from None
    if isinstance(source, OsuMap):
        data, name = osu_bytes(source), "the written map"
    elif isinstance(source, bytes):
        data, name = source, "the .osu bytes"
    else:
        data, name = Path(source).read_bytes(), Path(source).name
    try:
        beatmap = rosu.Beatmap(bytes=data)
        attributes = rosu.Difficulty().calculate(beatmap)
    except (rosu.ParseError, rosu.ConvertError, ValueError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise MapFormatError(f"{name}: rosu-pp-py cannot read it ({reason})", code="judge_parse") from None
    return OsuStars(
        stars=float(attributes.stars),
        max_combo=int(attributes.max_combo),
        mode=str(beatmap.mode).rsplit(".", 1)[-1],
        circles=int(beatmap.n_circles),
        sliders=int(beatmap.n_sliders),
        spinners=int(beatmap.n_spinners),
    )

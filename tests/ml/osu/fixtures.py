"""Where the osu! test files live: ../shared/fixtures/osu (read in place) and, when built, the real
corpus of .osz sets named by AUTOMAPPER_OSU_CORPUS. Both are optional: tests skip without them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import SHARED_FIXTURES

OSU_FIXTURES = SHARED_FIXTURES / "osu"
CORPUS_ENV = "AUTOMAPPER_OSU_CORPUS"
# The other-mode files among the fixtures, by name: each must be refused with its mode.
OTHER_MODES = {
    "4869637_mania_with_catmull.osu": "osu!mania",
    "Soleily - Renatus (ExPew) [Another].osu": "osu!mania",
    "Soleily - Renatus (MMzz) [Oni].osu": "osu!taiko",
}


def osu_fixture_files() -> list[Path]:
    return sorted(OSU_FIXTURES.rglob("*.osu")) if OSU_FIXTURES.is_dir() else []


def params(paths: list[Path], missing: str) -> list:
    if not paths:
        return [pytest.param(None, marks=pytest.mark.skip(reason=missing))]
    return [pytest.param(p, id=p.name) for p in paths]


def standard_fixtures() -> list:
    return params(
        [p for p in osu_fixture_files() if p.name not in OTHER_MODES], "../shared/fixtures/osu is absent"
    )


def other_mode_fixtures() -> list:
    return params(
        [p for p in osu_fixture_files() if p.name in OTHER_MODES], "../shared/fixtures/osu is absent"
    )


def corpus_sets() -> list[Path]:
    """The .osz files of the real corpus ([] when AUTOMAPPER_OSU_CORPUS is unset or not a folder)."""
    folder = os.environ.get(CORPUS_ENV, "")
    return sorted(Path(folder).glob("*.osz")) if folder and Path(folder).is_dir() else []

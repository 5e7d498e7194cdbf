"""Eligibility and category rules, on records of the documented shape (no network)."""

from __future__ import annotations

import pytest

from automapper_ml.beatsaver.filters import (
    FilterOptions,
    ineligibility,
    map_category,
    map_uploaded,
    parse_quotas,
)
from tests.ml.beatsaver.stub import diff, record

OPTS = FilterOptions(min_rating=0.8, min_year=2022, max_nps=10.0)


def rec(**kw):
    return record("abc1", zip_hash="a" * 40, url="https://cdn.example/a.zip", **kw)


def test_good_map_is_eligible():
    assert ineligibility(rec(), OPTS) is None


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"automapper": True}, "ai"),
        ({"declared_ai": "SageScore"}, "ai"),
        ({"score": 0.5}, "low_rating"),
        ({"uploaded": "2019-05-01T00:00:00Z"}, "too_old"),
        ({"diffs": [diff("Lightshow")]}, "no_standard"),
        ({"diffs": [diff("OneSaber"), diff("Standard", "ExpertPlus", nps=12.5)]}, "over_nps"),
    ],
)
def test_ineligible_maps_give_their_reason(kw, reason):
    assert ineligibility(rec(**kw), OPTS) == reason


def test_declared_ai_none_string_is_human_and_include_ai_keeps_ai():
    assert ineligibility(rec(declared_ai="None"), OPTS) is None
    assert ineligibility(rec(automapper=True), FilterOptions(min_rating=0.8, include_ai=True)) is None


def test_nps_cap_applies_only_to_standard_expert_and_expert_plus():
    fast_hard = [diff("Standard", "Hard", nps=30.0), diff("OneSaber", "ExpertPlus", nps=30.0), diff(nps=9.0)]
    assert ineligibility(rec(diffs=fast_hard), OPTS) is None
    assert ineligibility(rec(diffs=[diff("Standard", "Expert", nps=10.5)]), OPTS) == "over_nps"


def test_bad_records_are_refused_not_crashed():
    assert ineligibility({"id": "../../etc", "versions": []}, OPTS) == "bad_id"
    assert ineligibility({"id": "ok1", "versions": []}, OPTS) == "no_version"
    assert ineligibility(record("ok2", zip_hash="nothex", url="https://x/y.zip"), OPTS) == "no_version"
    assert ineligibility(record("ok3", zip_hash="b" * 40, url="ftp://x/y.zip"), OPTS) == "no_download_url"
    no_date = rec()
    for field in ("uploaded", "lastPublishedAt", "createdAt"):
        del no_date[field]
    assert ineligibility(no_date, OPTS) == "no_date"
    assert ineligibility(no_date, FilterOptions(min_rating=None, min_year=None)) is None


def test_year_falls_back_to_last_published():
    r = rec()
    del r["uploaded"]
    r["lastPublishedAt"] = "2021-12-31T23:59:59Z"
    assert map_uploaded(r).year == 2021
    assert ineligibility(r, OPTS) == "too_old"


@pytest.mark.parametrize(
    ("flags", "category"),
    [
        ({}, "vanilla"),
        ({"cinema": True}, "vanilla"),
        ({"chroma": True}, "chroma"),
        ({"chroma": True, "me": True}, "mapping_extensions"),
        ({"chroma": True, "ne": True}, "noodle"),
        ({"vivify": True, "ne": True}, "vivify"),
    ],
)
def test_category_from_diff_flags(flags, category):
    # the flag on any one difficulty decides, whichever characteristic it is on
    assert map_category(rec(diffs=[diff(), diff("OneSaber", **flags)])) == category


def test_parse_quotas():
    assert parse_quotas(["vanilla:10", "ne:2", "ME:3"]) == {
        "vanilla": 10,
        "noodle": 2,
        "mapping_extensions": 3,
    }
    assert parse_quotas(None) == {}
    for bad in (["vanilla"], ["lawless:3"], ["vanilla:x"], ["vanilla:-1"], ["chroma:1", "chroma:2"]):
        with pytest.raises(ValueError):
            parse_quotas(bad)

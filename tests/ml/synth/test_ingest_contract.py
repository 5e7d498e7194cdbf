"""The demo corpus through the real ingest: every broken zip is excluded for its own reason,
every good Standard difficulty stays trainable, remaps share a song id, sidecars are read."""

from __future__ import annotations

import polars as pl
import pytest

from automapper_ml.data import rawzips
from automapper_ml.data.blacklist import build_blacklist, trainable
from automapper_ml.data.ingest_config import BlacklistRules
from automapper_ml.data.manifest import build_manifest
from tests.ml.synth.expectations import EXPECTED_RULES


@pytest.fixture(scope="module")
def ingest(demo, tmp_path_factory):
    raw = demo.home / "raw"
    build = build_manifest(raw, rawzips.scan_raw(raw), tmp_path_factory.mktemp("cache"), 4, workers=1)
    blacklist = build_blacklist(build.manifest, build.rejected, BlacklistRules())
    return build.manifest, blacklist


def test_each_broken_zip_trips_exactly_its_rule(demo, ingest):
    _, blacklist = ingest
    assert set(EXPECTED_RULES) == {b.kind for b in demo.broken}
    for b in demo.broken:
        rules = set(blacklist.filter(pl.col("zip_name") == b.path.name)["rule"].to_list())
        assert rules and rules <= EXPECTED_RULES[b.kind], (b.kind, rules)


def test_good_maps_stay_trainable(demo, ingest):
    manifest, blacklist = ingest
    keep = trainable(manifest, blacklist)
    for written in demo.maps:
        standard = manifest.filter(
            (pl.col("zip_name") == written.path.name) & (pl.col("characteristic") == "Standard")
        )
        kept = keep.filter(pl.col("zip_name") == written.path.name)
        noodle = standard.filter(pl.col("category") == "noodle").height  # excluded by design, never all
        assert standard.height > 0 and kept.height == standard.height - noodle, written.path.name


def test_manifest_reads_sidecars_and_groups_remaps_by_song(demo, ingest):
    manifest, _ = ingest
    for written in demo.maps:
        rows = manifest.filter(pl.col("zip_name") == written.path.name)
        if written.sidecar is not None:
            assert rows["declared_ai"].to_list()[0] == "None" and rows["rating"].to_list()[0] is not None
    songs: dict[str, set[str]] = {}
    for written in demo.maps:
        song_id = manifest.filter(pl.col("zip_name") == written.path.name)["song_id"].to_list()[0]
        songs.setdefault(written.song_key, set()).add(song_id)
    assert all(len(ids) == 1 for ids in songs.values())
    assert len({next(iter(ids)) for ids in songs.values()}) == len(songs)

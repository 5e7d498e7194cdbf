"""The BeatSaver assets against the stub API: catalogue table, downloads into raw/, the separate job."""

from __future__ import annotations

import json

import dagster as dg
import polars as pl
import pytest

from automapper_assets.defs.ingest.beatsaver import (
    BEATSAVER_SELECTION,
    CATALOG_FILE,
    beatsaver_catalog,
    beatsaver_download_job,
    beatsaver_downloads,
)
from automapper_assets.defs.resources import AutomapperPaths
from tests.ml.beatsaver.stub import StubBeatSaver, diff


@pytest.fixture
def stub():
    with StubBeatSaver(page_size=4) as server:
        for i in range(8):
            server.add(f"v{i}")
        for i in range(3):
            server.add(f"c{i}", diffs=[diff(chroma=True)])
        server.add("ai1", automapper=True)
        server.add("old1", uploaded="2018-01-01T00:00:00Z")
        server.add("n0", diffs=[diff(ne=True)])
        yield server


def run_config(stub: StubBeatSaver, **catalog: object) -> dict:
    common = {"base_url": stub.url, "min_interval_s": 0.0}
    return {
        "ops": {
            "beatsaver_catalog": {"config": {**common, **catalog}},
            "beatsaver_downloads": {"config": common},
        }
    }


def test_catalogue_then_downloads_fill_raw(stub, tmp_path):
    paths = AutomapperPaths(home=str(tmp_path))
    result = dg.materialize(
        [beatsaver_catalog, beatsaver_downloads],
        resources={"paths": paths},
        run_config=run_config(stub, quotas=["vanilla:5", "chroma:2"]),
    )
    assert result.success
    table = pl.read_parquet(tmp_path / "ingest" / CATALOG_FILE)
    # the catalogue keeps a few spare candidates per quota (downloads can fail); never ai/old/noodle
    assert set(table["category"]) == {"vanilla", "chroma"}
    assert not set(table["id"]) & {"ai1", "old1", "n0"}
    assert {"id", "hash", "rating", "ranked", "uploaded", "quota"} <= set(table.columns)
    zips = {p.stem for p in (tmp_path / "raw").glob("*.zip")}
    assert len(zips) == 7 and sum(z.startswith("v") for z in zips) == 5  # quotas hold exactly
    assert {p.stem for p in (tmp_path / "raw").glob("*.json")} == zips
    sidecar = json.loads((tmp_path / "raw" / "c0.json").read_text())
    assert sidecar == next(m for m in stub.maps if m["id"] == "c0")
    mats = result.asset_materializations_for_node("beatsaver_downloads")
    assert mats[0].metadata["downloaded"].value == 7

    again = dg.materialize(
        [beatsaver_downloads],
        resources={"paths": paths},
        run_config={
            "ops": {"beatsaver_downloads": {"config": {"base_url": stub.url, "min_interval_s": 0.0}}}
        },
    )
    mats = again.asset_materializations_for_node("beatsaver_downloads")
    assert mats[0].metadata["downloaded"].value == 0 and mats[0].metadata["already_present"].value == 7
    assert all(stub.zip_requests(m) <= 1 for m in stub.maps)


def test_moved_endpoint_fails_the_run(stub, tmp_path):
    stub.search_404 = True
    result = dg.materialize(
        [beatsaver_catalog],
        resources={"paths": AutomapperPaths(home=str(tmp_path))},
        run_config={"ops": {"beatsaver_catalog": {"config": {"base_url": stub.url, "min_interval_s": 0.0}}}},
        raise_on_error=False,
    )
    assert not result.success
    assert not (tmp_path / "ingest" / CATALOG_FILE).exists()


def test_network_assets_live_only_in_their_own_job():
    defs = dg.Definitions(
        assets=[beatsaver_catalog, beatsaver_downloads],
        jobs=[beatsaver_download_job],
        resources={"paths": AutomapperPaths()},
    )
    job = defs.resolve_job_def("beatsaver_download_job")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == {
        "beatsaver_catalog",
        "beatsaver_downloads",
    }
    tagged = dg.AssetSelection.tag("network", "beatsaver").resolve(defs.resolve_asset_graph())
    assert tagged == BEATSAVER_SELECTION.resolve(defs.resolve_asset_graph())

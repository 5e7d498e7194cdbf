"""`new_zips_sensor`: notice new or changed zips in raw/ and refresh the ingest group.

The cursor holds the last seen fingerprint of every shard. When some differ, the tick records
an observation of `raw_map_zips` for exactly those shards (so Dagster's staleness sees the
change) and requests one run of the ingest assets; its run key is the new fingerprint set, so
the same state never launches twice. With no cursor (first tick) any zip counts as new.
"""

import hashlib
import json

import dagster as dg
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from automapper_assets.defs.ingest.assets import (
    dataset_audit,
    map_manifest,
    outlier_blacklist,
    sample_weights,
)
from automapper_assets.defs.ingest.raw import fingerprints, raw_map_zips
from automapper_assets.defs.resources import AutomapperPaths
from automapper_ml.data.rawzips import list_zip_names

INGEST_ASSETS = [map_manifest, outlier_blacklist, dataset_audit, sample_weights]


@dg.sensor(
    asset_selection=INGEST_ASSETS,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Observes raw/ per shard; on a new or changed zip, records the observation and refreshes ingest.",
)
def new_zips_sensor(context: dg.SensorEvaluationContext, paths: AutomapperPaths) -> dg.SensorResult:
    current = fingerprints(paths)
    if context.cursor is None:
        if not list_zip_names(paths.raw):
            return dg.SensorResult(skip_reason="raw/ holds no zips yet", cursor=json.dumps(current))
        previous: dict[str, str] = {}
    else:
        previous = json.loads(context.cursor)
    changed = sorted(k for k, v in current.items() if previous.get(k) != v)
    if not changed:
        return dg.SensorResult(skip_reason="no new or changed zips", cursor=json.dumps(current))
    observations = [
        dg.AssetObservation(asset_key=raw_map_zips.key, partition=k, tags={DATA_VERSION_TAG: current[k]})
        for k in changed
    ]
    run_key = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:16]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=run_key, tags={"automapper/changed_shards": ",".join(changed)})],
        asset_events=observations,
        cursor=json.dumps(current),
    )

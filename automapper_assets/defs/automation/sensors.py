"""Sensors of the automation group.

- `feature_shards_sensor`: whenever `raw_map_zips` is observed (by `new_zips_sensor`, the main job,
  or the UI's "Observe" button), request one run per shard whose sharded children are stale.
  It reads the observations rather than being folded into `new_zips_sensor` so the ingest
  sensor keeps its one-run contract and observations from anywhere are followed alike.
- `nightly_continuation`: carries a nightly session round after round (see layers.py).
- `evaluation_follows_training`: declarative automation; an evaluation asset is requested when a
  model it reads was re-materialised and that model's blocking checks (champion_check) passed.
"""

import json

import dagster as dg

from automapper_assets import runs
from automapper_assets.defs.automation.layers import (
    MAX_ROUNDS,
    ROUND_TAG,
    SESSION_TAG,
    SOURCE_TAG,
    GraphDefs,
    Layer,
    automation_keys,
    layer_run_requests,
)
from automapper_assets.defs.automation.schedules import NIGHTLY_SELECTION, plan_round
from automapper_assets.staleness import FRESH, make_resolver

RAW_KEY = dg.AssetKey("raw_map_zips")
OBSERVATION_PAGE = 1000
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, *runs.IN_FLIGHT]  # a queued run is in flight here too


def sharded_children(source, parent: dg.AssetKey = RAW_KEY) -> list[dg.AssetKey]:
    """Partitioned materialisable assets reading `parent` directly (audio_features, map_tokens)."""
    graph = GraphDefs.of(source).resolve_asset_graph()
    if not graph.has(parent):
        return []
    return [
        k
        for k in graph.toposorted_asset_keys
        if parent in graph.get(k).parent_keys
        and graph.get(k).partitions_def is not None
        and graph.get(k).is_materializable
    ]


def _busy_partitions(instance: dg.DagsterInstance, partitions: set[str]) -> set[str]:
    """Shards with a run still queued or going (the main job or the last tick's request)."""
    busy = set()
    for partition in partitions:
        runs = instance.get_runs(
            filters=dg.RunsFilter(statuses=IN_FLIGHT, tags={"dagster/partition": partition}), limit=1
        )
        if runs:
            busy.add(partition)
    return busy


@dg.sensor(
    target=dg.AssetSelection.groups("features"),
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After raw_map_zips is observed, one run per shard whose audio_features/map_tokens are stale.",
)
def feature_shards_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    state = json.loads(context.cursor) if context.cursor else {"after": None, "pending": []}
    instance = context.instance
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=RAW_KEY, after_storage_id=state["after"]),
        limit=OBSERVATION_PAGE,
        ascending=True,
    ).records
    after = max([r.storage_id for r in records], default=state["after"])
    candidates = set(state["pending"]) | {r.partition_key for r in records if r.partition_key}
    if not candidates:
        return dg.SensorResult(skip_reason="no new observation of raw_map_zips", cursor=json.dumps(state))
    busy = _busy_partitions(instance, candidates)
    source = GraphDefs.of(context.repository_def)
    children = sharded_children(source)
    resolver = make_resolver(instance, source)
    shards: dict = {}
    for partition in sorted(candidates - busy):
        stale = tuple(k for k in children if resolver.get_status(k, partition) != FRESH)
        if stale:
            pid = (
                source.resolve_asset_graph().get(stale[0]).partitions_def.get_serializable_unique_identifier()
            )
            shards[(pid, partition)] = stale
    cursor = json.dumps({"after": after, "pending": sorted(busy)})
    requests = layer_run_requests(Layer(shards=shards), {SOURCE_TAG: "new_zips"}, f"features-{after}")
    if not requests:
        reason = f"shards {', '.join(sorted(candidates))} already fresh"
        if busy:
            reason += f"; waiting for running shard(s) {', '.join(sorted(busy))}"
        return dg.SensorResult(skip_reason=reason, cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


def _latest_session(instance: dg.DagsterInstance) -> str | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={SOURCE_TAG: "nightly"}), limit=1)
    return runs[0].tags.get(SESSION_TAG) if runs else None


@dg.sensor(
    target=NIGHTLY_SELECTION,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Carries the nightly retrain: when a round's runs all succeed, requests the next stale layer.",
)
def nightly_continuation(context: dg.SensorEvaluationContext):
    instance = context.instance
    session = _latest_session(instance)
    done = json.loads(context.cursor) if context.cursor else {}
    if session is None:
        return dg.SkipReason("no nightly session has run yet")
    if done.get("session") == session:
        return dg.SkipReason(f"nightly {session}: {done['outcome']}")
    runs = instance.get_runs(filters=dg.RunsFilter(tags={SESSION_TAG: session}))
    last = max(int(r.tags.get(ROUND_TAG, "1")) for r in runs)
    current = [r for r in runs if int(r.tags.get(ROUND_TAG, "1")) == last]
    if any(r.status in IN_FLIGHT for r in current):
        return dg.SkipReason(f"nightly {session}: round {last} still running")

    def finish(outcome: str) -> dg.SensorResult:
        context.log.info(f"nightly {session}: {outcome}")
        return dg.SensorResult(
            skip_reason=f"nightly {session}: {outcome}",
            cursor=json.dumps({"session": session, "outcome": outcome}),
        )

    failed = [r.run_id[:8] for r in current if r.status != dg.DagsterRunStatus.SUCCESS]
    if failed:
        return finish(f"stopped after round {last}: run(s) {', '.join(failed)} did not succeed")
    if last >= MAX_ROUNDS:
        return finish(f"stopped at the {MAX_ROUNDS}-round limit")
    requests, what = plan_round(context, session, last + 1)
    if not requests:
        return finish(f"complete after {last} round(s); everything is fresh")
    context.log.info(f"nightly {session} round {last + 1}: {what}")
    return dg.SensorResult(run_requests=requests)


def follows_training() -> dg.AutomationCondition:
    """eager() (or a changed code version), only once the upstream models' blocking checks passed.

    The blocking check is `champion_check`: a challenger that lost leaves its asset with a failed
    check, so evaluation is not re-run against an unchanged champion.
    """
    changed_code = (
        dg.AutomationCondition.code_version_changed()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.in_progress()
    )
    return (
        (dg.AutomationCondition.eager() | changed_code)
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("eager once upstream blocking checks passed")


evaluation_follows_training = dg.AutomationConditionSensorDefinition(
    "evaluation_follows_training",
    target=dg.AssetSelection.groups("evaluation"),
    default_condition=follows_training(),  # for evaluation assets that declare no condition of their own
    use_user_code_server=True,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Evaluation assets follow a re-materialised model once its champion check passed.",
)

__all__ = ["automation_keys", "evaluation_follows_training", "feature_shards_sensor", "nightly_continuation"]

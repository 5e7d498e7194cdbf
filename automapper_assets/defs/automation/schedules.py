"""`nightly_retrain`: at 03:00 request what is stale (per shard), warm-starting training from the champion.

Round 1 comes from this schedule; `nightly_continuation` (sensors.py) requests the next rounds
as each one finishes, until nothing in the nightly groups is stale. `stale_assets_only` is not
used: it cannot see stale partitions (DESIGN.md), so staleness is asked per shard here.
New zips count once `new_zips_sensor` has recorded their observation (it ticks every minute).
"""

import dagster as dg

from automapper_assets.defs.automation.layers import (
    NIGHTLY_GROUPS,
    ROUND_TAG,
    SESSION_TAG,
    SOURCE_TAG,
    automation_keys,
    layer_run_requests,
    next_layer,
)
from automapper_assets.defs.automation.retrain import nightly_tags, options_from, retrain_run_config

NIGHTLY_CRON = "0 3 * * *"
# network-tagged assets (downloads) sit in their own group, and automation_keys drops the tag anyway
NIGHTLY_SELECTION = dg.AssetSelection.groups(*NIGHTLY_GROUPS)


def session_tags(session: str, round_no: int) -> dict[str, str]:
    return {SOURCE_TAG: "nightly", SESSION_TAG: session, ROUND_TAG: str(round_no), **nightly_tags()}


def plan_round(context, session: str, round_no: int) -> tuple[list[dg.RunRequest], str]:
    """The run requests of one round and a one-line description of it."""
    source = context.repository_def
    layer = next_layer(context.instance, source, automation_keys(source))
    tags = session_tags(session, round_no)
    run_config = retrain_run_config(source.assets_defs_by_key, layer.whole, options_from(tags, {}))
    requests = layer_run_requests(layer, tags, f"{session}-r{round_no}", run_config)
    return requests, layer.describe()


@dg.schedule(
    cron_schedule=NIGHTLY_CRON,
    target=NIGHTLY_SELECTION,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly: re-materialise only stale assets (per shard), layer by layer; skips when all is fresh.",
)
def nightly_retrain(context: dg.ScheduleEvaluationContext):
    when = context.scheduled_execution_time
    session = when.strftime("%Y%m%dT%H%M") if when is not None else "manual"
    requests, what = plan_round(context, session, 1)
    if not requests:
        return dg.SkipReason("nothing is stale: every asset of " + ", ".join(NIGHTLY_GROUPS) + " is fresh")
    context.log.info(f"nightly {session} round 1: {what}")
    return requests

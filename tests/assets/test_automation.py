"""Automation over a toy sharded graph: nightly schedule + continuation, feature-shard sensor,
champion/challenger check, evaluation following training, retrain knobs."""

import datetime
import json
import math
import warnings

import dagster as dg
import pytest
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from automapper_assets.defs.automation.champion import (
    CHAMPION_CKPT,
    ChampionError,
    champion_check,
    decide,
    judge,
    read_champion,
    read_history,
)
from automapper_assets.defs.automation.layers import ROUND_TAG, SESSION_TAG, next_layer
from automapper_assets.defs.automation.retrain import (
    NICE_TAG,
    TIME_BUDGET_TAG,
    WARM_START_TAG,
    RetrainOptionError,
    nightly_tags,
    options_from,
)
from automapper_assets.defs.automation.schedules import nightly_retrain
from automapper_assets.defs.automation.sensors import (
    evaluation_follows_training,
    feature_shards_sensor,
    nightly_continuation,
)
from automapper_assets.defs.resources import AutomapperPaths

warnings.filterwarnings("ignore", category=dg.BetaWarning)
SHARDS = dg.StaticPartitionsDefinition(["a", "b"])
RAW = {"a": "a1", "b": "b1"}  # the toy raw fingerprints; tests edit them


class ToyTrainConfig(dg.Config):
    warm_start: bool = False
    max_minutes: float = 0.0


def toy_defs(model_version: str = "1") -> dg.Definitions:
    @dg.observable_source_asset(name="raw_map_zips", partitions_def=SHARDS, group_name="ingest")
    def raw() -> dg.DataVersionsByPartition:
        return dg.DataVersionsByPartition({k: dg.DataVersion(v) for k, v in RAW.items()})

    @dg.asset(partitions_def=SHARDS, deps=["raw_map_zips"], group_name="features", code_version="1")
    def feats(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return dg.MaterializeResult(data_version=dg.DataVersion(f"f-{RAW[context.partition_key]}"))

    @dg.asset(deps=[feats], group_name="features", code_version="1")
    def index() -> dg.MaterializeResult:
        return dg.MaterializeResult(data_version=dg.DataVersion("i-" + "-".join(sorted(RAW.values()))))

    @dg.asset(deps=[index], group_name="training", code_version=model_version)
    def model(config: ToyTrainConfig) -> dg.MaterializeResult:
        return dg.MaterializeResult(
            metadata={"warm_start": config.warm_start, "max_minutes": config.max_minutes},
            data_version=dg.DataVersion(f"m-{model_version}"),
        )

    return dg.Definitions(assets=[raw, feats, index, model])


def observe(instance: dg.DagsterInstance, *shards: str) -> None:
    for shard in shards:
        instance.report_runless_asset_event(
            dg.AssetObservation(
                asset_key="raw_map_zips", partition=shard, tags={DATA_VERSION_TAG: RAW[shard]}
            )
        )


def execute(defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest) -> None:
    """What the daemon does with a RunRequest, in process."""
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=list(request.asset_selection),
        partition_key=request.partition_key,
        tags=dict(request.tags),
        run_config=request.run_config,
    )
    assert result.success


def names(request: dg.RunRequest) -> list[str]:
    return [k.to_user_string() for k in request.asset_selection]


def tick_schedule(defs, instance, hour: int):
    # `with`: the context opens its own instance from the ref; closing it resets Dagster's
    # current defs-state storage, which would otherwise point into a deleted temp dir later.
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=datetime.datetime(2026, 1, 1, hour, tzinfo=datetime.UTC),
        repository_def=defs.get_repository_def(),
    ) as context:
        out = nightly_retrain(context)
    if isinstance(out, dg.SkipReason):
        return dg.SensorResult(skip_reason=out)
    return dg.SensorResult(run_requests=out)


def tick_sensor(sensor, defs, instance, cursor):
    out = sensor(
        dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=defs.get_repository_def())
    )
    if isinstance(out, dg.SkipReason):
        return dg.SensorResult(skip_reason=out, cursor=cursor)
    return out


def skipped(result: dg.SensorResult) -> str:
    return result.skip_reason.skip_message if result.skip_reason else ""


@pytest.fixture(autouse=True)
def reset_raw():
    RAW.update(a="a1", b="b1")


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:  # persistent (temp dir): schedule contexts need an instance ref
        yield inst


@pytest.mark.slow  # ~10 s: several runs on a persistent sqlite instance
def test_nightly_session_runs_layer_by_layer_and_never_mixes_partitions(instance):
    defs = toy_defs()
    observe(instance, "a", "b")
    first = tick_schedule(defs, instance, 3)
    assert sorted((r.partition_key, tuple(names(r))) for r in first.run_requests) == [
        ("a", ("feats",)),
        ("b", ("feats",)),
    ]
    request = first.run_requests[0]
    assert request.tags[SESSION_TAG] == "20260101T0300" and request.tags[ROUND_TAG] == "1"
    assert request.tags[WARM_START_TAG] == "champion"
    for request in first.run_requests:
        execute(defs, instance, request)

    cursor, rounds = None, [[("a", ["feats"]), ("b", ["feats"])]]
    for _ in range(4):
        result = tick_sensor(nightly_continuation, defs, instance, cursor)
        if not result.run_requests:
            break
        cursor = result.cursor or cursor
        rounds.append([(r.partition_key, names(r)) for r in result.run_requests])
        for request in result.run_requests:
            assert request.partition_key is None or all(
                defs.resolve_asset_graph().get(k).partitions_def is not None for k in request.asset_selection
            )
            execute(defs, instance, request)
    assert rounds[1:] == [[(None, ["index"])], [(None, ["model"])]]
    assert "complete after 3 round(s)" in skipped(result)
    again = tick_sensor(nightly_continuation, defs, instance, result.cursor)
    assert not again.run_requests and "complete" in skipped(again)

    idle = tick_schedule(defs, instance, 4)
    assert not idle.run_requests and "nothing is stale" in skipped(idle)


@pytest.mark.slow  # ~10 s: several runs on a persistent sqlite instance
def test_schedule_requests_only_the_changed_shard_and_only_a_changed_model(instance):
    defs = toy_defs()
    observe(instance, "a", "b")
    dg.materialize(defs.assets[1:2], instance=instance, partition_key="a")
    dg.materialize(defs.assets[1:2], instance=instance, partition_key="b")
    dg.materialize(defs.assets[2:], instance=instance)
    assert not next_layer(instance, defs, [dg.AssetKey(n) for n in ("feats", "index", "model")])

    RAW["b"] = "b2"
    observe(instance, "b")
    only_b = tick_schedule(defs, instance, 3).run_requests
    assert [(r.partition_key, names(r)) for r in only_b] == [("b", ["feats"])]

    RAW["b"] = "b1"
    observe(instance, "b")  # back to what feats[b] was built from
    bumped = toy_defs(model_version="2")  # a training config edit: only the model is stale
    requests = tick_schedule(bumped, instance, 3).run_requests
    assert [(r.partition_key, names(r)) for r in requests] == [(None, ["model"])]
    # the nightly fills the training Config: warm start from the champion within the budget (4 h default)
    assert requests[0].run_config == {
        "ops": {"model": {"config": {"warm_start": True, "max_minutes": 240.0}}}
    }


@pytest.mark.slow  # ~10 s: several runs on a persistent sqlite instance
def test_feature_sensor_follows_observations_per_shard(instance):
    defs = toy_defs()
    observe(instance, "a", "b")
    first = tick_sensor(feature_shards_sensor, defs, instance, None)
    assert sorted((r.partition_key, tuple(names(r))) for r in first.run_requests) == [
        ("a", ("feats",)),
        ("b", ("feats",)),
    ]
    for request in first.run_requests:
        execute(defs, instance, request)
    quiet = tick_sensor(feature_shards_sensor, defs, instance, first.cursor)
    assert not quiet.run_requests and "no new observation" in skipped(quiet)

    RAW["a"] = "a2"
    observe(instance, "a")
    changed = tick_sensor(feature_shards_sensor, defs, instance, quiet.cursor)
    assert [(r.partition_key, names(r)) for r in changed.run_requests] == [("a", ["feats"])]
    execute(defs, instance, changed.run_requests[0])

    observe(instance, "b")  # same fingerprint again (e.g. the main job observing every shard)
    same = tick_sensor(feature_shards_sensor, defs, instance, changed.cursor)
    assert not same.run_requests and "already fresh" in skipped(same)


# --- champion / challenger -----------------------------------------------------------------


def test_decide_directions_and_margin():
    assert decide(0.5, None, higher_is_better=False)[0]
    assert decide(0.4, 0.5, higher_is_better=False)[0]
    assert not decide(0.6, 0.5, higher_is_better=False)[0]
    assert decide(0.9, 0.8, higher_is_better=True)[0]
    promoted, reason = decide(0.81, 0.8, higher_is_better=True, min_delta=0.05)
    assert not promoted and "champion stays" in reason
    with pytest.raises(ChampionError):
        decide(math.nan, 0.8, higher_is_better=True)


def test_judge_promotes_keeps_and_records_history(tmp_path):
    stage = tmp_path / "models" / "onset"
    stage.mkdir(parents=True)
    best = stage / "best.pt"
    best.write_bytes(b"first")
    assert judge(stage, best, "val_loss", 0.5, False, "run-1").promoted
    assert (stage / CHAMPION_CKPT).read_bytes() == b"first"
    best.write_bytes(b"worse")
    kept = judge(stage, best, "val_loss", 0.7, False, "run-2")
    assert not kept.promoted and (stage / CHAMPION_CKPT).read_bytes() == b"first"
    best.write_bytes(b"better")
    # the champion re-scored on today's split (0.9) is what counts, not its stored 0.5
    fresh = judge(stage, best, "val_loss", 0.6, False, "run-3", champion_now=0.9)
    assert fresh.promoted and fresh.champion == 0.9 and (stage / CHAMPION_CKPT).read_bytes() == b"better"
    assert read_champion(stage)["run_id"] == "run-3"
    history = read_history(stage)
    assert [h["promoted"] for h in history] == [True, False, True]
    assert history[1]["champion_value"] == 0.5 and history[1]["value"] == 0.7
    assert len(list((stage / "champions").glob("*.pt"))) == 2
    assert judge(stage, best, "val_loss", 0.6, False, "run-3").promoted  # a re-run check is idempotent
    assert not list(stage.glob(".*.tmp"))
    with pytest.raises(ChampionError):
        judge(tmp_path / "models" / "lighting", tmp_path / "nope.pt", "val_loss", 0.1, False, "run-4")


SCORES: list[float] = []


def champion_defs(home) -> dg.Definitions:
    @dg.asset(group_name="training")
    def toy_model(paths: AutomapperPaths) -> dg.MaterializeResult:
        value = SCORES.pop(0)
        path = paths.folder("models", "toy") / "best.pt"
        path.write_text(f"weights {value}")
        return dg.MaterializeResult(
            metadata={"val_loss": value, "checkpoint": dg.MetadataValue.path(str(path))}
        )

    @dg.asset(deps=[toy_model], group_name="evaluation")
    def toy_eval() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    return dg.Definitions(
        assets=[toy_model, toy_eval],
        asset_checks=[champion_check(toy_model, "toy", "val_loss")],
        resources={"paths": AutomapperPaths(home=str(home))},
        sensors=[evaluation_follows_training],
    )


def test_champion_check_in_runs_and_evaluation_follows_only_a_promotion(tmp_path):
    instance, defs = dg.DagsterInstance.ephemeral(), champion_defs(tmp_path)
    job = defs.resolve_implicit_global_asset_job_def()

    def tick(cursor):
        return evaluation_follows_training(
            dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        )

    start = tick(None)
    assert not start.run_requests
    SCORES[:] = [0.5, 0.8]
    first = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("toy_model")])
    assert first.success and first.get_asset_check_evaluations()[0].passed
    stage = tmp_path / "models" / "toy"
    assert (stage / CHAMPION_CKPT).read_text() == "weights 0.5"
    follow = tick(start.cursor)
    assert [names(r) for r in follow.run_requests] == [["toy_eval"]]
    assert job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("toy_eval")]).success

    second = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("toy_model")])
    evaluation = second.get_asset_check_evaluations()[0]
    assert second.success and not evaluation.passed  # a losing challenger is a warning, not a failed run
    assert evaluation.severity == dg.AssetCheckSeverity.WARN and "champion stays" in evaluation.description
    assert (stage / CHAMPION_CKPT).read_text() == "weights 0.5"
    assert not tick(follow.cursor).run_requests  # evaluation waits for a passed champion check
    assert [h["promoted"] for h in read_history(stage)] == [True, False]


def test_champion_check_without_metric_blocks_downstream(tmp_path):
    @dg.asset
    def bare() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"loss": 0.1})

    @dg.asset(deps=[bare])
    def after() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    result = dg.materialize(
        [bare, after, champion_check(bare, "bare", "val_loss")],
        resources={"paths": AutomapperPaths(home=str(tmp_path))},
        raise_on_error=False,
    )
    assert not result.success and not result.asset_materializations_for_node("after")
    assert "no numeric 'val_loss'" in result.get_asset_check_evaluations()[0].description
    assert read_champion(tmp_path / "models" / "bare") is None


# --- retrain knobs ---------------------------------------------------------------------------


def test_retrain_options_tags_win_and_bad_values_name_the_knob(tmp_path):
    env = {"AUTOMAPPER_WARM_START": "champion", "AUTOMAPPER_TIME_BUDGET_S": "60", "AUTOMAPPER_NICE": "5"}
    opts = options_from({TIME_BUDGET_TAG: "120"}, env)
    assert (opts.warm_start, opts.time_budget_s, opts.nice) == ("champion", 120.0, 5)
    assert options_from({}, {}).time_budget_s is None and options_from({}, {}).warm_start == "none"
    assert opts.init_checkpoint(tmp_path, "onset") is None
    (tmp_path / "models" / "onset").mkdir(parents=True)
    (tmp_path / "models" / "onset" / CHAMPION_CKPT).write_bytes(b"x")
    assert opts.init_checkpoint(tmp_path, "onset") == tmp_path / "models" / "onset" / CHAMPION_CKPT
    for bad in (
        {WARM_START_TAG: "best"},
        {NICE_TAG: "40"},
        {TIME_BUDGET_TAG: "-1"},
        {TIME_BUDGET_TAG: "soon"},
    ):
        with pytest.raises(RetrainOptionError):
            options_from(bad, {})
    assert nightly_tags({})[WARM_START_TAG] == "champion"
    with pytest.raises(RetrainOptionError, match="nice"):
        nightly_tags({"AUTOMAPPER_NIGHTLY_NICE": "99"})
    assert json.dumps(opts.as_metadata())

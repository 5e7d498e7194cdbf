"""reference_snapshots and evaluation_metrics on a small demo home with one-epoch tiny checkpoints.

The home is built once per module: the main job's ingest and features groups on a 3-song demo
corpus (1 reference song with a human map), then the three stages trained directly for one short
epoch each and published as <home>/models/<stage>/best.pt, the way the training assets publish
them (this test is about evaluation, not learning). A second reference song without a human map
is added as a bare audio file. The evaluation assets are then materialised twice.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

ONSET_THRESHOLD = 0.33
ONE_EPOCH = dict(epochs=1, batch_size=8, lr=1e-3, warmup_steps=2, patience=1, progress=False, device="cpu")


def _train_models(home: Path) -> None:
    from automapper_ml.training.lighting import load_lighting_preset, train_lighting_model
    from automapper_ml.training.loop import TrainConfig
    from automapper_ml.training.onset import train_onset_model
    from automapper_ml.training.onset_task import OnsetTaskConfig
    from automapper_ml.training.presets import load_preset
    from automapper_ml.training.sequence import sequence_model_config, train_sequence_model
    from automapper_ml.training.sequence_task import SequenceTaskConfig

    index = home / "features" / "frame_index.parquet"
    train = TrainConfig(**ONE_EPOCH)
    runs = home / "tmp_runs"
    onset_cfg = load_preset("demo").model  # the tiny size
    results = {
        "onset": train_onset_model(index, home, runs / "onset", onset_cfg, train,
                                   task_config=OnsetTaskConfig(epoch_scale=0.05, augment=False)),
        "sequence": train_sequence_model(index, home, runs / "sequence", sequence_model_config("tiny"), train,
                                         task_config=SequenceTaskConfig(epoch_scale=0.05, val_max_samples=64,
                                                                        eval_songs=0)),
    }  # fmt: skip
    lighting = load_lighting_preset("demo")  # the tiny size
    from dataclasses import replace

    task = replace(lighting.task, epoch_scale=0.05, max_val_steps=200)
    results["lighting"] = train_lighting_model(
        index, home, runs / "lighting", lighting.model, train, task_config=task
    )
    for stage, result in results.items():
        assert result.best_path is not None, stage
        (home / "models" / stage).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.best_path, home / "models" / stage / "best.pt")
    _lower_threshold(home / "models" / "onset" / "best.pt")


def _lower_threshold(path: Path, threshold: float = ONSET_THRESHOLD) -> None:
    """The demo's 3 songs usually all hash into train, so the one-epoch onset model had no validation
    songs to tune its peak threshold on and keeps 0.5, above its whole (flat) curve: it would place no
    note. The test lowers the stored threshold so snapshots hold notes and the figures mean something."""
    import torch

    from automapper_ml.models.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    for entry in state.get("history", []):
        entry["threshold"] = threshold
    torch.save(state, path)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    from automapper_assets.pipeline import run_pipeline
    from automapper_ml.synth import DemoConfig

    root = tmp_path_factory.mktemp("evaluation") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("AUTOMAPPER_HOME", str(root))  # run_pipeline sets both; monkeypatch restores them
    mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    mp.setenv("WANDB_MODE", "disabled")
    try:
        demo = DemoConfig(n_songs=3, n_reference=1, include_broken=False, min_seconds=20, max_seconds=24)
        run_pipeline(root, groups=("ingest", "features"), demo_config=demo, log=lambda *a: None)
        _train_models(root)
        refs = sorted(p for p in (root / "reference").iterdir() if p.is_dir())
        assert len(refs) == 1 and (refs[0] / "map").is_dir()
        shutil.copyfile(refs[0] / "song.egg", root / "reference" / "bare song.egg")  # no human map
        yield root
    finally:
        mp.undo()


def _materialise(home: Path, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    from automapper_assets.defs.evaluation.assets import evaluation_metrics, reference_snapshots
    from automapper_assets.defs.resources import AutomapperPaths, WandbResource

    return dg.materialize(
        [reference_snapshots, evaluation_metrics],
        resources={"paths": AutomapperPaths(home=str(home)), "wandb": WandbResource(mode="disabled")},
        run_config=run_config or {"ops": {"reference_snapshots": {"config": {"difficulties": ["Expert"]}}}},
    )


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    mats = result.asset_materializations_for_node(key)
    assert len(mats) == 1
    return {k: v.value for k, v in mats[0].metadata.items()}


def _move_one_song_to_test(home: Path) -> str:
    """The demo's 3 songs rarely hash into the 5% test split: move one (already trained on) there."""
    path = home / "features" / "frame_index.parquet"
    index = pl.read_parquet(path)
    if (index["split"] == "test").any():
        return index.filter(pl.col("split") == "test")["song_id"][0]
    song = index.filter(pl.col("split") == "val")["song_id"][0] if (index["split"] == "val").any() else index["song_id"][0]  # fmt: skip
    index.with_columns(pl.when(pl.col("song_id") == song).then(pl.lit("test")).otherwise("split").alias("split")).write_parquet(path)  # fmt: skip
    return song


@pytest.mark.slow
def test_snapshots_and_metrics(home: Path) -> None:
    from automapper_ml.formats import load_map

    first = _materialise(home)
    assert first.success
    snap = _metadata(first, "reference_snapshots")
    assert snap["songs"] == 2 and snap["snapshots"] == 2 and snap["errors"] == {}
    folder = Path(snap["run_folder"])
    assert folder.parent == home / "snapshots" and folder.name == first.run_id
    quality = pl.read_parquet(folder / "quality.parquet")
    for name in ("bare_song", sorted(p.name for p in (home / "reference").iterdir() if p.is_dir())[0]):
        beatmap = load_map(folder / f"{name}.zip")
        expert = beatmap.difficulty("Standard", "Expert")
        post = quality.filter((pl.col("song") == name) & (pl.col("stage") == "post"))
        assert post["notes"].to_list() == [float(len(expert.notes))]  # figures measure the exported map
        assert set(quality.filter(pl.col("song") == name)["stage"]) == {"raw", "post"}
    assert not [p for p in (home / "snapshots").iterdir() if p.name.startswith(".")]  # no staging left

    metrics = _metadata(first, "evaluation_metrics")
    assert metrics["snapshot_songs"] == 2 and metrics["snapshot_songs_with_human"] == 1
    if metrics["test_songs"] == 0:
        assert math.isnan(metrics["onset_f1"])
    history = pl.read_parquet(home / "metrics" / "history.parquet")
    assert history.height == 1
    for stage in ("raw", "post"):
        for figure in ("nps", "left_share", "cells_used", "direction_entropy", "parity_errors",
                       "off_beat_share", "bombs", "walls", "arcs", "chains", "most_common_share"):  # fmt: skip
            assert f"{stage}_{figure}" in history.columns
            assert f"{stage}_vs_human_{figure}" in history.columns
    first_row = history.row(0, named=True)
    assert first_row["post_notes"] > 0  # the lowered threshold makes the tiny models map
    assert first_row["raw_notes"] >= first_row["post_notes"]  # post-processing never invents notes
    assert first_row["post_parity_errors"] == 0  # it fixes parity with the same checker
    assert 0.0 <= first_row["post_notes_changed_share"] <= 1.0
    assert "![" in metrics["quality_plot"] and "| figure | raw | post | human |" in metrics["raw_vs_post"]

    detail = pl.read_parquet(home / "metrics" / "runs" / first.run_id / "snapshot_quality.parquet")
    assert set(detail.filter(pl.col("song") == "bare_song")["stage"]) == {"raw", "post"}  # no human rows
    assert "human" in set(detail.filter(pl.col("song") != "bare_song")["stage"])

    test_song = _move_one_song_to_test(home)
    second = _materialise(home)
    assert second.success
    history = pl.read_parquet(home / "metrics" / "history.parquet")
    assert history.height == 2 and history["run_id"].to_list() == [first.run_id, second.run_id]
    assert history["snapshot_run"].to_list() == [first.run_id, second.run_id]
    last = history.row(-1, named=True)
    assert last["test_songs"] >= 1, test_song
    for key in ("onset_f1", "onset_precision", "onset_recall", "token_accuracy", "lighting_token_accuracy"):
        assert 0.0 <= last[key] <= 1.0, key
    snapshots = pl.read_parquet(home / "snapshots" / "history.parquet")
    assert snapshots.height == 4 and snapshots["song"].n_unique() == 2


def test_missing_models_fail_with_a_reason(tmp_path: Path) -> None:
    from automapper_assets.defs.evaluation.assets import reference_snapshots
    from automapper_assets.defs.resources import AutomapperPaths

    result = dg.materialize(
        [reference_snapshots], resources={"paths": AutomapperPaths(home=str(tmp_path))}, raise_on_error=False
    )
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "models" in str(failure.event_specific_data.error.message)


@pytest.mark.slow
def test_undecodable_reference_song_is_recorded_not_fatal(home: Path) -> None:
    broken = home / "reference" / "broken.egg"
    broken.write_bytes(b"OggS" + b"\x00" * 64)
    try:
        result = _materialise(home, {"ops": {"reference_snapshots": {"config": {"difficulties": ["Easy"]}}}})
    finally:
        broken.unlink()
    assert result.success
    snap = _metadata(result, "reference_snapshots")
    assert set(snap["errors"]) == {"broken"} and snap["snapshots"] == 2
    rows = pl.read_parquet(home / "snapshots" / "history.parquet").filter(pl.col("run_id") == result.run_id)
    assert rows.filter(pl.col("song") == "broken")["zip"].to_list() == [None]

    from automapper_assets.defs.evaluation.assets import reference_snapshots
    from automapper_assets.defs.resources import AutomapperPaths

    bad = dg.materialize(
        [reference_snapshots],
        resources={"paths": AutomapperPaths(home=str(home))},
        run_config={"ops": {"reference_snapshots": {"config": {"difficulties": ["Legendary"]}}}},
        raise_on_error=False,
    )
    assert not bad.success
    failure = [e for e in bad.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "Legendary" in failure.event_specific_data.error.message


def test_reference_song_discovery(tmp_path: Path) -> None:
    from automapper_ml.evaluation.reference_songs import reference_songs

    ref = tmp_path / "reference"
    (ref / "with map" / "map").mkdir(parents=True)
    (ref / "with map" / "song.egg").write_bytes(b"x")
    (ref / "with map" / "map" / "Info.dat").write_text("{}")
    (ref / "beside").mkdir()
    (ref / "beside" / "track.ogg").write_bytes(b"x")
    (ref / "beside" / "Info.dat").write_text("{}")
    (ref / "no audio").mkdir()
    (ref / "bare.wav").write_bytes(b"x")
    (ref / "notes.txt").write_text("ignored")
    songs = {s.name: s for s in reference_songs(ref)}
    assert sorted(songs) == ["bare", "beside", "with_map"]
    assert (
        songs["with_map"].audio.name == "song.egg" and songs["with_map"].human_map == ref / "with map" / "map"
    )
    assert songs["beside"].human_map == ref / "beside"
    assert songs["bare"].human_map is None
    assert reference_songs(tmp_path / "absent") == []


def test_no_snapshot_run_fails_evaluation_with_a_reason(tmp_path: Path) -> None:
    from automapper_ml.evaluation.reference_songs import latest_snapshot_run
    from automapper_ml.evaluation.report import ReportError

    with pytest.raises(ReportError, match="reference_snapshots"):
        latest_snapshot_run(tmp_path / "snapshots")

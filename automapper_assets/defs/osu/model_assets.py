"""The osu group's learned half: `osu_tokens` (every trainable difficulty as tokens, with its split),
`osu_model` (the osu! model trained on them, the active profile's osu preset), `osu_snapshots` (the
held-out sets' songs mapped by that model, as `automapper osu generate` maps them) and
`osu_evaluation` (those maps judged against the human ones, beside the beat-circle baseline).

Versions: the tokenizer version is in `osu_tokens`' code version; the preset name, the hash of
configs/osu.toml and the tokenizer version in `osu_model`'s; the sampling settings in the snapshots'.
Bodies are thin (automapper_ml.tokenizer_osu, training.osu, generation.osu_song, evaluation.osu_songs);
files are written atomically under <home>/osu/.
"""

import json
from pathlib import Path

import dagster as dg
import polars as pl

from automapper_assets.defs.automation.retrain import GPU_OP_TAGS, GPU_POOL, TRAINING_RETRY
from automapper_assets.defs.ingest.config import bytes_version
from automapper_assets.defs.osu.assets import OSU_DIR, osu_blacklist, raw_dir
from automapper_assets.defs.resources import AutomapperPaths
from automapper_assets.defs.training.common import copy_atomic, file_version
from automapper_assets.profile import active_profile
from automapper_assets.runs import holds_pool
from automapper_ml.atomic import write_parquet_atomic, write_text_atomic
from automapper_ml.tokenizer_osu import OSU_TOKENIZER_VERSION
from automapper_ml.training.osu import osu_config_hash

PRESET = active_profile().osu
SNAPSHOT_VERSION = "1"  # bump when the snapshot request or sampling changes


def trainable_rows(paths: AutomapperPaths) -> pl.DataFrame:
    from automapper_ml.data.osu_blacklist import osu_trainable

    out = paths.folder(OSU_DIR)
    return osu_trainable(
        pl.read_parquet(out / "manifest.parquet"), pl.read_parquet(out / "blacklist.parquet")
    )


@dg.asset(
    deps=[osu_blacklist],
    group_name="osu",
    code_version=f"osu-tokens-{OSU_TOKENIZER_VERSION}",
    kinds={"polars"},
)
def osu_tokens(paths: AutomapperPaths) -> dg.MaterializeResult:
    """osu/tokens.parquet: one row per trainable difficulty: set, difficulty, split (by set name:
    training.osu_task.set_splits), token count, what the tokenizer changed, the tokens."""
    from automapper_ml.formats.osu import read_osz
    from automapper_ml.tokenizer_osu import encode_osu
    from automapper_ml.training.osu_task import set_splits

    rows = trainable_rows(paths)
    if rows.is_empty():
        raise dg.Failure("no trainable osu! difficulty: materialise osu_blacklist first")
    splits = set_splits(rows["set_file"].unique().to_list())
    records = []
    for set_file, group in rows.group_by("set_file", maintain_order=True):
        name = str(set_file[0])
        maps = dict(read_osz(raw_dir(paths) / name).beatmaps)
        for diff_file, diff in zip(group["difficulty_file"], group["difficulty"], strict=True):
            m = maps.get(diff_file)
            if m is None:  # the set changed since the manifest: the next manifest run sees it
                continue
            enc = encode_osu(m)
            records.append({"set_file": name, "difficulty_file": diff_file, "difficulty": diff,
                            "split": splits[name], "n_tokens": len(enc.tokens),
                            "changes": json.dumps(enc.changes, sort_keys=True), "tokens": list(enc.tokens)})  # fmt: skip
    table = pl.DataFrame(records, schema_overrides={"tokens": pl.List(pl.Int64)})
    data = write_parquet_atomic(table, paths.folder(OSU_DIR) / "tokens.parquet")
    counts = dict(table.group_by("split").agg(pl.len()).iter_rows())
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(paths.folder(OSU_DIR) / "tokens.parquet")),
            "difficulties": table.height,
            "tokens": int(table["n_tokens"].sum()),
            "by_split": dg.MetadataValue.json(counts),
            "dagster/row_count": table.height,
        },  # fmt: skip
        data_version=dg.DataVersion(bytes_version(data)),
    )


@dg.asset(
    deps=[osu_tokens], group_name="osu", kinds={"pytorch"}, pool=GPU_POOL, op_tags=GPU_OP_TAGS,
    retry_policy=TRAINING_RETRY,
    code_version=f"osu-model-{PRESET}-{osu_config_hash()}-tok{OSU_TOKENIZER_VERSION}",
)  # fmt: skip
@holds_pool(GPU_POOL)
def osu_model(context: dg.AssetExecutionContext, paths: AutomapperPaths) -> dg.MaterializeResult:
    """models/osu/best.pt: configs/osu.toml's preset of the active profile, trained on the train split
    of osu_tokens' difficulties and stopped on the val split (a kill resumes from last.pt)."""
    from automapper_ml.training.osu import load_osu_preset, train_osu_model

    tokens = pl.read_parquet(
        paths.folder(OSU_DIR) / "tokens.parquet", columns=["set_file", "difficulty", "split"]
    )
    rows = [(str(raw_dir(paths) / s), d, split) for s, d, split in tokens.iter_rows() if split != "test"]
    if not any(r[2] == "val" for r in rows):  # a tiny corpus: validate on the held-out sets instead
        rows += [(str(raw_dir(paths) / s), d, "val") for s, d, split in tokens.iter_rows() if split == "test"]
    preset = load_osu_preset(PRESET)
    out = paths.folder("models", "osu")
    result = train_osu_model(rows, out / "run", preset.model, preset.train, task_config=preset.task,
                             extra_state={"preset": PRESET}, log=context.log.info)  # fmt: skip
    if result.best_path is None:
        raise dg.Failure("osu! training left no checkpoint")
    copy_atomic(result.best_path, out / "best.pt")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out / "best.pt")),
            "preset": PRESET,
            "token_accuracy": result.token_accuracy,
            "majority_accuracy": result.majority_accuracy,
            "best_epoch": result.best_epoch,
            "epochs": result.epochs,
            "parameters": result.n_params,
            "train_windows": result.train_windows,
            "minutes": round(result.seconds / 60, 2),
            "quarantined": dg.MetadataValue.json(result.quarantined),
        },  # fmt: skip
        data_version=file_version(out / "best.pt"),
    )


def _reference_sets(paths: AutomapperPaths) -> list[Path]:
    """The held-out sets (the val sets when the corpus has none held out)."""
    tokens = pl.read_parquet(paths.folder(OSU_DIR) / "tokens.parquet", columns=["set_file", "split"]).unique()
    for split in ("test", "val"):
        names = sorted(tokens.filter(pl.col("split") == split)["set_file"].to_list())
        if names:
            return [raw_dir(paths) / n for n in names]
    return []


@dg.asset(
    deps=[osu_model], group_name="osu", code_version=f"osu-snapshots-{SNAPSHOT_VERSION}", kinds={"pytorch"}
)
def osu_snapshots(context: dg.AssetExecutionContext, paths: AutomapperPaths) -> dg.MaterializeResult:
    """osu/snapshots/<set>.osz: each reference set's song mapped by osu_model at the star rating of its
    middle human difficulty (seed 0), with snapshots.json naming the human difficulty it answers."""
    import torch

    from automapper_ml.evaluation.osu_songs import osu_cases
    from automapper_ml.generation.osu_song import OsuRequest, map_osu_song, write_osu_song
    from automapper_ml.models.osu import load_osu_model

    torch.set_num_threads(1)
    model = load_osu_model(paths.folder("models", "osu") / "best.pt")
    cases, skipped = osu_cases(_reference_sets(paths), per_set=1)
    if not cases:
        raise dg.Failure(f"no reference osu! set to map (skipped: {skipped})")
    folder = paths.folder(OSU_DIR, "snapshots")
    index = {}
    for case in cases:
        with case.song_file() as song:
            result = map_osu_song(song, model, OsuRequest(stars=round(case.stars, 2)))
        out = write_osu_song(result, folder / f"{Path(case.set_name).stem}.osz")
        index[case.set_name] = {"snapshot": out.name, "difficulty": case.difficulty, "stars_asked": round(case.stars, 2),
                                "stars": result.stars, "objects": len(result.map.hit_objects)}  # fmt: skip
        context.log.info(f"{case.set_name}: {result.summary()}")
    write_text_atomic(folder / "snapshots.json", json.dumps(index, indent=2, sort_keys=True))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(folder)),
            "snapshots": len(index),
            "skipped": dg.MetadataValue.json(skipped),
        },  # fmt: skip
        data_version=dg.DataVersion(bytes_version(*(p.read_bytes() for p in sorted(folder.iterdir())))),
    )


@dg.asset(deps=[osu_snapshots], group_name="osu", code_version="osu-evaluation-1", kinds={"python"})
def osu_evaluation(paths: AutomapperPaths) -> dg.MaterializeResult:
    """osu/evaluation.json (+ .md): the snapshots judged against their human difficulties
    (evaluation.osu_songs: rhythm F1 +-10/+-50 ms, star error, type shares, slider validity, playfield,
    spacing), beside circles on every detected beat of the same songs."""
    from automapper_ml.evaluation.osu_songs import evaluate_osu_songs, osu_cases
    from automapper_ml.formats.osu import read_osz
    from automapper_ml.generation.osu_baselines import beat_circles

    folder = paths.folder(OSU_DIR, "snapshots")
    index = json.loads((folder / "snapshots.json").read_text())
    cases, _ = osu_cases([raw_dir(paths) / name for name in sorted(index)], per_set=1)
    # the model's map of a case is the snapshot of its set (mappers are given the case's human map)
    snapshots = {id(c.human): read_osz(folder / index[c.set_name]["snapshot"]).beatmaps[0][1] for c in cases}
    report = evaluate_osu_songs(
        cases, {"model": lambda song, human: snapshots[id(human)], "beat circles": beat_circles}
    )
    summary = {name: report.summary(name) for name in report.rows}
    out = paths.folder(OSU_DIR)
    text = json.dumps({"summary": summary, "errors": report.errors}, indent=2, sort_keys=True)
    write_text_atomic(out / "evaluation.json", text)
    write_text_atomic(out / "evaluation.md", report.markdown() + "\n")
    model = summary.get("model", {})
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out / "evaluation.json")),
            "report": dg.MetadataValue.md(report.markdown()),
            "rhythm_f1_50ms": model.get("rhythm_f1_50ms", float("nan")),
            "stars_within_1": model.get("stars_within_1", float("nan")),
        },  # fmt: skip
        data_version=dg.DataVersion(bytes_version(text.encode())),
    )

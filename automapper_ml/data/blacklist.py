"""The outlier blacklist: every excluded zip, map or difficulty, one row per (unit, rule), with a reason.

Scopes and rules (thresholds from `BlacklistRules`, i.e. configs/ingest.toml [blacklist]):

zip (the zip gave no manifest rows; rule = the parse code):
  unsafe or corrupt archive (not_a_zip, zip_slip, zip_bomb, truncated, ...), unreadable map
  (bad_format, missing_info, unsupported_version, invalid_value, ...), undecodable_audio,
  audio_too_long, no_difficulties, not_regular_file, internal_error.
map (every difficulty of the zip is excluded):
  song_too_short      decoded audio_s < min_song_seconds
  silent_audio        audio_peak_dbfs < min_peak_dbfs or audio_silent_share > max_silent_share
                      (songid's loudness measures: digital silence is not something to map)
  no_standard_expert  no Standard Expert or ExpertPlus row in the manifest (require_standard_expert)
  ai_made             sidecar declaredAi != "None" or automapper = true (exclude_ai)
difficulty:
  non_standard_characteristic  characteristic != "Standard" (kept in the manifest, never trained on)
  too_few_notes       notes < min_notes
  too_dense           notes / (duration_s / 60) > max_notes_per_minute
  wall_heavy          walls / (notes + bombs + walls + arcs + chains) > max_wall_share
  excluded_category   category in excluded_categories (noodle, mapping_extensions, vivify by default)
  <check code>        an object ends past the decoded song (check_objects_within, e.g. objects_past_end)

A difficulty is trainable when it is Standard, its zip has no zip/map row and it has no row itself.
"""

from __future__ import annotations

import polars as pl

from automapper_ml.data.ingest_config import BlacklistRules

RULES_VERSION = "2"  # bump when a rule's meaning changes (thresholds live in the config)

BLACKLIST_SCHEMA: dict[str, pl.DataType] = {
    "zip_name": pl.String,
    "zip_sha256": pl.String,
    "map_id": pl.String,
    "shard": pl.String,
    "scope": pl.String,  # zip | map | difficulty
    "characteristic": pl.String,  # null unless scope == difficulty
    "difficulty": pl.String,
    "rule": pl.String,
    "reason": pl.String,
}
_ID = ["zip_name", "zip_sha256", "map_id", "shard"]


def _objects() -> pl.Expr:
    return pl.col("notes") + pl.col("bombs") + pl.col("walls") + pl.col("arcs") + pl.col("chains")


def _difficulty_rules(manifest: pl.DataFrame, rules: BlacklistRules) -> list[pl.DataFrame]:
    minutes = pl.col("duration_s") / 60.0
    per_minute = pl.when(minutes > 0).then(pl.col("notes") / minutes).otherwise(None)
    wall_share = pl.when(_objects() > 0).then(pl.col("walls") / _objects()).otherwise(None)
    checks: list[tuple[str, pl.Expr, pl.Expr]] = [
        (
            "non_standard_characteristic",
            pl.col("characteristic") != "Standard",
            pl.format("{} is not trained on (Standard only)", pl.col("characteristic")),
        ),
        (
            "too_few_notes",
            pl.col("notes") < rules.min_notes,
            pl.format("{} notes, fewer than {}", pl.col("notes"), pl.lit(rules.min_notes)),
        ),
        (
            "too_dense",
            per_minute > rules.max_notes_per_minute,
            pl.format(
                "{} notes per minute, over {}", per_minute.round(1), pl.lit(rules.max_notes_per_minute)
            ),
        ),
        (
            "wall_heavy",
            wall_share > rules.max_wall_share,
            pl.format("walls are {} of objects, over {}", wall_share.round(3), pl.lit(rules.max_wall_share)),
        ),
        (
            "excluded_category",
            pl.col("category").is_in(list(rules.excluded_categories)),
            pl.format("category {} is excluded by configs/ingest.toml", pl.col("category")),
        ),
    ]
    out = [
        manifest.filter(cond.fill_null(False)).select(
            *_ID,
            pl.lit("difficulty").alias("scope"),
            "characteristic",
            "difficulty",
            pl.lit(rule).alias("rule"),
            reason.alias("reason"),
        )
        for rule, cond, reason in checks
    ]
    out.append(
        manifest.filter(pl.col("check_code").is_not_null()).select(
            *_ID,
            pl.lit("difficulty").alias("scope"),
            "characteristic",
            "difficulty",
            pl.col("check_code").alias("rule"),
            pl.col("check_reason").fill_null(pl.col("check_code")).alias("reason"),
        )
    )
    return out


def silent(rules: BlacklistRules) -> tuple[pl.Expr, pl.Expr]:
    """(condition, reason) of the silent_audio rule over zip-level columns (audio_peak_dbfs,
    audio_silent_share); the audio feature shards skip what it selects, so both read it here."""
    cond = (pl.col("audio_peak_dbfs") < rules.min_peak_dbfs) | (
        pl.col("audio_silent_share") > rules.max_silent_share
    )
    reason = pl.format(
        "song is silent: loudest 0.5 s at {} dBFS (rule: under {}), {} of it under -60 dBFS (rule: over {})",
        pl.col("audio_peak_dbfs").round(1),
        pl.lit(rules.min_peak_dbfs),
        pl.col("audio_silent_share").round(3),
        pl.lit(rules.max_silent_share),
    )
    return cond, reason


def _map_rules(manifest: pl.DataFrame, rules: BlacklistRules) -> list[pl.DataFrame]:
    maps = manifest.group_by(_ID).agg(
        pl.col("audio_s").first(),
        pl.col("audio_peak_dbfs").first(),
        pl.col("audio_silent_share").first(),
        pl.col("ai").first(),
        pl.col("declared_ai").first(),
        pl.col("automapper").first(),
        ((pl.col("characteristic") == "Standard") & pl.col("difficulty").is_in(["Expert", "ExpertPlus"]))
        .any()
        .alias("has_standard_expert"),
    )
    checks: list[tuple[str, pl.Expr, pl.Expr]] = [
        (
            "song_too_short",
            pl.col("audio_s") < rules.min_song_seconds,
            pl.format(
                "song is {} s, shorter than {} s", pl.col("audio_s").round(2), pl.lit(rules.min_song_seconds)
            ),
        ),
        ("silent_audio", *silent(rules)),
    ]
    if rules.require_standard_expert:
        checks.append(
            (
                "no_standard_expert",
                ~pl.col("has_standard_expert"),
                pl.lit("no Standard Expert or ExpertPlus difficulty"),
            )
        )
    if rules.exclude_ai:
        checks.append(
            (
                "ai_made",
                pl.col("ai"),
                pl.format(
                    "AI-made per sidecar (declaredAi={}, automapper={})",
                    pl.col("declared_ai").fill_null("?"),
                    pl.col("automapper").cast(pl.String).fill_null("?"),
                ),
            )
        )
    return [
        maps.filter(cond.fill_null(False)).select(
            *_ID,
            pl.lit("map").alias("scope"),
            pl.lit(None, pl.String).alias("characteristic"),
            pl.lit(None, pl.String).alias("difficulty"),
            pl.lit(rule).alias("rule"),
            reason.alias("reason"),
        )
        for rule, cond, reason in checks
    ]


def build_blacklist(manifest: pl.DataFrame, rejected: pl.DataFrame, rules: BlacklistRules) -> pl.DataFrame:
    """BLACKLIST_SCHEMA rows for `manifest` (manifest.MANIFEST_SCHEMA) and `rejected` (REJECTED_SCHEMA)."""
    zips = rejected.select(
        *_ID,
        pl.lit("zip").alias("scope"),
        pl.lit(None, pl.String).alias("characteristic"),
        pl.lit(None, pl.String).alias("difficulty"),
        pl.col("code").alias("rule"),
        pl.col("reason"),
    )
    parts = [zips, *_map_rules(manifest, rules), *_difficulty_rules(manifest, rules)]
    parts = [p.cast(BLACKLIST_SCHEMA) for p in parts]  # type: ignore[arg-type]
    return pl.concat(parts).sort(
        ["zip_name", "scope", "characteristic", "difficulty", "rule"], nulls_last=False
    )


def trainable(manifest: pl.DataFrame, blacklist: pl.DataFrame) -> pl.DataFrame:
    """Manifest rows that training may use: Standard, no zip/map row for the zip, no row for the difficulty."""
    whole = blacklist.filter(pl.col("scope") != "difficulty").select("zip_name").unique()
    diffs = (
        blacklist.filter(pl.col("scope") == "difficulty")
        .select("zip_name", "characteristic", "difficulty")
        .unique()
    )
    return (
        manifest.filter(pl.col("characteristic") == "Standard")
        .join(whole, on="zip_name", how="anti")
        .join(diffs, on=["zip_name", "characteristic", "difficulty"], how="anti")
    )

"""The osu! blacklist: every excluded set or difficulty, one row per (unit, rule), with a reason.

Rules (thresholds from `OsuBlacklistRules`, i.e. configs/osu_ingest.toml [blacklist]):

set / difficulty (from the rejected table; rule = its code): unreadable or unsafe zip,
  no_difficulties, no_audio, audio_missing, a .osu the reader refused (bad_format, ...), and
  unsupported_mode (taiko / catch / mania difficulties: read, never trained on).
difficulty:
  too_few_objects     objects < min_objects
  too_short           length_s < min_length_s
  extreme_ar/cs/od/hp the value outside its [lo, hi] range
  special_purpose     title or difficulty name holds a special keyword (tutorial, spinner or jump
                      training, ...) -- every difficulty of such a set is listed
  spinner_heavy       spinners / objects > max_spinner_share (spinner training by shape)
  jump_heavy          spacing_median > spacing_factor x the corpus's median (jump training by shape)
  duplicate           same set sha256 and same .osu content as an earlier difficulty file
  off_playfield       off_playfield > max_off_playfield
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import polars as pl

from automapper_ml.data.ingest_config import canonical_hash
from automapper_ml.data.osu_manifest import OSU_REJECTED_SCHEMA

OSU_RULES_VERSION = "1"  # bump when a rule's meaning changes (thresholds live in the config)

# the rejected table's columns, its `code` named `rule` (a rejected row is a blacklist row as it is)
OSU_BLACKLIST_SCHEMA: dict[str, pl.DataType] = {
    ("rule" if k == "code" else k): v for k, v in OSU_REJECTED_SCHEMA.items()
}


@dataclass(frozen=True, slots=True)
class OsuBlacklistRules:
    min_objects: int = 20
    min_length_s: float = 15.0
    ar_range: tuple[float, float] = (0.0, 10.0)
    cs_range: tuple[float, float] = (1.0, 8.0)
    od_range: tuple[float, float] = (0.0, 10.0)
    hp_range: tuple[float, float] = (0.0, 10.0)
    max_spinner_share: float = 0.3
    spacing_factor: float = 3.5
    max_off_playfield: int = 10
    special_keywords: tuple[str, ...] = (
        "tutorial",
        "spinner training",
        "spin training",
        "jump training",
        "aim training",
        "practice",
    )


def parse_osu_blacklist_rules(
    section: dict[str, Any], where: str = "osu ingest [blacklist]"
) -> OsuBlacklistRules:
    """Validated rules from a parsed [blacklist] table; ValueError with a one-line reason on unknown keys."""
    known = {f.name for f in fields(OsuBlacklistRules)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    values = dict(section)
    for key in ("ar_range", "cs_range", "od_range", "hp_range"):
        if key in values:
            lo, hi = (float(v) for v in values[key])
            if lo > hi:
                raise ValueError(f"{where}: {key} low {lo} is above high {hi}")
            values[key] = (lo, hi)
    if "special_keywords" in values:
        values["special_keywords"] = tuple(str(k).casefold() for k in values["special_keywords"])
    return OsuBlacklistRules(**values)


def load_osu_blacklist_rules(path: Path) -> OsuBlacklistRules:
    """The rules of configs/osu_ingest.toml at `path`, or the defaults when it does not exist."""
    if not path.is_file():
        return OsuBlacklistRules()
    with open(path, "rb") as f:
        return parse_osu_blacklist_rules(tomllib.load(f).get("blacklist", {}), f"{path} [blacklist]")


def rules_hash(rules: OsuBlacklistRules) -> str:
    """What enters a future asset's code version (with OSU_RULES_VERSION)."""
    return canonical_hash({"version": OSU_RULES_VERSION, **asdict(rules)})


def _special(rules: OsuBlacklistRules) -> tuple[pl.Expr, pl.Expr]:
    """(matches, the keyword found) over title and difficulty name, case-insensitive."""
    text = pl.concat_str([pl.col("title"), pl.col("difficulty")], separator=" | ").str.to_lowercase()
    keywords = [k.casefold() for k in rules.special_keywords]
    if not keywords:
        return pl.lit(False), pl.lit("")
    found = pl.coalesce([pl.when(text.str.contains(k, literal=True)).then(pl.lit(k)) for k in keywords])
    return found.is_not_null(), found


def _difficulty_rules(manifest: pl.DataFrame, rules: OsuBlacklistRules) -> list[pl.DataFrame]:
    corpus_spacing = manifest["spacing_median"].drop_nans().median() if manifest.height else None
    jump_limit = rules.spacing_factor * corpus_spacing if corpus_spacing is not None else float("inf")
    special, keyword = _special(rules)
    share = pl.when(pl.col("objects") > 0).then(pl.col("spinners") / pl.col("objects")).otherwise(0.0)
    first = pl.col("difficulty_file") == pl.col("difficulty_file").min().over(
        ["set_sha256", "content_sha256"]
    )
    checks: list[tuple[str, pl.Expr, pl.Expr]] = [
        (
            "too_few_objects",
            pl.col("objects") < rules.min_objects,
            pl.format("{} objects (fewer than {})", pl.col("objects"), pl.lit(rules.min_objects)),
        ),
        (
            "too_short",
            pl.col("length_s") < rules.min_length_s,
            pl.format(
                "{} s of objects (under {} s)", pl.col("length_s").round(1), pl.lit(rules.min_length_s)
            ),
        ),
    ]
    for name in ("ar", "cs", "od", "hp"):
        lo, hi = getattr(rules, f"{name}_range")
        checks.append(
            (
                f"extreme_{name}",
                (pl.col(name) < lo) | (pl.col(name) > hi),
                pl.format(f"{name.upper()} {{}} outside [{lo:g}, {hi:g}]", pl.col(name)),
            )
        )
    checks += [
        (
            "special_purpose",
            special,
            pl.format("special-purpose set: '{}' in title or difficulty name", keyword),
        ),
        (
            "spinner_heavy",
            share > rules.max_spinner_share,
            pl.format(
                "spinners are {} of objects (above {}): spinner training",
                share.round(2),
                pl.lit(rules.max_spinner_share),
            ),
        ),
        (
            "jump_heavy",
            pl.col("spacing_median").is_not_nan() & (pl.col("spacing_median") > jump_limit),  # NaN sorts high
            pl.format(
                "spacing median {} px/beat is above {}x the corpus's {}: jump training",
                pl.col("spacing_median").round(0),
                pl.lit(rules.spacing_factor),
                pl.lit(round(corpus_spacing or 0.0)),
            ),
        ),
        (
            "duplicate",
            ~first,
            pl.format(
                "same content as {}",
                pl.col("difficulty_file").min().over(["set_sha256", "content_sha256"]),
            ),
        ),
        (
            "off_playfield",
            pl.col("off_playfield") > rules.max_off_playfield,
            pl.format(
                "{} objects outside the playfield (more than {})",
                pl.col("off_playfield"),
                pl.lit(rules.max_off_playfield),
            ),
        ),
    ]
    out = []
    for rule, cond, reason in checks:
        out.append(
            manifest.filter(cond.fill_null(False))
            .with_columns(reason.alias("reason"))
            .select(
                "set_file",
                "set_sha256",
                pl.lit("difficulty").alias("scope"),
                "difficulty_file",
                pl.lit(rule).alias("rule"),
                "reason",
            )
        )
    return out


def build_osu_blacklist(
    manifest: pl.DataFrame, rejected: pl.DataFrame, rules: OsuBlacklistRules
) -> pl.DataFrame:
    """OSU_BLACKLIST_SCHEMA rows for an `osu_manifest` manifest and rejected table, sorted."""
    bad = rejected.select(
        "set_file", "set_sha256", "scope", "difficulty_file", pl.col("code").alias("rule"), "reason"
    )
    parts = [bad, *_difficulty_rules(manifest, rules)]
    parts = [p.cast(OSU_BLACKLIST_SCHEMA) for p in parts]  # type: ignore[arg-type]
    return pl.concat(parts).sort(["set_file", "scope", "difficulty_file", "rule"], nulls_last=False)


def osu_trainable(manifest: pl.DataFrame, blacklist: pl.DataFrame) -> pl.DataFrame:
    """Manifest rows with no set row and no difficulty row in the blacklist."""
    sets = blacklist.filter(pl.col("scope") == "set").select("set_file").unique()
    diffs = blacklist.filter(pl.col("scope") == "difficulty").select("set_file", "difficulty_file").unique()
    return manifest.join(sets, on="set_file", how="anti").join(
        diffs, on=["set_file", "difficulty_file"], how="anti"
    )

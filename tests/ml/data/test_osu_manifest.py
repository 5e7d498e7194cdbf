"""osu! manifest, rejected table and blacklist: demo sets plus one crafted set per bad input, and
(when $AUTOMAPPER_OSU_CORPUS names a built corpus) the real corpus's figures."""

from __future__ import annotations

import dataclasses
import io
import os
import zipfile
from pathlib import Path

import polars as pl
import pytest

from automapper_ml.data.ingest_config import canonical_hash
from automapper_ml.data.osu_blacklist import (
    OsuBlacklistRules,
    build_osu_blacklist,
    load_osu_blacklist_rules,
    osu_trainable,
    parse_osu_blacklist_rules,
    rules_hash,
)
from automapper_ml.data.osu_manifest import (
    OSU_MANIFEST_SCHEMA,
    OSU_REJECTED_SCHEMA,
    build_osu_manifest,
    scan_osz,
)
from automapper_ml.formats.osu import Spinner, osu_text, write_osz
from automapper_ml.synth.composition import compose_song
from automapper_ml.synth.osu import AUDIO_NAME, OSU_DIFFICULTIES, chart_osu, chart_osu_set, write_osu_demo

REPO = Path(__file__).resolve().parents[3]
SONGS = [compose_song(21, 40.0), compose_song(22, 36.0, bpm_change=True)]
AUDIO = {AUDIO_NAME: b"OggS-not-decoded-here"}


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _crafted(raw: Path) -> None:
    base = chart_osu(SONGS[0], "Hard", seed=3)
    text = osu_text(base)
    (raw / "not_a_zip.osz").write_bytes(b"this is not a zip")
    _zip(raw / "no_osu.osz", {AUDIO_NAME: b"OggS"})
    _zip(raw / "mania.osz", {"m.osu": text.replace("Mode: 0", "Mode: 3").encode(), **AUDIO})
    lines = text.splitlines()
    cut = lines.index("[HitObjects]") + 2
    broken = "\n".join([*lines[:cut], "12,34,not-a-time,1,0", *lines[cut:]])
    _zip(raw / "broken_line.osz", {"good.osu": text.encode(), "broken.osu": broken.encode(), **AUDIO})
    _zip(
        raw / "no_audio.osz",
        {"a.osu": text.replace(f"AudioFilename: {AUDIO_NAME}", "AudioFilename:").encode()},
    )
    _zip(raw / "audio_missing.osz", {"a.osu": text.encode(), "other.mp3": b"ID3"})
    meta = dataclasses.replace(base.metadata, title="osu! tutorial")
    write_osz(raw / "tutorial.osz", {"t.osu": dataclasses.replace(base, metadata=meta)}, AUDIO)
    spins = tuple(Spinner(x=256, y=192, time=1000.0 + 2000 * i, end=2500.0 + 2000 * i) for i in range(25))
    write_osz(raw / "spinners.osz", {"s.osu": dataclasses.replace(base, hit_objects=spins)}, AUDIO)
    write_osz(raw / "duplicate.osz", {"a.osu": base, "b.osu": base}, AUDIO)


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("osu_raw")
    write_osu_demo(out, SONGS, seed=5, audio=[b"OggS-a", b"OggS-b"])
    _crafted(out)
    return out


@pytest.fixture(scope="module")
def tables(raw):
    manifest, rejected = build_osu_manifest(raw, scan_osz(raw, raw.parent / "osz_sha.json"))
    return manifest, rejected, build_osu_blacklist(manifest, rejected, OsuBlacklistRules())


def test_manifest_rows_and_columns(tables):
    manifest, _, _ = tables
    assert dict(manifest.schema) == OSU_MANIFEST_SCHEMA
    demo = manifest.filter(
        ~pl.col("set_file").is_in(["broken_line.osz", "tutorial.osz", "spinners.osz", "duplicate.osz"])
    )
    assert demo.height == sum(len(chart_osu_set(song, 5)) for song in SONGS)
    assert set(demo["difficulty"]) <= set(OSU_DIFFICULTIES)
    assert (demo["mode"] == "osu!standard").all() and (demo["format_version"] == 14).all()
    assert (demo["objects"] == demo["circles"] + demo["sliders"] + demo["spinners"]).all()
    assert (demo["length_s"] > 15).all() and (demo["main_bpm"] > 0).all()
    assert (demo["spacing_median"] > 0).all() and demo["new_combo_rate"].is_between(0, 1).all()
    assert manifest.filter(pl.col("set_file") == "broken_line.osz")["difficulty_file"].to_list() == [
        "good.osu"
    ]


def test_every_bad_input_is_one_rejected_row(tables):
    _, rejected, _ = tables
    assert dict(rejected.schema) == OSU_REJECTED_SCHEMA
    got = {(r["set_file"], r["scope"], r["difficulty_file"], r["code"]) for r in rejected.to_dicts()}
    assert got == {
        ("not_a_zip.osz", "set", None, "not_a_zip"),
        ("no_osu.osz", "set", None, "no_difficulties"),
        ("mania.osz", "difficulty", "m.osu", "unsupported_mode"),
        ("broken_line.osz", "difficulty", "broken.osu", "invalid_value"),
        ("no_audio.osz", "set", None, "no_audio"),
        ("audio_missing.osz", "set", None, "audio_missing"),
    }
    assert rejected.height == len(got)
    mania = rejected.filter(pl.col("code") == "unsupported_mode")["reason"].item()
    assert "osu!mania" in mania
    assert all("\n" not in r and str(Path("/")) + "tmp" not in r for r in rejected["reason"])


def test_blacklist_rules_fire_exactly_where_expected(tables):
    manifest, rejected, blacklist = tables
    rows = blacklist.filter(pl.col("scope") == "difficulty").filter(
        ~pl.col("rule").is_in(["unsupported_mode", "invalid_value"])
    )
    got = {(r["set_file"], r["difficulty_file"], r["rule"]) for r in rows.to_dicts()}
    assert got == {
        ("tutorial.osz", "t.osu", "special_purpose"),
        ("spinners.osz", "s.osu", "spinner_heavy"),
        ("duplicate.osz", "b.osu", "duplicate"),
    }
    assert blacklist.filter(pl.col("scope") == "set").height == 4
    assert all(blacklist["reason"].str.len_chars() > 0)
    trainable = osu_trainable(manifest, blacklist)
    assert trainable.height == manifest.height - 3


def test_thresholds_move_the_rules(tables):
    manifest, rejected, _ = tables
    strict = OsuBlacklistRules(min_objects=10_000, ar_range=(0.0, 0.5), special_keywords=())
    rules = set(build_osu_blacklist(manifest, rejected, strict)["rule"])
    assert {"too_few_objects", "extreme_ar"} <= rules and "special_purpose" not in rules


def test_deterministic(raw, tables):
    manifest, rejected, blacklist = tables
    m2, r2 = build_osu_manifest(raw, scan_osz(raw, raw.parent / "osz_sha.json"))  # from the cache
    assert m2.equals(manifest, null_equal=True) and r2.equals(rejected, null_equal=True)
    assert build_osu_blacklist(m2, r2, OsuBlacklistRules()).equals(blacklist, null_equal=True)


def test_config_file_and_hash(tmp_path):
    shipped = load_osu_blacklist_rules(REPO / "configs" / "osu_ingest.toml")
    assert shipped == OsuBlacklistRules()  # the file states the defaults
    assert load_osu_blacklist_rules(tmp_path / "absent.toml") == OsuBlacklistRules()
    assert (
        rules_hash(shipped) == rules_hash(OsuBlacklistRules()) != rules_hash(OsuBlacklistRules(min_objects=5))
    )
    assert len(canonical_hash(dataclasses.asdict(shipped))) == 16
    with pytest.raises(ValueError, match="unknown keys"):
        parse_osu_blacklist_rules({"min_objectz": 3})
    with pytest.raises(ValueError, match="above high"):
        parse_osu_blacklist_rules({"ar_range": [9, 1]})


def test_corrupt_cache_only_costs_rehashing(raw, tmp_path):
    cache = tmp_path / "sha.json"
    cache.write_text("{not json")
    assert [e.sha256 for e in scan_osz(raw, cache)] == [e.sha256 for e in scan_osz(raw)]
    assert scan_osz(tmp_path / "absent") == []


CORPUS = os.environ.get("AUTOMAPPER_OSU_CORPUS")


@pytest.mark.skipif(
    not CORPUS, reason="AUTOMAPPER_OSU_CORPUS is not set (the real osu! corpus is built outside CI)"
)
def test_real_corpus(capsys):
    raw = Path(CORPUS or "")
    manifest, rejected = build_osu_manifest(raw, scan_osz(raw))
    blacklist = build_osu_blacklist(
        manifest, rejected, load_osu_blacklist_rules(REPO / "configs" / "osu_ingest.toml")
    )
    trainable = osu_trainable(manifest, blacklist)
    special = blacklist.filter(pl.col("rule").is_in(["special_purpose", "spinner_heavy", "jump_heavy"]))
    titles = sorted(set(special.join(manifest, on=["set_file", "difficulty_file"])["title"]))
    out = io.StringIO()
    print(f"osu corpus: {manifest.height} standard difficulties, {trainable.height} trainable", file=out)
    print(f"rejected by code: {dict(rejected.group_by('code').len().sort('code').iter_rows())}", file=out)
    print(f"blacklisted by rule: {dict(blacklist.group_by('rule').len().sort('rule').iter_rows())}", file=out)
    print(f"special-purpose titles: {titles}", file=out)
    with capsys.disabled():
        print("\n" + out.getvalue())
    assert {"osu! tutorial", "Jump Training"} <= set(titles)
    assert trainable.height >= 0.9 * manifest.height

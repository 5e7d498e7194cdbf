"""Manifest, blacklist, audit and weights on hand-made zips (no Dagster)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
import soundfile as sf

from automapper_ml.data import rawzips
from automapper_ml.data.audit import run_audit
from automapper_ml.data.blacklist import build_blacklist, silent, trainable
from automapper_ml.data.ingest_config import BlacklistRules, WeightRules, canonical_hash, parse_ingest_config
from automapper_ml.data.manifest import build_manifest, category_of, check_manifest_schema
from automapper_ml.data.sidecar import parse_record
from automapper_ml.data.songid import AudioDecodeError, assign_song_ids, audio_fingerprint, title_artist_key
from automapper_ml.data.weights import sample_weights
from automapper_ml.formats.reader import load_map
from tests.ml.data.ingest_zips import DiffSpec, ogg_bytes, record, write_hostile, write_map_zip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("home")
    raw = home / "raw"
    write_map_zip(
        raw,
        "mixed",
        [
            DiffSpec("Hard", arcs=2, chains=1),
            DiffSpec("Expert", suggestions=["Chroma"], arcs=1),
            DiffSpec("ExpertPlus", requirements=["Noodle Extensions"], suggestions=["Chroma"]),
            DiffSpec("Expert", characteristic="Lawless", requirements=["Vivify"]),
        ],
        sidecar=record(ranked=True),
        seed=1,
    )
    write_map_zip(raw, "plain", [DiffSpec("Expert", notes=60, bombs=3, walls=4)], seed=2, sidecar=record())
    write_map_zip(raw, "ai", [DiffSpec("ExpertPlus")], seed=3, sidecar=record(declared_ai="SageScore"))
    write_map_zip(raw, "short", [DiffSpec("Expert")], seconds=10, seed=4, sidecar="{not json")
    write_map_zip(
        raw, "sparse", [DiffSpec("Expert", notes=10), DiffSpec("Hard", walls=400, notes=20)], seed=5
    )
    write_map_zip(raw, "me", [DiffSpec("Expert", requirements=["Mapping Extensions", "Chroma"])], seed=6)
    write_map_zip(raw, "easyonly", [DiffSpec("Easy"), DiffSpec("Normal")], seed=7)
    # The same song (identical audio) under another title: one song id.
    write_map_zip(
        raw, "plain_copy", [DiffSpec("Expert")], title="Another Title", audio=_audio_of(raw, "plain")
    )
    expected = write_hostile(raw)
    return home, expected


def _audio_of(raw: Path, name: str) -> bytes:
    import zipfile

    with zipfile.ZipFile(raw / f"{name}.zip") as z:
        return z.read("song.egg")


@pytest.fixture(scope="module")
def built(corpus):
    home, _ = corpus
    entries = rawzips.scan_raw(home / "raw", home / "cache" / "sha.json")
    build = build_manifest(home / "raw", entries, home / "cache", 16, workers=1)
    blacklist = build_blacklist(build.manifest, build.rejected, BlacklistRules())
    return build, blacklist


def test_every_zip_in_manifest_or_rejected(corpus, built):
    home, expected = corpus
    build, blacklist = built
    names = set(rawzips.list_zip_names(home / "raw"))
    in_manifest = set(build.manifest["zip_name"])
    in_blacklist = set(blacklist["zip_name"])
    assert names == in_manifest | in_blacklist
    assert not in_manifest & set(build.rejected["zip_name"])
    codes = dict(zip(build.rejected["zip_name"], build.rejected["code"], strict=True))
    for name, code in expected.items():
        assert name in codes, name
        if code:
            assert codes[name] == code
    assert check_manifest_schema(build.manifest) == []


def test_counts_equal_reader(corpus, built):
    home, _ = corpus
    build, _ = built
    beatmap = load_map(home / "raw" / "plain.zip")
    diff = beatmap.difficulty("Standard", "Expert")
    row = build.manifest.filter(pl.col("zip_name") == "plain.zip").row(0, named=True)
    assert (row["notes"], row["bombs"], row["walls"]) == (
        len(diff.notes),
        len(diff.bombs),
        len(diff.obstacles),
    )
    assert row["audio_s"] == pytest.approx(20.0, abs=0.05)
    assert row["nps"] == pytest.approx(beatmap.nps(diff, row["audio_s"]))
    assert row["rating"] == pytest.approx(0.8) and row["ranked"] is False and row["ai"] is False


def test_categories_per_difficulty(built):
    build, _ = built
    m = build.manifest.filter(pl.col("zip_name") == "mixed.zip")
    cats = {(r["characteristic"], r["difficulty"]): r["category"] for r in m.iter_rows(named=True)}
    assert cats == {
        ("Standard", "Hard"): "vanilla",
        ("Standard", "Expert"): "chroma",
        ("Standard", "ExpertPlus"): "noodle",
        ("Lawless", "Expert"): "vivify",
    }
    me = build.manifest.filter(pl.col("zip_name") == "me.zip")["category"].to_list()
    assert me == ["mapping_extensions"]
    assert category_of(["Vivify"], ["Noodle Extensions"]) == "vivify"
    assert category_of([], [" chroma "]) == "chroma"


def test_blacklist_rules(built):
    _, bl = built

    def rules(zip_name: str, difficulty: str | None = None) -> set[str]:
        rows = bl.filter(pl.col("zip_name") == zip_name)
        rows = rows.filter(
            pl.col("difficulty").is_null() if difficulty is None else pl.col("difficulty") == difficulty
        )
        return set(rows["rule"])

    assert rules("ai.zip") == {"ai_made"}
    assert rules("short.zip") == {"song_too_short"}
    assert rules("easyonly.zip") == {"no_standard_expert"}
    assert rules("sparse.zip", "Expert") == {"too_few_notes"}
    assert rules("sparse.zip", "Hard") == {"wall_heavy"}
    assert rules("mixed.zip", "ExpertPlus") == {"excluded_category"}
    assert "non_standard_characteristic" in rules("mixed.zip", "Expert")
    assert rules("me.zip", "Expert") == {"excluded_category"}
    assert rules("plain.zip") == set() and rules("plain.zip", "Expert") == set()
    assert bl["reason"].str.len_chars().min() > 0
    kept = trainable(built[0].manifest, bl)
    assert set(zip(kept["zip_name"], kept["difficulty"], strict=True)) == {
        ("mixed.zip", "Hard"),
        ("mixed.zip", "Expert"),
        ("plain.zip", "Expert"),
        ("plain_copy.zip", "Expert"),
    }


def test_song_ids(built):
    build, _ = built
    ids = dict(build.manifest.select("zip_name", "song_id").unique().iter_rows())
    assert ids["plain.zip"] == ids["plain_copy.zip"]
    assert len({ids[n] for n in ("mixed.zip", "plain.zip", "ai.zip", "short.zip")}) == 4
    # Rule (b): same normalised title+artist and length within 2 s joins different audio.
    joined = assign_song_ids(
        [("a", "f1", "song|x", 100.0), ("b", "f2", "song|x", 101.5), ("c", "f3", "song|x", 140.0)]
    )
    assert joined["a"] == joined["b"] == "f1" and joined["c"] == "f3"
    assert title_artist_key("Song (feat. Y) [Extended]", "ARTIST!") == "song|artist"


def test_audio_fingerprint_decodes_and_rejects_garbage():
    summary = audio_fingerprint(ogg_bytes(3.0, seed=1))
    assert summary.seconds == pytest.approx(3.0, abs=0.01)
    assert summary.fingerprint == audio_fingerprint(ogg_bytes(3.0, seed=1)).fingerprint
    assert summary.fingerprint != audio_fingerprint(ogg_bytes(3.0, seed=2)).fingerprint
    with pytest.raises(Exception) as err:
        audio_fingerprint(b"RIFF" + b"\0" * 64)
    assert err.value.code == "undecodable_audio"


def test_audit_matches_direct_duckdb(built):
    build, bl = built
    m = build.manifest
    result = run_audit(m, bl)
    con = duckdb.connect()
    con.register("m", m.to_arrow())
    pairs, arcs_pairs, chain_pairs = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE a), count(*) FILTER (WHERE c) FROM ("
        "SELECT song_id, difficulty, bool_or(arcs > 0) a, bool_or(chains > 0) c FROM m "
        "WHERE characteristic = 'Standard' GROUP BY ALL)"
    ).fetchone()
    arc_share, chain_share = con.execute(
        "SELECT sum(arcs) / sum(notes+bombs+walls+arcs+chains), sum(chains) / sum(notes+bombs+walls+arcs+chains) "
        "FROM m WHERE characteristic = 'Standard'"
    ).fetchone()
    f = result.figures
    assert f["pairs_with_arcs_share"] == pytest.approx(arcs_pairs / pairs)
    assert f["pairs_with_chains_share"] == pytest.approx(chain_pairs / pairs)
    assert f["arc_object_share"] == pytest.approx(arc_share)
    assert f["chain_object_share"] == pytest.approx(chain_share)
    assert f["ranked_maps"] == 1
    assert 0 < f["pairs_with_arcs_share"] < 1
    assert result.plot_png.startswith(b"\x89PNG")
    assert "pairs_with_arcs_share" in result.markdown and "| category |" in result.markdown


def test_ranked_weighting(built):
    build, bl = built
    w = sample_weights(build.manifest, bl, WeightRules(ranked_factor=4.0, arc_chain_factor=1.0))
    by = dict(zip(w["zip_name"], w["weight"], strict=True))
    assert by["mixed.zip"] == pytest.approx(4.0)  # ranked, its own song
    assert by["plain.zip"] == pytest.approx(0.5)  # unranked, shares its song with plain_copy
    assert w["probability"].sum() == pytest.approx(1.0)
    assert "ai.zip" not in by


def test_incremental_parse(tmp_path):
    raw = tmp_path / "raw"
    write_map_zip(raw, "one", seed=1)
    write_map_zip(raw, "two", seed=2)
    first = build_manifest(
        raw, rawzips.scan_raw(raw, tmp_path / "c" / "sha.json"), tmp_path / "c", 16, workers=1
    )
    assert first.parsed == 2
    write_map_zip(raw, "three", seed=3)
    second = build_manifest(
        raw, rawzips.scan_raw(raw, tmp_path / "c" / "sha.json"), tmp_path / "c", 16, workers=1
    )
    assert second.parsed == 1 and second.manifest["zip_name"].n_unique() == 3


def test_shards_stable_and_fingerprints_move_with_one_zip(tmp_path):
    raw = tmp_path / "raw"
    write_map_zip(raw, "one", seed=1)
    write_map_zip(raw, "two", seed=2)
    before = rawzips.shard_fingerprints(rawzips.scan_raw(raw), 16)
    write_map_zip(raw, "three", seed=3)
    after = rawzips.shard_fingerprints(rawzips.scan_raw(raw), 16)
    changed = [k for k in before if before[k] != after[k]]
    assert changed == [rawzips.shard_of("three.zip", 16)]
    assert rawzips.shard_of("x.zip", 64) == rawzips.shard_of("x.zip", 64)


def test_sidecar_never_fatal():
    assert parse_record("nonsense")["ranked"] is None
    r = parse_record(
        {"ranked": "yes", "blRanked": True, "declaredAi": "None", "automapper": False, "stats": []}
    )
    assert r["ranked"] is True and r["ai"] is False and r["rating"] is None


def test_config_hash_is_canonical(tmp_path):
    a = parse_ingest_config({"blacklist": {"min_notes": 20}})
    b = parse_ingest_config(
        {"blacklist": {"min_notes": 20, "excluded_categories": ["noodle", "mapping_extensions", "vivify"]}}
    )
    assert canonical_hash(json.loads(json.dumps({"x": 1, "y": 2}))) == canonical_hash({"y": 2, "x": 1})
    assert a == b
    with pytest.raises(ValueError, match="unknown keys"):
        parse_ingest_config({"blacklist": {"min_note": 3}})


def _wav(samples: np.ndarray, rate: int = 22050) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_silence_measures_and_rule():
    """Digital silence and a song mostly under -60 dBFS are silent_audio; a quiet intro is not."""
    rate = 22050
    t = np.arange(30 * rate) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    intro = tone.copy()
    intro[: 8 * rate] = 0.0  # 8 of 30 s silent: a long quiet intro, still music
    hush = tone.copy()
    hush[: 20 * rate] = 0.0  # 20 of 30 s silent
    clicks = np.zeros_like(tone)
    clicks[:: rate // 2] = 0.5  # one half-scale sample per 0.5 s window: never under -60 dBFS, never music
    summaries = {
        "tone": audio_fingerprint(_wav(tone)),
        "intro": audio_fingerprint(_wav(intro)),
        "hush": audio_fingerprint(_wav(hush)),
        "zeros": audio_fingerprint(_wav(np.zeros_like(tone))),
        "whisper": audio_fingerprint(_wav(tone * 10 ** (-30 / 20))),  # loudest window ~ -43.5 dBFS RMS
        "clicks": audio_fingerprint(_wav(clicks)),
    }
    assert summaries["tone"].peak_dbfs == pytest.approx(-13.5, abs=0.5)  # 0.3 / sqrt(2) RMS
    assert summaries["tone"].silent_share == 0.0
    assert summaries["intro"].silent_share == pytest.approx(8 / 30, abs=0.02)
    assert summaries["zeros"].peak_dbfs == -120.0 and summaries["zeros"].silent_share == 1.0
    assert summaries["clicks"].silent_share == 0.0 and summaries["clicks"].peak_dbfs < -40.0
    table = pl.DataFrame(
        {
            "name": list(summaries),
            "audio_peak_dbfs": [s.peak_dbfs for s in summaries.values()],
            "audio_silent_share": [s.silent_share for s in summaries.values()],
        }
    )
    condition, reason = silent(BlacklistRules())
    hits = table.filter(condition).with_columns(reason.alias("reason"))
    assert hits["name"].to_list() == ["hush", "zeros", "whisper", "clicks"]
    assert all("song is silent" in r for r in hits["reason"])


def test_header_over_the_length_limit_is_refused_before_decoding(monkeypatch):
    from automapper_ml.data import songid

    monkeypatch.setattr(songid, "MAX_AUDIO_SECONDS", 10.0)
    blocks = []
    real = sf.SoundFile.blocks
    monkeypatch.setattr(sf.SoundFile, "blocks", lambda self, *a, **k: blocks.append(1) or real(self, *a, **k))
    with pytest.raises(AudioDecodeError) as err:
        audio_fingerprint(_wav(np.zeros(11 * 22050)), "song.wav")
    assert err.value.code == "audio_too_long" and "header states 0.2 minutes" in str(err.value)
    assert blocks == []  # nothing was decoded


def test_one_zip_failing_anywhere_costs_only_that_zip_and_the_cache_is_saved(tmp_path, monkeypatch):
    """A parse result that does not fit the schema, or a sidecar read that raises, rejects that zip
    (internal_error with a one-line reason); the others are in the manifest; a rerun parses nothing."""
    from automapper_ml.data import manifest as manifest_module

    raw = tmp_path / "raw"
    for i, name in enumerate(("good", "misfit", "sidecar_bomb")):
        write_map_zip(raw, name, seed=i + 1)
    real_parse, real_sidecar = manifest_module.parse_zip, manifest_module.read_sidecar

    def parse_zip(path, sha):
        facts, rows = real_parse(path, sha)
        if path.endswith("misfit.zip"):
            facts["bpm"] = "fast"  # a reader bug: a string where the schema holds a float
        return facts, rows

    def read_sidecar(path):
        if path.name == "sidecar_bomb.json":
            raise MemoryError("sidecar\nsecond line")
        return real_sidecar(path)

    monkeypatch.setattr(manifest_module, "parse_zip", parse_zip)
    monkeypatch.setattr(manifest_module, "read_sidecar", read_sidecar)
    entries = rawzips.scan_raw(raw)
    first = build_manifest(raw, entries, tmp_path / "cache", 16, workers=1)
    assert first.manifest["zip_name"].unique().to_list() == ["good.zip"]
    reasons = dict(zip(first.rejected["zip_name"], first.rejected["reason"], strict=True))
    assert set(first.rejected["code"]) == {"internal_error"}
    assert "parse result does not fit the cache" in reasons["misfit.zip"]
    assert reasons["sidecar_bomb.zip"] == "sidecar_bomb.zip: MemoryError: sidecar"
    assert check_manifest_schema(first.manifest) == []
    again = build_manifest(raw, entries, tmp_path / "cache", 16, workers=1)
    assert again.parsed == 0 and again.rejected.equals(first.rejected)


def test_surrogates_reach_the_tables_as_escapes(tmp_path):
    raw = tmp_path / "raw"
    write_map_zip(
        raw, "s", title="A\ud800B", artist="\udfff", sidecar={**record(), "tags": ["x\ud800"]}, seed=1
    )
    build = build_manifest(raw, rawzips.scan_raw(raw), tmp_path / "cache", 16, workers=1)
    row = build.manifest.row(0, named=True)
    assert (row["title"], row["artist"], row["tags"]) == ("A\\ud800B", "\\udfff", ["x\\ud800"])
    assert check_manifest_schema(build.manifest) == []


def test_reasons_are_one_line_and_the_same_every_run(built):
    build, _ = built
    reasons = dict(zip(build.rejected["zip_name"], build.rejected["reason"], strict=True))
    assert reasons["bad_audio.zip"].startswith("bad_audio.zip: song.egg: cannot decode (LibsndfileError")
    assert "0x" not in reasons["bad_audio.zip"]  # libsndfile names the BytesIO by its address
    assert all("\n" not in r and 0 < len(r) <= 300 for r in reasons.values())

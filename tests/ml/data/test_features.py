"""Per-shard processing: only new or changed zips are read; deleted ones disappear."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from automapper_ml import audio
from automapper_ml.data.features import MapZip, audio_records, process_shard, token_records
from automapper_ml.data.store import SnapshotReader
from automapper_ml.tokenizer import decode_notes
from tests.ml.data.mapzips import make_map_zip


def _entries(paths):
    import hashlib

    return [MapZip(p.stem, p, hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths]


def test_incremental_audio_and_tokens(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    zips = [make_map_zip(raw / f"m{i}.zip", seed=i) for i in range(2)]
    store_a, store_t = tmp_path / "audio", tmp_path / "tokens"
    first = process_shard(_entries(zips), store_a, "shard-00", audio_records)
    tok = process_shard(_entries(zips), store_t, "shard-00", token_records)
    assert (first.maps_processed, first.maps_reused, first.records) == (2, 0, 2)
    assert (tok.maps_processed, tok.records) == (2, 4)

    reader = SnapshotReader(first.snapshot)
    got = reader.get("m0")
    assert got["mel"].shape[0] == audio.N_MELS and got["structure"].shape[0] == audio.N_STRUCTURE
    assert got["mel"].shape[1] == reader.meta("m0")["n_frames"]
    assert np.allclose(np.diff(got["beats"]), 0.5)  # 120 BPM

    treader = SnapshotReader(tok.snapshot)
    rec = treader.get("m0/Standard/Expert")
    assert len(rec["onset_frames"]) == 30
    offsets = rec["note_offsets"]
    groups = [rec["note_tokens"][offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]
    decoded = decode_notes([t for g in groups for t in g])
    assert len(decoded.notes) == 30
    # the onset frames are where the clicks are: the audio's flux peaks near each of them
    onset = got["structure"][1].astype(np.float32)
    for f in rec["onset_frames"][:10]:
        assert onset[max(0, f - 2) : f + 3].max() > 0.3

    # one new zip, one changed, one deleted
    zips.append(make_map_zip(raw / "m2.zip", seed=2))
    make_map_zip(raw / "m1.zip", seed=11)
    (raw / "m0.zip").unlink()
    now = [p for p in zips if p.exists()]
    second = process_shard(_entries(now), store_a, "shard-00", audio_records, previous=first.snapshot)
    assert (second.maps_processed, second.maps_reused, second.records) == (2, 0, 2)
    assert sorted(SnapshotReader(second.snapshot).keys()) == ["m1", "m2"]
    third = process_shard(_entries(now), store_a, "shard-00", audio_records, previous=second.snapshot)
    assert (third.maps_processed, third.maps_reused) == (0, 2)
    assert third.snapshot == second.snapshot  # content-addressed: nothing changed
    assert SnapshotReader(first.snapshot).get("m0")["mel"].shape[0] == audio.N_MELS  # old snapshot intact


def test_unreadable_zip_is_reported_not_fatal(tmp_path):
    good = make_map_zip(tmp_path / "good.zip", seed=1)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"garbage")
    result = process_shard(_entries([good, bad]), tmp_path / "store", "s", audio_records)
    assert result.records == 1
    assert result.failures and result.failures[0][0] == "bad"


def test_any_exception_of_one_map_quarantines_that_map_alone(tmp_path):
    zips = [make_map_zip(tmp_path / f"m{i}.zip", seed=i) for i in range(3)]

    def records(entry):
        if entry.map_id == "m1":
            raise MemoryError("Unable to allocate 3.9 GiB\nfor an array")
        return token_records(entry)

    result = process_shard(_entries(zips), tmp_path / "store", "s", records)
    sha = _entries(zips)[1].sha
    assert result.failures == [("m1", sha, "internal_error", "MemoryError: Unable to allocate 3.9 GiB")]
    keys = SnapshotReader(result.snapshot).table["key"].to_list()
    assert sorted({k.split("/")[0] for k in keys}) == ["m0", "m2"]


def test_a_map_whose_records_do_not_fit_the_segment_is_quarantined(tmp_path):
    zips = [make_map_zip(tmp_path / f"m{i}.zip", seed=i) for i in range(2)]

    def records(entry):
        out = audio_records(entry)
        if entry.map_id == "m1":
            out[0].arrays["mel"] = out[0].arrays["mel"][:3]  # 3 mel bands instead of N_MELS
        return out

    result = process_shard(_entries(zips), tmp_path / "store", "s", records)
    assert [(f.map_id, f.rule) for f in result.failures] == [("m1", "internal_error")]
    assert "differ from the shard's" in result.failures[0].reason
    assert SnapshotReader(result.snapshot).keys() == ["m0"]


def test_map_errors_keep_their_code(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"garbage")
    result = process_shard(_entries([bad]), tmp_path / "store", "s", audio_records)
    assert result.snapshot is None and result.failures[0].rule == "not_a_zip"


def test_parse_screen_skips_rejected_and_silent_zips_without_decoding(tmp_path, monkeypatch):
    from automapper_ml.data import rawzips
    from automapper_ml.data.features import parse_screen
    from automapper_ml.data.ingest_config import BlacklistRules
    from automapper_ml.data.manifest import build_manifest
    from tests.ml.data.ingest_zips import write_map_zip

    raw = tmp_path / "raw"
    write_map_zip(raw, "good", seed=1)
    silence = io.BytesIO()
    sf.write(silence, np.zeros(20 * 22050, dtype=np.float32), 22050, format="WAV")
    write_map_zip(raw, "silent", audio=silence.getvalue())
    write_map_zip(raw, "garbage", audio=b"OggS" + b"\0" * 200)
    entries = [MapZip(p.name, p, rawzips.sha256_file(p)) for p in sorted(raw.glob("*.zip"))]
    decoded = []
    real = audio.load_audio
    monkeypatch.setattr(audio, "load_audio", lambda data: decoded.append(len(data)) or real(data))
    for cached in (False, True):  # parsed by the screen itself, then read from map_manifest's cache
        cache = tmp_path / ("cache" if cached else "no_cache")
        if cached:
            build_manifest(raw, rawzips.scan_raw(raw), cache, 16, workers=1)
        screen = parse_screen(cache, BlacklistRules())
        result = process_shard(entries, tmp_path / f"store{cached}", "s", audio_records, screen=screen)
        assert SnapshotReader(result.snapshot).keys() == ["good.zip"] and not result.failures
        assert {(q.map_id, q.rule) for q in result.skipped} == {
            ("garbage.zip", "undecodable_audio"),
            ("silent.zip", "silent_audio"),
        }
    assert len(decoded) == 2  # good.zip, once per store

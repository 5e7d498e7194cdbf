"""End to end against the stub API: every eligible map arrives exactly once, whole, with its
sidecar; no ineligible one does; quotas hold; interrupted runs resume without re-downloading."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import automapper_ml.beatsaver.download as download_mod
from automapper_ml.beatsaver.client import BeatSaverClient, ClientOptions
from automapper_ml.beatsaver.download import DownloadOptions, download_maps, is_complete
from automapper_ml.beatsaver.filters import FilterOptions
from automapper_ml.cli import main as cli_main
from tests.ml.beatsaver.stub import StubBeatSaver, diff, map_zip, sha1

FILTERS = FilterOptions(min_rating=0.8, min_year=2022, max_nps=10.0)


def build_corpus(stub: StubBeatSaver, n_vanilla: int = 40, n_chroma: int = 8, n_noodle: int = 5) -> dict:
    """Good maps of three categories shuffled with every kind of bad one; returns id sets."""
    good, bad = [], []
    specs = [("vanilla", {}), ("chroma", {"chroma": True}), ("noodle", {"ne": True, "chroma": True})]
    counts = {"vanilla": n_vanilla, "chroma": n_chroma, "noodle": n_noodle}
    for category, flags in specs:
        good += [
            (f"{category[0]}{i}", {"diffs": [diff(**flags), diff("Standard", "Hard")]})
            for i in range(counts[category])
        ]
    bad += [
        ("ai1", {"automapper": True}),
        ("ai2", {"declared_ai": "SageScore"}),
        ("low1", {"score": 0.55}),
        ("old1", {"uploaded": "2019-03-01T00:00:00.000Z"}),
        ("light1", {"diffs": [diff("Lightshow")]}),
        ("nps1", {"diffs": [diff("Standard", "ExpertPlus", nps=14.0)]}),
    ]
    random.Random(0).shuffle(good)
    order = good[:]
    for i, item in enumerate(bad):  # spread the bad ones over the pages
        order.insert(1 + i * (len(good) // len(bad)), item)
    ids = {"good": {k for k, _ in good}, "bad": {k for k, _ in bad}, "by_cat": {}}
    for key, kw in order:
        stub.add(key, **kw)
    for category, _ in specs:
        ids["by_cat"][category] = {k for k, _ in good if k[0] == category[0]}
    # download faults that must NOT arrive: a truncated zip, a non-zip body, a sha1 mismatch
    full = map_zip("trunc")
    stub.add("trunc1", full[: len(full) // 2])
    stub.add("html1", b"<html><body>Service unavailable</body></html>")
    wrong = map_zip("mismatch")
    stub.add("sha1x", wrong, zip_hash=sha1(b"something else"))
    ids["bad"] |= {"trunc1", "html1", "sha1x"}
    # transient faults that must be survived: a dropped connection and a 500 on two good zips
    flaky = [m for m in stub.maps if m["id"] in ids["good"]][:2]
    stub.drop_once.add(flaky[0]["versions"][0]["hash"])
    stub.faults[f"/zips/{flaky[1]['versions'][0]['hash']}.zip"].append((500, {}, b"oops"))
    # a 429 with Retry-After on the second page, and the last page repeats one map (pages shift)
    stub.faults["/search/text/1"].append((429, {"Retry-After": "3"}, b""))
    stub.maps.append(dict(stub.maps[0]))
    return ids


def make_client(stub: StubBeatSaver) -> BeatSaverClient:
    opts = ClientOptions(base_url=stub.url, min_interval_s=0.0, max_retries=2, timeout_s=5.0)
    return BeatSaverClient(opts, sleep=lambda s: None)


def run(stub: StubBeatSaver, home: Path, **kw) -> tuple:
    client = make_client(stub)
    options = DownloadOptions(filters=kw.pop("filters", FILTERS), progress=False, **kw)
    return download_maps(client.iter_search(), client, home, options), client


def raw_state(home: Path) -> tuple[set[str], set[str], list[str]]:
    raw = home / "raw"
    zips = {p.stem for p in raw.glob("*.zip")}
    sides = {p.stem for p in raw.glob("*.json")}
    others = sorted(p.name for p in raw.iterdir() if p.suffix not in (".zip", ".json"))
    return zips, sides, others


def assert_whole(stub: StubBeatSaver, home: Path, keys: set[str]) -> None:
    by_id = {m["id"]: m for m in stub.maps}
    for key in keys:
        rec = by_id[key]
        assert sha1((home / "raw" / f"{key}.zip").read_bytes()) == rec["versions"][0]["hash"]
        assert (
            json.loads((home / "raw" / f"{key}.json").read_text(encoding="utf-8")) == rec
        )  # exactly the record


@pytest.fixture
def stub():
    with StubBeatSaver(page_size=10) as server:
        yield server


def test_full_run_takes_every_eligible_map_once_and_nothing_else(stub, tmp_path):
    ids = build_corpus(stub)
    summary, client = run(stub, tmp_path)
    zips, sides, others = raw_state(tmp_path)
    assert zips == sides == ids["good"]
    assert others == []  # no partial files
    assert_whole(stub, tmp_path, ids["good"])
    assert summary.downloaded == len(ids["good"]) and summary.present == 0
    assert summary.skipped == {
        "ai": 2,
        "low_rating": 1,
        "too_old": 1,
        "no_standard": 1,
        "over_nps": 1,
        "duplicate": 1,
    }
    assert summary.failed == {"truncated": 1, "not_a_zip": 1, "sha1_mismatch": 1}
    assert ("429", 3.0) in client.waits
    failures = [json.loads(line) for line in (tmp_path / "ingest" / "download_failures.jsonl").open()]
    assert {f["id"] for f in failures} == {"trunc1", "html1", "sha1x"}
    good_requests = {m["id"]: stub.zip_requests(m) for m in stub.maps if m["id"] in ids["good"]}
    assert sorted(good_requests.values())[-3:] == [1, 2, 2]  # only the two flaky zips were fetched twice
    assert "per category: vanilla 40, chroma 8, noodle 5" in summary.format()

    again, _ = run(stub, tmp_path)  # a rerun downloads nothing
    assert again.downloaded == 0 and again.present == len(ids["good"])
    assert {m["id"]: stub.zip_requests(m) for m in stub.maps if m["id"] in ids["good"]} == good_requests


def test_quotas_hold_and_skip_categories_without_a_quota(stub, tmp_path):
    ids = build_corpus(stub)
    summary, _ = run(stub, tmp_path, quotas={"vanilla": 12, "chroma": 3})
    zips, sides, _ = raw_state(tmp_path)
    assert zips == sides
    assert len(zips & ids["by_cat"]["vanilla"]) == 12 and len(zips & ids["by_cat"]["chroma"]) == 3
    assert not zips & ids["by_cat"]["noodle"] and not zips & ids["bad"]
    assert summary.stopped_by == "quotas full" and summary.skipped["no_quota"] >= 1

    more, _ = run(stub, tmp_path, quotas={"vanilla": 20, "chroma": 3, "noodle": 5})
    zips2, _, _ = raw_state(tmp_path)
    assert more.present == 15 and more.downloaded == 13
    assert len(zips2 & ids["by_cat"]["vanilla"]) == 20 and len(zips2 & ids["by_cat"]["noodle"]) == 5
    assert max(stub.zip_requests(m) for m in stub.maps if m["id"] in zips and m["id"] in ids["good"]) <= 2


def test_interrupted_runs_resume_without_repeating_complete_maps(stub, tmp_path, monkeypatch):
    ids = build_corpus(stub)
    first, _ = run(stub, tmp_path, limit=7)
    assert first.downloaded == 7 and first.stopped_by == "limit of 7 downloads"
    done_after_limit = raw_state(tmp_path)[0]
    assert len(done_after_limit) == 7

    # now die in the middle of a map: after its zip is fetched, during verification
    real_verify, calls = download_mod.verify_map_zip, []

    def verify_then_die(path):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt
        real_verify(path)

    monkeypatch.setattr(download_mod, "verify_map_zip", verify_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(stub, tmp_path)
    zips, sides, others = raw_state(tmp_path)
    assert others == [] and zips == sides  # the interrupted map left nothing behind
    complete_before = zips
    assert done_after_limit < complete_before < ids["good"]
    monkeypatch.setattr(download_mod, "verify_map_zip", real_verify)
    requests_before = {m["id"]: stub.zip_requests(m) for m in stub.maps}

    final, _ = run(stub, tmp_path)
    zips, sides, others = raw_state(tmp_path)
    assert zips == sides == ids["good"] and others == []
    assert_whole(stub, tmp_path, ids["good"])
    for key in complete_before:  # complete maps were not requested again
        assert stub.zip_requests(next(m for m in stub.maps if m["id"] == key)) == requests_before[key]
    assert final.present == len(complete_before)
    assert final.downloaded == len(ids["good"]) - final.present


def test_changed_or_damaged_local_copies_are_fetched_again(stub, tmp_path):
    recs = [stub.add(f"m{i}") for i in range(3)]
    run(stub, tmp_path)
    raw = tmp_path / "raw"
    (raw / "m0.json").unlink()  # killed between zip and sidecar
    (raw / "m1.zip").write_bytes(b"damaged")
    new_body = map_zip("m2 v2")  # m2 got a new version upstream
    recs[2]["versions"][0]["hash"] = sha1(new_body)
    recs[2]["versions"][0]["downloadURL"] = f"{stub.url}/zips/{sha1(new_body)}.zip"
    stub.bodies[sha1(new_body)] = new_body
    summary, _ = run(stub, tmp_path)
    assert summary.downloaded == 3 and summary.present == 0
    assert_whole(stub, tmp_path, {"m0", "m1", "m2"})
    assert all(is_complete(raw, r["id"], r["versions"][0]["hash"]) for r in recs)


def test_cli_downloads_and_fails_loudly_on_a_moved_endpoint(stub, tmp_path, monkeypatch, capsys):
    for i in range(4):
        stub.add(f"m{i}")
    stub.add("old", uploaded="2020-01-01T00:00:00Z")
    monkeypatch.setenv("BEATSAVER_BASE_URL", stub.url)
    monkeypatch.setenv("AUTOMAPPER_HOME", str(tmp_path))
    args = ["download", "--min-interval", "0", "--no-progress", "--quota", "vanilla:3"]
    assert cli_main(args) == 0
    assert "downloaded 3" in capsys.readouterr().err
    assert len(list((tmp_path / "raw").glob("*.zip"))) == 3

    assert cli_main(["download", "--quota", "lawless:3"]) == 2
    assert "bad quota" in capsys.readouterr().err
    assert cli_main(["download", "--max-nps", "0"]) == 2
    assert "--max-nps" in capsys.readouterr().err

    stub.search_404 = True
    assert cli_main(["download", "--min-interval", "0", "--no-progress", "--home", str(tmp_path / "h2")]) == 2
    assert "may have moved" in capsys.readouterr().err


def test_a_few_hundred_maps_with_faults_interrupt_and_rerun(stub, tmp_path):
    ids = build_corpus(stub, n_vanilla=250, n_chroma=40, n_noodle=20)
    quotas = {"vanilla": 200, "chroma": 30, "noodle": 100}  # noodle asks for more than exists
    run(stub, tmp_path, quotas=quotas, limit=90)
    summary, _ = run(stub, tmp_path, quotas=quotas)
    zips, sides, others = raw_state(tmp_path)
    assert zips == sides and others == [] and not zips & ids["bad"]
    assert summary.present == 90 and summary.downloaded == 200 + 30 + 20 - 90
    assert [len(zips & ids["by_cat"][c]) for c in ("vanilla", "chroma", "noodle")] == [200, 30, 20]
    assert_whole(stub, tmp_path, zips)
    requested = {m["id"]: stub.zip_requests(m) for m in stub.maps if m["id"] in zips}
    assert sum(n > 1 for n in requested.values()) <= 2  # only the two injected transient faults


def test_resume_uses_the_sha1_cache_instead_of_rereading_zips(stub, tmp_path, monkeypatch):
    for i in range(5):
        stub.add(f"m{i}")
    run(stub, tmp_path)
    hashed = []
    real = download_mod.sha1_file
    monkeypatch.setattr(download_mod, "sha1_file", lambda p: hashed.append(p.name) or real(p))
    again, _ = run(stub, tmp_path)
    assert again.present == 5 and hashed == []
    (tmp_path / "raw" / "m3.zip").write_bytes(b"x" * 10)  # changed on disk: re-hashed, re-fetched
    third, _ = run(stub, tmp_path)
    assert hashed == ["m3.zip"] and third.downloaded == 1 and third.present == 4


def test_one_download_per_home_and_leftover_temp_files_are_cleaned(stub, tmp_path):
    stub.add("m0")
    raw = tmp_path / "raw"
    raw.mkdir(parents=True)
    (raw / ".m9.zip.abc123.part").write_bytes(b"half a zip")  # left by a killed run
    (raw / ".keep.me").write_bytes(b"not ours")
    with download_mod.exclusive(tmp_path), pytest.raises(download_mod.DownloadBusyError):
        run(stub, tmp_path)
    summary, _ = run(stub, tmp_path)
    assert summary.downloaded == 1
    assert sorted(p.name for p in raw.iterdir()) == [".keep.me", "m0.json", "m0.zip"]


def test_interrupt_reports_what_was_done(stub, tmp_path, monkeypatch):
    for i in range(4):
        stub.add(f"m{i}")
    real = download_mod.fetch_one

    def fetch_then_stop(client, record, home, cache=None):
        if record["id"] == "m2":
            raise KeyboardInterrupt
        real(client, record, home, cache)

    monkeypatch.setattr(download_mod, "fetch_one", fetch_then_stop)
    with pytest.raises(download_mod.DownloadInterrupted) as info:
        run(stub, tmp_path)
    assert info.value.summary.downloaded == 2 and info.value.summary.stopped_by == "interrupted"

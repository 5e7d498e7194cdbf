"""The HTTP client against the stub server: paging, pacing, retries, Retry-After, loud errors."""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime, timedelta

import pytest

from automapper_ml.beatsaver.client import (
    BadResponseError,
    BeatSaverClient,
    ClientOptions,
    EndpointMovedError,
    HTTPStatusError,
    TooLargeError,
    base_url_from_env,
    parse_retry_after,
)
from tests.ml.beatsaver.stub import StubBeatSaver


@pytest.fixture
def stub():
    with StubBeatSaver(page_size=3) as server:
        yield server


def make_client(stub, **kw):
    sleeps: list[float] = []
    opts = {"base_url": stub.url, "min_interval_s": 0.0, "max_retries": 3, "timeout_s": 5.0, **kw}
    return BeatSaverClient(ClientOptions(**opts), sleep=sleeps.append), sleeps


def test_paging_reads_every_record_until_an_empty_page(stub):
    for i in range(7):
        stub.add(f"m{i}")
    client, _ = make_client(stub)
    assert [r["id"] for r in client.iter_search()] == [f"m{i}" for i in range(7)]
    assert [stub.counts[f"/search/text/{p}"] for p in range(4)] == [1, 1, 1, 1]  # 3 + 3 + 1, then empty
    assert any(ua.startswith("automapper/") for ua in stub.user_agents)
    assert client.map_by_id("m4")["id"] == "m4"


def test_429_retry_after_is_honoured_and_500_retried(stub):
    stub.add("m0")
    stub.faults["/search/text/0"].extend([(429, {"Retry-After": "7"}, b""), (500, {}, b"oops")])
    client, sleeps = make_client(stub)
    assert [r["id"] for r in client.search_page(0)] == ["m0"]
    assert client.waits[0] == ("429", 7.0)
    assert client.waits[1][0] == "500" and 1.0 <= client.waits[1][1] <= 2.0  # 2nd attempt: 2 s, jittered
    assert stub.counts["/search/text/0"] == 3


def test_retry_after_is_capped(stub):
    stub.faults["/search/text/0"].append((429, {"Retry-After": "99999"}, b""))
    client, sleeps = make_client(stub, retry_after_cap_s=30.0)
    assert client.search_page(0) == []
    assert sleeps == [30.0]


def test_persistent_5xx_gives_up_with_a_clear_error(stub):
    stub.faults["/search/text/0"].extend([(503, {}, b"")] * 4)
    client, sleeps = make_client(stub, backoff_base_s=1.0, backoff_cap_s=3.0)
    with pytest.raises(HTTPStatusError) as info:
        client.search_page(0)
    assert info.value.status == 503 and stub.counts["/search/text/0"] == 4
    assert len(sleeps) == 3 and all(s <= 3.0 for s in sleeps)  # capped exponential backoff


def test_404_on_search_is_a_loud_endpoint_error(stub):
    stub.search_404 = True
    client, _ = make_client(stub)
    with pytest.raises(EndpointMovedError, match="may have moved"):
        list(client.iter_search())
    assert stub.counts["/search/text/0"] == 1  # not retried


def test_other_4xx_is_not_retried(stub):
    stub.faults["/search/text/0"].append((403, {}, b"forbidden"))
    client, sleeps = make_client(stub)
    with pytest.raises(HTTPStatusError) as info:
        client.search_page(0)
    assert info.value.status == 403 and sleeps == [] and stub.counts["/search/text/0"] == 1


def test_non_json_or_wrong_shape_is_a_bad_response(stub):
    stub.faults["/search/text/0"].append((200, {}, b"<html>moved</html>"))
    stub.faults["/search/text/1"].append((200, {}, b'{"maps": []}'))
    client, _ = make_client(stub)
    with pytest.raises(BadResponseError):
        client.search_page(0)
    with pytest.raises(BadResponseError):
        client.search_page(1)


def test_pacing_spaces_requests(stub):
    client = BeatSaverClient(ClientOptions(base_url=stub.url, min_interval_s=0.05))
    start = time.monotonic()
    for _ in range(4):
        client.search_page(0)
    assert time.monotonic() - start >= 0.15


def test_download_streams_checks_size_and_retries_a_dropped_body(stub, tmp_path):
    rec = stub.add("m0")
    stub.drop_once.add(rec["versions"][0]["hash"])
    client, _ = make_client(stub)
    path, digest = client.download(rec["versions"][0]["downloadURL"], tmp_path)
    assert digest == rec["versions"][0]["hash"] and path.read_bytes() == stub.bodies[digest]
    assert stub.zip_requests(rec) == 2
    small, _ = make_client(stub, max_zip_bytes=100)
    with pytest.raises(TooLargeError):
        small.download(rec["versions"][0]["downloadURL"], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left behind


def test_parse_retry_after():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("12") == 12.0
    assert (
        parse_retry_after(email.utils.format_datetime(now + timedelta(seconds=90), usegmt=True), now=now)
        == 90
    )
    assert parse_retry_after("garbage") is None and parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0


def test_base_url_is_read_at_call_time(monkeypatch):
    monkeypatch.setenv("BEATSAVER_BASE_URL", "http://127.0.0.1:9/")
    assert base_url_from_env() == "http://127.0.0.1:9"
    assert base_url_from_env("http://other") == "http://other"
    monkeypatch.delenv("BEATSAVER_BASE_URL")
    assert base_url_from_env() == "https://api.beatsaver.com"

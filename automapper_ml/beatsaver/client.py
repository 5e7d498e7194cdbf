"""A small, polite HTTP client for the BeatSaver API, on the standard library only.

Polite means: one request at a time, at least `min_interval_s` apart; HTTP 429 waits for
`Retry-After` (seconds or an HTTP date, capped) and retries; 5xx, timeouts and dropped
connections retry with capped exponential backoff and jitter; any other 4xx is an error at
once. A 404 on the search endpoint raises `EndpointMovedError`: the seed project's client
silently read "no more maps" when the path lost its `/api/` prefix.

The base URL comes from the caller (the CLI reads --base-url or BEATSAVER_BASE_URL at run
time), so tests point the client at a stub server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from automapper_ml.atomic import removed_on_error, temp_file
from automapper_ml.formats.errors import CodedError

DEFAULT_BASE_URL = "https://api.beatsaver.com"
BASE_URL_ENV = "BEATSAVER_BASE_URL"
USER_AGENT = "automapper/0.1 (+https://github.com/automapper; Beat Saber automapper dataset client)"
CHUNK_BYTES = 1 << 20
# Transient failures: worth another try after a pause.
_TRANSIENT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError)


@dataclass(frozen=True)
class ClientOptions:
    base_url: str = DEFAULT_BASE_URL  # API root, without a trailing slash
    user_agent: str = USER_AGENT  # sent with every request
    timeout_s: float = 30.0  # socket timeout per request
    min_interval_s: float = 0.2  # pacing: minimum gap between the starts of two requests
    max_retries: int = 5  # extra attempts after a 429, a 5xx or a network error
    backoff_base_s: float = 1.0  # first backoff; doubles per attempt
    backoff_cap_s: float = 60.0  # no single backoff is longer than this
    retry_after_cap_s: float = 300.0  # a server asking for a longer pause gets this instead
    max_zip_bytes: int = 256 * 1024 * 1024  # refuse bigger downloads (real maps are a few MB)


class BeatSaverError(CodedError, code="beatsaver_error"):
    """Base class: `code` is a short machine-readable key, `str(err)` one line for a human."""


class EndpointMovedError(BeatSaverError, code="endpoint_moved"):
    """The search endpoint answered 404: the API path has probably changed."""


class HTTPStatusError(BeatSaverError):
    """A non-retryable HTTP status (4xx other than 429), or a retryable one that never went away."""

    def __init__(self, url: str, status: int, reason: str = "") -> None:
        super().__init__(f"HTTP {status} {reason} from {url}".replace("  ", " "), code=f"http_{status}")
        self.url = url
        self.status = status


class TransientError(BeatSaverError, code="network"):
    """Network errors that outlasted every retry."""


class BadResponseError(BeatSaverError, code="bad_response"):
    """The server answered 200 with something that is not the documented JSON shape."""


class TooLargeError(BeatSaverError, code="too_large"):
    """A download over `ClientOptions.max_zip_bytes`."""


def base_url_from_env(explicit: str | None = None) -> str:
    """--base-url if given, else $BEATSAVER_BASE_URL (read now, not at import), else the public API."""
    url = explicit or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return url.rstrip("/")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class BeatSaverClient:
    """Paced, retrying access to search pages, single maps and zip downloads.

    `sleep` and `clock` are injectable so tests can run without real waits while still
    checking how long the client meant to wait (`self.waits`)."""

    def __init__(
        self,
        options: ClientOptions | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.options = options or ClientOptions()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._last_start: float | None = None
        self.requests = 0  # every HTTP attempt, retries included
        self.waits: list[tuple[str, float]] = []  # (why, seconds) for each retry pause

    # -- low level -------------------------------------------------------------------
    def _pace(self) -> None:
        if self._last_start is not None and self.options.min_interval_s > 0:
            gap = self._last_start + self.options.min_interval_s - self._clock()
            if gap > 0:
                self._sleep(gap)
        self._last_start = self._clock()

    def _backoff(self, attempt: int) -> float:
        delay = min(self.options.backoff_cap_s, self.options.backoff_base_s * 2**attempt)
        return delay * self._rng.uniform(0.5, 1.0)  # jitter: clients that failed together spread out

    def _wait(self, why: str, seconds: float) -> None:
        self.waits.append((why, seconds))
        if seconds > 0:
            self._sleep(seconds)

    def _with_retries(self, url: str, consume: Callable[[http.client.HTTPResponse], Any]) -> Any:
        """Open `url` and hand the response to `consume`, retrying 429 / 5xx / network errors."""
        request = urllib.request.Request(url, headers={"User-Agent": self.options.user_agent})
        last: BaseException | None = None
        for attempt in range(self.options.max_retries + 1):
            self._pace()
            self.requests += 1
            try:
                with urllib.request.urlopen(request, timeout=self.options.timeout_s) as response:
                    return consume(response)
            except urllib.error.HTTPError as err:
                err.close()
                last = err
                if err.code == 429:
                    after = parse_retry_after(err.headers.get("Retry-After") if err.headers else None)
                    delay = (
                        self._backoff(attempt)
                        if after is None
                        else min(after, self.options.retry_after_cap_s)
                    )
                    why = "429"
                elif 500 <= err.code < 600:
                    delay, why = self._backoff(attempt), str(err.code)
                else:
                    raise HTTPStatusError(url, err.code, str(err.reason or "")) from None
            except _TRANSIENT as err:
                last = err
                delay, why = self._backoff(attempt), type(err).__name__
            if attempt < self.options.max_retries:
                self._wait(why, delay)
        if isinstance(last, urllib.error.HTTPError):
            raise HTTPStatusError(
                url, last.code, f"{last.reason or ''} after {self.options.max_retries} retries"
            )
        raise TransientError(f"{url}: {last} (after {self.options.max_retries} retries)")

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET base_url + path (+ query) and parse JSON; BadResponseError if it is not JSON."""
        url = self.options.base_url.rstrip("/") + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        body = self._with_retries(url, lambda r: r.read())
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BadResponseError(f"{url} did not return JSON (the API may have moved)") from None

    # -- API -------------------------------------------------------------------------
    def search_page(
        self, page: int, *, sort_order: str = "Rating", params: Mapping[str, Any] | None = None
    ) -> list:
        """One page of `/search/text/{page}` (0-based): the list of map records in `docs`."""
        path = f"/search/text/{int(page)}"
        try:
            data = self.get_json(path, {"sortOrder": sort_order, **(params or {})})
        except HTTPStatusError as err:
            if err.status == 404:
                raise EndpointMovedError(
                    f"404 from {err.url}: the BeatSaver search endpoint may have moved "
                    f"(check --base-url / {BASE_URL_ENV} and the API documentation)"
                ) from None
            raise
        if not isinstance(data, dict) or not isinstance(data.get("docs"), list):
            raise BadResponseError(f"{path}: expected a JSON object with a 'docs' list")
        return data["docs"]

    def iter_search(
        self,
        *,
        sort_order: str = "Rating",
        params: Mapping[str, Any] | None = None,
        max_pages: int | None = None,
        start_page: int = 0,
    ) -> Iterator[dict]:
        """Every record of every page, lazily: a page is fetched only when the consumer gets there."""
        page = start_page
        while max_pages is None or page < start_page + max_pages:
            docs = self.search_page(page, sort_order=sort_order, params=params)
            if not docs:
                return
            for doc in docs:
                if isinstance(doc, dict):
                    yield doc
            page += 1

    def map_by_id(self, key: str) -> dict:
        data = self.get_json(f"/maps/id/{urllib.parse.quote(key, safe='')}")
        if not isinstance(data, dict):
            raise BadResponseError(f"/maps/id/{key}: expected a JSON object")
        return data

    def download(self, url: str, dest_dir: Path, *, prefix: str = ".download.") -> tuple[Path, str]:
        """Stream `url` into a temp file in `dest_dir` (same filesystem, for os.replace).

        Returns (temp path, sha1 hex). The caller owns the temp file. A body over
        `max_zip_bytes` raises TooLargeError; a connection dropped mid-body is retried."""

        def consume(response: http.client.HTTPResponse) -> tuple[Path, str]:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > self.options.max_zip_bytes:
                raise TooLargeError(
                    f"{url}: {int(length)} bytes is over the {self.options.max_zip_bytes} cap"
                )
            tmp = temp_file(dest_dir, prefix=prefix, suffix=".part")
            digest, size = hashlib.sha1(), 0
            with removed_on_error(tmp):
                with tmp.open("wb") as out:
                    while chunk := response.read(CHUNK_BYTES):
                        size += len(chunk)
                        if size > self.options.max_zip_bytes:
                            raise TooLargeError(f"{url}: more than the {self.options.max_zip_bytes} byte cap")
                        digest.update(chunk)
                        out.write(chunk)
                if length and length.isdigit() and size != int(length):
                    raise http.client.IncompleteRead(b"", int(length) - size)
            return tmp, digest.hexdigest()

        return self._with_retries(url, consume)

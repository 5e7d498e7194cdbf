"""A stub BeatSaver API on 127.0.0.1 (port 0, a daemon thread) for the download tests.

It serves `/search/text/{page}` (0-based pages of `page_size` docs; an empty page ends the
listing), `/maps/id/{id}` and `/zips/{hash}.zip`, counts every request per path, and can
inject faults: queued one-shot responses per path (a 429 with Retry-After, a 500), a zip
whose connection drops mid-body once, a 404 on search. Good maps are real map zips built
from a tiny Info.dat v2 + a v3 difficulty + a short Ogg made with soundfile.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections import Counter, defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import soundfile as sf

_OGG: bytes | None = None


def short_ogg() -> bytes:
    """0.5 s of a 440 Hz tone as Ogg Vorbis (built once per process)."""
    global _OGG
    if _OGG is None:
        rate = 22050
        t = np.arange(rate // 2) / rate
        buf = io.BytesIO()
        sf.write(
            buf, (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="OGG", subtype="VORBIS"
        )
        _OGG = buf.getvalue()
    return _OGG


def map_zip(name: str) -> bytes:
    """A small but real map zip: Info.dat v2.1, one Standard Expert v3 difficulty, song.ogg."""
    info = {
        "_version": "2.1.0",
        "_songName": name,
        "_songSubName": "",
        "_songAuthorName": "stub",
        "_levelAuthorName": "stub",
        "_beatsPerMinute": 120,
        "_songTimeOffset": 0,
        "_shuffle": 0,
        "_shufflePeriod": 0.5,
        "_previewStartTime": 0,
        "_previewDuration": 1,
        "_songFilename": "song.ogg",
        "_coverImageFilename": "",
        "_environmentName": "DefaultEnvironment",
        "_difficultyBeatmapSets": [
            {
                "_beatmapCharacteristicName": "Standard",
                "_difficultyBeatmaps": [
                    {
                        "_difficulty": "Expert",
                        "_difficultyRank": 7,
                        "_beatmapFilename": "ExpertStandard.dat",
                        "_noteJumpMovementSpeed": 16,
                        "_noteJumpStartBeatOffset": 0,
                    }
                ],
            }
        ],
    }
    diff = {
        "version": "3.2.0",
        "bpmEvents": [],
        "rotationEvents": [],
        "colorNotes": [
            {"b": 0.5, "x": 1, "y": 0, "c": 0, "d": 1, "a": 0},
            {"b": 0.5, "x": 2, "y": 0, "c": 1, "d": 1, "a": 0},
        ],
        "bombNotes": [],
        "obstacles": [],
        "sliders": [],
        "burstSliders": [],
        "waypoints": [],
        "basicBeatmapEvents": [],
        "colorBoostBeatmapEvents": [],
        "lightColorEventBoxGroups": [],
        "lightRotationEventBoxGroups": [],
        "lightTranslationEventBoxGroups": [],
        "basicEventTypesWithKeywords": {"d": []},
        "useNormalEventsAsCompatibleEvents": True,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Info.dat", json.dumps(info))
        archive.writestr("ExpertStandard.dat", json.dumps(diff))
        archive.writestr("song.ogg", short_ogg())
    return buf.getvalue()


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def record(
    key: str,
    *,
    score: float = 0.9,
    uploaded: str = "2023-06-01T12:00:00.000Z",
    automapper: bool = False,
    declared_ai: str = "None",
    diffs: list[dict] | None = None,
    ranked: bool = False,
    zip_hash: str = "0" * 40,
    url: str = "",
) -> dict[str, Any]:
    """A map record of the documented shape (spec/beatsaver_api.md)."""
    diffs = diffs if diffs is not None else [diff()]
    return {
        "id": key,
        "name": f"map {key}",
        "description": "",
        "uploader": {"id": 1, "name": "stub"},
        "metadata": {
            "bpm": 120,
            "duration": 1,
            "songName": key,
            "songSubName": "",
            "songAuthorName": "stub",
            "levelAuthorName": "stub",
        },
        "stats": {"plays": 0, "downloads": 10, "upvotes": 90, "downvotes": 3, "score": score},
        "uploaded": uploaded,
        "automapper": automapper,
        "declaredAi": declared_ai,
        "ranked": ranked,
        "qualified": False,
        "blRanked": ranked,
        "blQualified": False,
        "tags": ["dance-style"],
        "createdAt": uploaded,
        "updatedAt": uploaded,
        "lastPublishedAt": uploaded,
        "versions": [
            {
                "hash": zip_hash,
                "key": key,
                "state": "Published",
                "createdAt": uploaded,
                "sageScore": 0,
                "diffs": diffs,
                "downloadURL": url,
                "coverURL": "",
                "previewURL": "",
            }
        ],
    }


def diff(
    characteristic: str = "Standard", difficulty: str = "Expert", nps: float = 4.0, **flags: bool
) -> dict:
    base = {
        "njs": 16,
        "offset": 0,
        "notes": 2,
        "bombs": 0,
        "obstacles": 0,
        "nps": nps,
        "length": 1,
        "seconds": 0.5,
        "events": 0,
        "chroma": False,
        "ne": False,
        "me": False,
        "cinema": False,
        "paritySummary": {"errors": 0, "warns": 0, "resets": 0},
    }
    return {**base, **flags, "characteristic": characteristic, "difficulty": difficulty}


class StubBeatSaver:
    """The server plus its state. Use as a context manager (or start()/stop())."""

    def __init__(self, page_size: int = 10) -> None:
        self.page_size = page_size
        self.maps: list[dict] = []
        self.bodies: dict[str, bytes] = {}  # zip hash -> body served
        self.faults: dict[str, deque] = defaultdict(deque)  # path -> one-shot (status, headers, body)
        self.drop_once: set[str] = set()  # zip hashes whose first download is cut mid-body
        self.search_404 = False
        self.counts: Counter = Counter()  # path (no query) -> requests
        self.user_agents: set[str] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, key: str, body: bytes | None = None, *, zip_hash: str | None = None, **kw: Any) -> dict:
        """Add a map; `body` defaults to a real map zip and `zip_hash` to its sha1."""
        body = map_zip(f"song {key}") if body is None else body
        zip_hash = zip_hash or sha1(body)
        self.bodies[zip_hash] = body
        rec = record(key, zip_hash=zip_hash, url=f"{self.url}/zips/{zip_hash}.zip", **kw)
        self.maps.append(rec)
        return rec

    def zip_requests(self, rec: dict) -> int:
        return self.counts[f"/zips/{rec['versions'][0]['hash']}.zip"]

    def start(self) -> StubBeatSaver:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with stub._lock:
                    stub.counts[path] += 1
                    stub.user_agents.add(self.headers.get("User-Agent", ""))
                    fault = stub.faults[path].popleft() if stub.faults[path] else None
                if fault is not None:
                    return self._send(*fault)
                if path.startswith("/search/text/"):
                    if stub.search_404:
                        return self._send(404, {}, b'{"error": "not found"}')
                    page = int(path.rsplit("/", 1)[1])
                    docs = stub.maps[page * stub.page_size : (page + 1) * stub.page_size]
                    return self._send(
                        200, {"Content-Type": "application/json"}, json.dumps({"docs": docs}).encode()
                    )
                if path.startswith("/maps/id/"):
                    key = path.rsplit("/", 1)[1]
                    hits = [m for m in stub.maps if m["id"] == key]
                    if not hits:
                        return self._send(404, {}, b"{}")
                    return self._send(200, {"Content-Type": "application/json"}, json.dumps(hits[0]).encode())
                if path.startswith("/zips/"):
                    zip_hash = path.rsplit("/", 1)[1].removesuffix(".zip")
                    body = stub.bodies.get(zip_hash)
                    if body is None:
                        return self._send(404, {}, b"")
                    with stub._lock:
                        drop = zip_hash in stub.drop_once
                        stub.drop_once.discard(zip_hash)
                    if drop:  # promise the whole body, send half, hang up
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body[: len(body) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return None
                    return self._send(200, {"Content-Type": "application/zip"}, body)
                return self._send(404, {}, b"")

            def _send(self, status: int, headers: dict, body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StubBeatSaver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

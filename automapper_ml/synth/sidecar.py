"""BeatSaver map records for demo zips: the `<zip stem>.json` sidecar, in the API's own shape.

The shape is the one `GET /maps/id/{id}` returns (../shared/spec/beatsaver_api.md): the ingest
reads ranked / rating (`stats.score`) / `declaredAi` / `automapper` / `uploaded` from it, and the
download client writes the same shape, so a demo sidecar and a downloaded one are read alike.
Dates and counts come from the caller's generator: a record is a pure function of its seed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

import numpy as np

from automapper_ml.formats.model import BeatMap

CDN = "https://r2cdn.beatsaver.com"
HUMAN = "None"  # `declaredAi` of a human map: the string "None", never JSON null
_EPOCH = dt.datetime(2019, 5, 1, tzinfo=dt.UTC)  # BeatSaver's current site opened around then
_SPAN_DAYS = 6 * 365
_TAGS = ("electronic", "pop", "dance", "rock", "dubstep", "accuracy", "balanced", "tech", "speed", "fitness")


def beatsaver_record(
    beatmap: BeatMap,
    *,
    key: str,
    zip_bytes: bytes,
    audio_seconds: float,
    rng: np.random.Generator,
    ranked: bool = False,
    declared_ai: str = HUMAN,
) -> dict:
    """One BeatSaver map record for the zip holding `beatmap`; `versions[0].hash` is sha1(zip_bytes)."""
    sha1 = hashlib.sha1(zip_bytes).hexdigest()
    uploaded = _EPOCH + dt.timedelta(seconds=int(rng.integers(0, _SPAN_DAYS * 86400)))
    upvotes = int(rng.integers(5, 3000))
    downvotes = int(rng.integers(0, max(2, upvotes // 4)))
    ai = declared_ai != HUMAN
    diffs = [_diff_record(beatmap, d, audio_seconds, ranked, rng) for d in beatmap.difficulties]
    level_author = beatmap.mapper
    record = {
        "id": key,
        "name": f"{beatmap.title} - {beatmap.artist}",
        "description": f"Mapped by {level_author}." if not ai else "Generated.",
        "uploader": {
            "id": int(rng.integers(10_000, 5_000_000)),
            "name": level_author,
            "type": "SIMPLE",
            "admin": False,
            "curator": False,
            "verifiedMapper": bool(ranked or rng.random() < 0.2),
        },
        "metadata": {
            "bpm": beatmap.bpm,
            "duration": int(round(audio_seconds)),
            "songName": beatmap.title,
            "songSubName": beatmap.subtitle,
            "songAuthorName": beatmap.artist,
            "levelAuthorName": level_author,
        },
        "stats": {
            "plays": 0,
            "downloads": int(upvotes * rng.uniform(5, 40)),
            "upvotes": upvotes,
            "downvotes": downvotes,
            "score": rating(upvotes, downvotes),
            "reviews": int(rng.integers(0, 5)),
        },
        "uploaded": _iso(uploaded),
        "automapper": ai,
        "ranked": ranked,
        "qualified": False,
        "blRanked": ranked and bool(rng.random() < 0.7),
        "blQualified": False,
        "tags": sorted({str(t) for t in rng.choice(_TAGS, size=int(rng.integers(0, 3)), replace=False)}),
        "declaredAi": declared_ai,
        "createdAt": _iso(uploaded),
        "updatedAt": _iso(uploaded + dt.timedelta(days=int(rng.integers(0, 30)))),
        "lastPublishedAt": _iso(uploaded),
        "versions": [
            {
                "hash": sha1,
                "key": key,
                "state": "Published",
                "createdAt": _iso(uploaded),
                "sageScore": int(rng.integers(-4, 2)) if not ai else int(rng.integers(4, 10)),
                "diffs": diffs,
                "downloadURL": f"{CDN}/{sha1}.zip",
                "coverURL": f"{CDN}/{sha1}.jpg",
                "previewURL": f"{CDN}/{sha1}.mp3",
            }
        ],
    }
    return record


def rating(upvotes: int, downvotes: int) -> float:
    """BeatSaver's 0..1 score: the vote share pulled towards 0.5 when there are few votes."""
    total = upvotes + downvotes
    if total == 0:
        return 0.5
    share = upvotes / total
    return round(share - (share - 0.5) * 2 ** (-math.log10(total + 1)), 4)


def _diff_record(
    beatmap: BeatMap, diff, audio_seconds: float, ranked: bool, rng: np.random.Generator
) -> dict:
    mods = set(diff.requirements) | set(diff.suggestions)
    timing = beatmap.timing(diff)
    last = diff.last_object_beat()
    record = {
        "njs": diff.njs,
        "offset": diff.njs_offset,
        "notes": len(diff.notes),
        "bombs": len(diff.bombs),
        "obstacles": len(diff.obstacles),
        "nps": round(len(diff.notes) / audio_seconds, 3) if audio_seconds > 0 else 0.0,
        "length": round(last, 3),
        "characteristic": diff.characteristic,
        "difficulty": diff.name,
        "events": len(diff.events),
        "chroma": "Chroma" in mods,
        "me": "Mapping Extensions" in mods,
        "ne": "Noodle Extensions" in mods,
        "cinema": "Cinema" in mods,
        "seconds": round(timing.to_seconds(last), 3),
        "paritySummary": {"errors": 0, "warns": 0, "resets": 0},
        "maxScore": _max_score(len(diff.notes)),
    }
    if ranked and diff.characteristic == "Standard" and diff.notes:
        record["stars"] = round(float(len(diff.notes) / audio_seconds * rng.uniform(0.9, 1.3)), 2)
        record["blStars"] = round(record["stars"] * float(rng.uniform(0.9, 1.1)), 2)
    return record


def _max_score(notes: int) -> int:
    """Beat Saber's maximum score for `notes` cuts (115 points, multiplier ramping 1-2-4-8)."""
    score, multiplier, progress = 0, 1, 0
    for _ in range(notes):
        score += 115 * multiplier
        progress += 1
        if multiplier < 8 and progress == multiplier * 2:
            multiplier, progress = multiplier * 2, 0
    return score


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")

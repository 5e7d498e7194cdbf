"""A whole song to an osu!standard beatmap: what `automapper osu generate` runs.

    request = OsuRequest(stars=4.5)                        # or ar/cs/od/hp (each optional)
    result = map_osu_song("song.mp3", model, request)      # OsuSongResult: .map, .stars, .audio...
    write_osu_song(result, "out.osz")

Steps:

1. Audio: decoded once (`generation.level.song_audio`: the limits, soundfile, MP3 through
   libsndfile), checked mappable (long and loud enough), its features computed (`audio.compute_features`).
2. Timing: one uninherited point of the detected tempo (`generation.tempo.detect_tempo`) or of
   `--bpm` / `--first-beat`; the model writes its times on that beat grid. An MP3's grid is moved
   `MP3_TIMELINE_MS` earlier: libsndfile's MP3 decoding runs that much behind the timeline osu! maps
   are timed on (the median phase of the detected beat against the human maps' timing points, over
   the real osu! corpus's training sets whose BPM it found: +22 ms; on the Beat Saber corpus's Ogg
   songs the same measure is -1 ms, so other formats are not moved).
3. Difficulty: what the request names; the fields it leaves out come from `STAR_TABLE`, the medians of
   AR/CS/OD/HP per half-star band of the 532 osu!standard difficulties of the real corpus
   (../shared/osu_corpus, star ratings by rosu-pp-py). The model is conditioned on all five.
4. Sampling: `generation.osu.generate_osu` (grammar- and geometry-masked, KV-cached), with the
   timing prior when `OsuSampling.onset_weight` > 0: `onset_prior`, the shipped Beat Saber onset
   model's note probability over the song (conditioned on the Beat Saber difficulty nearest the
   star target, `ONSET_DIFFICULTY`), as a log score per frame.
5. Star fit (when a star target is given and rosu-pp-py is importable): the star rating of the map
   is measured; when it misses the target by more than `STAR_TOLERANCE`, the spacing is scaled
   (`scale_spacing`: object positions moved towards or away from the playfield centre, each slider
   moved whole, never leaving the playfield) to the factor whose rating is closest, by bisection over
   `SPACING_RANGE`; when that is not enough (a miss over 1 star), the map is sampled again (at most
   `STAR_RETRIES` times) with the condition's star target moved by the miss and the density
   (`OsuSampling.place_bias`) moved by `DENSITY_STEP` the same way, and the closest map is kept.
   A sampling that placed no object is repeated with a higher place_bias (`EMPTY_RETRIES`).

Nothing here depends on a human map: a song and a request are all it takes.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from automapper_ml.audio import compute_features, encode_ogg
from automapper_ml.evaluation.osu import slider_path
from automapper_ml.evaluation.osu_stars import StarRatingUnavailable, osu_stars, stars_available
from automapper_ml.formats.osu.model import (
    PLAYFIELD_HEIGHT,
    PLAYFIELD_WIDTH,
    CurveSegment,
    Difficulty,
    General,
    Metadata,
    OsuMap,
    Slider,
    Spinner,
)
from automapper_ml.formats.osu.osz import osu_filename, write_osz
from automapper_ml.generation.level import check_mappable, song_audio
from automapper_ml.generation.osu import OsuGeneration, OsuSampling, generate_osu, tempo_timing_points
from automapper_ml.generation.songinfo import read_song_tags
from automapper_ml.generation.tempo import TempoEstimate, resolve_tempo
from automapper_ml.models.osu import OsuModel, condition_vector

# stars -> (AR, CS, OD, HP): medians per half-star band of the real corpus (band centres)
STAR_TABLE = (
    (1.25, 2.25, 3.0, 2.0, 2.0),
    (1.75, 3.0, 3.0, 2.0, 2.0),
    (2.25, 5.0, 3.5, 4.0, 4.0),
    (2.75, 6.35, 3.9, 5.25, 5.0),
    (3.25, 7.5, 4.0, 6.0, 5.0),
    (3.75, 8.0, 4.0, 6.0, 5.0),
    (4.25, 8.7, 4.0, 7.2, 6.0),
    (4.75, 9.0, 4.0, 8.0, 6.0),
    (5.25, 9.0, 4.0, 8.0, 6.0),
    (5.75, 9.2, 4.0, 8.5, 6.0),
    (6.25, 9.3, 4.0, 8.5, 6.0),
    (7.25, 9.7, 4.1, 8.9, 6.0),
)
DEFAULT_STARS = 4.0  # the request when nothing is given (the corpus's median is 3.5)
STAR_TOLERANCE = 0.25  # stars: a miss under this is left alone
SPACING_RANGE = (0.25, 2.5)  # factors scale_spacing may use
STAR_RETRIES = 2  # extra samplings when the spacing fit still misses by more than 1 star
EMPTY_RETRIES = 2  # extra samplings (each with place_bias + 1) when a sampling placed no object
DENSITY_STEP = 0.75  # place_bias change of a star retry: denser when the map was too easy
MIN_STARS, MAX_STARS = 0.5, 10.0
EDGE = 4.0  # px: scaled objects keep this far inside the playfield
MP3_TIMELINE_MS = 22.0  # ms our MP3 decoding lags osu!'s timeline (see the module docstring)
# stars below each bound -> the Beat Saber onset difficulty the timing prior is conditioned on
ONSET_DIFFICULTY = ((2.0, 1), (3.0, 2), (4.5, 3), (math.inf, 4))  # Normal, Hard, Expert, ExpertPlus
PRIOR_FLOOR = 0.02  # added to the onset probability before its log: a silent frame is unlikely, not banned
AUDIO_SUFFIXES = (".mp3", ".ogg")  # what osu! plays: other inputs are re-encoded to Ogg Vorbis


class OsuRequestError(ValueError):
    """A request outside what osu! allows."""


@dataclass(frozen=True)
class OsuRequest:
    stars: float | None = None
    ar: float | None = None
    cs: float | None = None
    od: float | None = None
    hp: float | None = None

    def __post_init__(self) -> None:
        if self.stars is not None and not (
            math.isfinite(self.stars) and MIN_STARS <= self.stars <= MAX_STARS
        ):
            raise OsuRequestError(
                f"--stars must be between {MIN_STARS:g} and {MAX_STARS:g}, got {self.stars!r}"
            )
        for name in ("ar", "cs", "od", "hp"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and 0 <= v <= 10):
                raise OsuRequestError(f"--{name} must be between 0 and 10, got {v!r}")

    @property
    def target(self) -> float | None:
        """The star rating to fit: the one asked for, else none when any of AR/CS/OD/HP is given
        (they are the request), else DEFAULT_STARS."""
        if self.stars is not None:
            return self.stars
        return None if any(v is not None for v in (self.ar, self.cs, self.od, self.hp)) else DEFAULT_STARS

    def difficulty(self) -> Difficulty:
        """The map's [Difficulty]: the fields asked for, the rest from STAR_TABLE at the target
        (at DEFAULT_STARS when no target)."""
        table = np.asarray(STAR_TABLE)
        at = self.target if self.target is not None else DEFAULT_STARS
        filled = [float(np.interp(at, table[:, 0], table[:, k])) for k in range(1, 5)]
        asked = (self.ar, self.cs, self.od, self.hp)
        ar, cs, od, hp = (round(a if a is not None else f, 1) for a, f in zip(asked, filled))
        return Difficulty(hp=hp, cs=cs, od=od, ar=ar)

    def version_name(self) -> str:
        if self.target is not None:
            return f"automapper {self.target:.1f} stars"
        d = self.difficulty()
        return f"automapper AR{d.ar:g} CS{d.cs:g} OD{d.od:g} HP{d.hp:g}"


@dataclass
class OsuSongResult:
    map: OsuMap
    audio_name: str  # member name of the song in the .osz
    audio: bytes
    tempo: TempoEstimate
    request: OsuRequest
    stars: float | None  # rosu-pp-py's rating of the written map (None without it)
    spacing_factor: float = 1.0
    samplings: int = 1
    seconds: dict[str, float] = field(default_factory=dict)
    generation: OsuGeneration | None = None

    def summary(self) -> str:
        objs = self.map.hit_objects
        n_sl = sum(isinstance(o, Slider) for o in objs)
        n_sp = sum(isinstance(o, Spinner) for o in objs)
        stars = "stars n/a (rosu-pp-py missing)" if self.stars is None else f"{self.stars:.2f} stars"
        target = "" if self.request.target is None else f" (asked {self.request.target:.2f})"
        return (f"{len(objs)} objects ({len(objs) - n_sl - n_sp} circles, {n_sl} sliders, {n_sp} spinners), "
                f"{stars}{target}, {self.tempo.bpm:.1f} BPM, {sum(self.seconds.values()):.1f} s")  # fmt: skip


def scale_spacing(m: OsuMap, factor: float) -> OsuMap:
    """The map with every object's position moved from the playfield centre by `factor` (sliders moved
    whole: shape and length kept), each then shifted back inside the playfield by the least it takes
    (a slider's whole drawn path, EDGE px in). Times, types and everything else are unchanged."""
    cx, cy = PLAYFIELD_WIDTH / 2, PLAYFIELD_HEIGHT / 2
    out = []
    for o in m.hit_objects:
        nx, ny = cx + (o.x - cx) * factor, cy + (o.y - cy) * factor
        if isinstance(o, Slider):
            path = slider_path(o)
            lo, hi = path.min(axis=0) - (o.x, o.y), path.max(axis=0) - (o.x, o.y)
            nx = _clamp(nx, EDGE - lo[0], PLAYFIELD_WIDTH - EDGE - hi[0])
            ny = _clamp(ny, EDGE - lo[1], PLAYFIELD_HEIGHT - EDGE - hi[1])
            dx, dy = nx - o.x, ny - o.y
            curve = tuple(
                CurveSegment(seg.kind, tuple((px + dx, py + dy) for px, py in seg.points)) for seg in o.curve
            )
            out.append(replace(o, x=nx, y=ny, curve=curve))
        elif isinstance(o, Spinner):
            out.append(o)
        else:
            out.append(
                replace(
                    o, x=_clamp(nx, EDGE, PLAYFIELD_WIDTH - EDGE), y=_clamp(ny, EDGE, PLAYFIELD_HEIGHT - EDGE)
                )
            )
    return replace(m, hit_objects=tuple(out))


def _clamp(v: float, lo: float, hi: float) -> float:
    return float(min(max(v, lo), hi)) if lo <= hi else float((lo + hi) / 2)


def _stars(m: OsuMap) -> float:
    return osu_stars(m).stars if m.hit_objects else 0.0


def fit_spacing(m: OsuMap, target: float, steps: int = 10) -> tuple[OsuMap, float, float]:
    """(map, factor, stars): the spacing factor in SPACING_RANGE whose rating is closest to `target`
    (bisection on log factor; a rating grows with spacing), 1.0 when the map is already within
    STAR_TOLERANCE."""
    best = (m, 1.0, _stars(m))
    if abs(best[2] - target) <= STAR_TOLERANCE:
        return best
    lo, hi = (math.log(SPACING_RANGE[0]), 0.0) if best[2] > target else (0.0, math.log(SPACING_RANGE[1]))
    for _ in range(steps):
        mid = (lo + hi) / 2
        scaled = scale_spacing(m, math.exp(mid))
        s = _stars(scaled)
        if abs(s - target) < abs(best[2] - target):
            best = (scaled, math.exp(mid), s)
        if abs(s - target) <= STAR_TOLERANCE / 2:
            break
        lo, hi = (lo, mid) if s > target else (mid, hi)
    return best


def is_mp3(path: Path) -> bool:
    import soundfile as sf

    try:
        return sf.info(os.fspath(path)).format == "MP3"
    except Exception:  # what libsndfile cannot open is decoded as MP3 from its first frame (audio.py)
        return path.suffix.casefold() == ".mp3"


def song_timing_points(tempo: TempoEstimate, path: Path) -> tuple:
    """The map's one uninherited point for the tempo, on osu!'s timeline (MP3_TIMELINE_MS for an MP3);
    never before 0 (a beat later instead)."""
    (point,) = tempo_timing_points(tempo)
    if is_mp3(path) and tempo.source != "user":
        at = point.time - MP3_TIMELINE_MS
        point = replace(point, time=round(at if at >= 0 else at + point.beat_length, 3))
    return (point,)


def onset_prior(mel: np.ndarray, structure: np.ndarray, stars: float | None, model=None) -> np.ndarray:
    """(T,) float32: log(PRIOR_FLOOR + p) less its mean over the song, p the onset model's note
    probability per frame (the largest within one frame either side, so a tick between two frames
    keeps its peak). `model`: an OnsetModel (default: the shipped one)."""
    from scipy.ndimage import maximum_filter1d

    from automapper_ml.generation.models import default_checkpoint
    from automapper_ml.models.onset import load_onset_model, predict_song

    if model is None:
        model = load_onset_model(default_checkpoint("onset"))
    level = next(d for bound, d in ONSET_DIFFICULTY if (stars if stars is not None else DEFAULT_STARS) < bound)
    with torch.inference_mode():
        p = np.asarray(predict_song(model, mel, structure, level), dtype=np.float64)
    p = maximum_filter1d(p, 3, mode="nearest")
    score = np.log(PRIOR_FLOOR + np.clip(p, 0.0, 1.0))
    return (score - score.mean()).astype(np.float32)


def map_osu_song(
    song: str | os.PathLike,
    model: OsuModel,
    request: OsuRequest | None = None,
    *,
    sampling: OsuSampling | None = None,
    bpm: float | None = None,
    first_beat: float | None = None,
    title: str | None = None,
    artist: str | None = None,
    zero_audio: bool = False,
    progress: Callable[[float], None] | None = None,
) -> OsuSongResult:
    """Map one audio file (see the module docstring). AudioError for a song that cannot be mapped,
    OsuRequestError for a bad request; `zero_audio` (an ablation) gives the model silence (and the
    timing prior the same silence)."""
    request = request or OsuRequest()
    sampling = sampling or OsuSampling()
    path = Path(song)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    audio = song_audio(path)
    check_mappable(audio.mono)
    feats = compute_features(audio.mono)
    seconds["audio"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tempo = resolve_tempo(audio.mono, bpm, first_beat)
    points = song_timing_points(tempo, path)
    seconds["tempo"] = time.perf_counter() - t0
    mel, structure = torch.from_numpy(feats.mel), torch.from_numpy(feats.structure)
    if zero_audio:
        mel, structure = torch.full_like(mel, -10.0), torch.zeros_like(structure)
    difficulty = request.difficulty()
    target = request.target
    prior = None
    if sampling.onset_weight > 0:
        prior = onset_prior(mel.numpy(), structure.numpy(), target)
    judge = target is not None and stars_available()
    asked = target
    best: tuple[float, OsuMap, float | None, float, OsuGeneration] | None = None
    samplings = 0
    t0 = time.perf_counter()
    bias, stars_tried, empties = sampling.place_bias, 0, 0
    for attempt in range(1 + STAR_RETRIES + EMPTY_RETRIES):
        cond = condition_vector(
            ar=difficulty.ar, cs=difficulty.cs, od=difficulty.od, hp=difficulty.hp, stars=asked
        )
        run = replace(sampling, seed=sampling.seed + attempt, place_bias=bias)
        gen = generate_osu(model, mel, structure, points, cond, sampling=run, difficulty=difficulty,
                           progress=progress if attempt == 0 else None, prior=prior)  # fmt: skip
        samplings += 1
        if not gen.map.hit_objects:  # a model that places nothing here is pushed to place
            empties += 1
            bias += 1.0
            if empties > EMPTY_RETRIES:
                break
            continue
        if not judge or target is None:
            best = (0.0, gen.map, None, 1.0, gen)
            break
        m, factor, stars = fit_spacing(gen.map, target)
        miss = abs(stars - target)
        if best is None or miss < best[0]:
            best = (miss, m, stars, factor, gen)
        stars_tried += 1
        if miss <= 1.0 or stars_tried > STAR_RETRIES:
            break
        # spacing was not enough: ask the model for the missing stars and move the density the same way
        asked = float(np.clip((asked or target) + (target - stars), MIN_STARS, MAX_STARS))
        bias += DENSITY_STEP if stars < target else -DENSITY_STEP
    if best is None:
        raise ValueError(f"{path.name}: the model placed no object in this song; no map was written")
    _, m, stars, factor, gen = best
    seconds["generate"] = time.perf_counter() - t0
    if stars is None and stars_available():
        stars = _stars(m)
    tags = read_song_tags(path)
    audio_name, audio_bytes = _song_member(path, audio)
    meta = Metadata(
        title=title or tags.title or path.stem, artist=artist or tags.artist or "Unknown artist",
        creator="automapper", version=request.version_name(),
        extra=(("Tags", "automapper generated"),),
    )  # fmt: skip
    preview = float(m.hit_objects[len(m.hit_objects) // 3].time)
    m = replace(m, general=General(audio_filename=audio_name, preview_time=preview), metadata=meta)
    return OsuSongResult(m, audio_name, audio_bytes, tempo, request, stars, factor, samplings, seconds, gen)


def stars_mapper(model: OsuModel, sampling: OsuSampling | None = None, zero_audio: bool = False):
    """A mapper for evaluation.osu_songs: the song mapped as `automapper osu generate SONG --stars S`
    maps it, S the human map's rating (the one thing of the human map it uses)."""

    def run(song: Path, human: OsuMap) -> OsuMap:
        request = OsuRequest(stars=round(osu_stars(human).stars, 2))
        return map_osu_song(song, model, request, sampling=sampling, zero_audio=zero_audio).map

    return run


def _song_member(path: Path, audio) -> tuple[str, bytes]:
    """The song as the .osz carries it: the file itself when osu! plays its format, else Ogg Vorbis."""
    suffix = path.suffix.casefold()
    if suffix in AUDIO_SUFFIXES:
        return f"audio{suffix}", path.read_bytes()
    return "audio.ogg", encode_ogg(audio.native, audio.rate)


def write_osu_song(result: OsuSongResult, out: str | os.PathLike) -> Path:
    """The .osz (the difficulty and the song), whole or not at all."""
    return write_osz(out, {osu_filename(result.map): result.map}, {result.audio_name: result.audio})


__all__ = [
    "OsuRequest",
    "OsuRequestError",
    "OsuSongResult",
    "STAR_TABLE",
    "fit_spacing",
    "map_osu_song",
    "scale_spacing",
    "stars_mapper",
    "write_osu_song",
    "StarRatingUnavailable",
]

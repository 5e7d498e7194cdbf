"""generate_level(): a song in, a playable map out, with the three trained stages and the rules.

    result = generate_level("song.ogg", ("Expert", "ExpertPlus"), GenerationOptions(), models="data/models",
                            out="song.zip", seed=0)
    for d in result.difficulties: print(d.summary())

Order of work, and why:

1. The song is decoded ONCE (`song_audio`: native rate and channels for export, mono 22,050 Hz for the
   models). Tempo and beat phase come from the user when given, else `tempo.detect_tempo`; either way
   the source is reported. `tempo.beat_timing` pads the audio with < 1 beat of silence so beat 0 is
   its first sample (Info.dat v2.1 has no offset field).
2. Features (log-mel + structure) are computed ONCE on the padded audio, so frames, seconds and map
   beats are one timeline (beat b <-> b * 60 / bpm s <-> frame); every stage and difficulty reads them.
   The Vorbis encoding of the padded song starts in a background thread at the same time (libsndfile
   releases the GIL) and is shared by every difficulty; export waits for it.
3. Per difficulty: stage 1 with that difficulty's conditioning -> peaks (the threshold tuned in
   training) -> onset beats SNAPPED to the 1/8 and 1/6 grid (`tempo.snap_beats`) and merged when two
   land on one grid point. Stage 2 decodes one group per snapped onset with its timing tokens FORCED
   to the gap from the previous onset (`decode_song(prefixes=...)`), so every object lands exactly on
   the grid and the model only chooses what goes there. Stage 3 lights the half-beat grid from the
   audio and the raw groups. Then `postprocess` (parity, vision blocks, NPS, colours, bombs/walls,
   Chroma palette), arcs and chains where the audio holds notes (`sliders`), and quality figures
   before (raw decoder) and after.
4. One export: v3 difficulty files + Info.dat v2.1 + song.egg + cover.jpg (drawn from the log-mel,
   `cover.song_cover`), zipped (or a folder), atomically.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from automapper_ml import audio as audio_mod
from automapper_ml.audio import FRAME_SECONDS, SAMPLE_RATE, AudioError, AudioFeatures
from automapper_ml.evaluation.quality import QualityReport, quality_report
from automapper_ml.formats.errors import InvalidValueError
from automapper_ml.formats.model import DIFFICULTY_INDEX, DIFFICULTY_RANKS, BeatMap, Difficulty
from automapper_ml.generation.cover import song_cover
from automapper_ml.generation.decoding import DecodingOptions, decode_song
from automapper_ml.generation.density import FLOOR, choose_onsets
from automapper_ml.generation.export import KNOWN_ENVIRONMENTS, encode_song, export_level
from automapper_ml.generation.lighting import LightingOptions, generate_lights
from automapper_ml.generation.models import GenerationModels, load_models
from automapper_ml.generation.options import (
    DEFAULT_NJS,
    DEFAULT_OFFSET,
    GenerationOptions,
    PostProcessOptions,
)
from automapper_ml.generation.peaks import peak_candidates
from automapper_ml.generation.postprocess import PostProcessReport, postprocess
from automapper_ml.generation.sliders import add_sliders
from automapper_ml.generation.tempo import (
    BeatAlignment,
    TempoEstimate,
    beat_timing,
    resolve_tempo,
    snap_beats,
)
from automapper_ml.limits import MIN_GENERATE_SECONDS, SILENCE_WINDOW_SECONDS, SILENT_PEAK_DBFS
from automapper_ml.tokenizer import (
    MAX_BEAT,
    TICKS_PER_BEAT,
    NoteGroup,
    decode_lights,
    decode_notes,
    delta_tokens,
)

ProgressFn = Callable[[int, int, str], None]  # (steps done, total steps, what runs next)
SONG_STEPS, DIFFICULTY_STEPS = 3, 4  # progress steps: decode/tempo/features; onsets/notes/lights/rules
# Nucleus sampling, not greedy: greedy takes every swing's most likely arrow (measured on held-out
# demo maps, tests/ml/test_sequence_learning.py: 99% up/down arrows against the human maps' 48%;
# sampling at temperature 1 keeps the model's distribution: 49%). A trained group is ~5-15 tokens,
# hence max_length.
DEFAULT_DECODING = DecodingOptions(strategy="sample", temperature=1.0, top_p=0.9, max_length=32)


@functools.cache
def native_bf16(device: str = "cpu") -> bool:
    """Whether bfloat16 matrix products run natively: any CUDA device, or a CPU with AVX512-BF16 or AMX
    (Linux /proc/cpuinfo flags). Elsewhere PyTorch emulates bf16 and it is slower than float32."""
    if device.startswith("cuda"):
        return torch.cuda.is_available()
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def default_decoding(device: str = "cpu") -> DecodingOptions:
    """DEFAULT_DECODING, in bfloat16 where the hardware runs it natively: stage 2 reads half the bytes
    (bench/generation.py, `full`, 3-minute song, one thread: notes 51 s fp32 -> 24 s bf16). Outputs are
    close to float32's, not identical; pass DEFAULT_DECODING for bit-stable float32."""
    return replace(DEFAULT_DECODING, precision="bfloat16") if native_bf16(device) else DEFAULT_DECODING


# Stage 2 trained on real maps draws up and down arrows more often than its data holds (held-out
# Expert maps: 87% from the model, 65% in the human maps, which are old-style up/down heavy; ranked maps
# hold about 45%). A bias on their logits at sampling time gives diagonals and sides their room back;
# per difficulty, as measured on validation songs (bench/real_corpus.py reports the held-out share).
UP_DOWN_BIAS = {"Easy": -1.8, "Normal": -1.8, "Hard": -1.8, "Expert": -1.8, "ExpertPlus": -1.1}
# The bias is a mean: some songs still came out above 60% up+down (two held-out Expert maps at 65-70%).
# A difficulty over UP_DOWN_LIMIT is decoded again with the bias UP_DOWN_STEP stronger, at most
# UP_DOWN_RETRIES times, and the map with the lowest share is kept (only with the default bias: a
# caller's own `up_down_bias` is used as given).
UP_DOWN_LIMIT = 0.58
UP_DOWN_STEP = 1.0
UP_DOWN_RETRIES = 2
DEFAULT_STREAMS = 32  # decode_song runs side by side (bench/decoding.py: best on CPU for 300-600 onsets)
MIN_PEAK_DISTANCE = 3  # frames between picked onsets, as in stage-1 training (OnsetTaskConfig)
PREVIEW_SECONDS = 10.0
# Stage 2 runs thousands of small steps (a few dozen rows x d_model): a second intra-op thread only
# adds synchronisation, and on a busy machine it spins (bench/generation.py: 1 thread 33 s wall,
# 2 threads 253 s on a shared 2-core box), as models/lighting.py measured for stage 3.
DECODE_THREADS = 1


class NoNotesError(ValueError):
    """A difficulty would have no notes: an error with a one-line reason, never an empty map."""


@dataclass(frozen=True)
class SongAudio:
    """A decoded song: native samples for export and mono SAMPLE_RATE samples for the models."""

    native: np.ndarray  # (n, channels) float32 at `rate`
    rate: int
    mono: np.ndarray  # (m,) float32 at audio.SAMPLE_RATE (what audio.load_audio gives)

    @property
    def seconds(self) -> float:
        return len(self.mono) / SAMPLE_RATE


@dataclass(frozen=True)
class DifficultyResult:
    """What generation did for one difficulty."""

    name: str  # "Expert", ...
    onsets: int  # snapped onsets = note groups decoded
    incomplete_groups: int  # groups max_length cut (then shortened to a valid end)
    raw_quality: QualityReport  # the decoder's notes, before post-processing
    quality: QualityReport  # the exported notes
    postprocess: PostProcessReport  # includes notes_changed_share
    light_events: int  # basic light events + boosts exported
    seconds: dict[str, float]  # wall time per stage: onsets, notes, lights, postprocess

    @property
    def notes(self) -> int:
        return self.quality.notes

    def summary(self) -> str:
        """One line: notes, NPS, parity errors, share changed by post-processing, time taken."""
        q = self.quality
        return (
            f"{self.name}: {q.notes} notes, {q.nps:.2f} NPS, {q.parity_errors} parity errors, "
            f"{self.postprocess.notes_changed_share:.1%} of notes changed by post-processing, "
            f"{sum(self.seconds.values()):.1f} s"
        )


@dataclass(frozen=True)
class GenerationResult:
    """A generated map, where it was written, and how it was made."""

    beatmap: BeatMap  # as exported (export defaults filled in by export.prepare_beatmap on write)
    path: Path | None  # the zip or folder written, None when `out` was None
    tempo: TempoEstimate  # bpm, phase (first beat, original audio), confidence, source
    alignment: BeatAlignment  # the map timeline: beat 0 at second 0 of the padded (exported) audio
    difficulties: list[DifficultyResult]
    seconds: dict[str, float]  # wall time per song-level stage: decode, tempo, features, encode, export
    duration_seconds: float  # exported audio length (padded)
    encode_seconds: float = 0.0  # Vorbis encoding wall time (in a thread, overlapping the models)
    models: dict[str, str] = field(default_factory=dict)  # stage -> checkpoint path

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values()) + sum(sum(d.seconds.values()) for d in self.difficulties)

    def stage_seconds(self) -> dict[str, float]:
        """Wall time per stage over the whole map (difficulty stages summed over difficulties)."""
        out = dict(self.seconds)
        for d in self.difficulties:
            for k, v in d.seconds.items():
                out[k] = out.get(k, 0.0) + v
        return out


@dataclass(frozen=True)
class GenerationRequest:
    """Everything a difficulty's generation reads besides the song, fixed for one `generate_level` call.

    `seed` is the one seed of the call: stage 2 sampling, stage 3 lighting and post-processing's added
    bombs/walls get it (`decoding_for`, `lighting_for`, `postprocess_for`), so a caller never sets it
    in three option objects."""

    options: GenerationOptions
    models: GenerationModels
    decoding: DecodingOptions
    lighting: LightingOptions = LightingOptions()
    seed: int = 0
    streams: int = DEFAULT_STREAMS
    decode_threads: int | None = DECODE_THREADS

    def decoding_for(self, up_down_bias: float) -> DecodingOptions:
        return replace(self.decoding, seed=self.seed, up_down_bias=up_down_bias)

    def lighting_for(self, difficulty_index: int) -> LightingOptions:
        chroma = self.options.postprocess.chroma_palette is not None
        return replace(self.lighting, difficulty=difficulty_index, seed=self.seed, chroma=chroma)

    def postprocess_for(self) -> PostProcessOptions:
        return replace(self.options.postprocess, seed=self.seed)


@dataclass(frozen=True)
class _Song:
    """What every difficulty of one song shares: its features, beat alignment and length."""

    feats: AudioFeatures
    alignment: BeatAlignment
    duration: float


def song_audio(source: str | os.PathLike | bytes | np.ndarray, sample_rate: int | None = None) -> SongAudio:
    """Decode a file (anything soundfile reads; `audio.load_song`: header checked against the limits,
    decoded a block at a time) or take an array ((n,) or (n, channels), with `sample_rate`). Raises
    AudioError with a one-line reason."""
    if not isinstance(source, np.ndarray):
        native, rate, mono = audio_mod.load_song(source)
        return SongAudio(native, rate, mono)
    if not sample_rate or sample_rate <= 0:
        raise AudioError("an audio array needs a positive sample_rate")
    data, rate = np.asarray(source, dtype=np.float32), int(sample_rate)
    data = data[:, None] if data.ndim == 1 else data
    if data.ndim != 2 or data.size == 0:
        raise AudioError("audio is empty")
    if not np.all(np.isfinite(data)):
        raise AudioError("audio has non-finite samples")
    mono = data.mean(axis=1)
    mono = audio_mod.resample(mono, rate)  # exactly audio.load_audio's resampling: features match training
    return SongAudio(data, int(rate), np.ascontiguousarray(mono, dtype=np.float32))


def check_mappable(mono: np.ndarray) -> None:
    """Raise AudioError (one line) for a song too short or too quiet to map (limits.MIN_GENERATE_SECONDS,
    SILENT_PEAK_DBFS): mono float32 at SAMPLE_RATE."""
    seconds = len(mono) / SAMPLE_RATE
    if seconds < MIN_GENERATE_SECONDS:
        raise AudioError(f"the song is {seconds:.1f} s long; automapper maps songs of at least "
                         f"{MIN_GENERATE_SECONDS:g} s")  # fmt: skip
    window = max(1, int(SILENCE_WINDOW_SECONDS * SAMPLE_RATE))
    whole = len(mono) // window * window
    windows = mono[:whole].reshape(-1, window)
    # the loudest window's mean square, computed a slice of windows at a time (each window's value as
    # one float64 pass would give it): a 29-minute song would need two 300 MB float64 copies at once
    loudest = max(
        (
            (windows[i : i + 1024].astype(np.float64) ** 2).mean(axis=1).max()
            for i in range(0, len(windows), 1024)
        ),
        default=0.0,
    )
    peak = 10.0 * np.log10(max(float(loudest), 1e-30))
    if peak < SILENT_PEAK_DBFS:
        raise AudioError(f"the song is silent (its loudest {SILENCE_WINDOW_SECONDS:g} s is {max(peak, -120):.0f} "
                         f"dBFS, under {SILENT_PEAK_DBFS:g}); no map was written")  # fmt: skip


def snapped_onsets(
    times: np.ndarray, alignment: BeatAlignment, subdivisions: Sequence[int], duration_seconds: float
) -> np.ndarray:
    """Onset times (seconds of the PADDED audio) -> sorted distinct grid ticks (TICKS_PER_BEAT per beat)
    on the nearest 1/k beat over k in `subdivisions`, inside the song and the tokenizer's range."""
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64)
    beats = snap_beats(np.asarray(times, dtype=np.float64) * alignment.bpm / 60.0, tuple(subdivisions))
    ticks = np.unique(np.rint(beats * TICKS_PER_BEAT).astype(np.int64))
    last = min(duration_seconds * alignment.bpm / 60.0, float(MAX_BEAT)) * TICKS_PER_BEAT
    return ticks[(ticks >= 0) & (ticks <= last)]


def timing_prefixes(ticks: np.ndarray) -> list[list[int]]:
    """Each group's forced timing tokens: the gap from the previous onset (from beat 0 for the first)."""
    gaps = np.diff(np.asarray(ticks, dtype=np.int64), prepend=0)
    return [delta_tokens(int(g)) for g in gaps]


def _check(names: Sequence[str], options: GenerationOptions) -> list[str]:
    for k in options.subdivisions:
        if not (isinstance(k, int) and k >= 1 and TICKS_PER_BEAT % k == 0):
            raise ValueError(f"subdivision 1/{k} is not on the {TICKS_PER_BEAT}-tick grid")
    if options.environment_name not in KNOWN_ENVIRONMENTS:
        raise InvalidValueError(
            f"unknown environment {options.environment_name!r}; use one of the game's, e.g. DefaultEnvironment"
        )
    if not names:
        raise ValueError("no difficulty to generate")
    unknown = [n for n in names if n not in DIFFICULTY_RANKS]
    if unknown:
        raise ValueError(f"unknown difficulty {unknown[0]!r} (one of {', '.join(DIFFICULTY_RANKS)})")
    return sorted(set(names), key=DIFFICULTY_RANKS.__getitem__)


def generate_level(
    audio: str | os.PathLike | bytes | np.ndarray | SongAudio,
    difficulties: Sequence[str] | None = None,
    options: GenerationOptions = GenerationOptions(),
    *,
    models: GenerationModels | str | os.PathLike,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    decoding: DecodingOptions | None = None,
    lighting: LightingOptions = LightingOptions(),
    streams: int = DEFAULT_STREAMS,
    sample_rate: int | None = None,
    progress: ProgressFn | None = None,
    decode_threads: int | None = DECODE_THREADS,
) -> GenerationResult:
    """Generate a map for `audio` (a file, bytes, or an array with `sample_rate`); see the module docstring.

    difficulties: names (default `options.difficulties`); models: loaded GenerationModels or a models
    folder; out: a .zip path or a folder (None: nothing written); seed: makes sampling, lighting and
    added bombs/walls deterministic; decoding / lighting: stage 2 / 3 options (their seed, difficulty
    and Chroma switch are set here); decode_threads: torch threads for stage 2 (None: leave torch's).
    Raises AudioError (undecodable audio), MissingModelsError,
    ModelLoadError, InvalidValueError / ValueError for bad options; each with a one-line reason."""
    names = _check(list(difficulties or options.difficulties), options)
    m = models if isinstance(models, GenerationModels) else load_models(models)
    if decoding is None:
        decoding = default_decoding(str(m.sequence.head.weight.device))
    total = SONG_STEPS + DIFFICULTY_STEPS * len(names) + 1
    step = [0]

    def tick(label: str) -> None:
        if progress is not None:
            progress(step[0], total, label)
        step[0] += 1

    torch.manual_seed(seed)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    tick("decoding audio")
    song = audio if isinstance(audio, SongAudio) else song_audio(audio, sample_rate)
    check_mappable(song.mono)
    seconds["decode"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tick("tempo")
    tempo = resolve_tempo(song.mono, options.bpm, options.first_beat_seconds)
    alignment = beat_timing(tempo.bpm, tempo.first_beat_seconds)
    seconds["tempo"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tick("features")
    pool = ThreadPoolExecutor(max_workers=1) if out is not None else None
    ogg: Future[bytes] | None = None
    try:
        if pool is not None:  # Vorbis encoding overlaps the models (libsndfile releases the GIL)
            ogg = pool.submit(_timed_encode, _export_samples(song, alignment), song.rate)
        feats = audio_mod.compute_features(alignment.pad_audio(song.mono, SAMPLE_RATE))
        duration = feats.duration
        seconds["features"] = time.perf_counter() - t0
        shared = _Song(feats, alignment, duration)
        request = GenerationRequest(options, m, decoding, lighting, seed, streams, decode_threads)

        results: list[DifficultyResult] = []
        diffs: list[Difficulty] = []
        for name in names:  # easiest first: a harder difficulty never gets fewer onsets
            diff, res = _difficulty(
                name, shared, request, tick, at_least=results[-1].onsets if results else 0
            )
            diffs.append(diff)
            results.append(res)

        beatmap = BeatMap(
            info_version="2.1.0",
            title=options.title or (Path(audio).stem if isinstance(audio, str | os.PathLike) else "Untitled"),
            artist=options.artist,
            mapper=options.mapper,
            bpm=alignment.bpm,
            audio_filename="song.egg",
            preview_start=_preview_start(feats, duration),
            preview_duration=min(PREVIEW_SECONDS, duration),
            environment_name=options.environment_name,
            difficulties=diffs,
        )
        t0 = time.perf_counter()
        tick("export")
        path, encode_seconds = None, 0.0
        if ogg is not None and out is not None:
            data, encode_seconds = ogg.result()
            seconds["encode_wait"] = time.perf_counter() - t0
            path = export_level(beatmap, data, out, cover=song_cover(feats.mel))
            seconds["export"] = time.perf_counter() - t0 - seconds["encode_wait"]
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if progress is not None:
        progress(total, total, "done")
    return GenerationResult(
        beatmap=beatmap,
        path=path,
        tempo=tempo,
        alignment=alignment,
        difficulties=results,
        seconds=seconds,
        duration_seconds=duration,
        encode_seconds=encode_seconds,
        models={k: str(v) for k, v in m.paths.items()},
    )


def _export_samples(song: SongAudio, alignment: BeatAlignment) -> np.ndarray:
    """The native audio, padded like the features' audio ((n,) or (n, 2): Vorbis export takes 1-2 channels)."""
    native = song.native if song.native.shape[1] == 2 else song.native.mean(axis=1)
    pad = int(round(alignment.pad_seconds * song.rate))
    return np.pad(native, ((pad, 0),) + ((0, 0),) * (native.ndim - 1))


def _timed_encode(samples: np.ndarray, rate: int) -> tuple[bytes, float]:
    t0 = time.perf_counter()
    return encode_song(samples, rate), time.perf_counter() - t0


def _preview_start(feats: AudioFeatures, duration: float) -> float:
    """Start of the preview: 2 s before the loudest ~4 s section (structure row 5), inside the song."""
    if feats.n_frames == 0 or duration <= PREVIEW_SECONDS:
        return 0.0
    peak = float(np.argmax(feats.structure[5])) * FRAME_SECONDS
    return round(float(np.clip(peak - 2.0, 0.0, duration - PREVIEW_SECONDS)), 2)


def _up_down_bias(decoding: DecodingOptions, name: str) -> float:
    """The caller's bias when set, else the difficulty's default (UP_DOWN_BIAS)."""
    return decoding.up_down_bias if decoding.up_down_bias is not None else UP_DOWN_BIAS.get(name, 0.0)


def _difficulty(
    name: str, song_: _Song, request: GenerationRequest, tick: Callable[[str], None], at_least: int = 0
) -> tuple[Difficulty, DifficultyResult]:
    from automapper_ml.models.onset import predict_song

    feats, alignment, duration = song_.feats, song_.alignment, song_.duration
    options, m, decoding = request.options, request.models, request.decoding
    index = DIFFICULTY_INDEX[name]
    timing = alignment.timing
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    tick(f"{name}: onsets")
    with torch.inference_mode():
        curve = predict_song(m.onset, feats.mel, feats.structure, index)
    times, heights = peak_candidates(curve, min(FLOOR, m.onset_threshold), MIN_PEAK_DISTANCE)
    ticks = choose_onsets(
        times,
        heights,
        m.onset_threshold,
        m.density.bounds(name, duration),
        lambda t: snapped_onsets(t, alignment, options.subdivisions, duration),
        at_least=at_least,
    )
    if len(ticks) == 0:
        raise NoNotesError(
            f"{name}: stage 1 finds no onset in this audio (is it silent, or almost?); no map was written"
        )
    beats = ticks / TICKS_PER_BEAT
    frames = np.clip(np.rint(beats * 60.0 / alignment.bpm / FRAME_SECONDS), 0, max(feats.n_frames - 1, 0))
    seconds["onsets"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tick(f"{name}: notes")
    threads = torch.get_num_threads()
    if request.decode_threads:
        torch.set_num_threads(request.decode_threads)
    bias = _up_down_bias(decoding, name)
    retries = UP_DOWN_RETRIES if decoding.up_down_bias is None else 0
    best = None
    try:
        for attempt in range(retries + 1):
            song = decode_song(
                m.sequence, feats.mel, feats.structure, frames.astype(np.int64), index,
                request.decoding_for(bias - attempt * UP_DOWN_STEP), request.streams,
                timing_prefixes(ticks),
            )  # fmt: skip
            groups = [NoteGroup(float(b), g) for b, g in zip(beats, song.groups, strict=True)]
            objects = decode_notes(groups)
            raw_quality = quality_report(objects.notes, timing, objects.bombs, options.subdivisions, duration)
            if best is None or raw_quality.up_down_share < best[3].up_down_share:
                best = (song, groups, objects, raw_quality)
            if raw_quality.up_down_share <= UP_DOWN_LIMIT:
                break
    finally:
        torch.set_num_threads(threads)
    song, groups, objects, raw_quality = best
    seconds["notes"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tick(f"{name}: lights")
    step = m.lighting.config.step
    n_steps = int(np.floor(duration * alignment.bpm / 60.0 / step)) + 1
    step_beats = np.arange(n_steps) * step
    sbf = np.stack([step_beats, step_beats * 60.0 / alignment.bpm / FRAME_SECONDS], axis=1)
    lights = decode_lights(
        generate_lights(m.lighting, feats.mel, feats.structure, groups, sbf, request.lighting_for(index)),
        step,
    )
    seconds["lights"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tick(f"{name}: post-processing")
    raw = Difficulty(
        characteristic="Standard",
        name=name,
        rank=DIFFICULTY_RANKS[name],
        filename=f"{name}Standard.dat",
        version="3.3.0",
        njs=float(options.njs.get(name, DEFAULT_NJS[name])),
        njs_offset=float(options.njs_offset.get(name, DEFAULT_OFFSET)),
        **objects.lists(),
        **lights.lists(),
    )
    pp_options = request.postprocess_for()
    diff, report = postprocess(raw, timing, pp_options, name, duration_seconds=duration)
    if pp_options.sliders:
        add_sliders(diff, timing, feats.structure, name)
    quality = quality_report(diff.notes, timing, diff.bombs, options.subdivisions, duration)
    if not diff.notes:
        raise NoNotesError(f"{name}: {len(ticks)} onsets but no note survived decoding; no map was written")
    seconds["postprocess"] = time.perf_counter() - t0
    result = DifficultyResult(
        name=name,
        onsets=len(ticks),
        incomplete_groups=sum(1 for c in song.complete if not c),
        raw_quality=raw_quality,
        quality=quality,
        postprocess=report,
        light_events=len(diff.events) + len(diff.boosts),
        seconds=seconds,
    )
    return diff, result

"""Preprocessing throughput: maps/s and audio-seconds/s per core, beside the floor (decode + STFT).

    python bench/preprocess.py [--songs N] [--seconds S]

Generates a demo corpus (no broken zips) of N songs of S seconds in a temp folder, then times, on
one core (torch and BLAS limited to one thread), for every map zip:
  floor  = decode the song (soundfile + resample) + the STFT power spectrogram, nothing else;
  full   = everything `audio_features` and `map_tokens` do per map (read the map, decode,
           log-mel, structure features, beat grid, tokenize every Standard difficulty).
Goal (issue 4): >= 1 map/s per core for 3-minute songs and full within 2x of the floor.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402

from automapper_ml import audio  # noqa: E402
from automapper_ml.data.features import MapZip, audio_records, token_records  # noqa: E402
from automapper_ml.formats import open_map_source, read_map  # noqa: E402
from automapper_ml.synth import DemoConfig, generate_demo_corpus  # noqa: E402


def _floor(entry: MapZip) -> float:
    source = open_map_source(entry.path)
    beatmap = read_map(source)
    samples = audio.load_audio(source.read_bytes(beatmap.audio_filename))
    audio.power_spectrogram(samples)
    return len(samples) / audio.SAMPLE_RATE


def _full(entry: MapZip) -> None:
    audio_records(entry)
    token_records(entry)


def measure(songs: int, seconds: float, workdir: Path) -> dict:
    config = DemoConfig(
        n_songs=songs, min_seconds=seconds, max_seconds=seconds, n_reference=0, include_broken=False
    )
    generate_demo_corpus(workdir, config)
    zips = sorted((workdir / "raw").glob("*.zip"))
    entries = [MapZip(p.stem, p, hashlib.sha256(p.read_bytes()).hexdigest()) for p in zips]
    _full(entries[0])  # warm caches (mel filters, numba, imports)
    started = time.perf_counter()
    audio_seconds = sum(_floor(e) for e in entries)
    floor = time.perf_counter() - started
    started = time.perf_counter()
    for e in entries:
        _full(e)
    full = time.perf_counter() - started
    return {"maps": len(entries), "audio_s": audio_seconds, "floor_s": floor, "full_s": full}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--songs", type=int, default=6)
    parser.add_argument("--seconds", type=float, nargs="*", default=[40.0, 180.0])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"{'song length':>11}  {'maps':>4}  {'maps/s':>7}  {'audio s/s':>9}  {'floor maps/s':>12}  {'full/floor':>10}"
    )
    for seconds in args.seconds:
        with tempfile.TemporaryDirectory() as tmp:
            r = measure(args.songs, seconds, Path(tmp))
        print(
            f"{seconds:>10.0f}s  {r['maps']:>4}  {r['maps'] / r['full_s']:>7.2f}  {r['audio_s'] / r['full_s']:>9.0f}"
            f"  {r['maps'] / r['floor_s']:>12.2f}  {r['full_s'] / r['floor_s']:>10.2f}"
        )
    print("per core: one process, one thread; goal >= 1 map/s for 180 s songs and full/floor <= 2")


if __name__ == "__main__":
    main()

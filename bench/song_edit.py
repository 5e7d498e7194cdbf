"""`automapper edit` on real songs: every song of ../shared/corpus at least `--min-seconds` long,
shortened to `--seconds` by generation.song_edit, judged by evaluation.song_edits: length, the
distance of each join to the nearest beat of the EDITED song's own detected grid, the join's click
measure (editing.assemble.join_clicks; above 2 is a click) beside the same cut made without the
crossfade, and the wall time per song (decode excluded, plan + render + write-ready audio included).

    .venv/bin/python bench/song_edit.py --songs 12 --seconds 120
"""

from __future__ import annotations

import argparse
import io
import time
import zipfile
from pathlib import Path

import numpy as np

from automapper_ml.audio import SAMPLE_RATE, load_song
from automapper_ml.editing.assemble import join_clicks, render_spans
from automapper_ml.evaluation.song_edits import judge_edit
from automapper_ml.generation.song_edit import plan_song_edit, render_song_edit
from automapper_ml.generation.tempo import detect_tempo

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def song_bytes(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        audio = [i for i in z.infolist() if i.filename.lower().endswith((".egg", ".ogg"))]
        return z.read(max(audio, key=lambda i: i.file_size)) if audio else b""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--songs", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--min-seconds", type=float, default=170.0)
    parser.add_argument("--method", default="splice")
    args = parser.parse_args()
    rows = []
    for path in sorted(args.corpus.glob("*.zip")):
        if len(rows) >= args.songs:
            break
        data = song_bytes(path)
        if not data:
            continue
        try:
            native, rate, mono = load_song(io.BytesIO(data).getvalue())
        except ValueError:
            continue
        if len(mono) / SAMPLE_RATE < args.min_seconds:
            continue
        started = time.perf_counter()
        edit = plan_song_edit(mono, args.seconds, args.method)
        render_song_edit(native, rate, edit)
        seconds = time.perf_counter() - started
        out = render_song_edit(mono, SAMPLE_RATE, edit)
        tempo = detect_tempo(out, SAMPLE_RATE)
        beats = tempo.first_beat_seconds + np.arange(int(edit.seconds * tempo.bpm / 60) + 2) * 60 / tempo.bpm
        judged = judge_edit(out, mono, edit.join_points(), args.seconds, beats)
        spans = [(round(a * SAMPLE_RATE), round((b - a) * SAMPLE_RATE)) for a, b in edit.spans]
        hard = render_spans(mono, SAMPLE_RATE, spans, crossfade_seconds=1 / SAMPLE_RATE)
        samples = [tuple(round(t * SAMPLE_RATE) for t in j) for j in edit.join_points()]
        hard_clicks = join_clicks(hard, mono, SAMPLE_RATE, samples) if samples else []
        rows.append((path.stem[:38], len(mono) / SAMPLE_RATE, judged, hard_clicks, seconds))
        off = max(judged.beat_offsets, default=float("nan")) * 1000
        print(f"{path.stem[:38]:<38} {len(mono) / SAMPLE_RATE:6.1f} s -> {judged.seconds:6.1f} s  "
              f"{edit.method:<8} joins {len(judged.joins)}  worst beat offset {off:5.1f} ms  "
              f"click {max(judged.clicks, default=0):5.2f} (no crossfade {max(hard_clicks, default=0):7.1f})  "
              f"{seconds:4.1f} s", flush=True)  # fmt: skip
    lengths = np.array([r[2].seconds for r in rows])
    print(f"\n{len(rows)} songs: length {lengths.min():.1f}-{lengths.max():.1f} s "
          f"({np.mean((lengths >= 110) & (lengths <= 130)):.0%} in 110-130 s); "
          f"joins on a beat (+-50 ms): {np.mean([r[2].on_beat for r in rows]):.0%}; "
          f"click-free: {np.mean([r[2].click_free for r in rows]):.0%}; "
          f"median click {np.median([c for r in rows for c in r[2].clicks]):.2f} vs "
          f"{np.median([c for r in rows for c in r[3]]):.1f} without the crossfade; "
          f"seconds per song: median {np.median([r[4] for r in rows]):.1f}, max {max(r[4] for r in rows):.1f}")  # fmt: skip


if __name__ == "__main__":
    main()

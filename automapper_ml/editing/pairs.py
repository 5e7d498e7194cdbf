"""Edit pairs on disk: <folder>/<name>/raw.<ext> and edit.<ext> (ext one of PAIR_SUFFIXES), and for
synthetic pairs a truth.json (synth.edits) with the true pointers.

    pairs, problems = scan_pairs(Path("data/edits"))
    row, reason = align_pair(pair)          # a table row, or None and the blacklist reason
    png = plot_alignment(row)

Nothing here unpickles: audio goes through soundfile (automapper_ml.audio), truth through json.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automapper_ml.audio import SAMPLE_RATE, AudioError, load_audio
from automapper_ml.data.rawzips import sha256_file
from automapper_ml.editing.align import align_audio
from automapper_ml.editing.pointers import EDIT_FRAME_SECONDS, cut_frames

PAIR_SUFFIXES = (".wav", ".ogg", ".flac", ".mp3")
CUT_TOLERANCE = 5  # editor frames: a found cut this close to a true one matches it


@dataclass(frozen=True)
class EditPairFiles:
    name: str
    raw: Path
    edit: Path
    truth: Path | None

    def fingerprint(self) -> list:
        return [self.name] + [
            [p.name, p.stat().st_size, sha256_file(p)] for p in (self.raw, self.edit, self.truth) if p
        ]


def _one(folder: Path, stem: str) -> Path | None | str:
    found = [folder / f"{stem}{s}" for s in PAIR_SUFFIXES if (folder / f"{stem}{s}").is_file()]
    if len(found) > 1:
        return f"more than one {stem} file ({', '.join(p.name for p in found)})"
    return found[0] if found else None


def scan_pairs(folder: Path) -> tuple[list[EditPairFiles], dict[str, str]]:
    """Every complete pair under `folder`, sorted by name, and {name: reason} for incomplete ones."""
    pairs, problems = [], {}
    if not folder.is_dir():
        return pairs, problems
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        raw, edit = _one(sub, "raw"), _one(sub, "edit")
        reason = next((x for x in (raw, edit) if isinstance(x, str)), None)
        if reason is None and (raw is None or edit is None):
            reason = f"needs raw.<ext> and edit.<ext> ({'/'.join(s[1:] for s in PAIR_SUFFIXES)})"
        if reason:
            problems[sub.name] = reason
            continue
        truth = sub / "truth.json"
        pairs.append(EditPairFiles(sub.name, raw, edit, truth if truth.is_file() else None))  # type: ignore[arg-type]
    return pairs, problems


def read_truth(path: Path) -> np.ndarray:
    """The true pointers of a synthetic pair's truth.json (a list of non-negative ints)."""
    data = json.loads(path.read_text())
    pointers = data.get("pointers") if isinstance(data, dict) else None
    if not isinstance(pointers, list) or not all(isinstance(p, int) and p >= 0 for p in pointers):
        raise ValueError(f"{path}: 'pointers' must be a list of non-negative integers")
    return np.array(pointers, dtype=np.int64)


def align_pair(pair: EditPairFiles) -> tuple[dict | None, str | None]:
    """Align one pair: (row, None), or (None, reason) when it cannot be read or does not align."""
    try:
        raw, edit = load_audio(pair.raw), load_audio(pair.edit)
        result = align_audio(raw, edit)
    except (AudioError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    problem = result.problem()
    if problem:
        return None, problem
    row = {
        "pair": pair.name, "raw_frames": int(len(raw) // round(EDIT_FRAME_SECONDS * SAMPLE_RATE)),
        "edit_frames": len(result.pointers), "edit_seconds": round(len(edit) / SAMPLE_RATE, 3),
        "raw_seconds": round(len(raw) / SAMPLE_RATE, 3), "cost": round(result.cost, 5),
        "distance_db": round(result.distance_db, 3), "cuts": result.cuts.tolist(),
        "pointers": result.pointers.tolist(), "gain_db": [round(float(g), 2) for g in result.gain_db],
        "ops": result.ops.tolist(), "exact": None, "within_5": None, "cut_f1": None,
    }  # fmt: skip
    if pair.truth is not None:
        try:
            truth = read_truth(pair.truth)
        except (ValueError, json.JSONDecodeError) as exc:
            return None, f"truth.json: {exc}"
        row.update(pointer_scores(result.pointers, truth))
    return row, None


def pointer_scores(found: np.ndarray, truth: np.ndarray, tolerance: int = CUT_TOLERANCE) -> dict:
    """Exact and within-5-frame pointer accuracy over the true edit's frames (frames past the shorter
    sequence count as wrong) and cut-point F1 (a found cut within `tolerance` frames of a true one)."""
    n = max(len(truth), 1)
    m = min(len(found), len(truth))
    diff = np.abs(np.asarray(found[:m]) - np.asarray(truth[:m]))
    return {"exact": float((diff == 0).sum() / n), "within_5": float((diff <= 5).sum() / n),
            "cut_f1": cut_f1(cut_frames(found), cut_frames(truth), tolerance)}  # fmt: skip


def cut_f1(found: np.ndarray, truth: np.ndarray, tolerance: int = CUT_TOLERANCE) -> float:
    """F1 of cut frames, each true cut matched at most once (greedy by distance); 1.0 when neither has one."""
    if len(found) == 0 and len(truth) == 0:
        return 1.0
    pairs = sorted((abs(int(f) - int(t)), i, k) for i, f in enumerate(found) for k, t in enumerate(truth))
    used_f, used_t, hits = set(), set(), 0
    for d, i, k in pairs:
        if d <= tolerance and i not in used_f and k not in used_t:
            used_f.add(i), used_t.add(k)
            hits += 1
    return 2.0 * hits / (len(found) + len(truth))


def plot_alignment(row: dict) -> bytes:
    """PNG: raw time against edit time (the pointer path), cuts marked, gain below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = np.array(row["pointers"]) * EDIT_FRAME_SECONDS
    t = np.arange(len(p)) * EDIT_FRAME_SECONDS
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), dpi=80, sharex=True, height_ratios=(3, 1))
    top.plot(t, p, ".", ms=1.5)
    for c in row["cuts"]:
        top.axvline(c * EDIT_FRAME_SECONDS, color="tab:red", lw=0.6)
    top.set_ylabel("raw time (s)")
    top.set_title(f"{row['pair']}: {len(row['cuts'])} cuts, {row['distance_db']:.2f} dB re-assembled")
    bottom.plot(t, row["gain_db"], lw=0.8)
    bottom.set_ylabel("gain (dB)")
    bottom.set_xlabel("edit time (s)")
    bottom.set_ylim(-40, 3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()

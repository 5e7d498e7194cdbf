"""A cover image for a generated map, drawn from the song itself: its log-mel spectrogram wound into
a record. Time runs clockwise from 12 o'clock, low frequencies inside, high ones outside; loud
bins glow in the sabers' colours (red on the left half, blue on the right) and turn white at the top.

Why a drawing of the audio and no title text: every song gets its own image with nothing to
download, and the game's song list and BeatSaver print the title next to the cover anyway (Pillow's
built-in font has no CJK or emoji glyphs, so text would be boxes for many titles).

`song_cover(mel)` is a pure function: the same mel gives the same bytes (numpy + Pillow's JPEG
encoder, no clock, no randomness). 3-minute song on one core: ~50 ms (measured on a
busy 2-core machine; tests/ml/generation/test_cover.py holds it under 0.5 s).
"""

from __future__ import annotations

import io

import numpy as np

COVER_SIZE = 512  # pixels, square: BeatSaver wants a square cover of at least 256 x 256
COVER_FORMAT = "JPEG"  # a spectrogram is smooth: ~60 KB as JPEG against ~400 KB as PNG
JPEG_QUALITY = 90
COLUMNS = 720  # time steps around the record (half a degree each)
INNER, OUTER = 0.24, 0.94  # ring radii as shares of half the image
LABEL = 0.20  # radius of the centre label
HOLE = 0.025  # radius of the spindle hole
LOW, HIGH = 2.0, 99.7  # percentiles of the song's mel mapped to dark and full glow
# RGB 0..1: background, the two sabers (Beat Saber's default red and blue), highlight.
BACKGROUND = np.array([0.035, 0.035, 0.07])
RED = np.array([0.784, 0.078, 0.078])
BLUE = np.array([0.157, 0.557, 0.824])
WHITE = np.array([1.0, 0.96, 0.92])


def song_cover(mel: np.ndarray) -> bytes:
    """(n_mels, T) log-mel of the song -> a COVER_SIZE x COVER_SIZE RGB JPEG (bytes). An empty or
    flat (silent) mel gives a plain record. Deterministic."""
    from PIL import Image

    rgb = cover_pixels(np.asarray(mel, dtype=np.float32))
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=COVER_FORMAT, quality=JPEG_QUALITY)
    return buffer.getvalue()


def cover_pixels(mel: np.ndarray) -> np.ndarray:
    """(n_mels, T) log-mel -> (COVER_SIZE, COVER_SIZE, 3) uint8 RGB, the picture `song_cover` encodes."""
    level = _ring_levels(mel)  # (n_mels, columns) 0..1
    n_mels, columns = level.shape
    centre = (COVER_SIZE - 1) / 2.0
    y, x = np.mgrid[0:COVER_SIZE, 0:COVER_SIZE].astype(np.float32)
    dx, dy = (x - centre) / (COVER_SIZE / 2.0), (y - centre) / (COVER_SIZE / 2.0)
    radius = np.hypot(dx, dy)  # (S, S), 1.0 at the image edge
    turn = (np.arctan2(dx, -dy) / (2 * np.pi)) % 1.0  # (S, S), 0 at 12 o'clock, clockwise

    # Bilinear look-up: frequency along the radius (clamped), time around the circle (wrapping).
    f = np.clip((radius - INNER) / (OUTER - INNER), 0.0, 1.0) * (n_mels - 1)
    t = turn * columns
    f0 = np.minimum(f.astype(np.int64), n_mels - 1)
    f1 = np.minimum(f0 + 1, n_mels - 1)
    t0 = t.astype(np.int64) % columns
    t1 = (t0 + 1) % columns
    wf, wt = f - f0, t - np.floor(t)
    v = (level[f0, t0] * (1 - wt) + level[f0, t1] * wt) * (1 - wf) + (
        level[f1, t0] * (1 - wt) + level[f1, t1] * wt
    ) * wf  # (S, S)

    px = 1.5 / COVER_SIZE  # soft edges, about a pixel and a half wide, instead of jagged circles
    ring = _step(radius, INNER - px, INNER + px) * (1 - _step(radius, OUTER - px, OUTER + px))
    left = _step(dx, 0.35, -0.35)[..., None]  # 1 on the left (red), 0 on the right (blue)
    saber = RED * left + BLUE * (1 - left)  # (S, S, 3)
    glow = (v**1.6)[..., None] * ring[..., None]
    hot = (np.clip((v - 0.8) / 0.2, 0.0, 1.0) ** 2)[..., None] * ring[..., None]
    vignette = (1.0 - 0.45 * np.clip(radius, 0.0, 1.4) ** 2)[..., None]
    img = BACKGROUND * vignette * (1 - glow) + saber * glow
    img = img * (1 - hot) + WHITE * hot

    # The centre label, in the song's overall colour balance, and its spindle hole.
    label = (1 - _step(radius, LABEL - px, LABEL + px))[..., None]
    third = max(n_mels // 3, 1)  # bass-heavy songs get a redder label, bright ones a bluer one
    tint = float(np.clip(level[:third].mean() - level[-third:].mean() + 0.5, 0.0, 1.0))
    label_rgb = 0.55 * (RED * tint + BLUE * (1 - tint)) + 0.1
    img = img * (1 - label) + label_rgb * label
    hole = (1 - _step(radius, HOLE - px, HOLE + px))[..., None]
    img = img * (1 - hole) + BACKGROUND * hole
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def _ring_levels(mel: np.ndarray) -> np.ndarray:
    """(n_mels, T) log-mel -> (n_mels, columns) in 0..1: mean over equal time blocks, scaled between the
    song's LOW and HIGH percentiles (so quiet and loud masters look alike)."""
    if mel.ndim != 2 or mel.size == 0 or not np.all(np.isfinite(mel)):
        return np.zeros((max(mel.shape[0] if mel.ndim == 2 else 1, 2), 2), dtype=np.float32)
    n_mels, frames = mel.shape
    columns = min(COLUMNS, frames)
    edges = (np.arange(columns) * frames) // columns  # (columns,) block starts, strictly increasing
    counts = np.diff(np.append(edges, frames))
    blocks = np.add.reduceat(mel.astype(np.float64), edges, axis=1) / counts  # (n_mels, columns)
    lo, hi = np.percentile(blocks, [LOW, HIGH])
    if not hi - lo > 1e-6:  # silence or a constant: nothing to draw
        return np.zeros((max(n_mels, 2), max(columns, 2)), dtype=np.float32)
    level = np.clip((blocks - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    if n_mels < 2 or columns < 2:
        level = np.pad(level, ((0, max(0, 2 - n_mels)), (0, max(0, 2 - columns))), mode="edge")
    return level


def _step(x: np.ndarray, edge0: float, edge1: float) -> np.ndarray:
    """Smoothstep from 0 (at edge0) to 1 (at edge1); edge0 > edge1 gives the falling step."""
    s = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return s * s * (3 - 2 * s)

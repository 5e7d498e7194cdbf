"""The cover: a 512 x 512 JPEG drawn from the song's log-mel, the same bytes for the same song, another
picture for another song, cheap; export writes it into the zip or folder and Info.dat names it; and
`automapper generate` puts it there with the title and artist from the song's tags."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from automapper_ml.audio import FRAMES_PER_SECOND, N_MELS, compute_features
from automapper_ml.cli import main
from automapper_ml.commands.generate import song_names
from automapper_ml.formats import load_map
from automapper_ml.formats.errors import InvalidValueError
from automapper_ml.formats.writer import write_map
from automapper_ml.generation.cover import COVER_SIZE, song_cover
from automapper_ml.generation.export import export_level
from automapper_ml.synth.audio import render_song
from automapper_ml.synth.composition import compose_song
from tests.ml.formats.bsmap import bsmap_issues, failing
from tests.ml.formats.test_writer import OGG, full_map
from tests.ml.generation.test_level import make_models_dir

SR = 22050


def song_mel(seed: int, seconds: float = 10.0) -> np.ndarray:
    """(N_MELS, T) log-mel of a synthetic song (44.1 kHz render, resampled like any input)."""
    from scipy.signal import resample_poly

    return compute_features(resample_poly(render_song(compose_song(seed, seconds)), 1, 2)).mel


@pytest.fixture(scope="module")
def mels() -> tuple[np.ndarray, np.ndarray]:
    return song_mel(3), song_mel(7)


def pixels(cover: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(cover)) as img:
        assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (COVER_SIZE, COVER_SIZE))
        return np.asarray(img, dtype=np.float32)


def test_cover_is_a_square_jpeg_of_the_song(mels) -> None:
    a, b = mels
    cover = song_cover(a)
    assert COVER_SIZE == 512 and cover.startswith(b"\xff\xd8\xff") and len(cover) < 200_000
    img = pixels(cover)
    assert img.std() > 20.0  # a picture, not a flat square
    assert song_cover(a) == cover and song_cover(a.copy()) == cover  # deterministic
    other = pixels(song_cover(b))
    assert np.abs(img - other).mean() > 5.0  # another song, another picture
    # The same song, louder: the level is normalised per song, so the picture hardly changes.
    assert np.abs(img - pixels(song_cover(a + 1.0))).mean() < 1.0


@pytest.mark.parametrize(
    "mel",
    [np.zeros((N_MELS, 0)), np.full((N_MELS, 500), -10.0), np.zeros((N_MELS, 1)), np.zeros((1, 3))],
    ids=["empty", "silent", "one-frame", "one-band"],
)
@pytest.mark.filterwarnings("error")
def test_degenerate_songs_still_get_a_cover(mel: np.ndarray) -> None:
    assert pixels(song_cover(mel)).shape == (COVER_SIZE, COVER_SIZE, 3)


def test_cover_of_a_three_minute_song_is_cheap() -> None:
    """Only the mel's shape matters for the cost: a random 3-minute one (80 x 15,500 frames)."""
    mel = np.random.default_rng(0).normal(-4.0, 1.5, (N_MELS, int(180 * FRAMES_PER_SECOND)))
    mel = mel.astype(np.float32)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        song_cover(mel)
        best = min(best, time.perf_counter() - t0)
    assert best < 0.5, f"{best:.3f} s"


def test_export_writes_the_cover_and_info_names_it(tmp_path: Path, mels) -> None:
    cover = song_cover(mels[0])
    zipped = export_level(full_map(), OGG, tmp_path / "map.zip", cover=cover)
    with zipfile.ZipFile(zipped) as zf:
        assert zf.read("cover.jpg") == cover
        assert zf.getinfo("cover.jpg").compress_type == zipfile.ZIP_STORED  # JPEG is compressed already
        assert json.loads(zf.read("Info.dat"))["_coverImageFilename"] == "cover.jpg"
    assert load_map(zipped).cover_filename == "cover.jpg"
    folder = export_level(full_map(), OGG, tmp_path / "map", cover=cover)
    assert (folder / "cover.jpg").read_bytes() == cover
    report = bsmap_issues([folder / "Info.dat"])
    assert len(report) == 1 and failing(report) == {}


def test_writer_takes_png_and_refuses_other_images(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 20, 20)).save(buffer, format="PNG")
    folder = write_map(full_map(), tmp_path / "png", audio=OGG, cover=buffer.getvalue(), version="4")
    info = json.loads((folder / "Info.dat").read_text("utf-8"))
    assert (
        info["coverImageFilename"] == "cover.png" and (folder / "cover.png").read_bytes() == buffer.getvalue()
    )
    with pytest.raises(InvalidValueError, match="JPEG nor PNG"):
        write_map(full_map(), tmp_path / "gif.zip", audio=OGG, cover=b"GIF89a....")
    assert not (tmp_path / "gif.zip").exists()


def test_generate_names_the_map_from_the_tags_and_adds_the_cover(tmp_path: Path, capsys) -> None:
    song = tmp_path / "track_01.flac"
    with sf.SoundFile(song, "w", 44100, 1, format="FLAC") as f:
        f.title, f.artist = "Neon \u2728 Nights\n", "  The Synths "
        f.write(render_song(compose_song(5, 8.0)))
    models = make_models_dir(tmp_path / "models", song)
    base = ["generate", str(song), "--models", str(models), "-q", "--bpm", "120", "-d", "Hard"]
    out = tmp_path / "map.zip"
    assert main([*base, "-o", str(out)]) == 0, capsys.readouterr().err
    beatmap = load_map(out)
    assert (beatmap.title, beatmap.artist, beatmap.cover_filename) == (
        "Neon \u2728 Nights",
        "The Synths",
        "cover.jpg",
    )
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["HardStandard.dat", "Info.dat", "cover.jpg", "song.egg"]
        pixels(zf.read("cover.jpg"))


def test_flags_override_the_tags_and_the_file_name_is_the_last_resort(tmp_path: Path) -> None:
    tagged = tmp_path / "track_01.ogg"
    sf.write(tagged, np.zeros(SR), SR, format="OGG", subtype="VORBIS")
    assert song_names(tagged) == ("track_01", "")
    with sf.SoundFile(tagged, "w", SR, 1, format="OGG", subtype="VORBIS") as f:
        f.title, f.artist = "Tagged", "Tag Artist"
        f.write(np.zeros(SR))
    assert song_names(tagged) == ("Tagged", "Tag Artist")
    assert song_names(tagged, "Mine", "Me") == ("Mine", "Me")
    assert song_names(tagged, " \n ", "") == ("Tagged", "Tag Artist")  # a blank flag is no flag
    odd = tmp_path / "bad\udcff name\x07.ogg"  # a file name that is not valid UTF-8, with a BEL
    odd.write_bytes(b"not audio")
    assert song_names(odd) == ("bad name", "")
    assert song_names(tmp_path / "\x01.wav") == ("Untitled", "")

"""The rule-based song editor (`automapper edit`, generation.song_edit): on composed songs with known
bars and on real songs from ../shared/corpus, the edit lands near the target, every join is on a
beat of the edited song's own grid, no join clicks, and bad requests are one-line errors."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from automapper_ml.audio import SAMPLE_RATE, load_audio
from automapper_ml.cli import main
from automapper_ml.evaluation.song_edits import judge_edit
from automapper_ml.generation.song_edit import plan_song_edit, render_song_edit
from automapper_ml.generation.tempo import detect_tempo
from automapper_ml.synth.audio import encode_ogg, render_song
from automapper_ml.synth.composition import compose_song
from automapper_ml.synth.edits import bar_frames

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
REAL_SONGS = ("Aureliona1__Wet-Hands.zip", "RHKasper__Lovefool-172f2.zip")


def _beats(mono: np.ndarray) -> np.ndarray:
    tempo = detect_tempo(mono, SAMPLE_RATE)
    return (
        tempo.first_beat_seconds
        + np.arange(int(len(mono) / SAMPLE_RATE * tempo.bpm / 60) + 2) * 60 / tempo.bpm
    )


@pytest.fixture(scope="module")
def composed():
    song = compose_song(99, 75.0)
    return song, render_song(song, SAMPLE_RATE)


@pytest.mark.parametrize("method", ["splice", "truncate"])
def test_composed_song_edits_cut_on_its_bars(composed, method):
    song, mono = composed
    edit = plan_song_edit(mono, 45.0, method)
    bars = np.array([f for _, f in bar_frames(song)]) * 0.0464399  # editor frames -> seconds
    bar_seconds = 4 * 60.0 / song.bpm
    assert abs(edit.seconds - 45.0) <= bar_seconds
    cut_points = [b for a, b in edit.spans[:-1]] + [a for a, b in edit.spans[1:]]
    assert all(np.min(np.abs(bars - c)) <= 0.05 for c in cut_points)  # true bar starts (+-50 ms)
    out = render_song_edit(mono, SAMPLE_RATE, edit)
    assert len(out) == pytest.approx(edit.seconds * SAMPLE_RATE, abs=len(edit.spans))
    if method == "splice":
        assert len(edit.joins) == 1 and edit.spans[-1][1] == pytest.approx(len(mono) / SAMPLE_RATE)
        judged = judge_edit(out, mono, edit.join_points(), 45.0, _beats(out))
        assert judged.on_beat and judged.click_free, judged
    else:
        assert edit.joins == [] and edit.fade_out_seconds > 0 and np.abs(out[-50:]).max() < 1e-3


def test_bad_targets_are_errors(composed):
    _, mono = composed
    for seconds, match in ((200.0, "nothing to cut"), (2.0, "at least"), (float("nan"), "at least")):
        with pytest.raises(ValueError, match=match):
            plan_song_edit(mono, seconds)
    with pytest.raises(ValueError, match="unknown edit method"):
        plan_song_edit(mono, 30.0, "shuffle")


def test_cli_writes_the_edit_and_refuses_bad_input(composed, tmp_path, capsys):
    _, mono = composed
    song = tmp_path / "song.ogg"
    song.write_bytes(encode_ogg(mono, SAMPLE_RATE))
    out = tmp_path / "short.wav"
    assert main(["edit", str(song), "--ratio", "0.6", "-o", str(out), "-q"]) == 0
    info = sf.info(str(out))
    assert info.format == "WAV" and abs(info.duration - 45.0) < 3.0
    assert "joins at" in capsys.readouterr().out
    assert main(["edit", str(song), "--seconds", "500", "-q"]) == 2
    assert main(["edit", str(song), "--seconds", "30", "-o", str(tmp_path / "x.mp4"), "-q"]) == 2
    (tmp_path / "bad.ogg").write_bytes(b"OggS not really")
    assert main(["edit", str(tmp_path / "bad.ogg"), "--seconds", "30", "-q"]) == 2
    assert "automapper edit:" in capsys.readouterr().err


def _song_from_zip(path: Path) -> np.ndarray:
    with zipfile.ZipFile(path) as z:
        name = max(
            (i for i in z.infolist() if i.filename.lower().endswith((".egg", ".ogg"))),
            key=lambda i: i.file_size,
        )
        return load_audio(io.BytesIO(z.read(name)).getvalue())


@pytest.mark.slow
@pytest.mark.skipif(not all((CORPUS / z).is_file() for z in REAL_SONGS), reason="../shared/corpus is absent")
@pytest.mark.parametrize("zip_name", REAL_SONGS)
def test_real_song_to_two_minutes(zip_name):
    mono = _song_from_zip(CORPUS / zip_name)
    assert len(mono) / SAMPLE_RATE > 140  # a song longer than the target
    edit = plan_song_edit(mono, 120.0)
    out = render_song_edit(mono, SAMPLE_RATE, edit)
    judged = judge_edit(out, mono, edit.join_points(), 120.0, _beats(out))
    assert 110.0 <= judged.seconds <= 130.0
    assert judged.joins and judged.on_beat and judged.click_free, judged


@pytest.mark.slow
def test_generate_maps_the_edited_song(composed, tmp_path):
    _, mono = composed
    song = tmp_path / "song.ogg"
    song.write_bytes(encode_ogg(mono, SAMPLE_RATE))
    out = tmp_path / "map.zip"
    assert main(["generate", str(song), "--edit-seconds", "45", "-d", "Expert", "-o", str(out), "-q"]) == 0
    with zipfile.ZipFile(out) as z:
        audio = next(n for n in z.namelist() if n.lower().endswith((".egg", ".ogg")))
        seconds = sf.info(io.BytesIO(z.read(audio))).duration
    assert 42.0 <= seconds <= 49.0  # the edit (a bar either way) plus under a beat of lead-in padding
    assert main(["generate", str(song), "--edit-seconds", "500", "-o", str(tmp_path / "x.zip"), "-q"]) == 2

"""`automapper generate`: one summary line per difficulty and a loadable zip; one-line errors without
checkpoints or with bad input."""

from __future__ import annotations

import pytest

from automapper_ml.cli import main
from automapper_ml.commands.generate import PALETTES, parse_palette
from automapper_ml.formats import load_map
from automapper_ml.generation.postprocess import LIGHT_TYPES
from tests.ml.generation.test_level import make_models_dir, write_song


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    song, _ = write_song(root / "my song.flac", seed=4, seconds=8.0)
    return song, make_models_dir(root / "models", song)


def test_generate_prints_one_line_per_difficulty(setup, tmp_path, capsys):
    song, models = setup
    out = tmp_path / "map.zip"
    argv = ["generate", str(song), "-d", "expert+", "Hard", "--models", str(models), "-o", str(out)]
    code = main(
        [*argv, "--seed", "3", "--bombs", "low", "--walls", "none", "--chroma", "neon", "--bpm", "120"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.strip().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("Hard: ") and lines[1].startswith("ExpertPlus: ")
    for line in lines[:2]:
        assert " notes, " in line and " NPS, " in line and " parity errors, " in line and line.endswith(" s")
        assert " 0 parity errors" in line
    assert lines[2].startswith(f"wrote {out}") and "120.00 BPM user_bpm_detected_phase" in lines[2]
    beatmap = load_map(out)
    assert beatmap.title == "my song" and [d.name for d in beatmap.difficulties] == ["Hard", "ExpertPlus"]
    assert all(not d.obstacles for d in beatmap.difficulties)  # --walls none
    assert all(
        e.color is not None
        for d in beatmap.difficulties
        for e in d.events
        if e.value and e.type in LIGHT_TYPES
    )


def test_without_checkpoints_says_how_to_get_them(setup, tmp_path, capsys):
    song, _ = setup
    code = main(["generate", str(song), "--models", str(tmp_path / "empty"), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("automapper generate: no trained models") and "bash scripts/demo.sh" in err
    assert str(tmp_path / "empty" / "sequence" / "best.pt") in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["-d", "Impossible"], "unknown difficulty"),
        (["--chroma", "zz"], "--chroma"),
        (["--bpm", "-5"], "BPM"),
        (["--environment", "Moon"], "unknown environment"),
        # decoding flags
        (["--greedy", "--temperature", "0.8"], "--greedy does not sample"),
        (["--temperature", "0"], "--temperature must be > 0"),
        (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
        (["--threads", "0"], "--threads must be >= 1"),
    ],
)
def test_bad_input_is_one_line(setup, tmp_path, capsys, extra, message):
    song, models = setup
    code = main(["generate", str(song), "--models", str(models), "-o", str(tmp_path / "x.zip"), "-q", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "x.zip").exists()


def test_bad_audio_and_missing_song(setup, tmp_path, capsys):
    _, models = setup
    bad = tmp_path / "bad.ogg"
    bad.write_bytes(b"garbage")
    assert main(["generate", str(bad), "--models", str(models), "-q"]) == 2
    assert "audio cannot be decoded" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "nope.ogg"), "--models", str(models), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_palettes():
    assert parse_palette("Neon") == PALETTES["neon"]
    assert parse_palette("#ff0000,0000ff") == ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0))


def test_greedy_and_sampled_maps_differ_and_are_seeded(setup, tmp_path, capsys):
    """Sampling (the default) is reproducible by --seed; --greedy is another map."""
    song, models = setup
    base = ["generate", str(song), "--models", str(models), "-q", "--bpm", "120", "-d", "ExpertPlus"]
    notes = {}
    for name, extra in (("a", []), ("b", []), ("greedy", ["--greedy"])):
        out = tmp_path / f"{name}.zip"
        assert main([*base, "-o", str(out), *extra]) == 0, capsys.readouterr().err
        notes[name] = [(n.beat, n.x, n.y, n.color, n.direction) for n in load_map(out).difficulties[0].notes]
    assert notes["a"] == notes["b"] and notes["a"]
    assert notes["greedy"] != notes["a"]

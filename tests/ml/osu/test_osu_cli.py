"""`automapper osu inspect|roundtrip`: figures per difficulty, v14 round trips (exit 1 when the map
changes), other modes refused with their name and bad files in one line (exit 2), never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from automapper_ml.cli import COMMANDS, main
from automapper_ml.formats.osu import load_osu, read_osu, read_osz, write_osz
from tests.ml.osu.fixtures import CORPUS_ENV, OTHER_MODES, corpus_sets, other_mode_fixtures, standard_fixtures
from tests.ml.osu.test_reader import small


def _one_error_line(capsys, *, exit_code: int, rc: int) -> str:
    assert rc == exit_code
    err = capsys.readouterr().err.strip()
    assert err.startswith("automapper osu:") and "\n" not in err and "Traceback" not in err
    return err


def test_osu_is_registered_and_a_missing_song_is_one_line(capsys):
    assert COMMANDS["osu"][0] == "automapper_ml.commands.osu"
    err = _one_error_line(capsys, exit_code=2, rc=main(["osu", "generate", "no-such-song.mp3"]))
    assert "no-such-song.mp3 does not exist" in err
    with pytest.raises(SystemExit) as exit_:
        main(["osu", "explode", "x"])  # only real actions
    assert exit_.value.code == 2


def test_inspect_small_map_figures(tmp_path, capsys):
    path = tmp_path / "small.osu"
    path.write_bytes(small())
    assert main(["osu", "inspect", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (d,) = report["difficulties"]
    assert (d["difficulty"], d["mode"], d["format_version"]) == ("Test", "osu!standard", 14)
    assert (d["od"], d["ar"], d["cs"], d["hp"]) == (7, 7, 5, 5)  # no ApproachRate: AR = OD
    assert (d["circles"], d["sliders"], d["spinners"]) == (1, 1, 1)
    assert d["judge"]["circle_share"] == pytest.approx(1 / 3)
    assert d["judge"]["bpm"] == 120 and d["judge"]["length_s"] == pytest.approx(2.9)
    assert report["refused"] == []
    assert main(["osu", "inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "[Test] v14 osu!standard" in text and "3 objects (1/1/1)" in text and "120 BPM" in text


def test_inspect_shows_the_star_rating_when_rosu_is_installed(tmp_path, capsys):
    pytest.importorskip("rosu_pp_py")
    path = tmp_path / "small.osu"
    path.write_bytes(small())
    assert main(["osu", "inspect", str(path), "--json"]) == 0
    (d,) = json.loads(capsys.readouterr().out)["difficulties"]
    assert d["stars"] > 0 and d["max_combo"] >= 3


@pytest.mark.parametrize("path", standard_fixtures())
def test_roundtrip_of_every_fixture_is_equal_and_writes_v14(path, tmp_path, capsys):
    out = tmp_path / "out.osu"
    assert main(["osu", "roundtrip", str(path), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "equal" in printed and "NOT" not in printed and f"wrote {out}" in printed
    assert out.read_bytes().startswith(b"osu file format v14") and load_osu(out) == load_osu(path)


def test_roundtrip_of_a_set_keeps_every_member(tmp_path, capsys):
    mania = small(**{"Mode: 0": "Mode: 3"})
    src = tmp_path / "set.osz"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("a.osu", small())
        zf.writestr("b.osu", small(**{"Version:Test": "Version:Other"}))
        zf.writestr("mania.osu", mania)
        zf.writestr("audio.mp3", b"ID3 not really")
    out = tmp_path / "out.osz"
    assert main(["osu", "roundtrip", str(src), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count(": v14 -> v14, 3 objects, equal") == 2 and "refused mania.osu" in printed
    got = read_osz(out, with_files=True)
    assert [n for n, _ in got.beatmaps] == ["a.osu", "b.osu"] and got.audio() == b"ID3 not really"
    assert main(["osu", "roundtrip", str(src), "-o", str(tmp_path / "one.osu")]) == 2
    assert "need an .osz output" in capsys.readouterr().err


def test_roundtrip_that_changes_the_map_exits_1(tmp_path, capsys, monkeypatch):
    path = tmp_path / "small.osu"
    path.write_bytes(small())
    from automapper_ml.commands import osu as command

    def lossy(data: bytes, name: str):  # a writer bug: every object moves
        return read_osu(data.replace(b"256,192,100,5", b"255,192,100,5"), name)

    monkeypatch.setattr(command, "read_osu", lossy)
    assert main(["osu", "roundtrip", str(path)]) == 1
    assert "NOT equal: hit_objects (first at object 0, 100 ms)" in capsys.readouterr().out


@pytest.mark.parametrize("path", other_mode_fixtures())
def test_other_modes_are_refused_with_their_name(path, capsys):
    for action in ("inspect", "roundtrip"):
        err = _one_error_line(capsys, exit_code=2, rc=main(["osu", action, str(path)]))
        assert OTHER_MODES[path.name] in err


def test_a_set_of_other_modes_only_is_refused(tmp_path, capsys):
    src = write_osz(tmp_path / "m.osz", {}, {"readme.txt": b"x"})
    with zipfile.ZipFile(src, "a") as zf:
        zf.writestr("taiko.osu", small(**{"Mode: 0": "Mode: 1"}))
    err = _one_error_line(capsys, exit_code=2, rc=main(["osu", "inspect", str(src)]))
    assert "no osu!standard difficulty" in err and "osu!taiko" in err


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("junk.osz", b"not a zip at all"),
        ("broken.osu", b"osu file format v14\n[HitObjects]\n1,2,three,1,0\n"),
        ("future.osu", b"osu file format v99\n"),
        ("song.mp3", b"ID3"),
    ],
)
def test_unreadable_files_are_one_line_exit_2(name, data, tmp_path, capsys):
    path = tmp_path / name
    path.write_bytes(data)
    for action in ("inspect", "roundtrip"):
        _one_error_line(capsys, exit_code=2, rc=main(["osu", action, str(path)]))
    _one_error_line(capsys, exit_code=2, rc=main(["osu", "inspect", str(tmp_path / "missing.osu")]))


def test_subprocess_refusal_has_no_traceback(tmp_path):
    path = tmp_path / "mania.osu"
    path.write_bytes(small(**{"Mode: 0": "Mode: 3"}))
    done = subprocess.run(
        [sys.executable, "-m", "automapper_ml.cli", "osu", "inspect", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr.strip()
        == "automapper osu: mania.osu: Mode 3 (osu!mania); only osu!standard (Mode 0) is read"
    )


@pytest.mark.skipif(not corpus_sets(), reason=f"{CORPUS_ENV} is unset")
def test_real_corpus_round_trips_and_inspects(capsys):
    for path in corpus_sets():
        has_standard = bool(read_osz(path).beatmaps)
        for action in ("roundtrip", "inspect"):
            rc = main(["osu", action, str(path)])
            out, err = capsys.readouterr()
            assert rc == (0 if has_standard else 2), (path.name, action, err)
            assert "NOT equal" not in out and "Traceback" not in err

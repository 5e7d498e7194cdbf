"""The `automapper` command line: inspect, convert, help and one-line errors on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from automapper_ml.cli import COMMANDS, build_parser, main
from automapper_ml.formats import load_map, summarize
from tests.conftest import fixture_params


@pytest.mark.parametrize("fixture", fixture_params())
def test_inspect_json_matches_the_reader(fixture, capsys):
    assert main(["inspect", str(fixture), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = json.loads(json.dumps(summarize(load_map(fixture))))
    assert printed == expected
    assert printed["difficulties"]


@pytest.mark.parametrize("fixture", fixture_params())
def test_convert_writes_a_loadable_v3_map_with_every_object(fixture, tmp_path, capsys):
    out = tmp_path / "out.zip"
    assert main(["convert", str(fixture), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    original, converted = load_map(fixture), load_map(out)
    with zipfile.ZipFile(out) as zf:
        info = json.loads(zf.read("Info.dat"))
    assert info["_version"] == "2.1.0"
    for diff in original.difficulties:
        got = converted.difficulty(diff.characteristic, diff.name)
        assert got.version.startswith("3.")
        for kind in ("notes", "bombs", "obstacles", "arcs", "chains", "events", "boosts", "fake_notes"):
            assert len(getattr(got, kind)) == len(getattr(diff, kind)), (diff.key, kind)


def test_table_output_lists_every_difficulty(capsys):
    params = fixture_params()
    if params[0].values[0] is None:
        pytest.skip("../shared/fixtures is absent")
    fixture = params[0].values[0]
    assert main(["inspect", str(fixture)]) == 0
    out = capsys.readouterr().out
    for diff in load_map(fixture).difficulties:
        assert diff.key in out


def test_bad_input_is_one_line_and_non_zero(tmp_path, capsys):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip at all")
    assert main(["inspect", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("automapper inspect:") and "\n" not in err
    assert main(["inspect", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    out = tmp_path / "exists"
    out.mkdir()
    assert main(["convert", str(bad), "-o", str(out)]) == 2


def test_every_command_has_help():
    parser = build_parser()
    names = set(parser._subparsers._group_actions[0].choices)  # noqa: SLF001 - argparse has no public API
    assert {"inspect", "convert", "roundtrip"} <= names <= set(COMMANDS)
    for name in names:
        result = subprocess.run(
            [sys.executable, "-m", "automapper_ml.cli", name, "--help"], capture_output=True, text=True
        )
        assert result.returncode == 0 and "usage:" in result.stdout
